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

    ``families``, ``difficulty`` and ``bug_types`` each take one name or several, comma-separated
    (``difficulty="easy,medium"``).

    Raises ``ValueError`` naming the filters when nothing matches. ``split="heldout"`` draws from the
    composite held-out split (:func:`draw_heldout`).
    """
    if split == HELDOUT:
        return draw_heldout(registry, families=families, n=n, seed=seed, difficulty=difficulty, bug_types=bug_types)
    wanted_families, wanted_bugs, wanted_levels = _names(families), _names(bug_types), _names(difficulty)
    pool = [t for t in registry.filter(split=split)
            if (not wanted_families or t.family in wanted_families)
            and (not wanted_levels or t.difficulty in wanted_levels)
            and (not wanted_bugs or wanted_bugs & set(t.bug_types))]
    if not pool:
        raise ValueError(f"no tasks for split={split!r}, families={sorted(wanted_families)}, "
                         f"difficulty={difficulty!r}, bug_types={sorted(wanted_bugs)}")
    pool.sort(key=lambda t: t.task_id)
    random.Random(seed).shuffle(pool)
    return pool if n is None else pool[:n]


HELDOUT = "heldout"
"""A composite split name: the shape-novel held-out tasks, ``heldout_ood`` and ``heldout_external`` interleaved
(databases no train task uses, and no gold query of a train task's shape: ``env_server.tasks.overlap``).
Evaluation draws from it by default. ``heldout_iid`` (train domains and shapes with new constants and data) is
not part of it: evaluate it by name, and report it as in-distribution."""
HELDOUT_PARTS: tuple[tuple[str, ...], ...] = (("heldout_ood", "heldout_external"),)
SPLIT_KINDS: dict[str, str] = {
    HELDOUT: "shape-novel held-out (heldout_ood + heldout_external: unseen databases, no train gold shape)",
    "heldout_ood": "shape-novel held-out (unseen domains, no train gold shape)",
    "heldout_external": "shape-novel held-out (external databases, no train gold shape)",
    "heldout_iid": "in-distribution (train domains and gold shapes, new constants and data)",
    "train": "train",
}


def split_kind(split: str) -> str:
    """What a draw from ``split`` measures, as results files and reports should call it.

    >>> split_kind("heldout_iid")
    'in-distribution (train domains and gold shapes, new constants and data)'
    """
    return SPLIT_KINDS.get(split, split)


def _interleave(lists: list[list[Task]]) -> list[Task]:
    out: list[Task] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out += [x[i] for x in lists if i < len(x)]
    return out


def draw_heldout(registry: TaskRegistry, *, families: str | Iterable[str] = "debug", n: int | None = None,
                 seed: int = 0, difficulty: str | None = None, bug_types: str | Iterable[str] | None = None) -> list[Task]:
    """Up to ``n`` tasks of the composite :data:`HELDOUT` split: ood and external interleaved."""
    ordered: list[Task] = []
    for group in HELDOUT_PARTS:
        parts = []
        for split in group:
            try:
                parts.append(draw_tasks(registry, split, families=families, seed=seed, difficulty=difficulty,
                                        bug_types=bug_types))
            except ValueError:
                continue
        ordered += _interleave(parts)
    if not ordered:
        raise ValueError(f"no held-out tasks for families={sorted(_names(families))}, difficulty={difficulty!r}, "
                         f"bug_types={sorted(_names(bug_types))}")
    return ordered if n is None else ordered[:n]


def split_hash(tasks: Iterable[Task]) -> str:
    """sha256 over the task ids and their gold answers: two runs with the same hash saw the same tasks."""
    digest = hashlib.sha256()
    for task in sorted(tasks, key=lambda t: t.task_id):
        digest.update(f"{task.task_id}\t{task.gold_sql or task.gold_repair_sql or ''}\n".encode())
    return digest.hexdigest()
