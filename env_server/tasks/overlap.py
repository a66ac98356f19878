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

Repeating a train task's *shape* is a weaker kind of sharing: a held-out gold query that is a train gold with
other constants, aliases or letter case teaches nothing new about SQL. :func:`query_shape` is that key (the sqlglot
AST with literals masked, aliases and table qualifiers dropped, identifiers folded as SQLite folds them). The
shape-novel splits (:data:`SHAPE_NOVEL_SPLITS`: ``heldout_ood``, ``heldout_external``) refuse a candidate whose
gold shape occurs in train; ``heldout_iid`` keeps train shapes on purpose (new constants and data: the
in-distribution split), and ``data/README.md`` reports the shape overlap of every held-out split.

>>> query_shape("SELECT COUNT(*) AS n FROM Sales s WHERE s.amount > 100") == query_shape("select count(*) from sales where amount > 250")
True
>>> query_shape("SELECT name FROM t WHERE a IS NULL") == query_shape("SELECT name FROM t WHERE a = 1")
False
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import sqlglot
from sqlglot import exp

from env_server.core.identifiers import fold
from env_server.tasks.spec import Task

KINDS: tuple[str, ...] = ("gold_query", "repair_script", "question")
"""Exact repeats (normalised text): no held-out split may share any of them with train."""
SHAPE_NOVEL_SPLITS: tuple[str, ...] = ("heldout_ood", "heldout_external")
"""Held-out splits whose gold shapes never occur in train; ``heldout_iid`` is in-distribution by design."""


def normalise(text: str) -> str:
    """Whitespace collapsed, lower case, no trailing ``;``."""
    return " ".join(text.split()).strip().rstrip(";").strip().lower()


@lru_cache(maxsize=65_536)
def query_shape(sql: str) -> str | None:
    """The shape of ``sql`` (one statement or several): its sqlglot AST with every literal a placeholder, column
    and table aliases and table qualifiers dropped, identifiers unquoted and ASCII-folded; None when sqlglot
    cannot parse it. Two queries of one shape differ only in constants, aliases, quoting or letter case.

    >>> query_shape('SELECT t.Name AS who FROM "Staff" AS t WHERE t.salary > 5000 ORDER BY 1 LIMIT 3')
    'SELECT name FROM staff WHERE salary > ? ORDER BY ? LIMIT ?'
    >>> query_shape("SELEC name FROM") is None
    True
    """
    try:
        trees = [tree for tree in sqlglot.parse(sql, read="sqlite") if tree is not None]
    except sqlglot.errors.SqlglotError:
        return None
    if not trees:
        return None
    shapes = []
    for tree in trees:
        for column in tree.find_all(exp.Column):
            for part in ("table", "db", "catalog"):
                column.set(part, None)
        for alias in list(tree.find_all(exp.Alias)):
            alias.replace(alias.this)
        for alias in list(tree.find_all(exp.TableAlias)):
            if isinstance(alias.parent, (exp.Table, exp.Subquery)):  # a CTE's name is kept: the query refers to it
                alias.pop()
        for literal in list(tree.find_all(exp.Literal)):
            literal.replace(exp.Placeholder())
        for identifier in tree.find_all(exp.Identifier):
            identifier.set("this", fold(identifier.name))
            identifier.set("quoted", False)
        shapes.append(tree.sql(dialect="sqlite"))
    return "; ".join(shapes)


def task_shape(task: Task) -> str | None:
    """The shape of ``task``'s gold query, or of its gold repair script; None when it has neither."""
    text = task.gold_sql or (";\n".join(task.gold_repair_sql) if task.gold_repair_sql else None)
    return query_shape(text) if text else None


def task_keys(task: Task) -> dict[str, str]:
    """The normalised gold query, repair script and question of ``task`` (those it has)."""
    script = ";\n".join(task.gold_repair_sql) if task.gold_repair_sql else None
    found = {"gold_query": task.gold_sql, "repair_script": script, "question": task.question}
    return {kind: normalise(text) for kind, text in found.items() if text and normalise(text)}


class TrainIndex:
    """The keys of a set of train tasks, for asking whether a candidate repeats one of them."""

    def __init__(self, train: Iterable[Task] = ()):
        self.keys: dict[str, set[str]] = {kind: set() for kind in KINDS}
        self.shapes: set[str] = set()
        for task in train:
            self.add(task)

    def add(self, task: Task) -> None:
        for kind, key in task_keys(task).items():
            self.keys[kind].add(key)
        shape = task_shape(task)
        if shape:
            self.shapes.add(shape)

    def shares_shape(self, task: Task) -> bool:
        """Whether ``task``'s gold query (or repair script) has the shape of a train task's."""
        shape = task_shape(task)
        return shape is not None and shape in self.shapes

    def refuses(self, task: Task) -> bool:
        """Whether ``task`` may not enter its held-out split: it repeats a train task, or its split is shape-novel
        (:data:`SHAPE_NOVEL_SPLITS`) and it has a train task's shape."""
        return bool(self.overlaps(task)) or (task.split in SHAPE_NOVEL_SPLITS and self.shares_shape(task))

    def overlaps(self, task: Task) -> list[str]:
        """The kinds of key ``task`` shares with a train task ([] when it shares none)."""
        return [kind for kind, key in task_keys(task).items() if key in self.keys[kind]]

    def __bool__(self) -> bool:
        return any(self.keys.values())


def overlap_counts(train: Iterable[Task] | TrainIndex, heldout: Iterable[Task]) -> dict[str, int]:
    """How many ``heldout`` tasks share each kind of key with some ``train`` task (or an index of them), how
    many share any, and how many share a train task's gold shape (``gold_shape``, not part of ``any``)."""
    index = train if isinstance(train, TrainIndex) else TrainIndex(train)
    counts = {kind: 0 for kind in KINDS} | {"any": 0, "gold_shape": 0}
    for task in heldout:
        shared = index.overlaps(task)
        for kind in shared:
            counts[kind] += 1
        counts["any"] += bool(shared)
        counts["gold_shape"] += index.shares_shape(task)
    return counts
