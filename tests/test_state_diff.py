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


# -- states against a base: the change alone, found by SQLite, graded exactly as whole snapshots ------------------

import random  # noqa: E402
import sqlite3  # noqa: E402

from env_server.core.sandbox import Template, execute  # noqa: E402
from env_server.grading.state_diff import base_snapshot  # noqa: E402

_BASE_SQL = """
CREATE TABLE shop(id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, price REAL, qty INTEGER, note TEXT);
CREATE TABLE tags(shop_id INTEGER, tag TEXT, extra);
CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
CREATE TABLE odd("rowid" INTEGER, "oid" TEXT, v INTEGER);
CREATE VIEW cheap AS SELECT id, name FROM shop WHERE price < 5;
"""


def _base(rows: int = 60) -> Template:
    conn = new_connection()
    conn.executescript(_BASE_SQL)
    rng = random.Random(7)
    for i in range(1, rows + 1):
        conn.execute("INSERT INTO shop VALUES (?, ?, ?, ?, ?)",
                     (i, rng.choice(["Pen", "pen", "Ink", "Pad"]), rng.choice([1.5, 2.0, 7.25, None]),
                      rng.choice([0, 1, 5, None]), rng.choice(["", "x", None])))
        conn.execute("INSERT INTO tags VALUES (?, ?, ?)", (rng.randint(1, rows), rng.choice(["a", "b", "a"]), i % 4))
        conn.execute("INSERT INTO odd VALUES (?, ?, ?)", (i % 3, str(i % 2), i))
    conn.executemany("INSERT INTO kv VALUES (?, ?)", [(f"k{i}", i) for i in range(10)])
    template = Template(key=("base",), conn=conn)
    template.share(CONFIG)
    assert template.shared_name is not None
    return template


_EDITS = [
    "UPDATE shop SET price = price * 1.1 WHERE id % 7 = {r}",
    "UPDATE shop SET name = upper(name) WHERE id % 5 = {r}",  # a case change in a NOCASE column
    "UPDATE tags SET extra = CAST(extra AS TEXT) WHERE rowid % 6 = {r}",  # '3' for 3: a change of storage class
    "UPDATE shop SET price = CAST(price AS INTEGER) WHERE price = 2.0 AND id % 3 = {r}",  # 2 for 2.0: no change
    "DELETE FROM shop WHERE id % 9 = {r}",
    "INSERT INTO shop(name, price, qty, note) SELECT name, price, qty, note FROM shop WHERE id % 11 = {r}",
    "DELETE FROM tags WHERE rowid % 4 = {r}",
    "INSERT INTO tags SELECT shop_id, tag, extra FROM tags WHERE rowid % 8 = {r}",
    "UPDATE kv SET v = v + 1 WHERE v % 4 = {r}",
    "UPDATE odd SET v = -v WHERE v % 5 = {r}",
    # the same rows again under new rowids: no change as a multiset
    "CREATE TABLE keep AS SELECT shop_id, tag, extra FROM tags; DELETE FROM tags; INSERT INTO tags SELECT * FROM keep; "
    "DROP TABLE keep",
    "UPDATE shop SET note = NULL WHERE note = '' AND id % 2 = {r}",
]


def _apply(conn: sqlite3.Connection, rng: random.Random, n: int) -> None:
    for _ in range(n):
        script = rng.choice(_EDITS).format(r=rng.randint(0, 3))
        conn.executescript(script)


def _clone(template: Template):
    conn = template.clone(CONFIG)
    conn.disarm()
    return conn


def _full_diff(a, b):
    return {k: (d.distance, round(d.f1, 9), d.missing, d.extra, d.problem) for k, d in diff(a, b).items()}


@pytest.mark.parametrize("seed", range(12))
def test_a_state_against_the_base_diffs_exactly_as_whole_snapshots(seed):
    """Property: for random edit scripts (target and candidate), the change-only states give the same
    distance, F1, missing and extra rows for every table as full snapshots do."""
    template = _base()
    rng = random.Random(seed)
    target_conn, candidate_conn = _clone(template), _clone(template)
    _apply(target_conn, rng, 3)
    _apply(candidate_conn, rng, rng.choice([0, 2, 4]))
    if seed % 3 == 0:  # a correct candidate: the same script as the target
        candidate_conn = _clone(template)
        _apply(candidate_conn, random.Random(seed), 3)
    full = _full_diff(snapshot(candidate_conn, CONFIG), snapshot(target_conn, CONFIG))
    relative = _full_diff(snapshot(candidate_conn, CONFIG, base=template), snapshot(target_conn, CONFIG, base=template))
    assert relative == full
    start_full = snapshot(template.reader(CONFIG), CONFIG)
    assert _full_diff(base_snapshot(template, CONFIG), snapshot(target_conn, CONFIG, base=template)) == \
        _full_diff(start_full, snapshot(target_conn, CONFIG))
    state = snapshot(candidate_conn, CONFIG, base=template)
    assert state["shop"].relative and state["tags"].relative and state["odd"].relative
    assert not state["kv"].relative and not state["cheap"].relative  # no rowid; a view: read whole


def test_the_change_holds_only_changed_rows():
    template = _base(rows=2000)
    conn = _clone(template)
    conn.execute("UPDATE shop SET qty = 99 WHERE id IN (3, 4)")
    state = snapshot(conn, CONFIG, base=template)["shop"]
    assert state.relative and state.size == 2000 and sum(abs(n) for n in state.rows.values()) <= 4


def test_storage_class_and_case_changes_are_changes_and_a_reshuffle_is_not():
    template = _base()
    start = base_snapshot(template, CONFIG)
    for table, attack in (("tags", "UPDATE tags SET extra = CAST(extra AS TEXT) WHERE extra = 3"),
                          ("shop", "UPDATE shop SET name = upper(name) WHERE name = 'pen'")):
        conn = _clone(template)
        conn.execute(attack)
        assert not diff(snapshot(conn, CONFIG, base=template), start)[table].exact, attack
    conn = _clone(template)
    conn.executescript("CREATE TABLE s2 AS SELECT * FROM shop; DELETE FROM shop; "
                       "INSERT INTO shop(name, price, qty, note) SELECT name, price, qty, note FROM s2 ORDER BY random(); "
                       "UPDATE shop SET id = id + 1000; DROP TABLE s2")
    moved = diff(snapshot(conn, CONFIG, base=template), start)["shop"]
    assert not moved.exact  # ids changed: every row differs
    conn = _clone(template)
    conn.executescript("CREATE TABLE t2 AS SELECT * FROM tags; DELETE FROM tags; "
                       "INSERT INTO tags SELECT * FROM t2 ORDER BY random(); DROP TABLE t2")
    assert diff(snapshot(conn, CONFIG, base=template), start)["tags"].exact  # same multiset, new rowids


def test_the_base_is_attached_only_while_the_state_is_read():
    template = _base()
    conn = template.clone(CONFIG)
    snapshot(conn, CONFIG, base=template)
    assert "dataops_base" not in [row[1] for row in conn.execute("PRAGMA database_list")]
    attack = execute(conn, f"ATTACH DATABASE 'file:/{template.shared_name}?vfs=memdb&mode=ro' AS b", mode="write",
                     config=CONFIG)
    assert not attack.ok  # the agent still cannot attach anything
    conn.disarm()
    with pytest.raises(sqlite3.OperationalError):  # the attach limit is back at 0
        conn.execute(f"ATTACH DATABASE 'file:/{template.shared_name}?vfs=memdb&mode=ro' AS b")


def test_without_attaching_the_change_is_read_whole_and_agrees():
    template = _base()
    conn = _clone(template)
    conn.execute("UPDATE shop SET price = 3.5 WHERE id < 10")
    attached = snapshot(conn, CONFIG, base=template)
    conn.execute("BEGIN")  # ATTACH cannot run inside a transaction
    read = snapshot(conn, CONFIG, base=template)
    conn.disarm()
    conn.execute("ROLLBACK")
    assert read["shop"].relative and attached["shop"].rows == read["shop"].rows
    assert attached["shop"].size == read["shop"].size
    # a rowid table remade WITHOUT ROWID, same columns: no rowid to join on, so read whole, and still exact
    conn.executescript('UPDATE odd SET v = -v WHERE v < 4; CREATE TABLE o2("rowid" INTEGER, "oid" TEXT, '
                       "v INTEGER PRIMARY KEY) WITHOUT ROWID; INSERT INTO o2 SELECT * FROM odd; DROP TABLE odd; "
                       "ALTER TABLE o2 RENAME TO odd")
    target = _clone(template)
    target.execute("UPDATE odd SET v = -v WHERE v < 4")
    remade = snapshot(conn, CONFIG, base=template)
    assert remade["odd"].relative and diff(remade, snapshot(target, CONFIG, base=template))["odd"].exact
    assert diff(remade, base_snapshot(template, CONFIG))["odd"].distance == 6  # 3 rows changed: 3 missing, 3 extra


def test_states_against_a_base_and_without_one_do_not_mix():
    template = _base()
    conn = _clone(template)
    with pytest.raises(ValueError, match="against a base"):
        diff(snapshot(conn, CONFIG, base=template), snapshot(conn, CONFIG))
