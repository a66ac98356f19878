"""Which tasks a run uses: seeded draws from a split, and the hash that identifies the draw.

Training (``training.grpo``) and evaluation (``training.evaluate``) draw tasks the same way, and
record :func:`split_hash` in their provenance, so two results files can be checked to have used
the same tasks.
"""
from __future__ import annotations

import hashlib
import random
from typing import Iterable

from env_server.tasks.registry import TaskRegistry
from env_server.tasks.spec import Task


def _names(text: str | Iterable[str] | None) -> set[str]:
    if text is None:
        return set()
    items = text.split(",") if isinstance(text, str) else list(text)
    return {item.strip() for item in items if item and item.strip()}


def draw_tasks(
    registry: TaskRegistry,
    split: str,
    *,
    families: str | Iterable[str] = "debug",
    n: int | None = None,
    seed: int = 0,
    difficulty: str | None = None,
    bug_types: str | Iterable[str] | None = None,
) -> list[Task]:
    """Up to ``n`` tasks of ``split`` (all when ``n`` is None), filtered, in a seeded order.

    Raises ``ValueError`` naming the filters when nothing matches.
    """
    wanted_families, wanted_bugs = _names(families), _names(bug_types)
    pool = [t for t in registry.filter(split=split, difficulty=difficulty or None)
            if (not wanted_families or t.family in wanted_families)
            and (not wanted_bugs or wanted_bugs & set(t.bug_types))]
    if not pool:
        raise ValueError(f"no tasks for split={split!r}, families={sorted(wanted_families)}, "
                         f"difficulty={difficulty!r}, bug_types={sorted(wanted_bugs)}")
    pool.sort(key=lambda t: t.task_id)
    random.Random(seed).shuffle(pool)
    return pool if n is None else pool[:n]


def split_hash(tasks: Iterable[Task]) -> str:
    """sha256 over the task ids and their gold answers: two runs with the same hash saw the same tasks."""
    digest = hashlib.sha256()
    for task in sorted(tasks, key=lambda t: t.task_id):
        digest.update(f"{task.task_id}\t{task.gold_sql or task.gold_repair_sql or ''}\n".encode())
    return digest.hexdigest()
