"""Database-state snapshots for repair grading: main schema only, TEMP objects counted, every read bounded."""
from __future__ import annotations

import time

from env_server.core.sandbox import SandboxConfig, harden, new_connection
from env_server.grading.state_diff import diff, snapshot

CONFIG = SandboxConfig(max_vm_steps=5_000_000)


def _db():
    conn = new_connection()
    conn.executescript("CREATE TABLE customers(id INTEGER PRIMARY KEY, email TEXT);"
                       "INSERT INTO customers(email) VALUES ('a'), ('a'), ('b');")
    return harden(conn, CONFIG)


def test_a_temp_shadow_is_not_read_as_the_table_and_counts_as_a_difference():
    conn = _db()
    target = snapshot(conn, CONFIG)
    conn.disarm()  # a snapshot leaves the read guard installed; trusted writes follow
    conn.execute("DELETE FROM customers WHERE id = 2")
    repaired = snapshot(conn, CONFIG)
    conn.disarm()
    conn.execute("INSERT INTO customers(email) VALUES ('a')")  # corrupt main again
    # a trusted connection could still make a TEMP object; the snapshot reads main and lists temp apart
    conn.execute("CREATE TEMP VIEW customers AS SELECT * FROM main.customers WHERE id IN (1, 3)")
    state = snapshot(conn, CONFIG)
    assert state["customers"].size == 3 and "temp.customers" in state
    differences = diff(state, repaired)
    assert not differences["customers"].exact and not differences["temp.customers"].exact
    assert all(d.exact for d in diff(snapshot(_db(), CONFIG), target).values())


def test_an_endless_agent_view_reads_as_broken_within_the_budget():
    conn = _db()
    conn.execute("CREATE VIEW forever AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r")
    started = time.monotonic()
    state = snapshot(conn, CONFIG)
    assert time.monotonic() - started < 2
    assert state["forever"].columns[0].startswith("<unreadable view")
    assert state["customers"].size == 3


def test_names_with_quotes_and_spaces_are_read():
    conn = _db()
    conn.execute('CREATE TABLE "x""y z" (a)')
    conn.execute('INSERT INTO "x""y z" VALUES (1)')
    assert snapshot(conn, CONFIG)['x"y z'].size == 1


# -- names as SQLite compares them: a look-alike table is another table -------------------------------

import pytest  # noqa: E402

from env_server.core.identifiers import fold  # noqa: E402
from env_server.core.schema import introspect  # noqa: E402
from env_server.tools.exploits import LOOK_ALIKES  # noqa: E402

LOOK_ALIKE_NAMES = {
    **{kind: make("stock_ticker") for kind, make in LOOK_ALIKES.items()},
    "non_ascii_case": None,  # cafÉ beside café: one table for Python's lower(), two for SQLite
}


def _two_tables(real: str, look: str):
    conn = new_connection()
    conn.execute(f'CREATE TABLE "{real}"(id INTEGER PRIMARY KEY, v TEXT)')
    conn.execute(f'INSERT INTO "{real}"(v) VALUES (\'broken\'), (\'ok\')')
    target = snapshot(harden(conn, CONFIG), CONFIG)
    conn.disarm()
    # the attack: the real table stays broken, a look-alike copy gets the repair
    conn.execute(f'CREATE TABLE "{look}" AS SELECT * FROM "{real}"')
    conn.execute(f'UPDATE "{look}" SET v = \'fixed\' WHERE v = \'broken\'')
    conn.execute(f'UPDATE "{real}" SET v = \'fixed\' WHERE 0')
    return conn, target


@pytest.mark.parametrize("kind", sorted(LOOK_ALIKE_NAMES))
def test_a_look_alike_table_is_its_own_table_and_an_unexpected_one(kind):
    real, look = ("café", "cafÉ") if kind == "non_ascii_case" else ("stock_ticker", LOOK_ALIKE_NAMES[kind])
    assert look is not None and look != real
    conn, target = _two_tables(real, look)
    assert len(conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()) == 2  # SQLite: two
    state = snapshot(conn, CONFIG)
    assert set(state) == {fold(real), fold(look)}
    assert state[fold(real)].rows == target[fold(real)].rows  # the real table is still the one read under its name
    differences = diff(state, target)
    assert differences[fold(look)].problem and not differences[fold(look)].exact
    # a target of the repaired real table: the look-alike never stands in for it
    conn.disarm()
    conn.execute(f'UPDATE "{real}" SET v = \'fixed\' WHERE v = \'broken\'')
    repaired = {fold(real): snapshot(conn, CONFIG)[fold(real)]}
    assert not diff(state, repaired)[fold(real)].exact


def test_ascii_case_is_one_name_as_in_sqlite():
    conn = new_connection()
    conn.execute('CREATE TABLE "Stock_Ticker"("Id" INTEGER, "V" TEXT)')
    state = snapshot(harden(conn, CONFIG), CONFIG)
    assert set(state) == {"stock_ticker"} and state["stock_ticker"].columns == ("id", "v")
    schema = introspect(conn)
    assert schema.table("STOCK_TICKER") is not None and schema.table("stoc\u212a_ticker") is None
    assert schema.table("stock_ticker").column("v") is not None and schema.table("stock_ticker").column("\u1e7c") is None


def test_a_look_alike_column_is_another_column():
    conn = new_connection()
    conn.execute("CREATE TABLE t(status TEXT)")
    conn.execute("INSERT INTO t VALUES ('a')")
    target = snapshot(harden(conn, CONFIG), CONFIG)
    conn.disarm()
    conn.execute("CREATE TABLE t2 AS SELECT status AS \"\u017ftatus\" FROM t")  # long s
    other = new_connection()
    other.execute('CREATE TABLE t("\u017ftatus" TEXT)')
    other.execute("INSERT INTO t VALUES ('a')")
    assert not diff(snapshot(harden(other, CONFIG), CONFIG), target)["t"].exact
