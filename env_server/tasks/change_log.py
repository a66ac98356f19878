"""Row changes of a trusted scratch database, logged by SQLite as they happen: how the task build checks a
planted corruption and its gold repair without reading whole tables into Python.

:class:`ChangeLog` puts TEMP triggers on every table of a scratch copy (trusted code only: builds and their
checks, never an agent's connection) that log each inserted row, each deleted row and both sides of each
update into a TEMP table of its own. :meth:`ChangeLog.state` is then the state of the database as its change
from the moment the log started: a signed multiset of raw rows per table (added rows positive, removed rows
negative), with tables created since then whole. Two states are equal exactly when the databases' rows are
(table by table, as multisets, as :func:`env_server.grading.state_diff.rows_of` compares them), and the work
grows with the rows the statements change, not with the database.

``PRAGMA recursive_triggers`` is on while the log runs so that rows ``REPLACE`` deletes are logged too.
A table dropped, renamed or altered since the log started has no reliable log: :meth:`ChangeLog.state`
raises :class:`SchemaChanged` and the caller compares whole tables instead.
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass

from env_server.core.identifiers import fold, quote_ident


class SchemaChanged(RuntimeError):
    """A logged table was dropped, renamed or altered: compare whole tables instead."""


@dataclass(frozen=True)
class State:
    """A database state as its change from the start of a :class:`ChangeLog`."""

    tables: frozenset[str]
    """Every table's folded name."""
    change: dict[str, Counter]
    """Per table with any change: logged tables' signed row changes, new tables' rows; no zero counts."""


class ChangeLog:
    """Log every row change of the tables of ``conn`` from now on (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._logs: dict[str, tuple[str, tuple[str, ...], str]] = {}
        """Folded table name -> (table name, column names, log table name)."""
        self._read: dict[str, int] = {}
        self._running: dict[str, Counter] = {}
        conn.execute("PRAGMA recursive_triggers = ON")
        names = [r[0] for r in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for number, name in enumerate(names):
            columns = tuple(d[0] for d in conn.execute(f"SELECT * FROM main.{quote_ident(name)} LIMIT 0").description)
            log = f"dataops_log_{number}"
            values = ", ".join(f"c{i}" for i in range(len(columns)))
            conn.execute(f"CREATE TEMP TABLE {log} (seq INTEGER PRIMARY KEY, sign, {values})")
            new = ", ".join(f"NEW.{quote_ident(c)}" for c in columns)
            old = ", ".join(f"OLD.{quote_ident(c)}" for c in columns)
            table = f"main.{quote_ident(name)}"
            insert = f"INSERT INTO {log} (sign, {values}) VALUES"  # a TEMP trigger writes its TEMP log unqualified
            conn.execute(f"CREATE TEMP TRIGGER {log}_i AFTER INSERT ON {table} BEGIN {insert} (1, {new}); END")
            conn.execute(f"CREATE TEMP TRIGGER {log}_d AFTER DELETE ON {table} BEGIN {insert} (-1, {old}); END")
            conn.execute(f"CREATE TEMP TRIGGER {log}_u AFTER UPDATE ON {table} BEGIN {insert} (-1, {old}); "
                         f"{insert} (1, {new}); END")
            self._logs[fold(name)] = (name, columns, log)
            self._read[fold(name)] = 0
            self._running[fold(name)] = Counter()
        conn.commit()

    def state(self) -> State:
        """The database's state now, as its change since the log started."""
        now = {fold(r[0]): r[0] for r in self.conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        change: dict[str, Counter] = {}
        for key, (name, columns, log) in self._logs.items():
            if now.get(key) != name or tuple(
                    d[0] for d in self.conn.execute(f"SELECT * FROM main.{quote_ident(name)} LIMIT 0").description
            ) != columns:
                raise SchemaChanged(f"table {name!r} was dropped, renamed or altered")
            running = self._running[key]
            rows = self.conn.execute(f"SELECT * FROM temp.{log} WHERE seq > ? ORDER BY seq", (self._read[key],))
            for row in rows:
                self._read[key] = row[0]
                running[row[2:]] += row[1]
            if any(running.values()):
                change[key] = Counter({r: n for r, n in running.items() if n})
        for key, name in now.items():
            if key not in self._logs:
                rows = Counter(self.conn.execute(f"SELECT * FROM main.{quote_ident(name)}").fetchall())
                if rows:
                    change[key] = rows
        return State(tables=frozenset(now), change=change)


def untouched(corrupted: State, repaired: State) -> bool:
    """Whether every row of the start that the corruption left alone is still there after the repair, table by
    table as multisets (both states from one log started on the clean database): with ``d1`` and ``d2`` the
    changes of a row's count after the corruption and after the repair, the rows the corruption kept are
    ``start + min(0, d1)``, and the repair keeps them all unless ``d2 < min(0, d1)`` for some row."""
    for table, after in repaired.change.items():
        before = corrupted.change.get(table, Counter())
        for row, d2 in after.items():
            if d2 < min(0, before.get(row, 0)):
                return False
    return True
