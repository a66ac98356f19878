"""Scripted policies that play whole episodes through ``DataOpsEnv``: the calibrators of every chart.

* ``oracle`` inspects the schema, then submits the gold query: the upper bound (success 1.0).
* ``echo_broken`` submits the broken query unchanged: the lower bound (success 0.0 by validity).
* ``explorer`` looks around (schema, sample rows, the broken query), then submits the broken query:
  it exercises every read action and shows what shaping alone is worth.

A policy is a function ``(task, rng) -> list[DataOpsAction]``; ``play`` runs one on one task.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Callable

import sqlglot
from sqlglot import exp

from env_server.environment import DataOpsEnv
from env_server.models import DataOpsAction
from env_server.tasks.spec import Task

Policy = Callable[[Task, random.Random], list[DataOpsAction]]


def oracle(task: Task, rng: random.Random) -> list[DataOpsAction]:
    return [DataOpsAction(action_type="inspect_schema"), DataOpsAction(action_type="submit_query", sql=task.gold_sql)]


def echo_broken(task: Task, rng: random.Random) -> list[DataOpsAction]:
    return [DataOpsAction(action_type="submit_query", sql=task.broken_sql)]


def explorer(task: Task, rng: random.Random) -> list[DataOpsAction]:
    return [
        DataOpsAction(action_type="inspect_schema"),
        DataOpsAction(action_type="sample_rows", table=rng.choice(_tables(task))),
        DataOpsAction(action_type="run_query", sql=task.broken_sql),
        DataOpsAction(action_type="submit_query", sql=task.broken_sql),
    ]


def _tables(task: Task) -> list[str]:
    """Tables the gold query reads (parsed with sqlglot; CTE names excluded)."""
    tree = sqlglot.parse_one(task.gold_sql or "SELECT 1", read="sqlite")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return sorted({t.name for t in tree.find_all(exp.Table) if t.name not in ctes})


POLICIES: dict[str, Policy] = {"oracle": oracle, "echo_broken": echo_broken, "explorer": explorer}


@dataclass(frozen=True)
class EpisodeRecord:
    task_id: str
    split: str
    difficulty: str
    policy: str
    reward: float
    success: bool
    steps: int
    error_kind: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def play(env: DataOpsEnv, task: Task, policy: str, seed: int = 0) -> EpisodeRecord:
    """Play one episode of ``task`` with the named scripted ``policy``."""
    actions = POLICIES[policy](task, random.Random(seed))
    observation = env.reset(seed=seed, task_id=task.task_id)
    total = 0.0
    for action in actions:
        observation = env.step(action)
        total += observation.reward or 0.0
        if observation.done:
            break
    grade = env.state.grade
    return EpisodeRecord(
        task_id=task.task_id,
        split=task.split,
        difficulty=task.difficulty,
        policy=policy,
        reward=round(total, 6),
        success=bool(grade and grade.success),
        steps=env.state.step_count,
        error_kind=grade.error_kind if grade else None,
    )
