"""Column roles: clock times, calendar parts, identifiers and epoch timestamps are never measured; levels and
ratios are never summed; ISO-8601 timestamps with Z or an offset are dates. On the realistic flights fixture
(a key-less fact table, HHMM clock times, two foreign keys to one table, zoned timestamps, real NULLs and
orphans) no gold query sums or averages a non-measure, the fact table is keyed by rowid, and its zoned
timestamps yield month and date tasks read as written."""
from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from env_server.core.dbspec import DbSpec
from env_server.core.schema import introspect
from env_server.tasks.byo import tasks_for_database
from env_server.tasks.column_roles import additive, numeric_role, timestamp_text, zoned
from env_server.tasks.gold_queries import profile

FLIGHTS = Path(__file__).parent / "data" / "flights_realistic.sql"


@pytest.mark.parametrize("name,values,role", [
    ("dep_time", [517, 533, 1159, 2359, 14, 600, 1730, 2001], "clock"),
    ("sched_arr_time", [819, 830, 850, 1022, 1300, 2359, 5, 1455], "clock"),
    ("hhmm", [0, 30, 100, 130, 2300], "clock"),
    ("day", [1, 15, 31, 2, 3], "calendar"),
    ("month", [1, 12, 6], "calendar"),
    ("hour", [0, 5, 23], "calendar"),
    ("year", [2013, 2013, 2014], "calendar"),
    ("fiscal_year", [2019, 2020], "calendar"),
    ("flight", [1545, 1714, 1141, 725], "identifier"),
    ("invoice_no", [10, 11, 12], "identifier"),
    ("zip", [10001, 94105, 60601], "identifier"),
    ("created_ts", [1_700_000_000, 1_700_086_400], "timestamp"),
    ("amount", [5, 12, 31, 2, 3, 9, 12, 28], None),
    ("air_time", [227, 150, 160, 183, 116, 2359, 1000, 1330], None),  # a duration, not a clock
    ("day", [1, 15, 45], None),  # not a day of the month
    ("price", [1999, 2999, 1200, 100, 59, 1459], None),  # minutes under 60 only by chance: not clock-named
])
def test_numeric_roles(name, values, role):
    assert numeric_role(name, values, len(set(values)), len(values)) == role


def test_a_unique_dense_integer_sequence_is_an_identifier_but_amounts_are_not():
    seq = list(range(1000, 1040))
    assert numeric_role("reference", seq, 40, 40) == "identifier"
    spread = [i * 37 + 5 for i in range(40)]  # distinct but sparse: a measure
    assert numeric_role("reference", spread, 40, 40) is None


@pytest.mark.parametrize("name,summable", [
    ("amount", True), ("distance", True), ("quantity", True), ("total_cost", True),
    ("temp", False), ("interest_rate", False), ("pct_done", False), ("score", False), ("age", False),
    ("unit_price", False), ("wind_speed", False),
])
def test_additive(name, summable):
    assert additive(name) is summable


@pytest.mark.parametrize("value,iso,has_zone", [
    ("2013-01-01", True, False),
    ("2013-01-01 05:00", True, False),
    ("2013-01-01T05:00:00Z", True, True),
    ("2013-01-01 05:00:00+00", True, True),
    ("2013-01-01 05:00:00.123+0530", True, True),
    ("2013-01-31T23:30:00-05:00", True, True),
    ("01/31/2013", False, False),
    ("2013-01-01 noon", False, False),
])
def test_iso_timestamps(value, iso, has_zone):
    assert timestamp_text(value) is iso
    assert zoned(value) is has_zone


@cache
def _flights() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.executescript(FLIGHTS.read_text(encoding="utf-8"))
    return conn


def test_the_strict_profile_of_the_flights_fixture():
    conn = _flights()
    flights = profile(conn, introspect(conn), strict=True)["flights"]
    kinds = {c.name: c.kind for c in flights.columns.values()}
    assert flights.pk == "rowid", "a key-less fact table is keyed by rowid, never by its (constant) first column"
    assert kinds["year"] == "constant"
    assert {kinds[c] for c in ("dep_time", "sched_dep_time", "arr_time")} == {"clock"}
    assert kinds["month"] == kinds["day"] == "category"
    assert kinds["time_hour"] == "date" and flights.columns["time_hour"].zoned
    assert {c.name for c in flights.summable()} == {"dep_delay", "air_time", "distance"}
    weather = profile(conn, introspect(conn), strict=True)["weather"]
    assert weather.columns["time_hour"].zoned
    assert not weather.columns["temp"].additive and weather.summable() == []


def test_the_default_profile_of_the_built_in_domains_is_unchanged_by_roles():
    """Built-in domains are profiled non-strictly: no column gets a role kind or loses additivity."""
    from env_server.core.domains import DOMAINS, populate

    for name, domain in DOMAINS.items():
        conn = sqlite3.connect(":memory:")
        populate(conn, domain, 0)
        for table in profile(conn, introspect(conn), domain.nouns).values():
            for col in table.columns.values():
                assert col.kind in {"key", "measure", "flag", "category", "date", "label", "text"}, (name, col)
                assert col.additive


def _aggregated(sql: str) -> list[tuple[str, str]]:
    """``(function, column)`` for every SUM and AVG over a bare column in ``sql``."""
    out = []
    for node in sqlglot.parse_one(sql, read="sqlite").find_all(exp.Sum, exp.Avg):
        arg = node.this
        if isinstance(arg, exp.Column):
            out.append((type(node).__name__.upper(), arg.name))
    return out


@cache
def _flight_tasks():
    db = DbSpec(sql_path=str(FLIGHTS))
    return tasks_for_database(db, "flights", per_family=30, progress=False)


def test_no_gold_sums_or_averages_a_clock_a_calendar_part_or_an_identifier():
    conn = _flights()
    profiles = profile(conn, introspect(conn), strict=True)
    roles = {c.name.lower(): c for p in profiles.values() for c in p.columns.values()}
    checked = 0
    for family, tasks in _flight_tasks().items():
        for task in tasks:
            scripts = [task.gold_sql] if task.gold_sql else list(task.gold_repair_sql or [])
            for sql in scripts:
                for fn, column in _aggregated(sql):
                    col = roles.get(column.lower())
                    if col is None:  # a CTE's own column (a per-parent total)
                        continue
                    checked += 1
                    assert col.kind == "measure", f"{task.task_id}: {fn}({column}) is a {col.kind}"
                    assert fn != "SUM" or col.additive, f"{task.task_id}: sums the non-additive {column}"
    assert checked >= 10


def test_zoned_timestamps_yield_date_tasks_read_as_written():
    dated = [t for ts in _flight_tasks().values() for t in ts
             if "time_hour" in (t.gold_sql or "") and ("substr" in (t.gold_sql or "") or ">=" in (t.gold_sql or ""))]
    assert len(dated) >= 3
    for task in dated:
        assert "strftime" not in task.gold_sql and "date(time_hour" not in task.gold_sql.replace(" ", ""), task.gold_sql


def test_two_keys_to_one_table_are_two_role_named_joins():
    """flights.origin and flights.dest both reference airports: each is joined under its role's name, and
    the SQL joins along the key the words name."""
    roles = {"origin": 0, "dest": 0}
    for task in (t for ts in _flight_tasks().values() for t in ts):
        for role in roles:
            if f"{role} airports" in task.question.lower():
                other = "dest" if role == "origin" else "origin"
                assert f"{role} = " in task.gold_sql or f"SELECT {role} FROM" in task.gold_sql, task.gold_sql
                assert f"{other} = " not in task.gold_sql, task.gold_sql
                roles[role] += 1
    assert roles["origin"] >= 1 and roles["dest"] >= 1, roles


def test_mass_nouns_are_not_pluralised():
    """A table named ``weather`` is asked about as weather records, never as "weathers"."""
    texts = [t.question for t in _flight_tasks()["analyst"]]
    assert not [t for t in texts if "weathers" in t.lower()]
    assert any("weather records" in t.lower() for t in texts)


def test_no_gold_shape_repeats_beyond_the_cap():
    from collections import Counter

    from env_server.tasks.byo import MAX_PER_SHAPE
    from env_server.tasks.overlap import task_shape

    for family, tasks in _flight_tasks().items():
        shapes = Counter(task_shape(t) for t in tasks)
        assert max(shapes.values()) <= MAX_PER_SHAPE, (family, shapes.most_common(1))
