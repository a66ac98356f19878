"""env_server.ingest.transpile: PostgreSQL dumps become SQLite, deterministically.

The eleven defog-data databases (``data/external/defog-data``) must load with every row the
source inserts, keep their foreign keys, and pin every current-time function; a small inline
snippet covers SERIAL, BOOLEAN, interval arithmetic and casts; errors name the file and statement.
"""
from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from env_server.ingest.transpile import (
    REFERENCE_NOW,
    TranspileError,
    load_file,
    load_into,
    sqlite_from_file,
    to_sqlite_statements,
)
from env_server.tasks.external import defog_dir

DEFOG_DBS = (
    "academic", "advising", "atis", "broker", "car_dealership", "derm_treatment", "ewallet",
    "geography", "restaurants", "scholar", "yelp",
)
PINNED = datetime.fromisoformat(REFERENCE_NOW)


def _root() -> Path:
    """The defog-data folder, or skip the test."""
    try:
        return defog_dir()
    except FileNotFoundError as err:
        pytest.skip(f"defog-data is not available: {err}")


def _dump_path(db: str) -> Path:
    return _root() / db / f"{db}.sql"


@pytest.fixture(scope="module")
def loaded() -> dict[str, sqlite3.Connection]:
    """Every defog-data database, loaded once."""
    return {db: sqlite_from_file(_dump_path(db)) for db in DEFOG_DBS}


# ---------------------------------------------------------------------------------------------
# An independent reading of the source: statements and VALUES tuples, without sqlglot
# ---------------------------------------------------------------------------------------------


def _statements(text: str) -> list[str]:
    """``text`` split at top-level semicolons, comments removed, quotes respected."""
    statements: list[str] = []
    current: list[str] = []
    index = 0
    in_string = False
    while index < len(text):
        char = text[index]
        if in_string:
            current.append(char)
            in_string = char != "'"  # '' closes and reopens: an escaped quote
        elif char == "'":
            in_string = True
            current.append(char)
        elif text.startswith("--", index):
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", index):
            index = text.index("*/", index) + 2
            continue
        elif char == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    statements.append("".join(current))
    return [s for s in statements if s.strip()]


def _top_level_groups(text: str) -> int:
    """How many parenthesised groups open at depth 0 in ``text`` (quotes respected)."""
    depth = groups = 0
    in_string = False
    for char in text:
        if in_string:
            in_string = char != "'"
        elif char == "'":
            in_string = True
        elif char == "(":
            groups += depth == 0
            depth += 1
        elif char == ")":
            depth -= 1
    return groups


def _source_row_counts(text: str) -> dict[str, int]:
    """Rows each table receives: the number of VALUES tuples of its INSERT statements."""
    counts: dict[str, int] = {}
    for statement in _statements(text):
        match = re.match(r"\s*INSERT\s+INTO\s+([\w.\"]+)", statement, re.IGNORECASE)
        if not match:
            continue
        table = match.group(1).split(".")[-1].strip('"').lower()
        values = re.search(r"\bVALUES\b", statement, re.IGNORECASE)
        assert values is not None, statement[:80]
        counts[table] = counts.get(table, 0) + _top_level_groups(statement[values.end():])
    return counts


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


# ---------------------------------------------------------------------------------------------
# The defog-data databases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("db", DEFOG_DBS)
def test_defog_database_loads_every_source_row(db, loaded):
    conn = loaded[db]
    expected = _source_row_counts(_dump_path(db).read_text(encoding="utf-8"))
    tables = {name.lower(): name for name in _tables(conn)}
    assert expected, f"{db}: the source inserts nothing?"
    assert set(expected) <= set(tables), f"{db}: tables missing: {set(expected) - set(tables)}"
    for table, rows in expected.items():
        assert rows > 0
        actual = conn.execute(f'SELECT COUNT(*) FROM "{tables[table]}"').fetchone()[0]
        assert actual == rows, f"{db}.{table}: {actual} rows loaded, the source inserts {rows}"


@pytest.mark.parametrize("db", DEFOG_DBS)
def test_declared_foreign_keys_are_visible_to_sqlite(db, loaded):
    text = "\n".join(_statements(_dump_path(db).read_text(encoding="utf-8")))
    declared = len(re.findall(r"\bREFERENCES\b", text, re.IGNORECASE))
    conn = loaded[db]
    found = sum(len(conn.execute(f'PRAGMA foreign_key_list("{t}")').fetchall()) for t in _tables(conn))
    assert found == declared


def test_foreign_keys_point_at_unqualified_tables(loaded):
    sales = {(r[3], r[2], r[4]) for r in loaded["car_dealership"].execute("PRAGMA foreign_key_list(sales)")}
    assert sales == {("car_id", "cars", "id"), ("salesperson_id", "salespersons", "id"), ("customer_id", "customers", "id")}
    # consumer_div.merchants(mid) in the source: the schema qualifier is dropped.
    coupons = loaded["ewallet"].execute("PRAGMA foreign_key_list(coupons)").fetchall()
    assert [(r[2], r[3], r[4]) for r in coupons] == [("merchants", "merchant_id", "mid")]


def test_serial_primary_keys_become_integer_primary_keys(loaded):
    info = {r[1]: r for r in loaded["car_dealership"].execute("PRAGMA table_info(cars)")}
    assert info["id"][2] == "INTEGER" and info["id"][5] == 1
    conn = sqlite_from_file(_dump_path("car_dealership"))
    conn.execute(
        "INSERT INTO cars (make, model, year, color, vin_number, engine_type, transmission, cost) "
        "VALUES ('Kia', 'Rio', 2024, 'red', 'VIN-NEW', 'I4', 'Manual', 1.0)"
    )
    new_id, created = conn.execute("SELECT id, crtd_ts FROM cars WHERE vin_number = 'VIN-NEW'").fetchone()
    assert new_id == conn.execute("SELECT MAX(id) FROM cars").fetchone()[0] == 22
    assert created == REFERENCE_NOW  # DEFAULT NOW() is pinned too


def test_booleans_are_one_and_zero(loaded):
    values = {r[0] for r in loaded["derm_treatment"].execute("SELECT is_placebo FROM treatments")}
    assert values == {0, 1}


def test_now_is_pinned_and_dates_are_iso_text(loaded):
    broker = loaded["broker"]
    tx_time, settled = broker.execute(
        "SELECT sbTxDateTime, sbTxSettlementDateStr FROM sbTransaction WHERE sbTxId = 'TX032'"
    ).fetchone()
    eight_days_ago = PINNED - timedelta(days=8)  # NOW() - INTERVAL '8 days'
    assert tx_time == eight_days_ago.strftime("%Y-%m-%d %H:%M:%S") == "2025-01-22 12:00:00"
    assert settled == eight_days_ago.strftime("%Y%m%d %H:%M:%S")  # TO_CHAR(..., '%Y%m%d %H:%i:%s')
    # DATE_TRUNC('month', CURRENT_DATE) - INTERVAL '5 months' into a DATE column
    assert broker.execute("SELECT sbCustJoinDate FROM sbCustomer WHERE sbCustId = 'C015'").fetchone()[0] == "2024-08-01"
    # CURRENT_DATE - INTERVAL '8 days' (a DATE column) and EXTRACT(EPOCH FROM ...) * 1000 (a BIGINT column)
    day, epoch_ms = broker.execute(
        "SELECT sbDpDate, sbDpEpochMs FROM sbDailyPrice WHERE sbDpTickerId = 'T019' ORDER BY sbDpDate LIMIT 1"
    ).fetchone()
    assert day == "2025-01-22"
    assert epoch_ms == int((eight_days_ago - datetime(1970, 1, 1)).total_seconds()) * 1000
    # EXTRACT(YEAR FROM CURRENT_DATE) - 2 into an INT column
    assert loaded["derm_treatment"].execute("SELECT year_reg FROM doctors WHERE doc_id = 1").fetchone()[0] == 2023
    # DATE_TRUNC('week', CURRENT_TIMESTAMP) - INTERVAL '1 week': 2025-01-30 is a Thursday
    created = loaded["ewallet"].execute("SELECT created_at FROM notifications WHERE id = 13").fetchone()[0]
    assert created == "2025-01-20 00:00:00"
    assert broker.execute("SELECT date(?) = substr(?, 1, 10)", (tx_time, tx_time)).fetchone()[0] == 1


def test_two_loads_are_identical_and_now_is_a_parameter():
    path = _dump_path("broker")
    first = "\n".join(sqlite_from_file(path).iterdump())
    second = "\n".join(sqlite_from_file(path).iterdump())
    assert first == second
    later = sqlite_from_file(path, now="2026-06-15 08:30:00")
    assert later.execute("SELECT sbTxDateTime FROM sbTransaction WHERE sbTxId = 'TX032'").fetchone()[0] == "2026-06-07 08:30:00"


# ---------------------------------------------------------------------------------------------
# Inline snippets
# ---------------------------------------------------------------------------------------------

SNIPPET = """
CREATE SCHEMA IF NOT EXISTS shop;
SET search_path = shop;
CREATE TABLE shop.customers (
  id SERIAL PRIMARY KEY,
  name varchar(50) NOT NULL,
  active boolean NOT NULL DEFAULT true,
  joined timestamp NOT NULL DEFAULT NOW(),
  credit bigint DEFAULT '0'::bigint
);
CREATE TABLE shop.orders (
  id BIGSERIAL PRIMARY KEY,
  customer_id INT NOT NULL REFERENCES shop.customers(id),
  due date,
  placed timestamp,
  amount numeric(10,2),
  paid boolean
);
INSERT INTO shop.customers (name, active) VALUES ('Ann', true), ('O''Brien', FALSE);
INSERT INTO shop.orders (customer_id, due, placed, amount, paid) VALUES
  (1, CURRENT_DATE - INTERVAL '5 days', NOW() - INTERVAL '1 day 2 hours', '12.345'::numeric(10,2), 't'::boolean),
  (2, '2024-02-29'::date + 1, LOCALTIMESTAMP, 7 / 2, false);
CREATE VIEW shop.late AS
  SELECT id, due + INTERVAL '1 month' AS next_due FROM shop.orders WHERE due < CURRENT_DATE;
"""


def test_inline_postgres_snippet_round_trips():
    statements = to_sqlite_statements(SNIPPET, source="snippet.sql")
    text = "\n".join(statements)
    for postgres_only in ("SERIAL", "INTERVAL", "::", "NOW()", "CURRENT_DATE", "TRUE", "shop.", "SCHEMA", "SET "):
        assert postgres_only not in text.upper() if postgres_only.isupper() else postgres_only not in text
    conn = sqlite3.connect(":memory:")
    load_into(conn, SNIPPET, source="snippet.sql")
    assert conn.execute("SELECT id, name, active, joined, credit FROM customers ORDER BY id").fetchall() == [
        (1, "Ann", 1, REFERENCE_NOW, 0),
        (2, "O'Brien", 0, REFERENCE_NOW, 0),
    ]
    assert conn.execute("SELECT id, due, placed, amount, paid FROM orders ORDER BY id").fetchall() == [
        (1, "2025-01-25", "2025-01-29 10:00:00", 12.35, 1),
        (2, "2024-03-01", REFERENCE_NOW, 3.0, 0),  # 7 / 2 is integer division, as in PostgreSQL
    ]
    assert conn.execute("SELECT * FROM late ORDER BY id").fetchall() == [
        (1, "2025-02-25 00:00:00"), (2, "2024-04-01 00:00:00"),
    ]
    assert [(r[2], r[3], r[4]) for r in conn.execute("PRAGMA foreign_key_list(orders)")] == [("customers", "customer_id", "id")]


def test_constant_time_expressions_fold_in_queries():
    [select] = to_sqlite_statements(
        "SELECT NOW() - INTERVAL '5 days', CURRENT_DATE, EXTRACT(EPOCH FROM TIMESTAMP '2025-01-01 00:00:00'), "
        "TO_CHAR(NOW(), 'YYYY-MM-DD'), DATE_TRUNC('month', NOW()) + INTERVAL '1 month' - INTERVAL '1 day'"
    )
    row = sqlite3.connect(":memory:").execute(select).fetchone()
    assert row == ("2025-01-25 12:00:00", "2025-01-30", 1735689600, "2025-01-30", "2025-01-31 00:00:00")


def test_other_dialects_and_sqlite_input():
    conn = sqlite3.connect(":memory:")
    load_into(conn, "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');", dialect="sqlite")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (2,)
    [statement] = to_sqlite_statements("SELECT DATE_ADD(CURDATE(), INTERVAL 3 DAY)", dialect="mysql")
    assert sqlite3.connect(":memory:").execute(statement).fetchone()[0].startswith("2025-02-02")


def test_a_mysqldump_file_loads_with_its_keys_indexes_and_escapes():
    """A file laid out as ``mysqldump`` writes it: versioned comments, LOCK TABLES, backquotes, inline KEYs,
    ENGINE/CHARSET table options, AUTO_INCREMENT, INT UNSIGNED, ENUM, extended INSERTs with backslash escapes."""
    conn = sqlite3.connect(":memory:")
    load_file(conn, Path(__file__).parent / "data" / "shop_mysqldump.sql", dialect="mysql")
    assert conn.execute("SELECT name FROM customer ORDER BY id").fetchall() == [
        ("Ann O'Neil",), ("Bo",), ('Cy "C"',), ("Di",)]
    assert conn.execute('SELECT note FROM "order" ORDER BY id').fetchall() == [
        ("first\nline",), (None,), ("back\\slash",), ("",)]
    assert conn.execute('SELECT SUM(total), COUNT(DISTINCT status) FROM "order"').fetchone() == (152.74, 3)
    assert conn.execute('PRAGMA foreign_key_list("order")').fetchone()[2:5] == ("customer", "customer_id", "id")
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert indexes == {"customer_idx_city", "order_fk_customer"}
    # the inline UNIQUE KEY is a real constraint; the id columns are INTEGER PRIMARY KEYs (rowid aliases)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO customer (name) VALUES ('Bo')")
    conn.execute('INSERT INTO "order" (customer_id, total) VALUES (2, 1.5)')
    assert conn.execute('SELECT id, status FROM "order" WHERE total = 1.5').fetchone() == (5, "new")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_malformed_statement_names_file_and_statement(tmp_path):
    path = tmp_path / "bad.sql"
    path.write_text("CREATE TABLE t (a int);\n\nINSERT INTO t VALUES (1,;\n", encoding="utf-8")
    with pytest.raises(TranspileError, match=r"bad\.sql: statement 2 \(line 3\) `INSERT INTO t VALUES \(1,`.*Fix"):
        load_file(sqlite3.connect(":memory:"), path)


def test_sqlite_failure_names_the_statement_and_rolls_back():
    conn = sqlite3.connect(":memory:")
    sql = "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\nINSERT INTO missing VALUES (2);"
    with pytest.raises(TranspileError, match=r"x\.sql: statement 3 \(line 3\) failed in SQLite: no such table: missing"):
        load_into(conn, sql, source="x.sql")
    assert _tables(conn) == []  # one transaction: nothing half-loaded


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT 'unterminated", "cannot tokenize"),
        ("ALTER TABLE ONLY public.a ADD CONSTRAINT a_pk PRIMARY KEY (id);", "declare the PRIMARY KEY"),
        ("SELECT INTERVAL '5 days';", "no INTERVAL type"),
    ],
)
def test_unsupported_input_says_what_to_fix(sql, message):
    with pytest.raises(TranspileError, match=message):
        to_sqlite_statements(sql, source="in.sql")


def test_bad_arguments_are_clear():
    with pytest.raises(TranspileError, match="unknown SQL dialect"):
        to_sqlite_statements("SELECT 1", dialect="no-such-dialect")
    with pytest.raises(TranspileError, match="not an ISO date"):
        to_sqlite_statements("SELECT 1", now="yesterday")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a)")
    conn.execute("INSERT INTO t VALUES (1)")  # opens a transaction
    with pytest.raises(TranspileError, match="open transaction"):
        load_into(conn, "SELECT 1")
