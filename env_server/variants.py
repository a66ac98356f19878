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
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import sqlite3

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")
_MOVE_FRACTION = 0.35


def variant_seed(base: str, k: int) -> int:
    """A stable integer seed for variant ``k`` of the database identified by ``base``."""
    return int.from_bytes(hashlib.sha256(f"{base}|variant|{k}".encode()).digest()[:8], "big")


def _key_columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], set[str]]:
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    columns = [row[1] for row in info]
    keys = {row[1] for row in info if row[5]}
    keys |= {row[3] for row in conn.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()}
    keys |= {c for c in columns if c.lower() == "id" or c.lower().endswith("_id")}
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
            rowids = [r[0] for r in conn.execute(f'SELECT rowid FROM "{table}" ORDER BY rowid')]
        except sqlite3.OperationalError:  # WITHOUT ROWID tables keep their rows and values
            continue
        keep = rng.uniform(0.75, 0.92)
        dropped = [(rowid,) for rowid in rowids if rng.random() > keep]
        if len(dropped) >= len(rowids):
            dropped = dropped[1:]
        conn.executemany(f'DELETE FROM "{table}" WHERE rowid = ?', dropped)
        columns, keys = _key_columns(conn, table)
        for column in columns:
            if column in keys:
                continue
            values = conn.execute(f'SELECT rowid, "{column}" FROM "{table}" ORDER BY rowid').fetchall()
            updates = _perturb_column(rng, values)
            if updates:
                conn.executemany(f'UPDATE OR IGNORE "{table}" SET "{column}" = ? WHERE rowid = ?', updates)
    conn.commit()
