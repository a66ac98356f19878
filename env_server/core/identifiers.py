"""SQL identifiers as generated SQL writes them: bare when that is safe, double-quoted otherwise.

Every generator that writes SQL from a database's own names (gold queries, analyst questions, bugs,
corruptions and their reference repairs, profiling probes) goes through :func:`ident`, so a table named
``Order Details``, a column named ``Order`` or ``Cust"Co`` is still one valid identifier. Names that
need no quotes stay bare, so the SQL of ordinary schemas reads as a person would write it.

Two conventions, both valid SQL, each kept so that the committed task data does not change: the analyst
questions quote every SQLite keyword (``"plan"``), the debug gold queries only the reserved ones
(:data:`RESERVED_KEYWORDS`; ``plan`` bare).

>>> ident("order_items"), ident("Order Details"), ident("Order"), ident('Cust"Co'), ident("2nd")
('order_items', '"Order Details"', '"Order"', '"Cust""Co"', '"2nd"')
>>> ident("plan"), ident("plan", RESERVED_KEYWORDS), ident("order", RESERVED_KEYWORDS)
('"plan"', 'plan', '"order"')
"""
from __future__ import annotations

import re

__all__ = ["RESERVED_KEYWORDS", "SQL_KEYWORDS", "fold", "ident", "is_bare", "quote_ident"]

_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_KEYWORD_TEXT = """
    ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN BETWEEN BY
    CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE
    CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP
    EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM
    FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD
    INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL
    NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE
    RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS
    SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE UPDATE
    USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
"""
SQL_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
"""SQLite's keywords (https://sqlite.org/lang_keywords.html)."""

RESERVED_KEYWORDS = frozenset(["ADD", "ALL", "ALTER", "AND", "AS", "AUTOINCREMENT", "BETWEEN", "CASE", "CAST", "CHECK", "COLLATE", "COMMIT", "CONSTRAINT", "CREATE", "CROSS", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "DEFAULT", "DEFERRABLE", "DELETE", "DISTINCT", "DROP", "ELSE", "ESCAPE", "EXCEPT", "EXISTS", "FOR", "FOREIGN", "FROM", "GLOB", "GROUP", "HAVING", "IF", "IN", "INDEX", "INNER", "INSERT", "INTERSECT", "INTO", "IS", "ISNULL", "JOIN", "LIKE", "LIMIT", "NOT", "NOTHING", "NOTNULL", "NULL", "OFFSET", "ON", "OR", "ORDER", "OUTER", "PRIMARY", "RAISE", "REFERENCES", "REGEXP", "RETURNING", "ROLLBACK", "SELECT", "SET", "TABLE", "THEN", "TO", "TRANSACTION", "UNION", "UNIQUE", "UPDATE", "USING", "VALUES", "WHEN", "WHERE", "WINDOW", "WITH"])
"""The keywords that cannot stand bare for a table or column: SQLite rejects them, reads them as something
else (``CURRENT_DATE``), or sqlglot's SQLite round trip does. ``tests/test_identifiers.py`` checks every
keyword against both, so this list follows the installed versions or the test fails."""


def is_bare(name: str, keywords: frozenset[str] = SQL_KEYWORDS) -> bool:
    """Whether ``name`` is written unquoted: letters, digits and underscores, and not one of ``keywords``."""
    return bool(_BARE.match(name)) and name.upper() not in keywords


def ident(name: str, keywords: frozenset[str] = SQL_KEYWORDS) -> str:
    """``name`` as a SQL identifier: bare when :func:`is_bare`, else double-quoted (inner quotes doubled).

    ``keywords`` are the words that are quoted even though they look like plain names: every SQLite keyword
    by default; :data:`RESERVED_KEYWORDS` quotes only those that must be (``plan`` stays bare)."""
    name = str(name)
    return name if is_bare(name, keywords) else quote_ident(name)


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier, always (embedded double quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def fold(name: str) -> str:
    """``name`` folded as SQLite folds identifiers: ASCII letters to lower case, every other character as it is.

    SQLite compares table, column, index and function names case-insensitively for ASCII only
    (``sqlite3StrICmp``), so two names are one object exactly when their folds are equal. Python's
    ``lower()`` and ``casefold()`` fold more: ``"\u212a"`` (KELVIN SIGN) lowers to ``"k"``, ``"\u017f"`` (long s)
    and ``"\ufb01"`` (the fi ligature) casefold to ``"s"`` and ``"fi"``, so keying objects by them lets a
    look-alike table stand in for the real one. Every place that keys database objects by name uses this.

    >>> fold("OrderItems"), fold("\u212aelvin") == fold("kelvin"), fold("CAF\u00c9")
    ('orderitems', False, 'caf\u00c9')
    """
    return str(name).translate(_ASCII_LOWER)
