"""The change log the task build checks corruptions with: the same verdicts as whole-table reads, on every
candidate every planner makes on every built-in domain and on the realistic flights fixture; REPLACE, new tables,
and schema changes handled; the log's work is the rows changed."""
from __future__ import annotations

import random
import sqlite3
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from env_server.core.domains import DOMAINS, populate
from env_server.core.schema import introspect
from env_server.tasks import corruptions
from env_server.tasks.change_log import ChangeLog, SchemaChanged, untouched
from env_server.tasks.gold_queries import profile

FLIGHTS = Path(__file__).parent / "data" / "flights_realistic.sql"


def _copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    dest = sqlite3.connect(":memory:")
    conn.backup(dest)
    return dest


@cache
def _clean(name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    if name == "flights":
        from env_server.ingest.transpile import load_file

        load_file(conn, FLIGHTS)
        conn.commit()
    else:
        populate(conn, DOMAINS[name], 0)
    return conn


def _candidates(name: str) -> list[corruptions.Corruption]:
    conn = _clean(name)
    schema = introspect(conn)
    probes = tuple(corruptions._perturbed(conn, seed) for seed in corruptions._PROBE_VARIANTS)
    db = corruptions._Db(conn=conn, schema=schema, profiles=profile(conn, schema, None, name == "flights"),
                         probes=probes)
    out = []
    for kind, planner in corruptions._PLANNERS.items():
        try:
            out += planner(db, random.Random(0))[:6]
        except (sqlite3.Error, ValueError, TypeError, ArithmeticError, IndexError, KeyError):
            continue
    return out


def _verdict(how, conn, corruption, salt):
    scratch = _copy(conn)
    try:
        return how(scratch, corruption, salt)
    except (ValueError, sqlite3.Error) as exc:
        return type(exc).__name__
    finally:
        scratch.close()


def _broken(corruption: corruptions.Corruption) -> list[corruptions.Corruption]:
    """The ways a candidate should fail: a setup that changes nothing, a repair that changes nothing, one that
    also deletes clean rows, one that is not idempotent."""
    from dataclasses import replace

    t = '"' + corruption.tables[0].replace('"', '""') + '"'
    return [
        replace(corruption, setup_sql=(f"UPDATE {t} SET rowid = rowid WHERE 0",)),
        replace(corruption, gold_repair_sql=("SELECT 1",)),
        replace(corruption, gold_repair_sql=(*corruption.gold_repair_sql, f"DELETE FROM {t} WHERE rowid % 3 = 1")),
        replace(corruption, gold_repair_sql=(*corruption.gold_repair_sql,
                                             f"INSERT INTO {t} SELECT * FROM {t} WHERE rowid = (SELECT max(rowid) FROM {t})")),
    ]


@pytest.mark.parametrize("name", [*sorted(DOMAINS), "flights"])
def test_logged_checks_agree_with_whole_table_reads_on_every_candidate(name):
    conn = _clean(name)
    checked = Counter()
    candidates = _candidates(name)
    for corruption in candidates + [b for c in candidates[::5] for b in _broken(c)]:
        for salt in corruptions._PROBE_SALTS:
            whole = _verdict(corruptions._works_whole, conn, corruption, salt)
            try:
                logged = _verdict(corruptions._works_logged, conn, corruption, salt)
            except SchemaChanged:
                continue
            assert logged == whole, (corruption.kind, corruption.target, salt)
            checked[corruption.kind, whole] += 1
    assert sum(n for (_, verdict), n in checked.items() if verdict is True) >= 3, checked
    assert any(verdict is False for _, verdict in checked), checked  # rejections are reached too


def _shop() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v); "
                       "INSERT INTO t(k, v) VALUES ('a', 1), ('b', 2), ('c', 2);")
    return conn


def test_replace_deletes_are_logged_and_a_round_trip_is_no_change():
    conn = _shop()
    log = ChangeLog(conn)
    start = log.state()
    conn.execute("INSERT OR REPLACE INTO t(k, v) VALUES ('a', 9)")  # deletes (1, 'a', 1), adds (4, 'a', 9)
    state = log.state()
    assert state.change["t"] == Counter({(1, "a", 1): -1, (4, "a", 9): 1})
    conn.execute("DELETE FROM t WHERE k = 'a'")
    conn.execute("INSERT INTO t(id, k, v) VALUES (1, 'a', 1)")
    assert log.state() == start


def test_new_tables_are_part_of_the_state_even_empty_and_schema_changes_are_refused():
    conn = _shop()
    log = ChangeLog(conn)
    start = log.state()
    conn.execute("CREATE TABLE audit(x)")
    assert log.state() != start and log.state().change == {}
    conn.execute("INSERT INTO audit VALUES (1)")
    assert log.state().change == {"audit": Counter({(1,): 1})}
    conn.execute("ALTER TABLE t ADD COLUMN w")
    with pytest.raises(SchemaChanged):
        log.state()


def test_untouched_sees_a_repair_that_removes_a_row_the_corruption_kept():
    conn = _shop()
    log = ChangeLog(conn)
    conn.execute("UPDATE t SET v = NULL WHERE k = 'b'")  # the planted damage
    corrupted = log.state()
    conn.execute("UPDATE t SET v = 2 WHERE k = 'b'")  # the repair restores it
    assert untouched(corrupted, log.state())
    conn.execute("DELETE FROM t WHERE k = 'c'")  # and a repair that also deletes a clean row
    assert not untouched(corrupted, log.state())


def test_the_log_reads_only_changed_rows():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE big(a, b)")
    conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) "
                 "INSERT INTO big SELECT i, i % 7 FROM n")
    log = ChangeLog(conn)
    conn.execute("UPDATE big SET b = -1 WHERE a <= 3")
    calls = []
    conn.set_trace_callback(calls.append)
    state = log.state()
    conn.set_trace_callback(None)
    assert sum(abs(n) for n in state.change["big"].values()) == 6
    assert not any("FROM main.\"big\"" in c and "LIMIT 0" not in c for c in calls), calls
