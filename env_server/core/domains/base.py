"""The contract every seeded domain generator follows, and the one function that builds a database from it.

A domain is a module-level `Domain` value: a name, a schema (plain SQLite DDL whose
`REFERENCES` clauses declare the foreign-key graph the query synthesiser walks), and a
`generate(rng)` function that returns the rows of every table. Generators must be
deterministic for a given `random.Random` and must only draw randomness from it.
"""
from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from env_server.core.identifiers import quote_ident

Rows = Mapping[str, Sequence[tuple]]


@dataclass(frozen=True)
class Domain:
    """A seeded schema-and-data generator."""

    name: str
    """Short identifier used in task specs, e.g. ``"ecommerce"``."""
    description: str
    """One sentence describing the business the data models."""
    schema_sql: str
    """``CREATE TABLE`` statements, with ``PRIMARY KEY`` and ``REFERENCES`` clauses."""
    generate: Callable[[random.Random], Rows]
    """Returns ``{table: [row tuples in column order]}`` for every table in ``schema_sql``."""
    reference_date: str = "2024-12-31"
    """The frozen "today" of this domain's data (ISO date); nothing is dated after it."""
    nouns: Mapping[str, str] = field(default_factory=dict)
    """Optional plain-English plural noun per table, e.g. ``{"order_items": "order lines"}``."""


def populate(conn: sqlite3.Connection, domain: Domain, seed: int) -> None:
    """Create the domain's tables in ``conn`` and fill them with the rows for ``seed``."""
    conn.executescript(domain.schema_sql)
    rows = domain.generate(random.Random(seed))
    for table, table_rows in rows.items():
        if not table_rows:
            continue
        width = len(table_rows[0])
        marks = ",".join("?" * width)
        conn.executemany(f'INSERT INTO {quote_ident(table)} VALUES ({marks})', table_rows)
    conn.commit()
