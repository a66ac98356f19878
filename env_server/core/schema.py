"""Schema introspection: tables, columns, keys and the foreign-key graph of a SQLite database.

Used for the schema summary shown to agents, by the query synthesiser that walks the
foreign-key graph, and by the bug injector to pick plausible wrong columns and tables.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import cached_property

from env_server.core.identifiers import fold


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    primary_key: bool
    not_null: bool
    references: tuple[str, str] | None = None
    """``(table, column)`` this column points to, if it is a foreign key."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    row_count: int

    def column(self, name: str) -> Column | None:
        folded = fold(name)  # as SQLite resolves it: ASCII case only
        return next((c for c in self.columns if fold(c.name) == folded), None)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class SchemaInfo:
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table | None:
        folded = fold(name)  # as SQLite resolves it: ASCII case only
        return next((t for t in self.tables if fold(t.name) == folded), None)

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def foreign_keys(self) -> list[tuple[str, str, str, str]]:
        """Every ``(table, column, referenced_table, referenced_column)``."""
        return [
            (t.name, c.name, c.references[0], c.references[1])
            for t in self.tables
            for c in t.columns
            if c.references is not None
        ]

    @cached_property
    def text(self) -> str:
        """The summary, computed once."""
        return self.summary()

    def summary(self) -> str:
        """A compact text rendering for prompts: one line per table."""
        lines = []
        for table in self.tables:
            parts = []
            for c in table.columns:
                text = f"{c.name} {c.type or 'ANY'}"
                if c.primary_key:
                    text += " PK"
                if c.references:
                    text += f" -> {c.references[0]}.{c.references[1]}"
                parts.append(text)
            lines.append(f"{table.name}({', '.join(parts)})  -- {table.row_count} rows")
        return "\n".join(lines)


def introspect(conn: sqlite3.Connection) -> SchemaInfo:
    """Read the schema of the main database of ``conn`` (trusted call: run it with no authorizer installed).

    Only ``main`` is read, with every name quoted, so agent-made names (quotes, spaces) and TEMP
    objects cannot break or redirect it; row counts use ``COUNT(*)`` on tables only, which SQLite
    answers from the b-tree without running any agent-written view."""
    from env_server.core.identifiers import quote_ident

    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    tables = []
    for name in names:
        quoted = quote_ident(name)
        fks = {
            row[3]: (row[2], row[4] or "id")
            for row in conn.execute(f"PRAGMA main.foreign_key_list({quoted})").fetchall()
        }
        columns = tuple(
            Column(
                name=row[1],
                type=(row[2] or "").upper(),
                primary_key=bool(row[5]),
                not_null=bool(row[3]) or bool(row[5]),
                references=fks.get(row[1]),
            )
            for row in conn.execute(f"PRAGMA main.table_info({quoted})").fetchall()
        )
        count = conn.execute(f"SELECT COUNT(*) FROM main.{quoted}").fetchone()[0]
        tables.append(Table(name=name, columns=columns, row_count=count))
    return SchemaInfo(tables=tuple(tables))
