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
