"""What a held-out task may not share with any train task: its gold query, its gold repair script, its question.

A held-out split measures generalisation only if none of its tasks repeats a train task. Three things are
compared, each normalised (whitespace collapsed, case folded, a trailing ``;`` dropped; constants kept, so two
questions that differ only in a threshold are different):

* the gold query (debug, analyst, grounded);
* the gold repair script (repair);
* the question text (every family).

The comparison spans families: a debug held-out task whose gold query is some train analyst task's gold
counts as an overlap. :class:`TrainIndex` holds the keys of every train task; the build generates the train
split of every family first and then refuses held-out candidates that :meth:`TrainIndex.overlaps`, and
``data/README.md`` reports :func:`overlap_counts` computed from the files written (all 0; a test asserts it).

>>> from env_server.tasks.spec import DbSpec, Task
>>> train = Task(task_id="debug-a", family="debug", split="train", difficulty="easy", db=DbSpec(domain="hr", seed=0),
...              question="the names", broken_sql="SELEC name FROM t", gold_sql="SELECT name FROM t")
>>> held = train.model_copy(update={"task_id": "debug-b", "split": "heldout_iid", "question": "other",
...                                 "gold_sql": "select  name from t;"})
>>> TrainIndex([train]).overlaps(held)
['gold_query']
"""
from __future__ import annotations

from collections.abc import Iterable

from env_server.tasks.spec import Task

KINDS: tuple[str, ...] = ("gold_query", "repair_script", "question")


def normalise(text: str) -> str:
    """Whitespace collapsed, lower case, no trailing ``;``."""
    return " ".join(text.split()).strip().rstrip(";").strip().lower()


def task_keys(task: Task) -> dict[str, str]:
    """The normalised gold query, repair script and question of ``task`` (those it has)."""
    script = ";\n".join(task.gold_repair_sql) if task.gold_repair_sql else None
    found = {"gold_query": task.gold_sql, "repair_script": script, "question": task.question}
    return {kind: normalise(text) for kind, text in found.items() if text and normalise(text)}


class TrainIndex:
    """The keys of a set of train tasks, for asking whether a candidate repeats one of them."""

    def __init__(self, train: Iterable[Task] = ()):
        self.keys: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for task in train:
            self.add(task)

    def add(self, task: Task) -> None:
        for kind, key in task_keys(task).items():
            self.keys[kind].add(key)

    def overlaps(self, task: Task) -> list[str]:
        """The kinds of key ``task`` shares with a train task ([] when it shares none)."""
        return [kind for kind, key in task_keys(task).items() if key in self.keys[kind]]

    def __bool__(self) -> bool:
        return any(self.keys.values())


def overlap_counts(train: Iterable[Task] | TrainIndex, heldout: Iterable[Task]) -> dict[str, int]:
    """How many ``heldout`` tasks share each kind of key with some ``train`` task (or an index of them), and how
    many share any."""
    index = train if isinstance(train, TrainIndex) else TrainIndex(train)
    counts = {kind: 0 for kind in KINDS} | {"any": 0}
    for task in heldout:
        shared = index.overlaps(task)
        for kind in shared:
            counts[kind] += 1
        counts["any"] += bool(shared)
    return counts
