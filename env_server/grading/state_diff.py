"""Database-state diffs for repair grading: snapshot every table, then compare two snapshots.

A :class:`Snapshot` holds, for each table and view, its kind, column names and rows as a multiset
of canonical rows (numbers to 9 significant digits, ``1 == 1.0``, as the query grader compares).
:func:`diff` compares a candidate state with the target state table by table:

* a table present in both with the same columns (names compared as SQLite compares them, ASCII case
  folded only, in order): its distance
  is the size of the multiset symmetric difference of the rows, and its row F1 the multiset F1;
* a table whose columns differ (a created table with the wrong schema) is entirely wrong;
* a table the target has and the candidate lacks, or the other way round, is entirely wrong.

Distances add up across tables, so progress from a start state toward the target is
``1 - distance(candidate → target) / distance(start → target)``, each the sum of :class:`TableDiff` distances,: 0 for doing nothing, negative for
damage, 1 only at the target.
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from env_server.core.identifiers import fold, quote_ident
from env_server.core.sandbox import NotGraded, SandboxConfig, execute
from env_server.grading.compare import canonical_row


@dataclass(frozen=True)
class TableState:
    """One table (or view) of a snapshot."""

    kind: str
    columns: tuple[str, ...]
    rows: Counter = field(compare=False)
    size: int = 0


Snapshot = dict[str, TableState]
"""Table name, folded as SQLite folds it (:func:`~env_server.core.identifiers.fold`: ASCII case only), to its
state. Python's ``lower()`` would key a table named with a KELVIN SIGN like the real one, and let its rows
stand in for the real table's: SQLite's own rule gives every object its own key."""


def _canonical(row: tuple) -> tuple:
    """``canonical_row`` where it changes anything: only floats are rounded. Integers stay as they are,
    since ``1 == 1.0`` and ``hash(1) == hash(1.0)`` already make them equal keys of a Counter."""
    for value in row:
        if type(value) is float:
            return canonical_row(row)
    return row


def snapshot(conn: sqlite3.Connection, config: SandboxConfig | None = None) -> Snapshot:
    """Every table and view of the main schema of ``conn``, read under the sandbox's budgets.

    Names are read from ``main.sqlite_master`` and every read is qualified with ``main.``, so a TEMP
    object can never stand in for the table of the same name. Any TEMP object is part of the state
    (as ``temp.<name>``, which no target has). Each read goes through :func:`sandbox.execute` in
    read mode with a step budget shared by the whole snapshot (``max_vm_steps``) and a row cap
    (``max_rows_snapshot``): an agent-made view over an endless recursive CTE reads as broken
    instead of running forever."""
    config = config or SandboxConfig()
    names = conn.execute(
        "SELECT name, type FROM main.sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    state: Snapshot = {}
    budget = config.max_vm_steps
    for name, kind in names:
        execution = execute(conn, f"SELECT * FROM main.{quote_ident(name)}", mode="read", config=config,
                            purpose="grading", max_vm_steps=max(budget, 1), max_rows=config.max_rows_snapshot)
        budget -= execution.vm_steps
        if execution.stopped_by == "safety_net":
            raise NotGraded(f"not graded: reading {kind} {name!r} of the final state was stopped by the grading "
                            f"safety net ({execution.error}); its steps are unusually expensive")
        if execution.ok:
            rows = Counter(map(_canonical, execution.rows))
            columns = tuple(fold(c) for c in execution.columns)
        else:  # a view that no longer runs, or ran out of budget, reads as empty and broken
            rows, columns = Counter(), (f"<unreadable {kind}: {execution.error_kind.value if execution.error_kind else ''}>",)
        state[fold(name)] = TableState(kind=kind, columns=columns, rows=rows, size=sum(rows.values()))
    for name, kind in conn.execute("SELECT name, type FROM temp.sqlite_master").fetchall():
        state[f"temp.{fold(name)}"] = TableState(kind=f"temp {kind}", columns=("<temp object>",), rows=Counter(), size=0)
    return state


def rows_of(conn: sqlite3.Connection, tables: Iterable[str] | None = None) -> dict[str, Counter]:
    """The rows of every table of a *trusted* database (or of those of ``tables`` that exist), a multiset per
    table, read directly: what the task build compares when it checks that a planted corruption and its gold
    repair change the database. Agent-touched databases are read with :func:`snapshot` instead (through the
    sandbox, floats canonical); this direct read is twice as fast, which halves the data build."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]
    if tables is not None:
        wanted = {fold(t) for t in tables}
        names = [n for n in names if fold(n) in wanted]
    return {fold(n): Counter(conn.execute(f"SELECT * FROM {quote_ident(n)}").fetchall()) for n in names}


@dataclass(frozen=True)
class TableDiff:
    """How one table of a candidate state differs from the target."""

    table: str
    distance: int
    f1: float
    missing: int
    """Target rows the candidate lacks."""
    extra: int
    """Candidate rows the target lacks."""
    problem: str | None = None
    """Set when the table is wrong as a whole: missing, unexpected, or with the wrong columns."""

    @property
    def exact(self) -> bool:
        return self.distance == 0

    def describe(self) -> str:
        if self.problem:
            return f"{self.table}: {self.problem}"
        return f"{self.table}: {self.missing} row(s) missing, {self.extra} unexpected (row F1 {self.f1:.2f})"


def _f1(overlap: int, a: int, b: int) -> float:
    return 1.0 if a == b == 0 else 2 * overlap / (a + b)


def diff(candidate: Snapshot, target: Snapshot) -> dict[str, TableDiff]:
    """Table-by-table difference of ``candidate`` from ``target`` (every table of either)."""
    out: dict[str, TableDiff] = {}
    for name in sorted(set(candidate) | set(target)):
        have, want = candidate.get(name), target.get(name)
        if want is None:
            assert have is not None
            out[name] = TableDiff(name, have.size + 1, 0.0, 0, have.size, "unexpected table (the target has none)")
        elif have is None:
            out[name] = TableDiff(name, want.size + 1, 0.0, want.size, 0, "missing (the target has it)")
        elif have.columns != want.columns or have.kind != want.kind:
            problem = (
                f"is a {have.kind}, the target is a {want.kind}"
                if have.kind != want.kind
                else f"columns {list(have.columns)} differ from the target's {list(want.columns)}"
            )
            out[name] = TableDiff(name, have.size + want.size + 1, 0.0, want.size, have.size, problem)
        else:
            overlap = sum((have.rows & want.rows).values())
            missing, extra = want.size - overlap, have.size - overlap
            out[name] = TableDiff(name, missing + extra, _f1(overlap, have.size, want.size), missing, extra)
    return out
