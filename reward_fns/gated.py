"""The training reward: the outcome, with shaping only in groups where some completion succeeded.

GRPO turns rewards into advantages within each group of completions for one prompt. A group in which
nothing succeeds can still hold reward differences: the grader's partial credit (up to 0.1 for a query that
runs but is wrong), ``format_reward`` and the reviewer's safety penalty. Those differences would teach the
policy to write well-formed wrong answers, and with per-group scaling they become full-size advantages.

:func:`gated_reward` is one TRL reward function that sums, per completion,
``execution_reward + format_weight * format_reward + safety_weight * safety_reward``, and then sets every
completion of a group with no success to 0.0. A group is the completions of one task in the call; TRL hands a
reward function whole groups on one process (``num_generations`` consecutive completions per prompt). With
several processes a group may be split between them; each part is gated on its own successes, which can only
remove shaping, never add it. So:

* a group with no success has identical rewards: zero advantage, no gradient;
* in a group with a success, a success scores about 1.0 + format_weight and a failure at most
  ``0.1 + format_weight``: the shaping orders the failures without reaching the success.

>>> from reward_fns.backend import InProcessBackend
>>> from env_server.tasks.registry import TaskRegistry, load_tasks
>>> backend = InProcessBackend(TaskRegistry(load_tasks(split="fixed")))
>>> gold = ("```sql\\nSELECT name, email, signup_date FROM users WHERE plan = 'pro' "
...         "AND signup_date >= '2024-01-01' ORDER BY signup_date, id\\n```")
>>> wrong = "```sql\\nSELECT name FROM users\\n```"
>>> gated_reward(completions=[gold, wrong, wrong, wrong], task_id=["debug-fixed-syntax_fix"] * 4, backend=backend)
[1.1, 0.1, 0.1, 0.1]
>>> gated_reward(completions=[wrong] * 4, task_id=["debug-fixed-syntax_fix"] * 4, backend=backend)
[0.0, 0.0, 0.0, 0.0]
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from reward_fns.backend import GradingBackend, resolve
from reward_fns.execution import (
    _mean,
    _task_ids,
    format_reward,
    safety_scores,
    submissions_for,
    whole_replies,
)


def gated_reward(prompts=None, completions=None, task_id=None, log_extra=None, log_metric=None,
                 backend: GradingBackend | None = None, format_weight: float = 0.1, safety_weight: float = 1.0,
                 **kwargs: Any) -> list[float | None]:
    """``execution + format_weight * format + safety_weight * safety``, zero for every completion of a task
    none of whose completions in the call succeeded (see the module docstring). Bind the weights and a
    backend with :func:`reward_fns.execution.with_backend`."""
    backend = resolve(backend)
    completions = whole_replies(prompts, list(completions or []))
    ids = _task_ids("gated_reward", completions, task_id)
    submissions = submissions_for(completions, ids, backend)
    todo = [(i, tid, sub) for i, (tid, sub) in enumerate(zip(ids, submissions)) if tid is not None]
    outcomes = backend.grade([(tid, sub.item()) for _, tid, sub in todo]) if todo else []
    succeeded: dict[str, bool] = defaultdict(bool)
    for (_, tid, _), outcome in zip(todo, outcomes):
        succeeded[tid] = succeeded[tid] or bool(outcome.grade["success"])
    formats = format_reward(completions=completions, task_id=list(ids), family=kwargs.get("family"))
    safety = safety_scores(ids, submissions, backend)[0] if safety_weight else [0.0] * len(submissions)
    rewards: list[float | None] = [None] * len(submissions)
    reasons = [""] * len(submissions)
    gated = 0
    for (i, tid, _), outcome in zip(todo, outcomes):
        reasons[i] = outcome.grade["reason"]
        if outcome.reward is None:  # not graded: no reward, never a 0
            continue
        if succeeded[tid]:
            rewards[i] = round(outcome.reward + format_weight * formats[i] + safety_weight * float(safety[i] or 0.0), 6)
        else:
            rewards[i], gated = 0.0, gated + 1
    if log_extra is not None:
        log_extra("sql", [sub.text for sub in submissions])
        log_extra("grade_reason", reasons)
    if log_metric is not None:
        log_metric("execution/success_rate", _mean([float(o.grade["success"]) for o in outcomes]))
        log_metric("format/well_formed_rate", _mean(formats))
        log_metric("gated/share_gated", gated / len(todo) if todo else 0.0)
    return rewards


__all__ = ["gated_reward"]
