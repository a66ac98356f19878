"""GRPO reward functions (TRL) for DataOps-Gym; `reward_fns.parsing` pulls the answer out of a completion."""
