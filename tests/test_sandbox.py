"""One adversarial test per sandbox property: each hostile statement is answered within 2 s with
the right error kind, the process survives, and the database is unchanged."""
from __future__ import annotations

import sqlite3
import time

import pytest

from env_server.core.sandbox import (
    ErrorKind,
    SandboxConfig,
    TemplateCache,
    clone,
    execute,
    harden,
    new_connection,
)

CONFIG = SandboxConfig()


def _db() -> sqlite3.Connection:
    conn = new_connection()
    conn.executescript(
        "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, dropoff_at TEXT);"
        "INSERT INTO users(name, dropoff_at) VALUES ('ann', '2024-01-01'), ('bob', NULL), ('cy', '2024-02-02');"
        "CREATE TABLE big(x INTEGER);"
    )
    conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(2000)])
    return harden(conn, CONFIG)


@pytest.fixture()
def db() -> sqlite3.Connection:
    return _db()


def _run(conn, sql, mode="read", config=CONFIG, purpose="agent"):
    started = time.perf_counter()
    result = execute(conn, sql, mode=mode, config=config, purpose=purpose)
    assert time.perf_counter() - started < 2.0, "hostile statement was not stopped within 2 s"
    return result


def _alive(conn) -> None:
    result = _run(conn, "SELECT COUNT(*) FROM users")
    assert result.ok and result.rows == [(3,)]


def test_infinite_recursive_cte_times_out(db):
    result = _run(db, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r")
    assert result.error_kind is ErrorKind.TIMEOUT
    _alive(db)


def test_cross_join_bomb_times_out(db):
    result = _run(db, "SELECT COUNT(*) FROM big a, big b, big c, big d")
    assert result.error_kind is ErrorKind.TIMEOUT
    _alive(db)


def test_step_budget_stops_work_before_the_clock(db):
    config = SandboxConfig(max_vm_steps=10_000, time_limit_s=30)
    result = _run(db, "SELECT COUNT(*) FROM big a, big b", config=config)
    assert result.error_kind is ErrorKind.TIMEOUT


def test_randomblob_memory_bomb_is_too_large(db):
    result = _run(db, "SELECT length(randomblob(1000000000))")
    assert result.error_kind is ErrorKind.TOO_LARGE
    result = _run(db, "SELECT length(zeroblob(2000000000))")
    assert result.error_kind is ErrorKind.TOO_LARGE
    _alive(db)


def test_attach_of_a_file_is_not_authorized(db, tmp_path):
    target = tmp_path / "stolen.db"
    result = _run(db, f"ATTACH DATABASE '{target}' AS stolen")
    assert result.error_kind is ErrorKind.NOT_AUTHORIZED
    assert not target.exists()
    result = _run(db, f"ATTACH DATABASE '{target}' AS stolen", mode="write")
    assert result.error_kind is ErrorKind.NOT_AUTHORIZED


def test_writable_schema_pragma_is_not_authorized(db):
    for mode in ("read", "write"):
        result = _run(db, "PRAGMA writable_schema = 1", mode=mode)
        assert result.error_kind is ErrorKind.NOT_AUTHORIZED
    assert _run(db, "PRAGMA table_info(users)").ok  # the read-only allowlist still works
    assert _run(db, "SELECT name FROM pragma_table_info('users')").rows == [("id",), ("name",), ("dropoff_at",)]


def test_table_valued_functions_work_read_only_but_the_schema_table_stays_unwritable(db):
    assert _run(db, "SELECT value FROM json_each('[1, 2]')").rows == [(1,), (2,)]
    for mode in ("read", "write"):
        for sql in ("UPDATE sqlite_master SET sql = 'x'", "DELETE FROM sqlite_master",
                    "INSERT INTO sqlite_master VALUES ('table', 'z', 'z', 0, 'CREATE TABLE z(a)')"):
            assert _run(db, sql, mode=mode).error_kind is ErrorKind.NOT_AUTHORIZED, (mode, sql)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master ORDER BY name")] == ["big", "users"]


def test_load_extension_is_not_authorized(db):
    result = _run(db, "SELECT load_extension('/tmp/evil.so')")
    assert result.error_kind is ErrorKind.NOT_AUTHORIZED


def test_multi_statement_is_refused_and_nothing_runs(db):
    result = _run(db, "SELECT 1; DELETE FROM users", mode="write")
    assert result.error_kind is ErrorKind.NOT_AUTHORIZED
    assert "one statement" in (result.error or "")
    _alive(db)


def test_one_megabyte_query_is_too_large(db):
    sql = "SELECT 1 WHERE 'x' = '" + "x" * 1_000_000 + "'"
    result = _run(db, sql)
    assert result.error_kind is ErrorKind.TOO_LARGE


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM users",
        "dElEtE FROM users",
        "UPDATE users SET name = 'x'",
        "INSERT INTO users(name) VALUES ('eve')",
        "WITH t AS (SELECT 1) DELETE FROM users",
        "REPLACE INTO users(id, name) VALUES (1, 'eve')",
        "DROP TABLE users",
        "CREATE TABLE evil(x)",
        "CREATE TEMP TABLE evil(x)",
        "/* c */ DEL/**/ETE FROM users",
    ],
)
def test_write_in_read_only_mode_is_not_authorized(db, sql):
    result = _run(db, sql)
    assert result.error_kind in (ErrorKind.NOT_AUTHORIZED, ErrorKind.SYNTAX)
    if "DEL/**/ETE" not in sql:
        assert result.error_kind is ErrorKind.NOT_AUTHORIZED, result.error
    _alive(db)


def test_write_mode_allows_repairs_but_not_drop_or_alter(db):
    assert _run(db, "UPDATE users SET name = upper(name) WHERE id = 1", mode="write").changes == 1
    assert _run(db, "CREATE TABLE summary AS SELECT COUNT(*) AS n FROM users", mode="write").ok
    assert _run(db, "CREATE VIEW v AS SELECT name FROM users", mode="write").ok
    for sql in ("DROP TABLE users", "ALTER TABLE users ADD COLUMN x", "CREATE INDEX i ON users(name)",
                "CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM users; END", "BEGIN", "VACUUM"):
        assert _run(db, sql, mode="write").error_kind is ErrorKind.NOT_AUTHORIZED, sql


def test_identifiers_and_literals_that_look_dangerous_are_fine(db):
    result = _run(db, "SELECT dropoff_at, 'DROP TABLE users; DELETE' AS note FROM users -- DELETE FROM users")
    assert result.ok and result.row_count == 3


def test_page_count_caps_database_growth(db):
    config = SandboxConfig(max_page_count=64)
    small = clone(db, config)
    result = _run(small, "CREATE TABLE blob_store AS SELECT randomblob(900000) AS b FROM big", mode="write", config=config)
    assert result.error_kind is ErrorKind.TOO_LARGE


def test_rows_returned_to_agent_are_capped_and_counted(db):
    result = _run(db, "SELECT x FROM big")
    assert len(result.rows) == CONFIG.max_rows_returned
    assert result.truncated and result.row_count == 2000


def test_rows_fetched_for_grading_are_capped_with_an_error(db):
    config = SandboxConfig(max_rows_graded=100)
    result = _run(db, "SELECT x FROM big", config=config, purpose="grading")
    assert result.error_kind is ErrorKind.TOO_LARGE


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELEC 1", ErrorKind.SYNTAX),
        ("SELECT nope FROM users", ErrorKind.SYNTAX),
        ("", ErrorKind.SYNTAX),
        ("SELECT 1\x00", ErrorKind.SYNTAX),
        ("SELECT SUM(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)", ErrorKind.RUNTIME),
        ("SELECT abs(-9223372036854775808)", ErrorKind.RUNTIME),
    ],
)
def test_errors_are_typed_and_never_raised(db, sql, kind):
    result = _run(db, sql)
    assert result.error_kind is kind, result.error
    assert result.error


def test_non_string_sql_is_a_typed_error(db):
    assert _run(db, None).error_kind is ErrorKind.SYNTAX  # type: ignore[arg-type]


def test_clones_are_private(db):
    a, b = clone(db, CONFIG), clone(db, CONFIG)
    assert _run(a, "DELETE FROM users", mode="write").changes == 3
    assert _run(b, "SELECT COUNT(*) FROM users").rows == [(3,)]
    _alive(db)


def test_template_cache_builds_once_and_evicts():
    cache = TemplateCache(capacity=2)
    calls = []

    def builder(conn):
        calls.append(1)
        conn.execute("CREATE TABLE t(x)")

    first = cache.get(("a",), builder)
    assert cache.get(("a",), builder) is first and len(calls) == 1
    cache.get(("b",), builder)
    cache.get(("c",), builder)
    assert len(cache) == 2 and cache.builds == 3


@pytest.mark.parametrize("sql", [
    "CREATE TEMP TABLE t AS SELECT 1", "CREATE TEMP VIEW users AS SELECT 1 AS id", "CREATE TABLE temp.t(a)",
    "CREATE TEMPORARY VIEW v AS SELECT 1",
])
def test_temp_objects_are_refused_in_write_mode(db, sql):
    result = execute(db, sql, mode="write", config=CONFIG)
    assert result.error_kind is ErrorKind.NOT_AUTHORIZED and "TEMP" in result.error
    assert db.execute("SELECT COUNT(*) FROM temp.sqlite_master").fetchone()[0] == 0


@pytest.mark.parametrize("sql", [
    "SELECT printf('%.*c', 2147483647, 'x')", "SELECT printf('%.2147483647c', 'x')",
    "SELECT format('%!.*c', '2147483647', 'x')", "SELECT printf('%.*c%.*c', 2147483647, 'x', 2147483647, 'y')",
])
def test_huge_printf_widths_are_refused_at_once(db, sql):
    import time

    started = time.monotonic()
    result = execute(db, sql, mode="read", config=CONFIG)
    assert time.monotonic() - started < 0.5
    assert result.error_kind is ErrorKind.TOO_LARGE and "printf" in result.error


def test_ordinary_printf_and_format_still_work(db):
    result = execute(db, "SELECT printf('%5.2f|%-3d|%s|%%', 3.14159, 7, 'ab'), format('%q', 'it''s'), "
                         "length(printf('%.*c', 1000, 'x'))", mode="read", config=CONFIG)
    assert result.rows == [(" 3.14|7  |ab|%", "it''s", 1000)]


def test_quote_ident_doubles_quotes():
    from env_server.core.identifiers import quote_ident

    assert quote_ident('x"y') == '"x""y"'


def test_the_guard_is_installed_once_per_mode_so_prepared_statements_survive(db):
    for _ in range(50):
        assert execute(db, "SELECT COUNT(*) FROM users WHERE id > 1", mode="read", config=CONFIG).ok
    assert db.authorizer_installs == 1


def test_a_statement_prepared_for_a_write_is_authorized_again_in_read_mode(db):
    """Attack: get a DELETE prepared (and cached) in write mode, then send the same text in read mode."""
    before = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    assert execute(db, "DELETE FROM users WHERE id = 1", mode="write", config=CONFIG).ok
    again = execute(db, "DELETE FROM users WHERE id = 2", mode="read", config=CONFIG)
    same = execute(db, "DELETE FROM users WHERE id = 1", mode="read", config=CONFIG)
    assert again.error_kind is ErrorKind.NOT_AUTHORIZED and same.error_kind is ErrorKind.NOT_AUTHORIZED
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == before - 1
    assert db.authorizer_installs == 2


def test_a_templates_statements_run_in_parallel_without_its_lock():
    """Template.execute holds no lock while a statement runs: a quick query answers while a slow one runs on the
    same template, and the slow one is stopped by the CPU-time safety net (stopped_by names it)."""
    import threading
    import time as clock
    from dataclasses import replace as with_

    from env_server.core.sandbox import SandboxConfig, TemplateCache

    config = with_(SandboxConfig(), grading_cpu_limit_s=2.0)
    cache = TemplateCache(config)
    template = cache.get(("t",), lambda c: c.executescript("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);"))
    assert template.shared_name is not None
    slow = ("WITH RECURSIVE r(i, s) AS (SELECT 1, hex(zeroblob(200000)) UNION ALL SELECT i + 1, s FROM r "
            "LIMIT 100000000) SELECT count(*) FROM r WHERE s LIKE '%0%0%0%0%0%0%0%0%0%0%1%'")
    out = {}
    thread = threading.Thread(target=lambda: out.update(slow=template.execute(slow, config=config)))
    thread.start()
    clock.sleep(0.3)
    started = clock.perf_counter()
    quick = template.execute("SELECT sum(x) FROM t", config=config)
    waited = clock.perf_counter() - started
    thread.join()
    assert quick.rows == [(3,)] and waited < 0.5
    assert out["slow"].stopped_by == "safety_net" and "safety net" in out["slow"].error


def test_a_sort_larger_than_a_readers_cache_is_graded_and_leaves_no_temp_object():
    """Readers keep SQLite's default temp store (files), which is ~9 % faster for GROUP BY/ORDER BY than memory: a
    grading sort far over a reader's 64 KiB cache spills and still returns the right rows, the same as an unsorted
    count shows, and the agent still cannot make a TEMP object (the authorizer refuses it in every mode)."""
    cache = TemplateCache(CONFIG)
    template = cache.get(("sort",), lambda c: c.executescript(
        "CREATE TABLE t(x INTEGER, pad TEXT);"
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 200000) "
        "INSERT INTO t SELECT (i * 7919) % 200003, printf('%040d', i) FROM r;"))
    assert template.shared_name is not None
    sorted_ = template.execute("SELECT x, pad FROM t ORDER BY pad DESC LIMIT 3", config=CONFIG)
    assert sorted_.error is None and [r[1] for r in sorted_.rows] == [f"{i:040d}" for i in (200000, 199999, 199998)]
    grouped = template.execute("SELECT count(*) FROM (SELECT x % 1000 AS g, count(*) FROM t GROUP BY g)", config=CONFIG)
    assert grouped.rows == [(1000,)]
    for sql in ("CREATE TEMP TABLE z AS SELECT * FROM t", "CREATE TEMP VIEW v AS SELECT 1"):
        refused = template.execute(sql, config=CONFIG)
        assert refused.error_kind is ErrorKind.NOT_AUTHORIZED, refused
