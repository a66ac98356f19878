"""Training side of DataOps-Gym: the embedded model, GRPO runs, policies and evaluation."""
