"""Variant draws made by SQLite for large tables: the perturbation of :mod:`env_server.core.variants`, with
each row's random choices a seeded hash of its rowid computed in SQL instead of Python's ``Random``.

A table of :data:`SQL_DRAWS_FROM_ROWS` rows or more gets, from one salt drawn off the variant's generator:

* rows kept with the same seeded 75–92 % probability;
* about a third of each non-key column's non-NULL values changed as the Python path changes them: 0/1 flags
  flip, integers move by 5–20 % (at least 1, never below 0 from 0 or above), reals by ±20 % to 2 decimals,
  ISO dates and timestamps (``T`` or space, with or without seconds) shift by 1–21 days either way, and any
  other values are permuted among the chosen rows;
* the numeric and date columns change in one ``UPDATE OR IGNORE`` (a row whose change breaks a constraint
  keeps all its values), text columns in one statement each.

The hash: rowid mod the prime 2^31 - 1, two affine steps around an xor-shift (integer arithmetic that
never leaves 62 bits), a different salt per purpose. It is not Python's stream, so a large table's variants
differ from what the Python draws would give; tables under the threshold (every table of every committed task:
the largest holds 1,500 rows) keep the Python draws and their variants exactly. The reason is speed: a
million-row table's variant takes seconds here and about a minute in Python (issue notes, ``bench --scale``).
"""
from __future__ import annotations

import random
import re
import sqlite3

from env_server.core.identifiers import quote_ident

SQL_DRAWS_FROM_ROWS = 50_000
"""Tables with at least this many rows draw their variant changes in SQL."""

_P = 2_147_483_647
_MOVE_FRACTION = 0.35
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")


class _Hash:
    """Seeded uniform draws per row, as SQL expressions of ``rowid``."""

    def __init__(self, rng: random.Random, rowid: str = "rowid"):
        self.rng = random.Random(rng.getrandbits(64))
        self.rowid = rowid

    def integer(self) -> str:
        """An expression uniform on ``[0, 2^31 - 1)``, independent of the others this object makes."""
        r = self.rng
        a1, b1, a2, b2 = (r.randrange(1, _P) for _ in range(4))
        x0 = f"((({self.rowid}) % {_P} + {_P}) % {_P})"
        x1 = f"(({x0} * {a1} + {b1}) % {_P})"
        x2 = f"(({x1} | ({x1} >> 13)) - ({x1} & ({x1} >> 13)))"  # xor-shift: x1 ^ (x1 >> 13)
        return f"(({x2} * {a2} + {b2}) % {_P})"

    def below(self, fraction: float) -> str:
        """A condition true for a seeded ``fraction`` of rows."""
        return f"({self.integer()} < {int(fraction * _P)})"

    def uniform(self, low: float, high: float) -> str:
        return f"({low!r} + {high - low!r} * ({self.integer()} * 1.0 / {_P}))"


def _kind(sample: list[object]) -> str:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in sample):
        return "flag" if set(sample) <= {0, 1} else "integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sample):
        return "real"
    if all(isinstance(v, str) and (_DATE.match(v) or _TIMESTAMP.match(v)) for v in sample):
        return "date"
    return "shuffle"


def _changed(column: str, kind: str, h: _Hash) -> str:
    """The new value of ``column`` of kind ``kind`` (rows already chosen)."""
    c = quote_ident(column)
    if kind == "flag":
        return f"CASE WHEN {c} IN (0, 1) THEN 1 - {c} ELSE {c} END"
    if kind == "integer":
        step = f"max(1, CAST(round(abs({c}) * {h.uniform(0.05, 0.2)}) AS INTEGER))"
        new = f"({c} + CASE WHEN {h.below(0.5)} THEN -1 ELSE 1 END * {step})"
        return f"CASE WHEN typeof({c}) IN ('integer', 'real') THEN (CASE WHEN {c} >= 0 AND {new} < 0 THEN {c} + {step} " \
               f"ELSE {new} END) ELSE {c} END"
    if kind == "real":
        return f"CASE WHEN typeof({c}) IN ('integer', 'real') THEN round({c} * {h.uniform(0.8, 1.2)}, 2) ELSE {c} END"
    days = f"(CASE WHEN {h.below(0.5)} THEN -1 ELSE 1 END * (1 + {h.integer()} % 21))"
    shift = f"printf('%+d days', {days})"
    stamp = f"datetime(replace({c}, 'T', ' '), {shift})"
    return (f"CASE WHEN typeof({c}) <> 'text' THEN {c} "
            f"WHEN {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' THEN coalesce(date({c}, {shift}), {c}) "
            f"WHEN length({c}) IN (16, 19) AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T][0-9][0-9]:[0-9][0-9]*' "
            f"THEN coalesce(substr(CASE WHEN substr({c}, 11, 1) = 'T' THEN replace({stamp}, ' ', 'T') ELSE {stamp} END, "
            f"1, length({c})), {c}) ELSE {c} END")


def perturb_table(conn: sqlite3.Connection, table: str, columns: list[str], keys: set[str], rng: random.Random) -> None:
    """Perturb the rowid table ``table`` of ``conn`` in place with draws made in SQL (see the module docstring);
    ``keys`` are the columns never changed. ``rng`` gives the salts (and is advanced by a fixed amount)."""
    t = f"main.{quote_ident(table)}"
    keep = rng.uniform(0.75, 0.92)
    h = _Hash(rng)
    conn.execute(f"DELETE FROM {t} WHERE NOT {h.below(keep)}")
    if conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0:
        return
    sets: list[str] = []
    shuffles: list[str] = []
    for column in columns:
        if column in keys:
            continue
        c = quote_ident(column)
        sample = [r[0] for r in conn.execute(f"SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY rowid LIMIT 50")]
        if len(sample) < 2:
            continue
        kind = _kind(sample)
        if kind == "shuffle":
            shuffles.append(column)
            continue
        sets.append(f"{c} = CASE WHEN {c} IS NOT NULL AND {h.below(_MOVE_FRACTION)} THEN {_changed(column, kind, h)} "
                    f"ELSE {c} END")
    if sets:
        conn.execute(f"UPDATE OR IGNORE {t} SET {', '.join(sets)}")
    for column in shuffles:
        c = quote_ident(column)
        chosen = h.below(_MOVE_FRACTION)
        order = h.integer()
        conn.execute(
            f"WITH chosen AS (SELECT rowid AS rid, {c} AS v, row_number() OVER (ORDER BY rowid) AS a, "
            f"row_number() OVER (ORDER BY {order}, rowid) AS b FROM {t} WHERE {c} IS NOT NULL AND {chosen}) "
            f"UPDATE OR IGNORE {t} SET {c} = m.v FROM (SELECT x.rid, y.v FROM chosen AS x JOIN chosen AS y ON y.b = x.a) "
            f"AS m WHERE {t}.rowid = m.rid"
        )


def shuffled_order(rng: random.Random) -> str:
    """An ``ORDER BY`` expression of ``rowid`` giving a seeded scrambled physical order (for large tables): one
    affine step mod 2^31 - 1, a permutation of rowids below it (a physical order needs no better randomness than
    that no index order survives, and the sort is the cost)."""
    a, b = rng.randrange(2, _P), rng.randrange(0, _P)
    return f"((rowid % {_P} + {_P}) % {_P} * {a} + {b}) % {_P}"
