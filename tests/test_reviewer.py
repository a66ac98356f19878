"""The SQL reviewer: every finding code, the verdict rule, the labelled corpus, the LLM path."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from env_server.core.databases import Databases
from env_server.core.sandbox import execute
from env_server.episode.reviewer import (
    DEFAULT_SEVERITY,
    FAMILIES,
    SQLITE_FUNCTIONS,
    Finding,
    LLMReviewer,
    Review,
    ReviewConfig,
    StaticReviewer,
    make_reviewer,
)
from env_server.tasks.spec import DbSpec

CORPUS = Path(__file__).parent / "data" / "reviewer_cases.jsonl"


@pytest.fixture(scope="module")
def databases() -> Databases:
    from env_server.ingest.transpile import load_file

    return Databases(load_dump=load_file)  # the defog tasks are SQL dumps


@pytest.fixture(scope="module")
def schemas(databases):
    cache = {}

    def get(domain: str):
        if domain not in cache:
            cache[domain] = databases.schema(DbSpec(domain=domain, seed=0))
        return cache[domain]

    return get


@pytest.fixture(scope="module")
def shop(schemas):
    return schemas("ecommerce")


@pytest.fixture(scope="module")
def reviewer() -> StaticReviewer:
    return StaticReviewer()


def codes(review: Review) -> list[str]:
    return [f.code for f in review.findings]


def finding(review: Review, code: str) -> Finding:
    return next(f for f in review.findings if f.code == code)


# ---------------------------------------------------------------------------------------------
# One test per finding code: a positive and a negative example
# ---------------------------------------------------------------------------------------------


def test_parse_error_reports_line_column_and_position(reviewer, shop):
    sql = "SELECT id,\n  name FROM users WHERE"
    review = reviewer.review(sql, schema=shop)
    f = finding(review, "parse_error")
    assert review.verdict == "block" and f.severity == "error"
    assert "line 2" in f.message and "column" in f.message
    assert f.position == sql.index("WHERE")
    # a comment splitting a keyword is a syntax error, not a hidden DELETE
    split = reviewer.review("DEL/**/ETE FROM orders", schema=shop)
    assert codes(split) == ["parse_error"] and split.verdict == "block"
    # tokenizer errors (unterminated string) carry a position too
    unterminated = reviewer.review("SELECT 1,\n 'abc", schema=shop)
    assert finding(unterminated, "parse_error").position == 11
    assert reviewer.review("  -- only a comment\n;", schema=shop).verdict == "block"
    assert "parse_error" not in codes(reviewer.review("SELECT id, name FROM users WHERE id = 1", schema=shop))


def test_multiple_statements(reviewer, shop):
    review = reviewer.review("SELECT 1; SELECT 2", schema=shop)
    f = finding(review, "multiple_statements")
    assert review.verdict == "block" and f.position == 10
    both = reviewer.review("SELECT 1; DROP TABLE users", schema=shop)
    assert {"multiple_statements", "drop_or_alter"} <= set(codes(both))
    for one in ("SELECT 1;", "SELECT 1; -- DROP TABLE users", "SELECT 1 /* ; DROP TABLE users */", "SELECT ';'"):
        assert "multiple_statements" not in codes(reviewer.review(one, schema=shop)), one


@pytest.mark.parametrize(
    "sql,family",
    [
        ("dElEtE FROM orders WHERE id = 1", "debug"),
        ("WITH x AS (SELECT id FROM users) DELETE FROM orders WHERE user_id IN (SELECT id FROM x)", "analyst"),
        ("WITH x AS (DELETE FROM users RETURNING id) SELECT * FROM x", "repair"),
        ("INSERT INTO products (name, category, price) VALUES ('a', 'b', 1)", "grounded"),
        ("UPDATE orders SET status = 'x' WHERE id = 1", "debug"),
        ("REPLACE INTO products (id, name) VALUES (1, 'x')", "repair"),
        ("INSERT OR REPLACE INTO products (id, name) VALUES (1, 'x')", "repair"),
        ("CREATE TABLE copy AS SELECT id FROM users", "analyst"),
        ("CREATE INDEX i ON orders(user_id)", "repair"),
        ("CREATE TRIGGER t AFTER INSERT ON orders BEGIN SELECT 1; END", "repair"),
        ("DELETE FROM orders WHERE id = 1", "no_such_family"),
    ],
)
def test_write_not_allowed(reviewer, shop, sql, family):
    review = reviewer.review(sql, family, shop)
    assert "write_not_allowed" in codes(review) and review.verdict == "block", review


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE orders SET status = 'cancelled' WHERE id = 17",
        "DELETE FROM events WHERE event_time IS NULL",
        "INSERT INTO products (name, category, price) VALUES ('w', 't', 1.0)",
        "CREATE TABLE backup AS SELECT id, status FROM orders",
        "CREATE TEMP TABLE scratch AS SELECT id FROM orders",
        "CREATE VIEW paid AS SELECT id FROM orders WHERE status = 'paid'",
        "WITH x AS (SELECT id FROM users WHERE plan = 'free') DELETE FROM orders WHERE user_id IN (SELECT id FROM x)",
        "INSERT INTO products (id, name, category, price) VALUES (1, 'a', 'b', 1) ON CONFLICT(id) DO UPDATE SET price = excluded.price",
    ],
)
def test_repair_writes_are_allowed(reviewer, shop, sql):
    review = reviewer.review(sql, "repair", shop)
    assert review.verdict == "allow", review
    # ... and the same statements are refused in read-only families
    assert "write_not_allowed" in codes(reviewer.review(sql, "debug", shop))


def test_write_words_in_literals_comments_and_names_are_not_writes(reviewer, schemas):
    shop, logistics = schemas("ecommerce"), schemas("logistics")
    for sql in (
        "SELECT 'DROP TABLE users' AS note FROM users",
        "-- DELETE FROM orders\nSELECT id FROM orders",
        "SELECT id AS \"delete\", status AS deleted_flag FROM orders",
        "SELECT \"update\".id FROM orders AS \"update\"",
        "SELECT event_type FROM events WHERE event_type IN ('insert', 'update', 'delete')",
    ):
        assert reviewer.review(sql, "debug", shop).verdict == "allow", sql
    assert reviewer.review("SELECT dropoff_at FROM shipments WHERE dropoff_at IS NOT NULL", "debug", logistics).verdict == "allow"


def test_drop_or_alter(reviewer, schemas):
    shop, logistics = schemas("ecommerce"), schemas("logistics")
    for sql in ("DROP TABLE order_items", "DROP VIEW IF EXISTS v", "ALTER TABLE users ADD COLUMN x INTEGER", "drop table users"):
        for family in ("repair", "debug"):
            review = reviewer.review(sql, family, shop)
            assert codes(review) == ["drop_or_alter"] and review.verdict == "block", (sql, family)
    assert reviewer.review("SELECT id, dropoff_at AS drop_time FROM shipments LIMIT 5", "repair", logistics).verdict == "allow"


def test_update_delete_without_where(reviewer, shop):
    for sql in ("UPDATE users SET plan = 'free'", "DELETE FROM orders", "DELETE FROM orders WHERE 1 = 1",
                "UPDATE users SET plan = 'x' WHERE 1", "DELETE FROM orders WHERE id > 0 OR 1 = 1"):
        review = reviewer.review(sql, "repair", shop)
        assert codes(review) == ["update_delete_without_where"] and review.verdict == "block", sql
    for sql in ("UPDATE users SET plan = 'free' WHERE id = 3", "DELETE FROM orders WHERE status = 'x' OR total_amount < 0"):
        assert reviewer.review(sql, "repair", shop).verdict == "allow", sql


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM users, orders",
        "SELECT u.name, o.id FROM users u JOIN orders o",
        "SELECT u.name, p.name FROM users u CROSS JOIN products p",
        "SELECT COUNT(*) FROM users u, orders o WHERE u.country = 'US'",
        "SELECT a.id FROM users a JOIN orders b ON 1 = 1",
        "SELECT * FROM users u JOIN orders o ON u.id = u.id",
        "SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id, products p",
        "SELECT id FROM users WHERE id IN (SELECT user_id FROM orders, order_items)",
    ],
)
def test_cartesian_join(reviewer, shop, sql):
    review = reviewer.review(sql, "analyst", shop)
    assert "cartesian_join" in codes(review) and review.verdict == "block", review


def test_cartesian_join_message_suggests_the_foreign_key(reviewer, shop):
    message = finding(reviewer.review("SELECT * FROM users u, orders o", schema=shop), "cartesian_join").message
    assert "o.user_id = u.id" in message and "221,108" in message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT p.name FROM products p, order_items oi WHERE oi.product_id = p.id",
        "SELECT o.id FROM orders o CROSS JOIN (SELECT AVG(total_amount) AS a FROM orders) s WHERE o.total_amount > s.a",
        "WITH m AS (SELECT MAX(order_date) AS d FROM orders) SELECT o.id FROM orders o, m WHERE o.order_date = m.d",
        "SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id JOIN order_items i ON i.order_id = o.id",
        "SELECT x FROM (SELECT 1 AS x) a, users",
        "SELECT value FROM users u, json_each(u.email)",
        "SELECT u.name FROM users u, orders o WHERE u.id = o.user_id OR o.user_id IS NULL",
        "SELECT * FROM orders o JOIN order_items i USING (id)",
        "SELECT * FROM orders NATURAL JOIN order_items",
    ],
)
def test_linked_joins_are_not_cartesian(reviewer, shop, sql):
    assert "cartesian_join" not in codes(reviewer.review(sql, "analyst", shop)), sql


def test_unknown_table(reviewer, shop):
    review = reviewer.review("SELECT * FROM customer", schema=shop)
    f = finding(review, "unknown_table")
    assert review.verdict == "block" and f.position == 14
    assert reviewer.review("SELECT name FROM user", schema=shop).findings[0].message.count("users") >= 1
    assert "unknown_table" in codes(reviewer.review("SELECT * FROM aux.users", schema=shop))
    assert "unknown_table" in codes(reviewer.review("INSERT INTO order_lines (x) VALUES (1)", "repair", shop))
    for sql in (
        "WITH customer AS (SELECT id FROM users) SELECT id FROM customer",
        "SELECT name FROM sqlite_master WHERE type = 'table'",
        "SELECT * FROM main.users LIMIT 1",
        "CREATE TABLE brand_new AS SELECT id FROM users",
    ):
        assert "unknown_table" not in codes(reviewer.review(sql, "repair", shop)), sql
    # without a schema the schema checks are skipped
    assert reviewer.review("SELECT * FROM customer").verdict == "allow"


@pytest.mark.parametrize("name", ['"user\u017f"', '"u\ufb06ers"', '"\uff55sers"', '"us\u200bers"', '"users "'])
def test_a_look_alike_name_is_not_the_table_it_looks_like(reviewer, shop, name):
    """Names resolve as SQLite resolves them (ASCII case only): a look-alike of ``users`` is an unknown table,
    and ``USERS`` is ``users``."""
    assert "unknown_table" in codes(reviewer.review(f"SELECT id FROM {name}", schema=shop))
    assert "unknown_table" not in codes(reviewer.review("SELECT ID FROM USERS", schema=shop))


def test_a_kelvin_sign_name_is_not_the_table_python_lower_would_make_it(reviewer):
    import sqlite3

    from env_server.core.schema import introspect

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE kiosk (id INTEGER PRIMARY KEY, name TEXT)")
    schema = introspect(conn)
    assert "unknown_table" in codes(reviewer.review('SELECT id FROM "\u212aiosk"', schema=schema))
    assert "unknown_column" in codes(reviewer.review('SELECT \u212aiosk.id FROM kiosk', schema=schema)) or \
        reviewer.review('SELECT "\u212aiosk".id FROM kiosk', schema=schema).verdict == "block"
    assert "unknown_table" not in codes(reviewer.review("SELECT ID FROM KIOSK", schema=schema))


def test_unknown_column_with_suggestions(reviewer, schemas):
    shop, logistics = schemas("ecommerce"), schemas("logistics")
    f = finding(reviewer.review("SELECT nam FROM users", schema=shop), "unknown_column")
    assert "'name'" in f.message and f.position == 7
    qualified = finding(reviewer.review("SELECT u.emial FROM users u", schema=shop), "unknown_column")
    assert "'email'" in qualified.message
    assert "'dropoff_at'" in finding(reviewer.review("SELECT dropoff FROM shipments", schema=logistics), "unknown_column").message
    alias = finding(reviewer.review("SELECT users.id FROM users u", schema=shop), "unknown_column")
    assert "alias" in alias.message
    quoted = finding(reviewer.review("SELECT id FROM orders WHERE status = \"paid\"", schema=shop), "unknown_column")
    assert "single quotes" in quoted.message
    cte = reviewer.review("WITH t AS (SELECT id, name FROM users) SELECT t.nope FROM t", schema=shop)
    assert "unknown_column" in codes(cte)
    insert = reviewer.review("INSERT INTO users (id, emial) VALUES (1, 'x')", "repair", shop)
    assert "'email'" in finding(insert, "unknown_column").message
    assert "unknown_column" in codes(reviewer.review("UPDATE users SET plan = 'x' WHERE plna = 'y'", "repair", shop))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT u.name AS nm FROM users u ORDER BY nm",
        "SELECT strftime('%Y', order_date) AS y, COUNT(*) FROM orders GROUP BY y HAVING y > '2020'",
        "SELECT rowid, name FROM users",
        "SELECT n FROM (SELECT COUNT(*) AS n FROM users) ORDER BY n",
        "WITH t(a, b) AS (SELECT id, name FROM users) SELECT t.a, b FROM t",
        "WITH x AS (SELECT * FROM users) SELECT x.email FROM x",
        "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id AND status = 'paid')",
        "SELECT status FROM orders UNION SELECT country FROM users ORDER BY status",
        "SELECT NAME, Email FROM USERS",
        "SELECT \"name\", [email], `plan` FROM users",
        "SELECT value, key FROM json_each('[1]')",
        "INSERT INTO products (id, name, category, price) VALUES (1, 'a', 'b', 1) ON CONFLICT(id) DO UPDATE SET price = excluded.price",
    ],
)
def test_resolvable_columns_are_not_unknown(reviewer, shop, sql):
    review = reviewer.review(sql, "repair", shop)
    assert "unknown_column" not in codes(review) and "unknown_table" not in codes(review), review


def test_eq_null(reviewer, shop):
    for sql in ("SELECT id FROM orders WHERE status = NULL", "SELECT id FROM orders WHERE status <> NULL",
                "SELECT id FROM orders WHERE status != NULL", "SELECT id FROM orders WHERE NULL = status"):
        review = reviewer.review(sql, schema=shop)
        f = finding(review, "eq_null")
        assert f.severity == "warning" and review.verdict == "warn" and "IS" in f.message, sql
    for sql in ("SELECT id FROM orders WHERE status IS NULL", "SELECT id FROM orders WHERE status IS NOT NULL"):
        assert reviewer.review(sql, schema=shop).verdict == "allow"
    assert reviewer.review("UPDATE orders SET status = NULL WHERE id = 1", "repair", shop).verdict == "allow"


def test_select_star_wide(reviewer, schemas):
    shop, hr = schemas("ecommerce"), schemas("hr")
    wide = reviewer.review("SELECT * FROM employees", "analyst", hr)  # 9 columns
    assert codes(wide) == ["select_star_wide"] and wide.verdict == "warn"
    large = reviewer.review("SELECT * FROM order_items", "analyst", shop)  # 1,241 rows
    assert "1,241 rows" in finding(large, "select_star_wide").message
    assert codes(reviewer.review("SELECT e.* FROM employees e", "analyst", hr)) == ["select_star_wide"]
    for sql in (
        "SELECT * FROM users",  # 6 columns, 334 rows
        "SELECT * FROM events LIMIT 10",  # large, but the LIMIT caps the rows
        "SELECT COUNT(*) FROM order_items",
        "SELECT id FROM users u WHERE EXISTS (SELECT * FROM order_items)",
        "WITH x AS (SELECT * FROM order_items) SELECT COUNT(*) FROM x",
    ):
        assert "select_star_wide" not in codes(reviewer.review(sql, "analyst", shop)), sql
    assert reviewer.review("SELECT * FROM employees", "analyst").verdict == "allow"  # no schema: no check
    small = StaticReviewer(ReviewConfig(wide_table_columns=5))
    assert "select_star_wide" in codes(small.review("SELECT * FROM users", "analyst", shop))


def test_unbounded_recursive_cte(reviewer, schemas):
    shop, hr = schemas("ecommerce"), schemas("hr")
    for sql in (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n ORDER BY x DESC LIMIT 5",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE 1) SELECT x FROM n",
        "WITH n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n",  # RECURSIVE is optional in SQLite
    ):
        review = reviewer.review(sql, schema=shop)
        assert "unbounded_recursive_cte" in codes(review) and review.verdict == "block", sql
    for sql in (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10) SELECT x FROM n",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n LIMIT 10",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 10) SELECT x FROM n",
    ):
        assert reviewer.review(sql, schema=shop).verdict == "allow", sql
    walk = ("WITH RECURSIVE c(id, d) AS (SELECT id, 0 FROM employees WHERE manager_id IS NULL UNION ALL "
            "SELECT e.id, c.d + 1 FROM employees e JOIN c ON e.manager_id = c.id) SELECT id, d FROM c")
    assert reviewer.review(walk, "analyst", hr).verdict == "allow"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT \"load_extension\"('x')",
        "SELECT readfile('/etc/passwd')",
        "SELECT writefile('/tmp/x', 'y')",
        "SELECT sqlite_version()",
        "SELECT sqlite_compileoption_used('X')",
        "SELECT hex(randomblob(1000000000))",
        "SELECT length(zeroblob(2000000000))",
        "SELECT id FROM users WHERE id = 1 UNION ALL SELECT load_extension('x')",
        "SELECT * FROM fts3_tokenizer('x')",
        "SELECT date_add(signup_date, 1) FROM users",
    ],
)
def test_function_not_allowed(reviewer, shop, sql):
    review = reviewer.review(sql, schema=shop)
    assert "function_not_allowed" in codes(review) and review.verdict == "block", review


def test_every_allowlisted_function_is_allowed(reviewer):
    for name in sorted(SQLITE_FUNCTIONS):
        for args in ("", "1", "1, 2", "'x', 1, 2"):
            for sql in (f"SELECT {name}({args})", f"SELECT * FROM {name}({args})"):
                review = reviewer.review(sql, "analyst")
                if "parse_error" not in codes(review):
                    break
            else:
                continue
            assert "function_not_allowed" not in codes(review), (name, review)
            break
        else:
            pytest.fail(f"{name}() never parsed")
    custom = StaticReviewer(ReviewConfig(function_allowlist=frozenset({"count"})))
    assert "function_not_allowed" in codes(custom.review("SELECT upper('x')"))
    assert custom.review("SELECT COUNT(*) FROM users").verdict == "allow"


def test_aggregate_in_where(reviewer, schemas):
    hr = schemas("hr")
    for sql in (
        "SELECT department_id, COUNT(*) FROM employees WHERE COUNT(*) > 2 GROUP BY department_id",
        "SELECT d.name FROM departments d JOIN employees e ON e.department_id = d.id AND COUNT(*) > 1",
        "SELECT name FROM employees WHERE salary > (SELECT AVG(salary) FROM projects)",  # AVG of the outer salary
    ):
        review = reviewer.review(sql, "debug", hr)
        assert "aggregate_in_where" in codes(review) and review.verdict == "block", sql
    assert "HAVING" in finding(reviewer.review("SELECT 1 FROM employees WHERE SUM(salary) > 1", "debug", hr), "aggregate_in_where").message
    for sql in (
        "SELECT department_id, COUNT(*) FROM employees GROUP BY department_id HAVING COUNT(*) > 2",
        "SELECT name FROM employees WHERE salary > (SELECT AVG(salary) FROM employees)",
        "SELECT d.name FROM departments d WHERE d.budget > (SELECT SUM(p.budget) FROM projects p WHERE p.department_id = d.id)",
        "SELECT name, AVG(salary) OVER (PARTITION BY department_id) FROM employees",
        "SELECT department_id, COUNT(*) FILTER (WHERE salary > 1) FROM employees GROUP BY department_id",
    ):
        assert "aggregate_in_where" not in codes(reviewer.review(sql, "debug", hr)), sql


@pytest.mark.parametrize(
    "sql,code",
    [
        ("ATTACH DATABASE '/tmp/x.db' AS x", "statement_not_allowed"),
        ("DETACH DATABASE main", "statement_not_allowed"),
        ("VACUUM INTO '/tmp/copy.db'", "statement_not_allowed"),
        ("BEGIN TRANSACTION", "statement_not_allowed"),
        ("SAVEPOINT a", "statement_not_allowed"),
        ("PRAGMA writable_schema = 1", "pragma_not_allowed"),
        ("PRAGMA main.writable_schema = ON", "pragma_not_allowed"),
        ("PRAGMA foreign_keys = OFF", "pragma_not_allowed"),
    ],
)
def test_statements_and_pragmas_not_allowed(reviewer, shop, sql, code):
    for family in ("debug", "repair"):
        review = reviewer.review(sql, family, shop)
        assert code in codes(review) and review.verdict == "block", (sql, family)


def test_read_only_pragmas_are_allowed(reviewer, shop):
    for sql in ("PRAGMA table_info(users)", "PRAGMA foreign_key_list('orders')", "PRAGMA index_list(users)"):
        assert reviewer.review(sql, "debug", shop).verdict == "allow", sql


# ---------------------------------------------------------------------------------------------
# Verdict, thresholds, overrides
# ---------------------------------------------------------------------------------------------


def test_default_severities_are_the_same_in_every_family():
    config = ReviewConfig()
    for family in FAMILIES:
        assert config.severity("select_star_wide", family) == "warning"
        assert config.severity("update_delete_without_where", family) == "error"
        assert config.severity("eq_null", family) == "warning"
        for code, severity in DEFAULT_SEVERITY.items():
            assert config.severity(code, family) == severity
    assert config.severity("cartesian_join", "some_new_family") == "error"


def test_thresholds(shop):
    sql = "SELECT id FROM orders WHERE status = NULL"  # one warning
    assert StaticReviewer().review(sql, schema=shop).verdict == "warn"
    assert StaticReviewer(ReviewConfig(warn_at="error")).review(sql, schema=shop).verdict == "allow"
    assert StaticReviewer(ReviewConfig(block_at="warning")).review(sql, schema=shop).verdict == "block"
    assert StaticReviewer(ReviewConfig(warn_at="info")).review("SELECT 1", schema=shop).verdict == "allow"
    config = ReviewConfig()
    assert config.verdict([]) == "allow"
    assert config.verdict([Finding("x", "info", "m")]) == "allow"
    assert config.verdict([Finding("x", "info", "m"), Finding("y", "warning", "m")]) == "warn"
    assert config.verdict([Finding("y", "warning", "m"), Finding("z", "error", "m")]) == "block"


def test_severity_overrides_per_family_and_for_all(shop):
    config = ReviewConfig(severity_overrides={"analyst": {"select_star_wide": "error"}, "*": {"eq_null": "info"}})
    reviewer = StaticReviewer(config)
    star = "SELECT * FROM order_items"
    assert reviewer.review(star, "analyst", shop).verdict == "block"
    assert reviewer.review(star, "debug", shop).verdict == "warn"  # falls back to the default
    review = reviewer.review("SELECT id FROM orders WHERE status = NULL", "debug", shop)
    assert review.verdict == "allow" and review.findings[0].severity == "info"
    relaxed = StaticReviewer(ReviewConfig(severity_overrides={"repair": {"update_delete_without_where": "warning"}}))
    assert relaxed.review("DELETE FROM orders", "repair", shop).verdict == "warn"
    with pytest.raises(ValueError):
        ReviewConfig(block_at="fatal")
    with pytest.raises(ValueError):
        ReviewConfig(severity_overrides={"debug": {"eq_null": "loud"}})


def test_review_as_dict_is_json_safe(reviewer, shop):
    review = reviewer.review("SELECT * FROM users, orders WHERE status = NULL", schema=shop)
    data = json.loads(json.dumps(review.as_dict()))
    assert data["verdict"] == "block" and data["source"] == "static" and data["llm"] is None
    assert {f["code"] for f in data["findings"]} == {"cartesian_join", "eq_null"}
    assert all(set(f) == {"code", "severity", "message", "position"} for f in data["findings"])
    assert data["latency_ms"] >= 0


def test_non_string_sql_is_a_parse_error(reviewer):
    assert codes(reviewer.review(None)) == ["parse_error"]  # type: ignore[arg-type]


def test_hostile_inputs_never_raise_and_fail_closed(reviewer, shop):
    deep = reviewer.review("SELECT " + "(" * 3000 + "1" + ")" * 3000, schema=shop)
    assert deep.verdict == "block" and codes(deep) == ["parse_error"]
    for sql in ("", "\x00", "SELECT '\x00'", "😀", "DELETE UPDATE", "DELETE id", "UPDATE x", "SELECT 1 " + "UNION ALL SELECT 1 " * 300,
                "SELECT CASE " + "WHEN 1 THEN 1 " * 500 + "END", ") ( ; ;", "WITH", "SELECT * FROM (", "/* unterminated"):
        review = reviewer.review(sql, "repair", shop)
        assert review.verdict in ("allow", "warn", "block")
    assert reviewer.review("DELETE UPDATE", "debug", shop).verdict == "block"


# ---------------------------------------------------------------------------------------------
# The labelled corpus
# ---------------------------------------------------------------------------------------------


def load_corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_is_well_formed():
    cases = load_corpus()
    assert len(cases) >= 90
    domains = set()
    for case in cases:
        assert set(case) == {"sql", "label", "reason", "family", "db"}, case
        assert case["label"] in ("allow", "block") and case["family"] in ("debug", "repair", "analyst")
        assert case["reason"] and case["sql"].strip()
        DbSpec(**case["db"])
        domains.add(case["db"]["domain"])
    assert len(domains) >= 5
    labels = [c["label"] for c in cases]
    assert labels.count("block") >= 30 and labels.count("allow") >= 30


def test_corpus_recall_and_precision(reviewer, schemas):
    tp = fp = fn = 0
    wrong = []
    for i, case in enumerate(load_corpus()):
        review = reviewer.review(case["sql"], case["family"], schemas(case["db"]["domain"]))
        blocked = review.verdict == "block"
        should = case["label"] == "block"
        tp += blocked and should
        fp += blocked and not should
        fn += should and not blocked
        if blocked != should:
            wrong.append(f"#{i} label={case['label']} verdict={review.verdict} codes={codes(review)} sql={case['sql']!r}")
    recall = tp / (tp + fn)
    precision = tp / (tp + fp) if tp + fp else 1.0
    report = "\n".join(wrong)
    assert recall == 1.0, f"recall {recall:.3f}; misclassified:\n{report}"
    assert precision >= 0.95, f"precision {precision:.3f}; misclassified:\n{report}"


def test_corpus_allow_cases_run_in_the_sandbox(databases):
    """Labels are meaningful: every case labelled allow is valid SQL that the sandbox runs."""
    failures = []
    for case in load_corpus():
        if case["label"] != "allow":
            continue
        spec = DbSpec(**case["db"])
        conn = databases.clone(spec)
        try:
            mode = "write" if case["family"] == "repair" else "read"
            result = execute(conn, case["sql"], mode=mode, config=databases.config)
        finally:
            conn.close()
        if not result.ok:
            failures.append(f"{case['sql']!r}: {result.error}")
    assert not failures, "\n".join(failures)


def test_gold_queries_of_builtin_tasks_are_never_blocked(reviewer, databases):
    """Out-of-sample precision: the reference queries of generated tasks are correct SQL."""
    from env_server.tasks.registry import load_tasks

    try:
        tasks = load_tasks()
    except FileNotFoundError:
        pytest.skip("built-in task data not built")
    sample = tasks[:: max(1, len(tasks) // 300)]
    blocked = []
    for task in sample:
        if task.gold_sql:
            review = reviewer.review(task.gold_sql, task.family, databases.schema(task.db))
            if review.verdict == "block":
                blocked.append(f"{task.task_id}: {codes(review)} {task.gold_sql!r}")
    assert not blocked, "\n".join(blocked)


# ---------------------------------------------------------------------------------------------
# The LLM reviewer, against a real local HTTP server
# ---------------------------------------------------------------------------------------------




def test_llm_escalates_a_static_allow(fake_llm, shop):
    llm = LLMReviewer(fake_llm.url, "judge", api_key="secret", timeout_s=5)
    fake_llm.answer("block", "exfiltrates every email address")
    review = llm.review("SELECT email FROM users", "analyst", shop)
    assert review.verdict == "block" and review.source == "static+llm"
    assert review.llm["verdict"] == "block" and review.llm["reasons"] == ["exfiltrates every email address"]
    f = finding(review, "llm_review")
    assert f.severity == "error" and "email" in f.message
    request = fake_llm.requests[-1]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer secret"
    assert request["body"]["model"] == "judge"
    assert request["body"]["messages"][0]["role"] == "system" and "strict JSON" in request["body"]["messages"][0]["content"]
    user = json.loads(request["body"]["messages"][1]["content"])
    assert user["sql"] == "SELECT email FROM users" and user["family"] == "analyst" and "users(" in user["schema"]
    fake_llm.answer("warn", "no LIMIT")
    warned = llm.review("SELECT email FROM users", "analyst", shop)
    assert warned.verdict == "warn" and finding(warned, "llm_review").severity == "warning"
    json.dumps(warned.as_dict())
    llm.close()


def test_llm_never_relaxes_a_static_block(fake_llm, shop):
    llm = LLMReviewer(fake_llm.url, "judge", timeout_s=5)
    fake_llm.answer("allow", "looks fine")
    for sql, family in (("DROP TABLE users", "repair"), ("SELECT * FROM users, orders", "analyst")):
        review = llm.review(sql, family, shop)
        assert review.verdict == "block" and review.source == "static+llm" and review.llm["verdict"] == "allow"
    warned = llm.review("SELECT id FROM orders WHERE status = NULL", "debug", shop)
    assert warned.verdict == "warn"  # a static warn is not relaxed either
    assert len(fake_llm.requests) == 3 and fake_llm.requests[0]["auth"] is None


def test_llm_timeout_falls_back_to_static(fake_llm, shop):
    llm = LLMReviewer(fake_llm.url, "judge", timeout_s=0.2)
    fake_llm.answer("block", "too slow to matter")
    fake_llm.sleep_s = 1.0
    started = time.perf_counter()
    review = llm.review("SELECT id FROM orders WHERE status = NULL", "debug", shop)
    assert time.perf_counter() - started < 0.9
    assert review.verdict == "warn"  # the static verdict, not the LLM's block
    assert review.source.startswith("static (llm failed: timeout")
    assert "timeout" in review.llm["error"] and "llm_review" not in codes(review)


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("I think this query is fine.", "not JSON"),
        (json.dumps({"verdict": "maybe", "reasons": []}), "verdict"),
        (json.dumps({"verdict": "block", "reasons": "not a list"}), "reasons"),
        (json.dumps(["block"]), "verdict"),
    ],
)
def test_llm_malformed_reply_falls_back_to_static(fake_llm, shop, reply, expected):
    llm = LLMReviewer(fake_llm.url, "judge", timeout_s=5)
    fake_llm.reply = reply
    review = llm.review("SELECT name FROM users", "debug", shop)
    assert review.verdict == "allow" and review.findings == ()
    assert review.source.startswith("static (llm failed: malformed reply")
    assert expected in review.llm["error"]


def test_llm_http_error_and_unreachable_server_fall_back(fake_llm, shop):
    fake_llm.status = 500
    review = LLMReviewer(fake_llm.url, "judge", timeout_s=5).review("SELECT 1", "debug", shop)
    assert review.verdict == "allow" and review.llm["error"] == "HTTP 500" and review.source == "static (llm failed: HTTP 500)"
    fake_llm.close()
    gone = LLMReviewer(fake_llm.url, "judge", timeout_s=1).review("DELETE FROM users", "debug", shop)
    assert gone.verdict == "block" and "error" in gone.llm and gone.source.startswith("static (llm failed:")


def test_llm_reply_in_a_code_fence_is_accepted(fake_llm, shop):
    fake_llm.reply = "```json\n" + json.dumps({"verdict": "warn", "reasons": ["fenced"]}) + "\n```"
    review = LLMReviewer(fake_llm.url, "judge", timeout_s=5).review("SELECT name FROM users", "debug", shop)
    assert review.verdict == "warn" and review.llm["reasons"] == ["fenced"]


def test_from_env_and_make_reviewer(monkeypatch, fake_llm):
    for name in ("DATAOPS_REVIEWER_BASE_URL", "DATAOPS_REVIEWER_MODEL", "DATAOPS_REVIEWER_API_KEY", "DATAOPS_REVIEWER_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    assert LLMReviewer.from_env() is None
    assert isinstance(make_reviewer(), StaticReviewer)
    monkeypatch.setenv("DATAOPS_REVIEWER_BASE_URL", fake_llm.url)
    assert LLMReviewer.from_env() is None  # the model is missing
    monkeypatch.setenv("DATAOPS_REVIEWER_MODEL", "judge")
    monkeypatch.setenv("DATAOPS_REVIEWER_API_KEY", "k")
    monkeypatch.setenv("DATAOPS_REVIEWER_TIMEOUT_S", "2.5")
    llm = LLMReviewer.from_env()
    assert isinstance(llm, LLMReviewer) and llm.model == "judge" and llm.api_key == "k" and llm.timeout_s == 2.5
    config = ReviewConfig(warn_at="error")
    made = make_reviewer(config)
    assert isinstance(made, LLMReviewer) and made.config is config
    fake_llm.answer("allow")
    assert made.review("SELECT 1").source == "static+llm"


# ---------------------------------------------------------------------------------------------
# Budgets: what one review may cost
# ---------------------------------------------------------------------------------------------


def test_sql_over_the_execution_limit_is_refused_before_parsing(reviewer, shop):
    limit = ReviewConfig().max_sql_length
    assert limit == 20_000  # the sandbox's SandboxConfig.max_sql_length
    review = reviewer.review("SELECT 1" + " " * limit, schema=shop)
    assert codes(review) == ["sql_too_long"] and review.verdict == "block" and "20,000" in review.findings[0].message
    assert codes(reviewer.review("SELECT 1" + " " * (limit - 8), schema=shop)) == []


def test_joins_without_on_are_too_complex_not_exponential(reviewer, shop):
    started = time.perf_counter()
    for n in (20, 60, 1200):  # sqlglot backtracks over every nesting: 20 took 21 s before the budget
        sql = "SELECT * FROM users u0 " + " ".join(f"JOIN users u{i}" for i in range(1, n))
        review = reviewer.review(sql[:20_000], schema=shop)
        assert review.verdict == "block" and codes(review)[0] in ("sql_too_complex", "parse_error"), codes(review)
    assert time.perf_counter() - started < 3.0
    few = reviewer.review("SELECT * FROM users a JOIN orders b JOIN products c", schema=shop)
    assert codes(few) == ["cartesian_join"]


def test_findings_past_the_cap_are_counted_in_one_finding_of_the_worst_severity(reviewer, shop):
    sql = "SELECT " + ", ".join(f"fn{i}(id)" for i in range(300)) + ", id = NULL FROM users"
    started = time.perf_counter()
    review = reviewer.review(sql, schema=shop)
    assert time.perf_counter() - started < 2.0
    assert len(review.findings) == 51 and review.verdict == "block"
    last = review.findings[-1]
    assert last.code == "function_not_allowed" and last.severity == "error" and "251 more findings" in last.message
