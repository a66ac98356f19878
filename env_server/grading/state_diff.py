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

**Against a base.** A repair starts from a template database (:class:`~env_server.core.sandbox.Template`) and
changes a few of its rows, so a state taken with ``base=template`` holds, for each table the template has with
the same columns, only its *change*: the canonical rows added and removed, found by SQLite joining the table
with the template's on ``rowid`` (the template is attached read-only), never read into Python whole. Two states
against the same base differ where their changes differ, so :func:`diff` gives exactly the distances and F1 of
full snapshots while memory and Python work grow with the rows changed, not with the database.
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from env_server.core.identifiers import fold, quote_ident
from env_server.core.sandbox import NotGraded, SandboxConfig, SandboxConnection, execute
from env_server.grading.compare import canonical_row

if TYPE_CHECKING:
    from env_server.core.sandbox import Template


@dataclass(frozen=True)
class TableState:
    """One table (or view) of a snapshot."""

    kind: str
    columns: tuple[str, ...]
    rows: Counter = field(compare=False)
    """The table's canonical rows as a multiset; when ``relative``, the signed change from the base table
    instead (added rows positive, removed rows negative, no zeros)."""
    size: int = 0
    relative: bool = False
    """Whether ``rows`` is a change from the base's table of the same name (see :func:`snapshot`)."""


Snapshot = dict[str, TableState]
"""Table name, folded as SQLite folds it (:func:`~env_server.core.identifiers.fold`: ASCII case only), to its
state. Python's ``lower()`` would key a table named with a KELVIN SIGN like the real one, and let its rows
stand in for the real table's: SQLite's own rule gives every object its own key."""

_BASE = "dataops_base"
"""The schema name the base template is attached under while a state is taken against it."""


def _canonical(row: tuple) -> tuple:
    """``canonical_row`` where it changes anything: only floats are rounded. Integers stay as they are,
    since ``1 == 1.0`` and ``hash(1) == hash(1.0)`` already make them equal keys of a Counter."""
    for value in row:
        if type(value) is float:
            return canonical_row(row)
    return row


def _minus(have: Counter, take: Counter) -> Counter:
    """``have - take`` as a signed multiset (negative counts kept) without zero counts."""
    change = have.copy()
    change.subtract(take)
    return Counter({row: n for row, n in change.items() if n})


def _signed(added: Iterable[tuple], removed: Iterable[tuple]) -> Counter:
    """The canonical change ``added - removed`` as a signed multiset without zero counts."""
    return _minus(Counter(map(_canonical, added)), Counter(map(_canonical, removed)))


@dataclass(frozen=True)
class _BaseTable:
    columns: tuple[str, ...]
    size: int
    rowid: str
    """A name that reads the table's rowid (``rowid``, ``oid`` or ``_rowid_``, whichever no column shadows)."""
    name: str


def _base_tables(base: Template, config: SandboxConfig) -> dict[str, _BaseTable]:
    """The rowid tables of ``base`` that a state may be taken against: columns, row count, rowid name. Read once
    per template (``Template.derived``): a repair grade takes five states against the same one."""
    found = base.derived.get(__name__)
    if found is None:
        found = base.derived[__name__] = _read_base_tables(base, config)
    return found


def _read_base_tables(base: Template, config: SandboxConfig) -> dict[str, _BaseTable]:
    reader = base.reader(config)
    try:
        if isinstance(reader, SandboxConnection):
            reader.disarm()  # trusted reads of the template's own catalogue
        out: dict[str, _BaseTable] = {}
        names = reader.execute("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                               "ORDER BY name").fetchall()
        for (name,) in names:
            cursor = reader.execute(f"SELECT * FROM main.{quote_ident(name)} LIMIT 0")
            columns = tuple(fold(d[0]) for d in cursor.description)
            rowid = next((r for r in ("rowid", "oid", "_rowid_") if r not in columns), None)
            if rowid is None:
                continue
            try:
                reader.execute(f"SELECT {rowid} FROM main.{quote_ident(name)} LIMIT 0")
            except sqlite3.OperationalError:  # WITHOUT ROWID
                continue
            size = reader.execute(f"SELECT count(*) FROM main.{quote_ident(name)}").fetchone()[0]
            out[fold(name)] = _BaseTable(columns, size, rowid, name)
        return out
    finally:
        reader.close()


def base_snapshot(base: Template, config: SandboxConfig | None = None) -> Snapshot:
    """The state of ``base`` itself, taken against itself: every rowid table with no change (its size only),
    views and tables without a rowid in full, as :func:`snapshot` would read them."""
    config = config or SandboxConfig()
    reader = base.reader(config)
    try:
        return snapshot(reader, config, base=base, _self=True)
    finally:
        reader.close()


def snapshot(conn: sqlite3.Connection, config: SandboxConfig | None = None, base: Template | None = None,
             *, _self: bool = False) -> Snapshot:
    """Every table and view of the main schema of ``conn``, read under the sandbox's budgets.

    Names are read from ``main.sqlite_master`` and every read is qualified with ``main.``, so a TEMP
    object can never stand in for the table of the same name. Any TEMP object is part of the state
    (as ``temp.<name>``, which no target has). Each read goes through :func:`sandbox.execute` in
    read mode with a step budget shared by the whole snapshot (``max_vm_steps``) and a row cap
    (``max_rows_snapshot``): an agent-made view over an endless recursive CTE reads as broken
    instead of running forever.

    With ``base`` (the template ``conn`` was cloned from), a table that ``base`` has with the same columns
    and a rowid is read as its change from ``base`` (``relative``): SQLite joins the two on rowid with
    ``base`` attached read-only, and only rows that differ reach Python. Rows moved to other rowids still
    count right: the change is a multiset. Where ``base`` cannot be attached (a database too large for a shared
    template, an open transaction) the change is taken by reading both tables whole instead."""
    config = config or SandboxConfig()
    names = conn.execute(
        "SELECT name, type FROM main.sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    bases = _base_tables(base, config) if base is not None else {}
    state: Snapshot = {}
    budget = [config.max_vm_steps]
    attached: int | None = None  # the attach limit to restore once ``base`` is attached
    try:
        for name, kind in names:
            key = fold(name)
            against = bases.get(key) if kind == "table" else None
            if against is not None and _self:
                state[key] = TableState(kind=kind, columns=against.columns, rows=Counter(), size=against.size,
                                        relative=True)
                continue
            if against is not None:
                names_here = [d[0] for d in conn.execute(f"SELECT * FROM main.{quote_ident(name)} LIMIT 0").description]
                if tuple(map(fold, names_here)) == against.columns:
                    if attached is None:
                        attached = _attach(conn, base)
                    change = (_change_in_sql(conn, name, names_here, against, budget, config) if attached is not None
                              else None)
                    state[key] = change or _change_by_reading(conn, name, against, base, budget, config)
                    continue
            state[key] = _full(conn, name, kind, budget, config)
    finally:
        if attached is not None:
            _detach(conn, attached)
    for name, kind in conn.execute("SELECT name, type FROM temp.sqlite_master").fetchall():
        state[f"temp.{fold(name)}"] = TableState(kind=f"temp {kind}", columns=("<temp object>",), rows=Counter(), size=0)
    return state


def _read(conn: sqlite3.Connection, sql: str, what: str, budget: list[int], config: SandboxConfig):
    execution = execute(conn, sql, mode="read", config=config, purpose="grading", max_vm_steps=max(budget[0], 1),
                        max_rows=config.max_rows_snapshot)
    budget[0] -= execution.vm_steps
    if execution.stopped_by == "safety_net":
        raise NotGraded(f"not graded: reading {what} of the final state was stopped by the grading "
                        f"safety net ({execution.error}); its steps are unusually expensive")
    return execution


def _full(conn: sqlite3.Connection, name: str, kind: str, budget: list[int], config: SandboxConfig) -> TableState:
    execution = _read(conn, f"SELECT * FROM main.{quote_ident(name)}", f"{kind} {name!r}", budget, config)
    if execution.ok:
        rows = Counter(map(_canonical, execution.rows))
        columns = tuple(fold(c) for c in execution.columns)
    else:  # a view that no longer runs, or ran out of budget, reads as empty and broken
        rows, columns = Counter(), (f"<unreadable {kind}: {execution.error_kind.value if execution.error_kind else ''}>",)
    return TableState(kind=kind, columns=columns, rows=rows, size=sum(rows.values()))


def _attach(conn: sqlite3.Connection, base: Template) -> int | None:
    """Attach ``base`` read-only to ``conn`` as trusted code (guards off meanwhile); returns the attach limit to
    restore afterwards, or None where ``base`` cannot be attached."""
    if base.shared_name is None or conn.in_transaction:
        return None
    if isinstance(conn, SandboxConnection):
        conn.disarm()
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, max(limit, 1))
    try:
        conn.execute(f"ATTACH DATABASE 'file:/{base.shared_name}?vfs=memdb&mode=ro' AS {_BASE}")
    except sqlite3.Error:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, limit)
        return None
    return limit


def _detach(conn: sqlite3.Connection, limit: int) -> None:
    if isinstance(conn, SandboxConnection):
        conn.disarm()
    conn.execute(f"DETACH DATABASE {_BASE}")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, limit)


def _change_in_sql(conn: sqlite3.Connection, name: str, columns: list[str], against: _BaseTable, budget: list[int],
                   config: SandboxConfig) -> TableState | None:
    """The change of table ``name`` from the attached base, found by SQLite: rows whose rowid is new or whose
    values differ come back, with the base rows they replaced, and base rows whose rowid is gone. Values
    compare with ``IS`` under the binary collation and without column affinity (unary ``+``), so a change of
    case, of storage class (``'5'`` for ``5``) or of value is a change; ``1`` for ``1.0`` is not, nor is it
    for the canonical rows. None if the table has no rowid to join on (the caller reads it whole)."""
    table, rid = quote_ident(name), against.rowid
    names = [quote_ident(c) for c in columns]
    width = len(names)
    x, y = (", ".join(f"{side}.{c}" for c in names) for side in ("x", "y"))
    same = " AND ".join(f"+x.{c} IS +y.{c} COLLATE BINARY" for c in names)
    try:
        conn.execute(f"SELECT {rid} FROM main.{table} LIMIT 0")
    except sqlite3.OperationalError:
        return None
    changed = _read(conn, f"SELECT y.{rid} IS NOT NULL, {x}, {y} FROM main.{table} AS x LEFT JOIN {_BASE}.{table} AS y "
                          f"ON y.{rid} = x.{rid} WHERE y.{rid} IS NULL OR NOT ({same})", f"table {name!r}", budget, config)
    gone = _read(conn, f"SELECT {y} FROM {_BASE}.{table} AS y WHERE NOT EXISTS "
                       f"(SELECT 1 FROM main.{table} AS x WHERE x.{rid} = y.{rid})", f"table {name!r}", budget, config)
    if not (changed.ok and gone.ok):
        return TableState(kind="table", columns=(f"<unreadable table: {(changed.error_kind or gone.error_kind).value}>",),
                          rows=Counter(), size=0)
    added = [row[1:width + 1] for row in changed.rows]
    removed = [row[width + 1:] for row in changed.rows if row[0]] + list(gone.rows)
    size = against.size - len(removed) + len(added)
    return TableState(kind="table", columns=against.columns, rows=_signed(added, removed), size=size, relative=True)


def _change_by_reading(conn: sqlite3.Connection, name: str, against: _BaseTable, base: Template,
                       budget: list[int], config: SandboxConfig) -> TableState:
    """The change of table ``name`` from ``base``, by reading both tables whole (where ``base`` cannot be
    attached)."""
    mine = _full(conn, name, "table", budget, config)
    if mine.columns != against.columns:  # unreadable
        return mine
    reader = base.reader(config)
    try:
        theirs = _full(reader, against.name, "table", [config.max_vm_steps], config)
    finally:
        reader.close()
    return TableState(kind="table", columns=mine.columns, rows=_minus(mine.rows, theirs.rows), size=mine.size,
                      relative=True)


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
        elif have.relative != want.relative:
            raise ValueError(f"table {name!r}: one state was taken against a base and the other was not")
        elif have.relative:  # both are changes from one base: they differ where the changes differ
            gap = _minus(have.rows, want.rows)
            extra = sum(n for n in gap.values() if n > 0)
            missing = -sum(n for n in gap.values() if n < 0)
            overlap = have.size - extra
            out[name] = TableDiff(name, missing + extra, _f1(overlap, have.size, want.size), missing, extra)
        else:
            overlap = sum((have.rows & want.rows).values())
            missing, extra = want.size - overlap, have.size - overlap
            out[name] = TableDiff(name, missing + extra, _f1(overlap, have.size, want.size), missing, extra)
    return out
