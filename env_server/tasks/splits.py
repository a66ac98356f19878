"""How every family splits its tasks, and the loop that fills a split.

The scheme (the debug family applies it with bug types as its kinds):

* ``train``: the five train domains, seeds from 0, every kind (template, corruption) except the
  held-out ones;
* ``heldout_iid``: the same domains and kinds on unseen seeds (from 10,000), new instances only;
* ``heldout_ood``: seeds from 20,000; only the two held-out domains (databases no train task uses), with
  every kind, and only tasks whose gold shape no train task has (shape-novel, see below);
* ``heldout_external``: databases from outside the project (``data/external/defog-data``),
  built by :mod:`env_server.tasks.external_split`.

The build generates every family's train split first; a held-out candidate that repeats any train task's
gold query, gold repair script or question (:mod:`env_server.tasks.overlap`) is skipped, and so is a
``heldout_ood`` or ``heldout_external`` candidate whose gold query (or repair script) has a train task's shape
(:func:`~env_server.tasks.overlap.query_shape`); ``fill`` walks further seeds, and a split whose templates run
out of new instances ends smaller (``HELDOUT_PATIENCE``). ``heldout_iid`` is the in-distribution split: train
domains and train shapes with new constants and data.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from env_server.tasks.overlap import TrainIndex
from env_server.tasks.spec import Task

TRAIN_DOMAINS: tuple[str, ...] = ("ecommerce", "hr", "finance", "logistics", "education")
OOD_DOMAINS: tuple[str, ...] = ("healthcare", "streaming")
SEED_START: dict[str, int] = {"train": 0, "heldout_iid": 10_000, "heldout_ood": 20_000}
FAMILY_SPLIT_SIZES: dict[str, int] = {"train": 1000, "heldout_iid": 150, "heldout_ood": 150}
"""Split sizes of repair, analyst and grounded (debug has its own, larger ones)."""
MAX_SEEDS = 5_000


@dataclass(frozen=True)
class Slot:
    """One domain and the kinds (templates, corruptions) allowed on it in a split."""

    domain: str
    kinds: tuple[str, ...]


def slots(split: str, kinds: Sequence[str], held_out: Sequence[str]) -> list[Slot]:
    """The domain/kind combinations ``split`` draws from, in round-robin order."""
    train_kinds = tuple(k for k in kinds if k not in held_out)
    if split in ("train", "heldout_iid"):
        return [Slot(d, train_kinds) for d in TRAIN_DOMAINS]
    if split == "heldout_ood":
        return [Slot(d, tuple(kinds)) for d in OOD_DOMAINS]
    raise ValueError(f"unknown split {split!r}; expected train, heldout_iid or heldout_ood")


HELDOUT_PATIENCE = 150
"""A held-out split stops early, smaller than asked, after this many seeds in a row add no task that is new
(every candidate repeated a train task): its domains' templates are exhausted."""


def take(tasks: list[Task], n: int, batches: Iterable[Iterable[Task]], admit: Callable[[Task], bool],
         bar: tqdm) -> None:
    """Append to ``tasks`` each task of ``batches`` that ``admit`` accepts (it records what it refuses),
    until ``tasks`` holds ``n``; a batch is read no further than needed."""
    for batch in batches:
        for task in batch:
            if admit(task):
                tasks.append(task)
                bar.update(1)
                if len(tasks) >= n:
                    return


def fill(
    family: str,
    split: str,
    n: int,
    plan: Iterable[Any],
    tasks_for: Callable[[Any, int], Iterator[Task]],
    progress: bool = True,
    exclude: TrainIndex | None = None,
) -> list[Task]:
    """``n`` tasks for ``split``: walk seeds from the split's start, asking ``tasks_for(slot, seed)``
    for each slot of ``plan`` in turn, until ``n`` tasks with distinct ids are collected
    (deterministic). A slot is whatever ``tasks_for`` understands (a :class:`Slot`, or debug's own).

    With ``exclude`` (the train split's :class:`~env_server.tasks.overlap.TrainIndex`), a candidate it
    :meth:`~env_server.tasks.overlap.TrainIndex.refuses` (a repeat of a train task; in a shape-novel split, a
    train task's shape) is skipped, and the split may end smaller than ``n`` when :data:`HELDOUT_PATIENCE` seeds
    in a row add nothing."""
    plan = list(plan)
    tasks: list[Task] = []
    seen: set[str] = set()
    seed = SEED_START[split]
    idle = 0
    bar = tqdm(total=n, desc=f"{family}/{split}", unit="task", disable=not progress, leave=False)

    def admit(task: Task) -> bool:
        if task.task_id in seen or (exclude is not None and exclude.refuses(task)):
            return False
        seen.add(task.task_id)
        return True

    while len(tasks) < n:
        before = len(tasks)
        take(tasks, n, (tasks_for(slot, seed) for slot in plan), admit, bar)
        seed += 1
        idle = idle + 1 if len(tasks) == before else 0
        if exclude is not None and idle >= HELDOUT_PATIENCE:
            break
        if seed - SEED_START[split] > MAX_SEEDS:
            raise RuntimeError(f"could not generate {n} {family}/{split} tasks from {MAX_SEEDS:,} seeds; got {len(tasks)}")
    bar.close()
    return tasks


def difficulty(level: int) -> str:
    """easy/medium/hard from a 1–3 complexity level."""
    return "easy" if level <= 1 else "medium" if level == 2 else "hard"
