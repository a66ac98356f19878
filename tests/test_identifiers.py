"""env_server/core/identifiers.py: which names generated SQL may write bare, checked against the installed SQLite and
sqlglot for every SQLite keyword, and quoting that survives spaces, keywords and embedded quotes."""
from __future__ import annotations

import sqlite3

import pytest
import sqlglot

from env_server.core.identifiers import (
    RESERVED_KEYWORDS,
    SQL_KEYWORDS,
    ident,
    quote_ident,
)


def _bare_works(word: str) -> bool:
    """Whether ``word`` works bare as a table and a column name in the shapes the generators write, both as
    written and after sqlglot's SQLite round trip (which the bug injector applies), with the column's value."""
    conn = sqlite3.connect(":memory:")
    q = quote_ident(word)
    conn.execute(f"CREATE TABLE t ({q} INT, id INT)")
    conn.execute(f"CREATE TABLE {q} (x INT)")
    conn.execute("INSERT INTO t VALUES (7, 1)")
    conn.execute(f"INSERT INTO {q} VALUES (1)")
    w = word.lower()
    checks = {
        f"SELECT {w} FROM t WHERE {w} = 7 GROUP BY {w} ORDER BY {w}": [(7,)],
        f"SELECT a.{w} FROM t AS a": [(7,)],
        f"SELECT x FROM {w}": [(1,)],
        f"SELECT b.{w} FROM {w} AS a JOIN t AS b ON b.id = a.x": [(7,)],
        f"SELECT COUNT(DISTINCT {w}), SUM({w}) FROM t": [(1, 7)],
        f"SELECT {w}, ROW_NUMBER() OVER (PARTITION BY {w} ORDER BY {w} DESC) FROM t": [(7, 1)],
        f"SELECT {w} FROM t WHERE {w} IN (SELECT {w} FROM t)": [(7,)],
    }
    try:
        for sql, expected in checks.items():
            if conn.execute(sql).fetchall() != expected:
                return False
            if conn.execute(sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite")).fetchall() != expected:
                return False
    except (sqlite3.Error, sqlglot.errors.SqlglotError):
        return False
    return True


@pytest.mark.parametrize("word", sorted(SQL_KEYWORDS))
def test_reserved_keywords_are_exactly_those_that_cannot_stand_bare(word):
    assert (word in RESERVED_KEYWORDS) == (not _bare_works(word))


@pytest.mark.parametrize("name", ["Order Details", "Order", "group", 'Cust"Co', "2nd quarter", "naïve", "plan"])
def test_quoted_names_round_trip_through_sqlite(name):
    conn = sqlite3.connect(":memory:")
    for keywords in (SQL_KEYWORDS, RESERVED_KEYWORDS):
        table, column = ident(name, keywords), ident(name + " col", keywords)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({column} INT)")
        conn.execute(f"INSERT INTO {table} ({column}) VALUES (3)")
        assert conn.execute(f"SELECT t.{column} FROM {table} AS t").fetchall() == [(3,)]
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [(name,)]
