"""Seeded database variants: the same schema with a subset of the rows and perturbed values.

The grader runs every query on the task database **and** on K variants. A query that encodes the
answer as literals, or that leans on accidents of one dataset, gives the gold result on the main
database and a different one on a variant, so it fails. Variants are made generically from any
SQLite database, so custom and bring-your-own databases get them too:

* each table keeps a seeded 75–92 % of its rows (deleting parents leaves realistic orphans);
* key columns (primary keys, foreign keys, ``*_id``) are never changed, so joins still join;
* in every other column about a third of the values move: integers and reals are nudged by up to
  ±20 %, ISO dates and timestamps shift by up to three weeks, 0/1 flags flip, and text values are
  permuted among the chosen rows (so categories keep their vocabulary but change their counts).

Updates use ``UPDATE OR IGNORE`` so UNIQUE and CHECK constraints are kept by skipping a change.

The choices are drawn in Python from the seed, row by row, and applied in SQL in a few statements per column
(rowids and values travel as one JSON array or one temporary table, not one statement per row): the same
variant as one statement per row, built ~10x faster, so a 1M-row database's variants take seconds, not minutes.
A column under a UNIQUE index, or a table with triggers, is still updated row by row in the drawn order, where
order decides which change a conflict skips. Tables of :data:`~env_server.core.variants_sql.SQL_DRAWS_FROM_ROWS`
rows or more draw in SQL instead (:mod:`env_server.core.variants_sql`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import re
import sqlite3

from env_server.core.identifiers import fold, quote_ident
from env_server.core.variants_sql import SQL_DRAWS_FROM_ROWS, perturb_table, shuffled_order

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")
_MOVE_FRACTION = 0.35


def variant_seed(base: str, k: int) -> int:
    """A stable integer seed for variant ``k`` of the database identified by ``base``."""
    return int.from_bytes(hashlib.sha256(f"{base}|variant|{k}".encode()).digest()[:8], "big")


def _key_columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], set[str]]:
    info = conn.execute(f'PRAGMA table_info({quote_ident(table)})').fetchall()
    columns = [row[1] for row in info]
    keys = {row[1] for row in info if row[5]}
    keys |= {row[3] for row in conn.execute(f'PRAGMA foreign_key_list({quote_ident(table)})').fetchall()}
    keys |= {c for c in columns if fold(c) == "id" or fold(c).endswith("_id")}
    return columns, keys


def _shift_date(value: str, days: int) -> str:
    if _DATE.match(value):
        return (dt.date.fromisoformat(value) + dt.timedelta(days=days)).isoformat()
    stamp = dt.datetime.fromisoformat(value.replace("T", " ") if len(value) > 16 else value + ":00")
    shifted = stamp + dt.timedelta(days=days)
    text = shifted.strftime("%Y-%m-%d %H:%M:%S")
    if "T" in value:
        text = text.replace(" ", "T", 1)
    return text if len(value) > 16 else text[:16]


def _perturb_column(rng: random.Random, values: list[tuple[int, object]]) -> list[tuple[object, int]]:
    """Return ``(new_value, rowid)`` updates for about a third of the non-NULL ``values``."""
    present = [(rowid, v) for rowid, v in values if v is not None]
    if len(present) < 2:
        return []
    chosen = rng.sample(present, max(1, int(len(present) * _MOVE_FRACTION)))
    sample = [v for _, v in present[:50]]
    updates: list[tuple[object, int]] = []
    if all(isinstance(v, int) and not isinstance(v, bool) for v in sample):
        if set(sample) <= {0, 1}:
            return [(1 - v, rowid) if v in (0, 1) else (v, rowid) for rowid, v in chosen]
        for rowid, v in chosen:
            step = max(1, round(abs(v) * rng.uniform(0.05, 0.2)))
            new = v + rng.choice((-1, 1)) * step
            updates.append((new if v < 0 or new >= 0 else v + step, rowid))
        return updates
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sample):
        for rowid, v in chosen:
            updates.append((round(float(v) * rng.uniform(0.8, 1.2), 2), rowid))
        return updates
    if all(isinstance(v, str) and (_DATE.match(v) or _TIMESTAMP.match(v)) for v in sample):
        for rowid, v in chosen:
            if isinstance(v, str) and (_DATE.match(v) or _TIMESTAMP.match(v)):
                try:
                    updates.append((_shift_date(v, rng.choice((-1, 1)) * rng.randint(1, 21)), rowid))
                except ValueError:
                    continue
        return updates
    shuffled = [v for _, v in chosen]
    rng.shuffle(shuffled)
    return [(new, rowid) for (rowid, _), new in zip(chosen, shuffled)]


def perturb(conn: sqlite3.Connection, seed: int) -> None:
    """Turn the database in ``conn`` into the variant for ``seed``, in place."""
    rng = random.Random(seed)
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    for table in tables:
        try:
            size = conn.execute(f'SELECT count(rowid) FROM {quote_ident(table)}').fetchone()[0]
        except sqlite3.OperationalError:  # WITHOUT ROWID tables keep their rows and values
            continue
        if size >= SQL_DRAWS_FROM_ROWS:  # drawn in SQL: seconds, not a minute, for a million rows
            columns, keys = _key_columns(conn, table)
            perturb_table(conn, table, columns, keys, rng)
            continue
        rowids = [r[0] for r in conn.execute(f'SELECT rowid FROM {quote_ident(table)} ORDER BY rowid')]
        keep = rng.uniform(0.75, 0.92)
        dropped = [rowid for rowid in rowids if rng.random() > keep]
        if len(dropped) >= len(rowids):
            dropped = dropped[1:]
        conn.execute(f'DELETE FROM {quote_ident(table)} WHERE rowid IN (SELECT value FROM json_each(?))',
                     (json.dumps(dropped),))
        columns, keys = _key_columns(conn, table)
        ordered = _order_dependent(conn, table)
        for column in columns:
            if column in keys:
                continue
            values = conn.execute(f'SELECT rowid, {quote_ident(column)} FROM {quote_ident(table)} ORDER BY rowid').fetchall()
            updates = _perturb_column(rng, values)
            if not updates:
                continue
            sql = f'UPDATE OR IGNORE {quote_ident(table)} SET {quote_ident(column)} = ? WHERE rowid = ?'
            if column in ordered or len(updates) < _BULK:
                conn.executemany(sql, updates)
            else:
                _bulk_update(conn, table, column, updates)
    conn.commit()


_BULK = 64
"""Updates of one column from which on they are applied in one statement instead of one per row."""


def _order_dependent(conn: sqlite3.Connection, table: str) -> set[str]:
    """Columns of ``table`` whose updates must run one by one in the drawn order: every column when the table
    has triggers, else those under a UNIQUE index (which of two clashing changes ``OR IGNORE`` skips)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({quote_ident(table)})")}
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)).fetchone():
        return columns
    unique: set[str] = set()
    for index in conn.execute(f"PRAGMA index_list({quote_ident(table)})").fetchall():
        if index[2]:  # unique
            unique |= {row[2] for row in conn.execute(f"PRAGMA index_info({quote_ident(index[1])})")}
    return unique


def _bulk_update(conn: sqlite3.Connection, table: str, column: str, updates: list[tuple[object, int]]) -> None:
    """``UPDATE OR IGNORE`` of ``column`` to each ``(value, rowid)`` in one statement (values keep their types
    through a temporary table). Each row's change succeeds or is skipped on its own (NOT NULL, CHECK), as row by
    row; callers keep order-dependent columns (UNIQUE, triggers) row by row."""
    target = f"main.{quote_ident(table)}"
    if all(type(value) in (int, str) or (type(value) is float and math.isfinite(value)) for value, _ in updates):
        # JSON keeps these types exactly (a float is written as its repr and read back as the same REAL)
        conn.execute(f"UPDATE OR IGNORE {target} SET {quote_ident(column)} = u.value "
                     f"FROM (SELECT e.value ->> 0 AS value, e.value ->> 1 AS rid FROM json_each(?) AS e) AS u "
                     f"WHERE {target}.rowid = u.rid", (json.dumps(updates),))
        return
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS __dataops_updates (rid INTEGER PRIMARY KEY, value)")
    try:
        conn.executemany("INSERT INTO temp.__dataops_updates (value, rid) VALUES (?, ?)", updates)
        conn.execute(f"UPDATE OR IGNORE {target} SET {quote_ident(column)} = u.value "
                     f"FROM temp.__dataops_updates AS u WHERE {target}.rowid = u.rid")
    finally:
        conn.execute("DROP TABLE temp.__dataops_updates")


def _rowid_alias(conn: sqlite3.Connection, table: str) -> str | None:
    """The table's ``INTEGER PRIMARY KEY`` column (an alias of ``rowid``), if it has one."""
    info = conn.execute(f"PRAGMA main.table_info({quote_ident(table)})").fetchall()
    keys = [row for row in info if row[5]]
    if len(keys) == 1 and (keys[0][2] or "").upper() == "INTEGER":
        desc = conn.execute(
            "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ? AND sql LIKE '%PRIMARY KEY DESC%'",
            (table,),
        ).fetchone()
        return None if desc else keys[0][1]
    return None


def _rebuilt_definition(conn: sqlite3.Connection, table: str, new_name: str, alias: str) -> str:
    """``CREATE TABLE new_name`` with ``table``'s columns, types, NOT NULL, defaults and foreign keys,
    where the rowid alias ``alias`` becomes ``INTEGER PRIMARY KEY DESC`` (SQLite's documented quirk:
    then it is not a rowid alias, so rows can be stored in any physical order)."""
    parts = []
    for _cid, name, decl, notnull, default, pk in conn.execute(f"PRAGMA main.table_info({quote_ident(table)})"):
        text = f"{quote_ident(name)} {decl or ''}".rstrip()
        if name == alias:
            text += " PRIMARY KEY DESC"
        if notnull:
            text += " NOT NULL"
        if default is not None:
            text += f" DEFAULT ({default})"
        parts.append(text)
    fks: dict[int, list[tuple]] = {}
    for row in conn.execute(f"PRAGMA main.foreign_key_list({quote_ident(table)})"):
        fks.setdefault(row[0], []).append(row)
    for rows in fks.values():
        local = ", ".join(quote_ident(r[3]) for r in rows)
        remote = ", ".join(quote_ident(r[4]) for r in rows if r[4])
        parts.append(f"FOREIGN KEY ({local}) REFERENCES {quote_ident(rows[0][2])}" + (f" ({remote})" if remote else ""))
    return f"CREATE TABLE main.{quote_ident(new_name)} ({', '.join(parts)})"


def shuffle_rows(conn: sqlite3.Connection, seed: int) -> None:
    """Store every rowid table's rows in a seeded random physical order, in place.

    Without this a scan returns rows in ``id`` order on every variant, so a query that drops a
    required tiebreaker ("ties broken by id") still gives the gold order everywhere. A table whose
    ``id`` is an ``INTEGER PRIMARY KEY`` (stored in ``id`` order by definition) is rebuilt with
    ``INTEGER PRIMARY KEY DESC``: the same column, type, key and values, ``PRAGMA table_info``
    unchanged, but no longer the rowid. Used for the variants of read-only tasks only: ``rowid``
    values change, which repairs (that write) may rely on. Virtual tables and their shadow tables,
    and ``WITHOUT ROWID`` tables (stored in key order), are left as they are."""
    rng = random.Random(seed)
    schema = conn.execute("SELECT name, type, sql, tbl_name FROM main.sqlite_master").fetchall()
    virtual = [name for name, kind, sql, _ in schema if kind == "table" and (sql or "").upper().startswith("CREATE VIRTUAL")]
    tables = sorted(
        name for name, kind, sql, _ in schema
        if kind == "table" and not name.startswith("sqlite_") and name not in virtual
        and not any(name.startswith(f"{v}_") for v in virtual)
    )
    conn.execute("PRAGMA legacy_alter_table = ON")  # renaming must not rewrite (or check) views
    try:
        for table in tables:
            try:
                size = conn.execute(f"SELECT count(rowid) FROM main.{quote_ident(table)}").fetchone()[0]
            except sqlite3.OperationalError:  # WITHOUT ROWID
                continue
            if size < 2:
                continue
            order = shuffled_order(rng) if size >= SQL_DRAWS_FROM_ROWS else None
            if order is None:
                rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM main.{quote_ident(table)}")]
                rng.shuffle(rowids)
            alias = _rowid_alias(conn, table)
            indexes = [sql for _, kind, sql, owner in schema if kind == "index" and sql and owner == table]
            quoted = quote_ident(table)
            scratch = f"__dataops_shuffle_{table}"
            definition = conn.execute(
                "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()[0]
            rebuilt = _own_definition(definition, scratch, alias)
            conn.execute(rebuilt or _rebuilt_definition(conn, table, scratch, alias or ""))
            if order is not None:  # a large table: ordered by a seeded hash of rowid, in SQL
                conn.execute(f"INSERT INTO main.{quote_ident(scratch)} SELECT * FROM main.{quoted} "
                             f"ORDER BY {order}, rowid")
            else:  # one statement: the rows in the drawn order (json_each yields the array in order, key = position)
                conn.execute(
                    f"INSERT INTO main.{quote_ident(scratch)} SELECT t.* FROM json_each(?) AS o "
                    f"JOIN main.{quoted} AS t ON t.rowid = o.value ORDER BY o.key",
                    (json.dumps(rowids),),
                )
            conn.execute(f"DROP TABLE main.{quoted}")
            conn.execute(f"ALTER TABLE main.{quote_ident(scratch)} RENAME TO {quoted}")
            for sql in indexes:
                conn.execute(sql)
        conn.commit()
    finally:
        conn.execute("PRAGMA legacy_alter_table = OFF")


def _split_top_level(body: str) -> list[str]:
    """The comma-separated parts of a column list, ignoring commas inside parentheses and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in body:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'`[":
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


_NAME_TOKEN = re.compile(r'\s*("(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|\'(?:[^\']|\'\')*\'|[^\s(]+)\s*\(', re.DOTALL)
_PK = re.compile(r"PRIMARY\s+KEY(\s+(ASC|DESC))?", re.IGNORECASE)


def _unquote(token: str) -> str:
    token = token.strip()
    if token[:1] in "\"'`[" and len(token) > 1:
        inner = token[1:-1]
        return inner.replace(token[0] * 2, token[0]) if token[0] != "[" else inner
    return token


def _own_definition(definition: str, new_name: str, alias: str | None) -> str | None:
    """The table's own ``CREATE TABLE`` text under ``new_name`` (collations, CHECKs and UNIQUEs kept), with
    the rowid alias ``alias`` turned into ``PRIMARY KEY DESC``; None where the text is not understood."""
    head = re.match(r"\s*CREATE\s+TABLE\s+", definition, re.IGNORECASE)
    if head is None:
        return None
    name = _NAME_TOKEN.match(definition, head.end())
    if name is None:
        return None
    body_start = name.end()
    body_end = definition.rstrip().rfind(")")
    if body_end <= body_start:
        return None
    body, tail = definition[body_start:body_end], definition[body_end:]
    if alias is not None:
        parts = _split_top_level(body)
        for i, part in enumerate(parts):
            first = part.strip().split(None, 1)
            if first and fold(_unquote(first[0])) == fold(alias) and _PK.search(part):
                parts[i] = re.sub(r"\bAUTOINCREMENT\b", "", _PK.sub("PRIMARY KEY DESC", part, count=1), flags=re.IGNORECASE)
                break
        else:
            return None
        body = ",".join(parts)
    return f"CREATE TABLE main.{quote_ident(new_name)} ({body}{tail}"
