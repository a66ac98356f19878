"""Tests for the bug injector in env_server.tasks.bugs (no network, in-memory SQLite)."""
from __future__ import annotations

import random
import sqlite3

import pytest
import sqlglot
from sqlglot import exp

from env_server.core.schema import SchemaInfo, introspect
from env_server.tasks.bugs import BUG_DESCRIPTIONS, BUG_TYPES, applicable, inject
from env_server.core.domains import DOMAINS, populate

SEEDS = range(5)


@pytest.fixture(scope="module")
def dbs() -> dict[str, tuple[sqlite3.Connection, SchemaInfo]]:
    out = {}
    for name in ("ecommerce", "hr", "logistics"):
        conn = sqlite3.connect(":memory:")
        populate(conn, DOMAINS[name], 0)
        out[name] = (conn, introspect(conn))
    return out


def rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return sorted(conn.execute(sql).fetchall(), key=repr)


def breaks(conn: sqlite3.Connection, gold: str, broken: str) -> bool:
    """True if ``broken`` errors in SQLite or returns different rows from ``gold``."""
    try:
        got = rows(conn, broken)
    except sqlite3.Error:
        return True
    return got != rows(conn, gold)


def normalised(sql: str) -> str:
    return sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite")


REVENUE = ("SELECT u.country, COUNT(*) AS n_orders, ROUND(SUM(o.total_amount), 2) AS revenue FROM orders AS o "
           "JOIN users AS u ON o.user_id = u.id WHERE o.status = 'completed' GROUP BY u.country HAVING COUNT(*) >= 5 "
           "ORDER BY revenue DESC, u.country LIMIT 5")
AVG_UNITS = ("SELECT p.category, ROUND(CAST(SUM(oi.quantity) AS REAL) / COUNT(DISTINCT oi.order_id), 2) AS avg_units "
             "FROM order_items AS oi JOIN products AS p ON oi.product_id = p.id GROUP BY p.category")
NO_ORDERS = "SELECT u.id, u.email FROM users AS u LEFT JOIN orders AS o ON o.user_id = u.id WHERE o.id IS NULL"
Q3 = "SELECT COUNT(*) FROM orders WHERE order_date >= '2024-07-01' AND order_date < '2024-10-01'"
SPEND = ("WITH spend AS (SELECT user_id, SUM(total_amount) AS total FROM orders GROUP BY user_id) "
         "SELECT u.name, s.total FROM spend AS s JOIN users AS u ON u.id = s.user_id "
         "WHERE s.total > (SELECT AVG(total) FROM spend) ORDER BY s.total DESC, u.name LIMIT 10")
RANKED = ("SELECT name, salary, RANK() OVER (PARTITION BY department_id ORDER BY salary DESC) AS rnk "
          "FROM employees WHERE salary IS NOT NULL")
REFUNDED = ("SELECT DISTINCT u.country FROM users AS u JOIN orders AS o ON o.user_id = u.id "
            "WHERE o.status = 'refunded'")
CANCEL_PCT = ("SELECT strftime('%Y-%m', order_date) AS month, ROUND(100.0 * SUM(CASE WHEN status = 'cancelled' "
              "THEN 1 ELSE 0 END) / COUNT(*), 2) AS cancel_pct FROM orders GROUP BY month ORDER BY month")
UNITS = ("SELECT p.category, SUM(oi.quantity) AS units FROM order_items AS oi JOIN products AS p "
         "ON oi.product_id = p.id GROUP BY p.category")
DEPT_TITLE = ("SELECT d.name, e.title, COUNT(*) AS n FROM employees AS e JOIN departments AS d "
              "ON e.department_id = d.id WHERE e.hire_date >= '2020-01-01' GROUP BY d.name, e.title")
BIG_ORDERS = "SELECT status, COUNT(*) AS n FROM orders WHERE total_amount > 100 GROUP BY status"
AGE_FRAC = ("SELECT d.name, ROUND(SUM(CASE WHEN e.age IS NULL THEN 1 ELSE 0 END) * 1.0 / COUNT(*), 3) AS frac "
            "FROM employees AS e JOIN departments AS d ON d.id = e.department_id GROUP BY d.name")
PROJECTS = "SELECT p.name, d.name AS dept FROM projects AS p JOIN departments AS d ON p.department_id = d.id"
HEADCOUNT = ("SELECT d.id, d.name, COUNT(e.id) AS headcount FROM departments AS d "
             "LEFT JOIN employees AS e ON e.department_id = d.id GROUP BY d.id, d.name")
MARCH = "SELECT COUNT(*) FROM events WHERE event_time BETWEEN '2024-03-01 00:00:00' AND '2024-03-31 23:59:59'"
PLAIN = "SELECT name, price FROM products WHERE category = 'Books'"

SAMPLES: list[tuple[str, str]] = [
    ("ecommerce", q)
    for q in (REVENUE, AVG_UNITS, NO_ORDERS, Q3, SPEND, REFUNDED, CANCEL_PCT, UNITS, BIG_ORDERS, MARCH, PLAIN)
] + [("hr", q) for q in (RANKED, DEPT_TITLE, AGE_FRAC, PROJECTS, HEADCOUNT)]

# (bug type, domain, gold): with rng seed 1 the injected bug changes the result or makes SQLite fail.
BREAKING = [
    ("keyword_typo", "ecommerce", REVENUE),
    ("wrong_column", "ecommerce", REVENUE),
    ("wrong_table", "ecommerce", "SELECT COUNT(*) FROM orders WHERE user_id IS NOT NULL"),
    ("missing_join_condition", "ecommerce", AVG_UNITS),
    ("left_vs_inner", "ecommerce", NO_ORDERS),
    ("wrong_aggregate", "ecommerce", UNITS),
    ("missing_group_by_column", "hr", DEPT_TITLE),
    ("where_vs_having", "ecommerce", REVENUE),
    ("where_vs_having", "ecommerce", BIG_ORDERS),
    ("eq_null", "hr", RANKED),
    ("eq_null", "ecommerce", NO_ORDERS),
    ("integer_division", "ecommerce", CANCEL_PCT),
    ("integer_division", "ecommerce", AVG_UNITS),
    ("integer_division", "hr", AGE_FRAC),
    ("off_by_one_date", "ecommerce", Q3),
    ("off_by_one_date", "ecommerce", MARCH),
    ("wrong_order", "ecommerce", SPEND),
    ("missing_distinct", "ecommerce", REFUNDED),
    ("alias_misuse", "hr", PROJECTS),
    ("alias_misuse", "hr", HEADCOUNT),
]


def test_public_constants():
    assert BUG_TYPES == (
        "keyword_typo", "wrong_column", "wrong_table", "missing_join_condition", "left_vs_inner",
        "wrong_aggregate", "missing_group_by_column", "where_vs_having", "eq_null", "integer_division",
        "off_by_one_date", "wrong_order", "missing_distinct", "alias_misuse",
    )
    assert tuple(BUG_DESCRIPTIONS) == BUG_TYPES
    assert all(isinstance(d, str) and d.endswith(".") for d in BUG_DESCRIPTIONS.values())
    with pytest.raises(TypeError):
        BUG_DESCRIPTIONS["keyword_typo"] = "x"  # type: ignore[index]


def test_every_type_has_a_breaking_case():
    assert {case[0] for case in BREAKING} == set(BUG_TYPES)


@pytest.mark.parametrize("bug_type,domain,gold", BREAKING)
def test_injected_bug_breaks_the_query(dbs, bug_type, domain, gold):
    conn, schema = dbs[domain]
    rows(conn, gold)  # the gold itself runs
    broken = inject(gold, bug_type, schema, random.Random(1))
    assert broken is not None
    assert broken != gold and broken.strip() != normalised(gold)
    assert breaks(conn, gold, broken), broken


@pytest.mark.parametrize("domain,gold", SAMPLES)
def test_keyword_typo_is_always_a_syntax_error(dbs, domain, gold):
    conn, schema = dbs[domain]
    for seed in SEEDS:
        broken = inject(gold, "keyword_typo", schema, random.Random(seed))
        assert broken is not None
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            conn.execute(broken)


def test_keyword_typo_leaves_strings_and_identifiers_alone(dbs):
    _, schema = dbs["logistics"]
    gold = ("SELECT 'FROM' AS label, dropoff_at, \"status\" FROM shipments "
            "WHERE status = 'select where group by' AND dropoff_at IS NOT NULL ORDER BY dropoff_at")
    outs = {inject(gold, "keyword_typo", schema, random.Random(seed)) for seed in range(40)}
    assert len(outs) > 3
    for out in outs:
        assert out.count("'FROM'") == 1 and "'select where group by'" in out
        assert out.count("dropoff_at") == 3 and '"status"' in out
        assert len(out) in (len(gold), len(gold) - 1, len(gold) + 1)  # one keyword misspelled in place


def test_roundtrip_through_sqlglot_keeps_results(dbs):
    """Every non-typo bug re-renders the AST, so rendering alone must not change a gold's rows."""
    for domain, gold in SAMPLES:
        conn, _ = dbs[domain]
        assert rows(conn, normalised(gold)) == rows(conn, gold), gold


@pytest.mark.parametrize("domain,gold", SAMPLES)
def test_applicable_agrees_with_inject(dbs, domain, gold):
    _, schema = dbs[domain]
    types = applicable(gold, schema)
    assert types == [t for t in BUG_TYPES if t in types]  # in BUG_TYPES order
    for bug_type in BUG_TYPES:
        for seed in SEEDS:
            out = inject(gold, bug_type, schema, random.Random(seed))
            assert (out is not None) == (bug_type in types), (bug_type, seed)
            if out is not None:
                assert out != gold and out != normalised(gold)
                if bug_type != "keyword_typo":
                    sqlglot.parse_one(out, read="sqlite")  # still one parseable statement


@pytest.mark.parametrize("domain,gold", SAMPLES)
def test_deterministic(dbs, domain, gold):
    _, schema = dbs[domain]
    for bug_type in applicable(gold, schema):
        for seed in SEEDS:
            a = inject(gold, bug_type, schema, random.Random(seed))
            b = inject(gold, bug_type, schema, random.Random(seed))
            assert a == b


@pytest.mark.parametrize("bug_type,gold", [
    ("missing_distinct", PLAIN),
    ("missing_distinct", REVENUE),
    ("eq_null", PLAIN),
    ("integer_division", REVENUE),
    ("integer_division", "SELECT SUM(total_amount) / COUNT(*) FROM orders"),
    ("off_by_one_date", PLAIN),
    ("where_vs_having", PLAIN),
    ("missing_join_condition", PLAIN),
    ("left_vs_inner", Q3),
    ("alias_misuse", PLAIN),
    ("alias_misuse", "SELECT o.id FROM orders AS o WHERE o.total_amount > 10"),
    ("missing_group_by_column", "SELECT status, COUNT(*) AS n FROM orders GROUP BY status"),
    ("missing_group_by_column", PLAIN),
    ("wrong_aggregate", PLAIN),
    ("wrong_order", PLAIN),
])
def test_no_site_returns_none(dbs, bug_type, gold):
    _, schema = dbs["ecommerce"]
    assert inject(gold, bug_type, schema, random.Random(0)) is None
    assert bug_type not in applicable(gold, schema)


def test_unparseable_or_multiple_statements_give_none(dbs):
    _, schema = dbs["ecommerce"]
    for sql in ("", "SELECT 1; SELECT 2", "SELECT FROM WHERE ((("):
        assert applicable(sql, schema) == []
        assert inject(sql, "keyword_typo", schema, random.Random(0)) is None


def test_unknown_type_raises(dbs):
    _, schema = dbs["ecommerce"]
    with pytest.raises(ValueError, match="wrong_column"):
        inject(PLAIN, "no_such_bug", schema, random.Random(0))


def test_shapes_of_specific_bugs(dbs):
    _, ecom = dbs["ecommerce"]
    _, hr = dbs["hr"]
    rng = random.Random(0)
    assert inject(RANKED, "eq_null", hr, rng).endswith("WHERE salary <> NULL")
    assert inject(NO_ORDERS, "eq_null", ecom, rng).endswith("WHERE o.id = NULL")
    assert "ROUND(100 * SUM(" in inject(CANCEL_PCT, "integer_division", ecom, rng)
    assert "ROUND(SUM(oi.quantity) / COUNT(" in inject(AVG_UNITS, "integer_division", ecom, rng)
    assert "END) / COUNT(*)" in inject(AGE_FRAC, "integer_division", hr, rng)
    assert inject(REFUNDED, "missing_distinct", ecom, rng).startswith("SELECT u.country FROM")
    assert "COUNT(oi.order_id)" in inject(AVG_UNITS, "missing_distinct", ecom, rng)
    # the only other table with user_id is events, so the query still runs
    assert inject("SELECT COUNT(*) FROM orders WHERE user_id IS NOT NULL", "wrong_table", ecom, rng) == \
        "SELECT COUNT(*) FROM events WHERE NOT user_id IS NULL"
    # LEFT JOIN -> JOIN, inner JOIN -> LEFT JOIN
    assert " FROM users AS u JOIN orders AS o ON" in inject(NO_ORDERS, "left_vs_inner", ecom, rng)
    assert " LEFT JOIN products AS p ON" in inject(AVG_UNITS, "left_vs_inner", ecom, rng)
    # HAVING moved into WHERE is an aggregate misuse
    out = inject(REVENUE, "where_vs_having", ecom, rng)
    assert "HAVING" not in out.upper().split("WHERE")[1]
    tree = sqlglot.parse_one(out, read="sqlite")
    assert tree.args.get("having") is None and tree.args["where"].find(exp.Count)
    # WHERE moved into HAVING
    tree = sqlglot.parse_one(inject(BIG_ORDERS, "where_vs_having", ecom, rng), read="sqlite")
    assert tree.args.get("where") is None and tree.args["having"].find(exp.GT)


def test_join_condition_dropped(dbs):
    conn, schema = dbs["ecommerce"]
    for gold in (AVG_UNITS, NO_ORDERS):
        out = inject(gold, "missing_join_condition", schema, random.Random(0))
        join = sqlglot.parse_one(out, read="sqlite").find(exp.Join)
        assert join is not None and join.args.get("on") in (None, exp.true())
        conn.execute(out).fetchall()  # a valid (cartesian) SQLite join


def test_off_by_one_date_sites(dbs):
    _, schema = dbs["ecommerce"]
    outs = {inject(Q3, "off_by_one_date", schema, random.Random(seed)) for seed in range(60)}
    assert "SELECT COUNT(*) FROM orders WHERE order_date > '2024-07-01' AND order_date < '2024-10-01'" in outs
    assert "SELECT COUNT(*) FROM orders WHERE order_date >= '2024-07-01' AND order_date <= '2024-10-01'" in outs
    assert "SELECT COUNT(*) FROM orders WHERE order_date >= '2024-06-30' AND order_date < '2024-10-01'" in outs
    assert "SELECT COUNT(*) FROM orders WHERE order_date >= '2024-07-01' AND order_date < '2024-11-01'" in outs
    march = {inject(MARCH, "off_by_one_date", schema, random.Random(seed)) for seed in range(60)}
    assert any("'2024-04-01 23:59:59'" in out for out in march)


def test_wrong_order_sites(dbs):
    _, schema = dbs["ecommerce"]
    outs = {inject(SPEND, "wrong_order", schema, random.Random(seed)) for seed in range(40)}
    assert any(out.endswith("ORDER BY s.total ASC, u.name LIMIT 10") for out in outs)
    assert any(out.endswith("LIMIT 11") for out in outs) and any(out.endswith("LIMIT 9") for out in outs)
    one = inject("SELECT id FROM orders ORDER BY id LIMIT 1", "wrong_order", schema, random.Random(0))
    assert one is not None and "LIMIT 0" not in one


def test_wrong_column_keeps_table_and_affinity(dbs):
    _, schema = dbs["ecommerce"]
    users = set(schema.table("users").column_names)
    for seed in range(20):
        out = inject(REFUNDED, "wrong_column", schema, random.Random(seed))
        tree = sqlglot.parse_one(out, read="sqlite")
        projected = tree.expressions[0]
        if projected.name != "country":  # u.country replaced: by another TEXT column of users
            assert projected.table == "u" and projected.name in users
            assert schema.table("users").column(projected.name).type == "TEXT"


def test_alias_misuse_prefers_alias_with_that_column(dbs):
    conn, schema = dbs["hr"]
    out = inject("SELECT d.name FROM projects AS p JOIN departments AS d ON p.department_id = d.id",
                 "alias_misuse", schema, random.Random(0))
    # d.name -> p.name (projects has a name too) still runs; d.id -> p.id as well; p.department_id has no
    # counterpart in departments, so that site becomes an error
    assert out in (
        "SELECT p.name FROM projects AS p JOIN departments AS d ON p.department_id = d.id",
        "SELECT d.name FROM projects AS p JOIN departments AS d ON d.department_id = d.id",
        "SELECT d.name FROM projects AS p JOIN departments AS d ON p.department_id = p.id",
    )
