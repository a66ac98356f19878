"""Procedural corruptions for the repair task family: break a clean database by rule, repair it by rule.

A repair task hands an agent a corrupted database and a goal text; the agent repairs it with write
statements. The grader compares every table of the agent's final state with the *gold-repaired*
state (``gold_repair_sql`` applied to the corrupted database), on the task database and on K
variants: each variant is the clean database perturbed by :func:`env_server.core.variants.perturb` and
then corrupted again with a different ``salt``. The agent's statements are replayed on the variants,
so a repair only passes if it applies the stated rule rather than ids or values read off one db.

The kinds (:data:`CORRUPTION_KINDS`), each chosen generically from column profiles:

``format_drift``       some ISO dates (or timestamps) rewritten as e.g. DD/MM/YYYY; repair: back to ISO.
``case_whitespace``    some values of a canonical text column upper-cased and/or padded; repair:
                       ``LOWER(TRIM(x))`` (or ``TRIM(x)`` where the clean values have upper case).
``duplicates``         copies of some rows inserted with new ids; repair: keep the lowest id of each
                       group of rows equal in every other column.
``null_impute``        some values of a nullable measure set to NULL; repair: every planted NULL becomes
                       the mean of the known values rounded to 2 decimals.
``orphans``            some foreign keys pointed at missing parents; repair: delete the planted orphans.

Pre-existing NULLs and orphans are real data (a cancelled flight has no departure time; a fact may outlive
its dimension row): no repair touches them. Where a column already has some, the setup logs the rows it
hits in an audit table and the goal and gold repair act on the logged rows only (:class:`_Audit`).
:func:`_works` checks for every kind that the gold repair leaves every row the setup did not hit as it was.
``legacy_migration``   some rows moved to ``legacy_<table>`` under renamed columns, plus a few invalid
                       rows; repair: insert the valid ones back with the column mapping.
``missing_aggregate``  a per-category (or per-month) summary table missing, or present but stale;
                       repair: create it, or delete its rows and insert the right ones.
``unit_swap``          some values of a positive measure stored ×100 (or ×1000); repair: divide the
                       values above a stated threshold that separates the two on every variant.

Hence every :class:`Corruption` here is rule-based:

* ``setup_sql`` works on any perturbed copy of the clean database, and which rows it hits depends
  on the bound integer parameter ``:salt`` through a hash of ``rowid`` (about 9 % of the rows, and
  never none: the row whose hash comes first is always included);
* ``gold_repair_sql`` names no id or value of one particular database, runs in the sandbox's write
  mode (INSERT, UPDATE, DELETE, CREATE TABLE; never DROP or ALTER), is deterministic and idempotent;
* ``goal`` states the target exactly: table, columns, canonical form, rounding, what to skip.

:func:`plan` profiles any SQLite database (with :func:`env_server.tasks.gold_queries.profile`), lists
the corruptions each kind can make on it, tries each chosen one on a scratch copy (setup changes the
database, the repair changes it back and is idempotent) and returns the ones that work. Kinds that
do not fit a database are simply absent from the result.

``:salt`` must be bound to an integer in ``[0, 2**31 - 1)``; :func:`apply_setup` reduces any Python
int into that range with :func:`normalise_salt` (64-bit variant seeds do not fit SQLite's integers).

Size: over 600 lines because it is the catalogue of corruption kinds, each with the SQL that plants it, its rule-based gold repair and its applicability test.
"""
from __future__ import annotations

import math
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from env_server.core.identifiers import fold
from env_server.core.databases import run_trusted
from env_server.core.sandbox import scratch
from env_server.core.schema import Column, SchemaInfo, Table
from env_server.core.variants import perturb
from env_server.grading.state_diff import rows_of
from env_server.tasks.change_log import ChangeLog, SchemaChanged, untouched
from env_server.tasks.gold_queries import ColumnProfile, TableProfile, has_rowid, profile
from env_server.tasks.rejections import Rejections

CORRUPTION_KINDS: tuple[str, ...] = (
    "format_drift",
    "case_whitespace",
    "duplicates",
    "null_impute",
    "orphans",
    "legacy_migration",
    "missing_aggregate",
    "unit_swap",
)

MAX_PER_KIND = 2
"""At most this many corruptions of one kind are planned per database."""
MIN_ROWS = 20
"""Tables with fewer rows are never corrupted (too few rows for a salted subset)."""
SALT_MODULUS = 2_147_483_647
"""``:salt`` is bound reduced modulo this prime, so the row hash never overflows SQLite's integers."""

_BUCKETS = 97
"""The row hash is in ``[0, 97)``; a corruption hits the rows whose hash falls in its band."""
_HIT_BAND = (0, 9)
"""Hash band of the corrupted rows: 9 of 97 buckets, about 9 %."""
_BAD_BAND = (9, 12)
"""Hash band of the rows copied as invalid rows into a legacy table: about 3 %."""
_PROBE_SALTS = (12_345, 67_890)
"""Salts :func:`plan` tries each corruption with on a scratch copy."""
_PROBE_VARIANTS = (1_001, 2_002)
"""Seeds of the perturbed copies :func:`plan` checks literal-resistance on."""

_ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


@dataclass(frozen=True)
class Corruption:
    """One rule-based corruption of a database and the rule-based repair that undoes it."""

    kind: str
    """One of :data:`CORRUPTION_KINDS`."""
    target: str
    """Short stable slug of what it hits, e.g. ``"users.email"`` or ``"orders"`` (used in task ids)."""
    setup_sql: tuple[str, ...]
    """Statements that corrupt a clean database; they may use the named parameter ``:salt``."""
    gold_repair_sql: tuple[str, ...]
    """Statements that repair it, runnable in the sandbox's write mode, one statement per string."""
    goal: str
    """What the agent must achieve, precisely enough to reach exactly the gold state."""
    tables: tuple[str, ...]
    """Tables the repair is expected to change or create."""


# -- SQL building blocks -----------------------------------------------------------------------------


def normalise_salt(salt: int) -> int:
    """``salt`` reduced into ``[0, SALT_MODULUS)``, ready to bind as ``:salt``."""
    if isinstance(salt, bool) or not isinstance(salt, int):
        raise TypeError(f"salt must be an int, not {type(salt).__name__}")
    return salt % SALT_MODULUS


def _slug(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``_`` and ``.`` made one ``_``."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "x"


def _q(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    """``value`` as a SQL literal (text quoted, numbers as written)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _row_hash() -> str:
    """A salted pseudo-random bucket in ``[0, 97)`` for the current row (by ``rowid``)."""
    return f"((abs((rowid % 1000003) * 7919 + :salt) * 104729 % 1000003) % {_BUCKETS})"


def _pick(table: str, band: tuple[int, int], extra: str = "1") -> str:
    """A WHERE condition selecting the rows of ``table`` whose hash falls in ``band`` and that satisfy
    ``extra``, plus always the qualifying row whose hash comes first from the band's start (so the
    selection is never empty while any row satisfies ``extra``)."""
    lo, hi = band
    h = _row_hash()
    first = (f"SELECT rowid FROM {_q(table)} WHERE {extra} "
             f"ORDER BY ({h} + {_BUCKETS - lo}) % {_BUCKETS}, rowid LIMIT 1")
    return f"(({h} >= {lo} AND {h} < {hi}) OR rowid = ({first})) AND ({extra})"


# -- database facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Db:
    """What the planners need to know about the clean database."""

    conn: sqlite3.Connection
    schema: SchemaInfo
    profiles: Mapping[str, TableProfile]
    probes: tuple[sqlite3.Connection, ...]
    """Perturbed copies of the clean database (as the grader's variants are made), for checks that a
    repair copying values off the task database would fail elsewhere."""

    def noun(self, table: str) -> str:
        return self.profiles[table].noun

    def scalar(self, sql: str) -> object:
        return self.conn.execute(sql).fetchone()[0]

    def table_names(self) -> set[str]:
        return {fold(r[0]) for r in self.conn.execute("SELECT name FROM sqlite_master")}


def _pk_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if c.primary_key]


def _integer_pk(table: Table) -> Column | None:
    """The table's ``INTEGER PRIMARY KEY`` (a ``rowid`` alias), if it has one."""
    pks = _pk_columns(table)
    if len(pks) == 1 and pks[0].type == "INTEGER":
        return pks[0]
    return None


def _usable_tables(db: _Db) -> list[Table]:
    """Tables with a ``rowid`` and at least :data:`MIN_ROWS` rows, in schema order."""
    return [t for t in db.schema.tables if t.row_count >= MIN_ROWS and has_rowid(db.conn, t.name)]


def _referenced(schema: SchemaInfo) -> set[str]:
    """Names of the tables that some foreign key points at (lower case)."""
    return {fold(parent) for child, _, parent, _ in schema.foreign_keys() if fold(child) != fold(parent)}


def _all_text(db: _Db, table: str, column: str) -> bool:
    """Whether every non-NULL value of the column is text."""
    return db.scalar(
        f"SELECT COUNT(*) FROM {_q(table)} WHERE {_q(column)} IS NOT NULL AND typeof({_q(column)}) <> 'text'"
    ) == 0


def _columns_of_kind(db: _Db, table: Table, *kinds: str) -> list[ColumnProfile]:
    prof = db.profiles[table.name]
    return [c for c in prof.columns.values() if c.kind in kinds]


# -- 1. format_drift -----------------------------------------------------------------------------------

# name -> (example of 2024-01-31, expression turning ISO x into it, GLOB matching it, expression back)
_FORMATS: dict[str, tuple[str, str, str, str]] = {
    "DD/MM/YYYY": (
        "31/01/2024",
        "substr({x}, 9, 2) || '/' || substr({x}, 6, 2) || '/' || substr({x}, 1, 4) || substr({x}, 11)",
        "[0-9][0-9]/[0-9][0-9]/[0-9][0-9][0-9][0-9]*",
        "substr({x}, 7, 4) || '-' || substr({x}, 4, 2) || '-' || substr({x}, 1, 2) || substr({x}, 11)",
    ),
    "DD.MM.YYYY": (
        "31.01.2024",
        "substr({x}, 9, 2) || '.' || substr({x}, 6, 2) || '.' || substr({x}, 1, 4) || substr({x}, 11)",
        "[0-9][0-9].[0-9][0-9].[0-9][0-9][0-9][0-9]*",
        "substr({x}, 7, 4) || '-' || substr({x}, 4, 2) || '-' || substr({x}, 1, 2) || substr({x}, 11)",
    ),
    "YYYY/MM/DD": (
        "2024/01/31",
        "substr({x}, 1, 4) || '/' || substr({x}, 6, 2) || '/' || substr({x}, 9, 2) || substr({x}, 11)",
        "[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]*",
        "substr({x}, 1, 4) || '-' || substr({x}, 6, 2) || '-' || substr({x}, 9, 2) || substr({x}, 11)",
    ),
    "YYYYMMDD": (
        "20240131",
        "substr({x}, 1, 4) || substr({x}, 6, 2) || substr({x}, 9, 2) || substr({x}, 11)",
        "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*",
        "substr({x}, 1, 4) || '-' || substr({x}, 5, 2) || '-' || substr({x}, 7, 2) || substr({x}, 9)",
    ),
}


def _format_drift(db: _Db, rng: random.Random) -> list[Corruption]:
    """ISO date (or timestamp) columns where a salted subset is rewritten into another date format."""
    out = []
    for table in _usable_tables(db):
        for col in _columns_of_kind(db, table, "date"):
            t, c = table.name, col.name
            x = _q(c)
            if not _all_text(db, t, c) or db.scalar(
                f"SELECT COUNT(*) FROM {_q(t)} WHERE {x} IS NOT NULL AND NOT ({x} GLOB '{_ISO_GLOB}')"
            ):
                continue
            if db.scalar(f"SELECT COUNT(*) FROM {_q(t)} WHERE {x} IS NOT NULL") < MIN_ROWS:
                continue
            name = rng.choice(sorted(_FORMATS))
            example, to_fmt, glob, back = _FORMATS[name]
            has_time = bool(db.scalar(f"SELECT COUNT(*) FROM {_q(t)} WHERE length({x}) > 10"))
            update = (f"UPDATE {_q(t)} SET {x} = {to_fmt.format(x=x)} "
                      f"WHERE {_pick(t, _HIT_BAND, f'{x} GLOB {_lit(_ISO_GLOB)}')}")
            setup = (update,)
            gold = (f"UPDATE {_q(t)} SET {x} = {back.format(x=x)} WHERE {x} GLOB {_lit(glob)}",)
            rest = ("; whatever follows the date (the time of day) stays exactly as it is" if has_time
                    else "")
            goal = (
                f"Date format drift in {db.noun(t)}: some values of {t}.{c} were written as {name} "
                f"(e.g. {example}) instead of ISO YYYY-MM-DD (2024-01-31). Rewrite every {name} value of "
                f"{t}.{c} to ISO YYYY-MM-DD{rest}. Values already in ISO form, NULLs, other columns and "
                f"other tables must not change."
            )
            out.append(Corruption("format_drift", _slug(f"{t}.{c}"), setup, gold, goal, (t,)))
    return out


# -- 2. case_whitespace --------------------------------------------------------------------------------


def _case_whitespace(db: _Db, rng: random.Random) -> list[Corruption]:
    """Text columns already in a canonical form (lower case and trimmed, or just trimmed) where a
    salted subset gets upper-cased and/or padded with spaces."""
    out = []
    for table in _usable_tables(db):
        for col in _columns_of_kind(db, table, "category", "label", "text"):
            t, c = table.name, col.name
            x = _q(c)
            if not _all_text(db, t, c):
                continue
            present, distinct, lowered, trimmed, letters = db.conn.execute(
                f"SELECT COUNT({x}), COUNT(DISTINCT {x}), SUM({x} = LOWER(TRIM({x}))), SUM({x} = TRIM({x})), "
                f"SUM(LOWER({x}) <> UPPER({x})) FROM {_q(t)}"
            ).fetchone()
            if present < MIN_ROWS or distinct < 2 or trimmed != present or letters != present:
                continue
            pick = _pick(t, _HIT_BAND, f"{x} IS NOT NULL")
            h = _row_hash()
            if lowered == present:
                mess = (f"CASE {h} % 4 WHEN 0 THEN UPPER({x}) WHEN 1 THEN '  ' || {x} || ' ' "
                        f"WHEN 2 THEN ' ' || UPPER({x}) ELSE UPPER(substr({x}, 1, 1)) || substr({x}, 2) || '  ' END")
                fix = f"LOWER(TRIM({x}))"
                canon = ("lower case with no leading or trailing spaces (letters lower-cased, spaces at both "
                         "ends removed; spaces inside the value kept)")
                damage = "upper-case letters and/or leading or trailing spaces"
            else:
                mess = f"CASE {h} % 3 WHEN 0 THEN ' ' || {x} WHEN 1 THEN {x} || '  ' ELSE '  ' || {x} || ' ' END"
                fix = f"TRIM({x})"
                canon = ("the value with no leading or trailing spaces (spaces at both ends removed; letter case "
                         "and spaces inside the value kept exactly as they are)")
                damage = "leading or trailing spaces"
            setup = (f"UPDATE {_q(t)} SET {x} = {mess} WHERE {pick}",)
            gold = (f"UPDATE {_q(t)} SET {x} = {fix} WHERE {x} <> {fix}",)
            goal = (
                f"Inconsistent text in {db.noun(t)}: some values of {t}.{c} were entered with {damage}. "
                f"Normalise every value of {t}.{c} to its canonical form: {canon}. NULLs, other columns and "
                f"other tables must not change."
            )
            out.append(Corruption("case_whitespace", _slug(f"{t}.{c}"), setup, gold, goal, (t,)))
    return out


# -- 3. duplicates -------------------------------------------------------------------------------------


def _duplicates(db: _Db, rng: random.Random) -> list[Corruption]:
    """Copies of a salted subset of rows inserted again with new ids (or, without a primary key, as
    exact copies); the repair keeps the copy with the lowest id. Tables no foreign key points at
    come first."""
    referenced = _referenced(db.schema)
    preferred: list[Corruption] = []
    others: list[Corruption] = []
    for table in _usable_tables(db):
        t = table.name
        pk = _integer_pk(table)
        pks = _pk_columns(table)
        if pk is None and pks:
            continue  # a non-integer or composite key: a copy could not get a fresh key
        rest = [c.name for c in table.columns if pk is None or c.name != pk.name]
        if not rest:
            continue
        cols = ", ".join(_q(c) for c in rest)
        if db.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM {_q(t)} GROUP BY {cols} HAVING COUNT(*) > 1)"):
            continue  # accidental duplicates in the clean data would make the target ambiguous
        # a copy's key is the table's highest key plus the original's: unique, above every original, and
        # scattered (not the block right after the last id), so ids read off one database do not carry over
        key = _q(pk.name) if pk is not None else "rowid"
        copies = (f"INSERT INTO {_q(t)} ({key}, {cols}) SELECT (SELECT MAX({key}) FROM {_q(t)}) + {key}, {cols} "
                  f"FROM {_q(t)} WHERE {_pick(t, _HIT_BAND)} ORDER BY rowid")
        setup = (copies,)
        if pk is not None:
            gold = (f"DELETE FROM {_q(t)} WHERE {key} NOT IN (SELECT MIN({key}) FROM {_q(t)} GROUP BY {cols})",)
            goal = (
                f"Duplicate {db.noun(t)}: some rows of {t} were loaded twice, the copy getting a new {pk.name} but "
                f"the same values as the original in every other column. Delete every row of {t} whose values in "
                f"all columns except {pk.name} ({', '.join(rest)}) equal those of another row with a lower "
                f"{pk.name} (two NULLs count as equal), so that of each group of identical rows only the one with "
                f"the lowest {pk.name} remains. Change nothing else (no other row, no other table)."
            )
        else:
            gold = (f"DELETE FROM {_q(t)} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {_q(t)} GROUP BY {cols})",)
            goal = (
                f"Duplicate {db.noun(t)}: some rows of {t} were loaded twice. Delete the extra copies so that every "
                f"distinct row of {t} (equal in all columns, two NULLs counting as equal) appears exactly once. "
                f"Change nothing else (no other row, no other table)."
            )
        corruption = Corruption("duplicates", _slug(t), setup, gold, goal, (t,))
        (others if fold(t) in referenced else preferred).append(corruption)
    rng.shuffle(preferred)
    rng.shuffle(others)
    return preferred + others


# -- 4. null_impute ------------------------------------------------------------------------------------


def _null_impute(db: _Db, rng: random.Random) -> list[Corruption]:
    """Nullable numeric measures where a salted subset is set to NULL; the repair fills the planted NULLs
    with the mean of the known values. Nullable categories (filled with ``'unknown'``) come only if no
    measure fits. A column that already holds NULLs (on the clean database or a probe variant) keeps
    them: its setup logs the rows it blanks in an audit table (:func:`_audit`) and the repair fills only
    those, so NULLs that meant something (a cancelled event, no value) are never invented."""
    measures, categories = [], []
    for table in _usable_tables(db):
        t = table.name
        for col in _columns_of_kind(db, table, "measure", "category"):
            declared = table.column(col.name)
            if declared is None or declared.not_null:
                continue
            c, x = col.name, _q(col.name)
            audit = _audit(db, table, f"{x} IS NULL", f"{t}_lost_{c}")
            blank = f"UPDATE {_q(t)} SET {x} = NULL WHERE "
            setup = audit.plant(blank) if audit else (blank + _pick(t, _HIT_BAND, f"{x} IS NOT NULL"),)
            only = f" AND {audit.member}" if audit else ""
            which = audit.which("lost its value") + ". " if audit else ""
            keep = (f" NULLs of {t}.{c} in rows the audit does not list were NULL before the loss and mean "
                    f"something: they stay NULL." if audit else "")
            every = f"every NULL {t}.{c} of a row listed there" if audit else f"every NULL {t}.{c}"
            if col.kind == "measure":
                # 2 decimals even for whole-number columns: a mean rounded to an integer is often the same
                # on every variant, and then a repair writing the literal value would pass them all
                mean = f"ROUND(AVG({x}), 2)"
                rounding = ("rounded to 2 decimal places (so the filled value may have decimals although the "
                            "column otherwise holds whole numbers)" if col.integer else "rounded to 2 decimal places")
                if not _moves_across_variants(db, setup, f"SELECT {mean} FROM {_q(t)}"):
                    continue
                gold = (f"UPDATE {_q(t)} SET {x} = (SELECT {mean} FROM {_q(t)}) WHERE {x} IS NULL{only}",)
                goal = (
                    f"Missing values in {db.noun(t)}: some values of {t}.{c} were lost and are NULL. "
                    f"{which}Impute them: set {every} to the mean (average) of the non-NULL {c} values of {t}, "
                    f"computed before any NULL is filled and {rounding}. Every filled NULL gets that same "
                    f"value.{keep} Non-NULL values, other columns and other tables must not change."
                )
                measures.append(Corruption("null_impute", _slug(f"{t}.{c}"), setup, gold, goal, (t,)))
            elif not col.integer and _all_text(db, t, c) and "unknown" not in col.values:
                gold = (f"UPDATE {_q(t)} SET {x} = 'unknown' WHERE {x} IS NULL{only}",)
                goal = (
                    f"Missing values in {db.noun(t)}: some values of {t}.{c} were lost and are NULL. "
                    f"{which}Set {every} to the text 'unknown' (lower case).{keep} Non-NULL values, other "
                    f"columns and other tables must not change."
                )
                categories.append(Corruption("null_impute", _slug(f"{t}.{c}"), setup, gold, goal, (t,)))
    rng.shuffle(measures)
    rng.shuffle(categories)
    return measures or categories


@dataclass(frozen=True)
class _Audit:
    """The log a corruption keeps of the rows it hit, for a target where clean rows already look hit
    (NULLs, orphans): the repair then tells planted damage from real data by this log, as a data
    engineer tells a failed load's rows by its error log."""

    table: str
    """The audited table."""
    name: str
    """The audit table's name (free in the database)."""
    key: str
    """The audited table's key column, or ``rowid`` for a table without a one-column primary key."""
    column: str
    """The audit table's one column: the key's name, or ``row_id`` for ``rowid``."""
    clean: str
    """The condition that a row's target is clean, so the setup may hit it."""

    def plant(self, hit: str) -> tuple[str, ...]:
        """Setup statements: create the audit, log a salted subset of the rows that ``hit``'s WHERE can
        act on (the rows where the target is clean), then apply ``hit`` (a statement ending in
        ``WHERE``) to exactly the logged rows."""
        return (
            f"CREATE TABLE {_q(self.name)} ({_q(self.column)})",
            f"INSERT INTO {_q(self.name)} SELECT {_q_key(self.key)} FROM {_q(self.table)} "
            f"WHERE {_pick(self.table, _HIT_BAND, self.clean)} ORDER BY rowid",
            hit + self.member,
        )

    @property
    def member(self) -> str:
        """The condition that a row of the audited table is logged."""
        return f"{_q_key(self.key)} IN (SELECT {_q(self.column)} FROM {_q(self.name)})"

    def which(self, what: str) -> str:
        """The goal's sentence naming the audit."""
        by = "its rowid" if self.key == "rowid" else f"its {self.key}"
        return (f"The load that did it logged every row of {self.table} that {what} in the table {self.name} "
                f"(column {self.column}: {by})")


def _q_key(key: str) -> str:
    return "rowid" if key == "rowid" else _q(key)


def _audit(db: _Db, table: Table, looks_hit: str, name: str, clean: str | None = None) -> _Audit | None:
    """An audit for corrupting ``table`` if some clean row already satisfies ``looks_hit`` (on the clean
    database or a probe variant), else ``None`` (every row that looks hit after the setup was hit by it).
    ``clean`` (default: not ``looks_hit``) says which rows the setup may hit."""
    t = _q(table.name)
    if not any(source.execute(f"SELECT 1 FROM {t} WHERE {looks_hit} LIMIT 1").fetchone()
               for source in (db.conn, *db.probes)):
        return None
    pks = _pk_columns(table)
    key = pks[0].name if len(pks) == 1 else "rowid"
    taken = db.table_names()
    base = _slug(name).replace(".", "_")
    free = next(n for n in (base, *(f"{base}_{i}" for i in range(2, 100))) if fold(n) not in taken)
    return _Audit(table.name, free, key, "row_id" if key == "rowid" else key,
                  clean or f"NOT ({looks_hit})")


def _moves_across_variants(db: _Db, setup: tuple[str, ...], probe_sql: str) -> bool:
    """Whether ``probe_sql`` (one value) after ``setup`` differs between the clean database and every
    probe variant, each corrupted with a different salt."""
    values = []
    for i, source in enumerate((db.conn, *db.probes)):
        scratch = _copy(source)
        try:
            run_trusted(scratch, setup, {"salt": _PROBE_SALTS[i % len(_PROBE_SALTS)]}, "probe")
            values.append(scratch.execute(probe_sql).fetchone()[0])
        except (ValueError, sqlite3.Error):
            return False
        finally:
            scratch.close()
    return all(v != values[0] for v in values[1:])


# -- 5. orphans ----------------------------------------------------------------------------------------


def _orphans(db: _Db, rng: random.Random) -> list[Corruption]:
    """Child tables whose foreign key, for a salted subset, is pointed at a parent that does not exist;
    the repair deletes every child row whose non-NULL key matches no parent. Leaf tables come first."""
    referenced = _referenced(db.schema)
    leaves: list[Corruption] = []
    inner: list[Corruption] = []
    for table in _usable_tables(db):
        t = table.name
        for col in table.columns:
            if col.references is None:
                continue
            parent_name, parent_col = col.references
            parent = db.schema.table(parent_name)
            if parent is None or fold(parent.name) == fold(t) or parent.column(parent_col) is None:
                continue  # self-references: deleting an orphan would orphan its own children (not idempotent)
            p, pc, fk = parent.name, parent.column(parent_col).name, col.name
            kinds = {r[0] for r in db.conn.execute(f"SELECT DISTINCT typeof({_q(pc)}) FROM {_q(p)}")}
            if kinds <= {"integer", "null"}:
                bogus = f"(SELECT COALESCE(MAX({_q(pc)}), 0) FROM {_q(p)}) + 1000 + rowid"
            elif kinds <= {"text", "null"}:
                bogus = "'missing-' || rowid"
            else:
                continue
            matches_no_parent = f"{_q(fk)} NOT IN (SELECT {_q(pc)} FROM {_q(p)} WHERE {_q(pc)} IS NOT NULL)"
            audit = _audit(db, table, f"{_q(fk)} IS NOT NULL AND {matches_no_parent}", f"{t}_broken_{fk}",
                           clean=f"{_q(fk)} IS NOT NULL AND NOT ({matches_no_parent})")
            repoint = f"UPDATE {_q(t)} SET {_q(fk)} = {bogus} WHERE "
            setup = (audit.plant(repoint) if audit
                     else (repoint + _pick(t, _HIT_BAND, f"{_q(fk)} IS NOT NULL"),))
            only = f" AND {audit.member}" if audit else ""
            gold = (f"DELETE FROM {_q(t)} WHERE {_q(fk)} IS NOT NULL AND {matches_no_parent}{only}",)
            also = (f" Do not delete or change anything in {p}, in tables that reference {t}, or elsewhere: only "
                    f"these rows of {t} go." if fold(t) in referenced else
                    f" Change nothing else (no other row of {t}, no other table).")
            if audit:
                goal = (
                    f"Orphaned {db.noun(t)}: a faulty load pointed some rows of {t} at a row of {p} that does not "
                    f"exist. {audit.which('it re-pointed')}. Delete every row of {t} listed there whose {fk} is not "
                    f"NULL and matches no {p}.{pc}. Rows of {t} whose {fk} matched no {p} before the load (the "
                    f"audit does not list them) are genuine history and stay." + also
                )
            else:
                goal = (
                    f"Orphaned {db.noun(t)}: some rows of {t} point at a row of {p} that does not exist. Delete "
                    f"every row of {t} whose {fk} is not NULL and matches no {p}.{pc} (rows with a NULL {fk} stay)."
                    + also
                )
            corruption = Corruption("orphans", _slug(f"{t}.{fk}"), setup, gold, goal, (t,))
            (inner if fold(t) in referenced else leaves).append(corruption)
    rng.shuffle(leaves)
    rng.shuffle(inner)
    return leaves + inner


# -- 6. legacy_migration ------------------------------------------------------------------------------


def _legacy_names(columns: list[str], rng: random.Random) -> dict[str, str]:
    """A renaming of ``columns`` for a legacy table: a prefix, or camelCase with a prefix."""
    style = rng.choice(("old_", "src_", "v1_", "camel"))
    if style == "camel":
        def rename(name: str) -> str:
            parts = [p for p in name.split("_") if p] or [name]
            return "legacy" + "".join(p[:1].upper() + p[1:] for p in parts)
    else:
        def rename(name: str) -> str:
            return style + name
    names = {c: rename(c) for c in columns}
    if len({fold(n) for n in names.values()} | {fold(c) for c in columns}) != 2 * len(columns):
        names = {c: f"legacy_{c}" for c in columns}  # collisions: fall back to a plain prefix
    return names


def _legacy_migration(db: _Db, rng: random.Random) -> list[Corruption]:
    """A salted subset of a table's rows moved out into ``legacy_<table>`` under renamed columns, plus a
    few invalid rows; the repair moves the valid legacy rows back."""
    out = []
    existing = db.table_names()
    for table in _usable_tables(db):
        t = table.name
        pks = _pk_columns(table)
        if len(pks) != 1 or fold(f"legacy_{t}") in existing or len(table.columns) < 3:
            continue
        pk = pks[0]
        pk_kinds = {r[0] for r in db.conn.execute(f"SELECT DISTINCT typeof({_q(pk.name)}) FROM {_q(t)}")}
        if pk_kinds == {"integer"}:
            bad_key = f"(SELECT MAX({_q(pk.name)}) FROM {_q(t)}) + {_q(pk.name)}"
        elif pk_kinds == {"text"}:
            bad_key = f"'legacy-' || {_q(pk.name)}"
        else:
            continue
        rule = _validity_rule(db, table, rng)
        if rule is None:
            continue
        ruled, broken, describe = rule
        columns = table.column_names
        names = _legacy_names(columns, rng)
        legacy = f"legacy_{t}"
        order = [pk.name] + rng.sample([c for c in columns if c != pk.name], len(columns) - 1)
        moved = ", ".join(f"{_q(c)} AS {_q(names[c])}" for c in order)
        bad_values = ", ".join(
            bad_key if c == pk.name else broken if c == ruled else _q(c) for c in order
        )
        setup = (
            f"CREATE TABLE {_q(legacy)} AS SELECT {moved} FROM {_q(t)} WHERE {_pick(t, _HIT_BAND)} ORDER BY rowid",
            f"INSERT INTO {_q(legacy)} SELECT {bad_values} FROM {_q(t)} WHERE {_pick(t, _BAD_BAND)} ORDER BY rowid",
            f"DELETE FROM {_q(t)} WHERE {_pick(t, _HIT_BAND)}",
        )
        valid = describe(names[ruled])[0]
        new_key = f"l.{_q(names[pk.name])}"
        insert = (
            f"INSERT INTO {_q(t)} ({', '.join(_q(c) for c in columns)}) "
            f"SELECT {', '.join(_q(names[c]) for c in columns)} FROM {_q(legacy)} AS l "
            f"WHERE {valid} AND NOT EXISTS (SELECT 1 FROM {_q(t)} AS m WHERE m.{_q(pk.name)} = {new_key}) "
            f"ORDER BY {new_key}"
        )
        gold = (insert,)
        mapping = ", ".join(f"{legacy}.{names[c]} -> {t}.{c}" for c in order)
        goal = (
            f"Unfinished migration of {db.noun(t)}: some rows of {t} still live only in the legacy table {legacy}, "
            f"whose columns are named differently. Insert into {t} every valid row of {legacy} whose "
            f"{names[pk.name]} does not already appear in {t}.{pk.name}, copying the values unchanged with this column "
            f"mapping: {mapping}. A legacy row is invalid, and must be skipped, when {describe(names[ruled])[1]}; "
            f"every other legacy row is valid. Leave {legacy} itself as it is, and change no existing row and no "
            f"other table."
        )
        out.append(Corruption("legacy_migration", _slug(t), setup, gold, goal, (t,)))
    rng.shuffle(out)
    return out


def _validity_rule(
    db: _Db, table: Table, rng: random.Random
) -> tuple[str, str, Callable[[str], tuple[str, str]]] | None:
    """``(column, invalid value expression, describe)`` for a legacy table's validity rule: a measure
    that is never negative gets a negative value, or else a column that is never NULL gets NULL.
    ``describe(legacy_column)`` gives the SQL condition of a valid row and the words of an invalid one."""
    t = table.name
    prof = db.profiles[t]
    measures = [
        c for c in prof.of_kind("measure")
        if c.nulls == 0 and db.scalar(f"SELECT MIN({_q(c.name)}) FROM {_q(t)}") >= 0
    ]
    if measures:
        col = rng.choice(measures)
        x = _q(col.name)
        return (col.name, f"CASE WHEN {x} > 0 THEN -{x} ELSE -1 END",
                lambda name: (f"l.{_q(name)} >= 0", f"its {name} is negative (below 0)"))
    required = [
        c for c in prof.columns.values()
        if c.kind not in ("key",) and c.nulls == 0 and c.name != prof.pk
    ]
    if required:
        col = rng.choice(required)
        return (col.name, "NULL", lambda name: (f"l.{_q(name)} IS NOT NULL", f"its {name} is NULL"))
    return None


# -- 7. missing_aggregate -----------------------------------------------------------------------------


def _missing_aggregate(db: _Db, rng: random.Random) -> list[Corruption]:
    """A summary table per category (or per month) with a row count and the total of a measure: either
    missing (the repair creates it) or present but stale (the repair rebuilds its rows)."""
    out = []
    existing = db.table_names()
    for table in _usable_tables(db):
        t = table.name
        prof = db.profiles[t]
        groups: list[tuple[str, str, str, str, str]] = []  # (name, expression, type, label, words)
        for col in prof.of_kind("category"):
            declared = table.column(col.name)
            words = f"one row per distinct non-NULL {col.name} of {t} (rows with a NULL {col.name} are left out)"
            groups.append((col.name, _q(col.name), declared.type if declared else "", col.name, words))
        for col in prof.of_kind("date"):
            x = _q(col.name)
            if _all_text(db, t, col.name) and not db.scalar(
                f"SELECT COUNT(*) FROM {_q(t)} WHERE {x} IS NOT NULL AND NOT ({x} GLOB '{_ISO_GLOB}')"
            ):
                words = (f"one row per month of {t}.{col.name}, the month written 'YYYY-MM' (the first 7 "
                         f"characters of {col.name}; rows with a NULL {col.name} are left out)")
                groups.append(("month", f"substr({x}, 1, 7)", "TEXT", f"{col.name}_month", words))
        if not groups:
            continue
        name, expr, gtype, label, words = rng.choice(groups)
        summary = _slug(f"{t}_by_{label}").replace(".", "_")
        if fold(summary) in existing:
            continue
        measures = prof.summable()
        select = [f"{expr} AS {_q(name)}", f"COUNT(*) AS {_q('row_count')}"]
        column_types = [(name, gtype), ("row_count", "INTEGER")]
        described = [f"{name} ({'the month' if name == 'month' else 'the group value'})",
                     f"row_count (the number of rows of {t} in the group)"]
        if measures:
            m = rng.choice(measures)
            mx = _q(m.name)
            total = ("sum_" if m.name.lower().startswith("total") else "total_") + m.name
            if m.integer:
                select.append(f"SUM({mx}) AS {_q(total)}")
                described.append(f"{total} (the sum of {m.name} over the group, NULLs ignored)")
            else:
                select.append(f"ROUND(SUM({mx}), 2) AS {_q(total)}")
                described.append(f"{total} (the sum of {m.name} over the group, NULLs ignored, rounded to "
                                 f"2 decimal places)")
            column_types.append((total, "INTEGER" if m.integer else "REAL"))
            if rng.random() < 0.5:
                select.append(f"ROUND(AVG({mx}), 2) AS {_q('avg_' + m.name)}")
                described.append(f"avg_{m.name} (the mean of the non-NULL {m.name} values of the group, rounded "
                                 f"to 2 decimal places)")
                column_types.append(("avg_" + m.name, "REAL"))
        col_list = ", ".join(_q(c) for c, _ in column_types)
        query = (f"SELECT {', '.join(select)} FROM {_q(t)} WHERE {expr} IS NOT NULL "
                 f"GROUP BY {expr} ORDER BY {expr}")
        spec = f"{words}, with exactly these columns in this order: {'; '.join(described)}"
        if rng.random() < 0.5:
            setup: tuple[str, ...] = ()
            gold: tuple[str, ...] = (f"CREATE TABLE IF NOT EXISTS {_q(summary)} AS {query}",)
            goal = (f"Missing summary of {db.noun(t)}: create a new table named {summary} holding {spec}. Do not "
                    f"change any existing table.")
        else:
            stale = (f"SELECT {', '.join(select)} FROM {_q(t)} WHERE {expr} IS NOT NULL AND NOT ({_pick(t, _HIT_BAND)}) "
                     f"GROUP BY {expr} ORDER BY {expr}")
            setup = (
                f"CREATE TABLE {_q(summary)} ({', '.join(f'{_q(c)} {ty}'.strip() for c, ty in column_types)})",
                f"INSERT INTO {_q(summary)} ({col_list}) {stale}",
            )
            # targeted, so the reviewer-guarded path lets the fix through: delete the rows that are wrong,
            # insert the ones that are missing (a bare DELETE FROM would be blocked as a whole-table write)
            same = " AND ".join(f"c.{_q(c)} IS {_q(summary)}.{_q(c)}" for c, _ in column_types)
            gold = (
                f"DELETE FROM {_q(summary)} WHERE NOT EXISTS (SELECT 1 FROM ({query}) AS c WHERE {same})",
                f"INSERT INTO {_q(summary)} ({col_list}) SELECT * FROM ({query}) AS c "
                f"WHERE NOT EXISTS (SELECT 1 FROM {_q(summary)} WHERE {same})",
            )
            goal = (f"Stale summary of {db.noun(t)}: the table {summary} was computed from an old copy of {t} and is "
                    f"out of date. Make it hold exactly, computed from the current {t}: {spec}. Keep the table and "
                    f"its columns (only its rows change), and do not change any other table.")
        out.append(Corruption("missing_aggregate", _slug(summary), setup, gold, goal, (summary,)))
    rng.shuffle(out)
    return out


# -- 8. unit_swap --------------------------------------------------------------------------------------

_UNITS: dict[int, str] = {
    100: "100 times too large (in cents, or hundredths, instead of whole units)",
    1000: "1000 times too large (in thousandths of the unit, like grams instead of kilograms)",
}


def _nice_between(low: float, high: float) -> float | None:
    """A round number strictly between ``low`` and ``high`` (near their geometric mean), if any."""
    if not 0 < low < high:
        return None
    middle = math.sqrt(low * high)
    for digits in (1, 2, 3, 4):
        step = 10 ** (math.floor(math.log10(middle)) - digits + 1)
        value = round(middle / step) * step
        if low < value < high:
            return float(round(value, 6))
    return None


def _unit_threshold(lo: float, hi: float, integer: bool) -> tuple[int, float] | None:
    """``(factor, threshold)`` such that every clean value (even nudged by up to 20 % in a variant) is
    below the threshold and every clean value times ``factor`` is above it."""
    worst_high = hi * 1.25 + (1 if integer else 0.01)
    worst_low = max(1, min(lo * 0.75, lo - 1)) if integer else lo * 0.75
    for factor in _UNITS:
        threshold = _nice_between(worst_high, worst_low * factor)
        if threshold is not None:
            return factor, threshold
    return None


def _unit_swap(db: _Db, rng: random.Random) -> list[Corruption]:
    """Positive measures where a salted subset was stored ×100 (or ×1000); a threshold that separates
    clean from corrupted values on every variant lets the repair find and divide them back. Real-valued
    measures come before integer ones."""
    reals: list[Corruption] = []
    ints: list[Corruption] = []
    for table in _usable_tables(db):
        t = table.name
        for col in _columns_of_kind(db, table, "measure"):
            x = _q(col.name)
            lo, hi, negatives, decimals = db.conn.execute(
                f"SELECT MIN(CASE WHEN {x} > 0 THEN {x} END), MAX({x}), SUM({x} < 0), SUM(ROUND({x}, 2) <> {x}) "
                f"FROM {_q(t)}"
            ).fetchone()
            if lo is None or negatives or (not col.integer and (decimals or lo < 0.05)):
                continue
            found = _unit_threshold(float(lo), float(hi), col.integer)
            if found is None:
                continue
            factor, threshold = found
            limit = int(threshold) if threshold == int(threshold) else threshold
            setup = (f"UPDATE {_q(t)} SET {x} = {x} * {factor} WHERE {_pick(t, _HIT_BAND, f'{x} > 0')}",)
            if col.integer:
                fix, words = f"{x} / {factor}", f"divide each of them by {factor} (the result is a whole number)"
            else:
                fix, words = (f"ROUND({x} / {factor}.0, 2)",
                              f"divide each of them by {factor} and round to 2 decimal places")
            gold = (f"UPDATE {_q(t)} SET {x} = {fix} WHERE {x} > {_lit(limit)}",)
            goal = (
                f"Unit mix-up in {db.noun(t)}: some values of {t}.{col.name} were stored {_UNITS[factor]}. They are "
                f"exactly the values above {limit} (no correct value exceeds {limit}): {words}. Values of "
                f"{limit} or less, NULLs, other columns and other tables must not change."
            )
            corruption = Corruption("unit_swap", _slug(f"{t}.{col.name}"), setup, gold, goal, (t,))
            (ints if col.integer else reals).append(corruption)
    rng.shuffle(reals)
    rng.shuffle(ints)
    return reals + ints


_PLANNERS: dict[str, Callable[[_Db, random.Random], list[Corruption]]] = {
    "format_drift": _format_drift,
    "case_whitespace": _case_whitespace,
    "duplicates": _duplicates,
    "null_impute": _null_impute,
    "orphans": _orphans,
    "legacy_migration": _legacy_migration,
    "missing_aggregate": _missing_aggregate,
    "unit_swap": _unit_swap,
}


# -- applying and checking -----------------------------------------------------------------------------


def apply_setup(conn: sqlite3.Connection, corruption: Corruption, salt: int) -> None:
    """Corrupt the database in ``conn`` (trusted call) with ``salt`` choosing the rows hit.

    ``ValueError`` names the statement that fails."""
    params = {"salt": normalise_salt(salt)}
    run_trusted(conn, corruption.setup_sql, params, f"setup of {corruption.kind}:{corruption.target}")


def apply_gold(conn: sqlite3.Connection, corruption: Corruption) -> None:
    """Apply the gold repair to ``conn`` (trusted call). ``ValueError`` names the statement that fails."""
    run_trusted(conn, corruption.gold_repair_sql, {}, f"gold repair of {corruption.kind}:{corruption.target}")


def _copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    copy = scratch()
    conn.backup(copy)
    return copy


def _perturbed(conn: sqlite3.Connection, seed: int) -> sqlite3.Connection:
    scratch = _copy(conn)
    perturb(scratch, seed)
    return scratch


def _untouched(clean: dict[str, Counter], corrupted: dict[str, Counter], repaired: dict[str, Counter]) -> bool:
    """Whether every row of the clean database that the setup left alone is still there after the repair
    (as a multiset, table by table): the repair touches only what was planted."""
    for table, rows in clean.items():
        kept = rows & corrupted.get(table, Counter())
        if kept - repaired.get(table, Counter()):
            return False
    return True


def _works(conn: sqlite3.Connection, corruption: Corruption) -> bool:
    """Whether, on a scratch copy of ``conn``, the setup changes the database for every probe salt, the
    gold repair then changes it too, leaves every row the setup did not hit as it was, and a second gold
    repair changes nothing. The states compared are the rows changed, logged by SQLite as the statements run
    (:mod:`env_server.tasks.change_log`), or whole tables where a statement changes a table's schema."""
    for salt in _PROBE_SALTS:
        scratch = _copy(conn)
        try:
            try:
                works = _works_logged(scratch, corruption, salt)
            except SchemaChanged:
                scratch.close()
                scratch = _copy(conn)
                works = _works_whole(scratch, corruption, salt)
            if not works:
                return False
        except (ValueError, sqlite3.Error):
            return False
        finally:
            scratch.close()
        if not corruption.setup_sql:
            break  # the salt plays no part
    return True


def _works_logged(scratch: sqlite3.Connection, corruption: Corruption, salt: int) -> bool:
    log = ChangeLog(scratch)
    before = log.state()
    apply_setup(scratch, corruption, salt)
    corrupted = log.state()
    if corruption.setup_sql and corrupted == before:
        return False
    apply_gold(scratch, corruption)
    repaired = log.state()
    if repaired == corrupted or not untouched(corrupted, repaired):
        return False
    apply_gold(scratch, corruption)
    return log.state() == repaired


def _works_whole(scratch: sqlite3.Connection, corruption: Corruption, salt: int) -> bool:
    before = rows_of(scratch)
    apply_setup(scratch, corruption, salt)
    corrupted = rows_of(scratch)
    if corruption.setup_sql and corrupted == before:
        return False
    apply_gold(scratch, corruption)
    repaired = rows_of(scratch)
    if repaired == corrupted or not _untouched(before, corrupted, repaired):
        return False
    apply_gold(scratch, corruption)
    return rows_of(scratch) == repaired


def plan(
    conn: sqlite3.Connection,
    schema: SchemaInfo,
    rng: random.Random,
    nouns: Mapping[str, str] | None = None,
    rejected: Rejections | None = None,
    strict: bool = False,
) -> list[Corruption]:
    """Every corruption applicable to the clean database in ``conn``: up to :data:`MAX_PER_KIND` per kind,
    targets chosen with ``rng``, each checked on a scratch copy. Works on any SQLite database; kinds
    that do not fit it are absent. ``conn`` itself is not changed (trusted connection).

    ``ValueError`` if ``conn`` has an uncommitted transaction: scratch copies are made with the backup
    API, which waits forever on one. A kind whose planner fails on this database is skipped, its reason counted
    in ``rejected``. ``strict`` leaves constant columns alone (:mod:`env_server.tasks.quality`)."""
    if conn.in_transaction:
        raise ValueError("plan() needs a committed database: call conn.commit() first")
    probes = tuple(_perturbed(conn, seed) for seed in _PROBE_VARIANTS)
    try:
        db = _Db(conn=conn, schema=schema, profiles=profile(conn, schema, nouns, strict), probes=probes)
        chosen: list[Corruption] = []
        for kind in CORRUPTION_KINDS:
            try:
                candidates = _PLANNERS[kind](db, rng)
            except (sqlite3.Error, ValueError, TypeError, ArithmeticError, IndexError, KeyError) as exc:
                if rejected is not None:
                    rejected.add(f"corruption {kind} raised {type(exc).__name__}")
                continue
            if strict or kind in ("format_drift", "case_whitespace"):
                rng.shuffle(candidates)  # strict (BYO): every kind, so later rounds reach other targets
            kept = 0
            for corruption in candidates:
                if kept >= MAX_PER_KIND:
                    break
                if _works(conn, corruption):
                    chosen.append(corruption)
                    kept += 1
    finally:
        for probe in probes:
            probe.close()
    return chosen
