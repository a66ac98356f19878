"""The grader: equivalent rewrites pass; literals, SELECT * and near misses fail; rules of comparison."""
from __future__ import annotations

import pytest

from env_server.families import make_grader
from env_server.core.sandbox import Execution
from env_server.grading.compare import (
    canonical_row,
    reference_of,
    results_match,
    row_f1,
)
from env_server.grading.grader import Grader, GraderError, GradingConfig
from env_server.tasks.spec import DbSpec, Task

SHOP = DbSpec(domain="ecommerce", seed=0)


def _task(gold: str, order_matters: bool = False, broken: str = "SELECT 1") -> Task:
    return Task(task_id="t", family="debug", db=SHOP, question="q", gold_sql=gold, broken_sql=broken,
                order_matters=order_matters)


@pytest.fixture(scope="module")
def grader() -> Grader:
    return make_grader()


REVENUE = (
    "SELECT u.country, ROUND(SUM(o.total_amount), 2) FROM orders AS o JOIN users AS u ON o.user_id = u.id "
    "WHERE o.status = 'completed' GROUP BY u.country"
)


@pytest.mark.parametrize(
    "candidate",
    [
        # the same query, joins written the other way round
        "SELECT u.country, ROUND(SUM(o.total_amount), 2) FROM users u JOIN orders o ON u.id = o.user_id "
        "WHERE o.status = 'completed' GROUP BY u.country",
        # a CTE instead of a join in the FROM clause
        "WITH done AS (SELECT user_id, total_amount FROM orders WHERE status = 'completed') "
        "SELECT u.country, ROUND(SUM(d.total_amount), 2) AS revenue FROM done d JOIN users u ON u.id = d.user_id "
        "GROUP BY 1",
        # a subquery, and rows in another order (order does not matter for this task)
        "SELECT country, ROUND(SUM(amt), 2) FROM (SELECT u.country AS country, o.total_amount AS amt FROM orders o, "
        "users u WHERE o.user_id = u.id AND o.status = 'completed') GROUP BY country ORDER BY 2 DESC",
    ],
)
def test_equivalent_rewrites_succeed(grader, candidate):
    grade = grader.grade_query(_task(REVENUE), candidate)
    assert grade.success and grade.score == 1.0, grade.reason


def test_count_star_equals_count_of_not_null_column(grader):
    task = _task("SELECT status, COUNT(*) FROM orders GROUP BY status")
    assert grader.grade_query(task, "SELECT status, COUNT(id) AS n FROM orders GROUP BY status").success


def test_hard_coded_gold_rows_fail(grader):
    task = _task(REVENUE)
    rows = grader.run(task, REVENUE).rows
    literal = " UNION ALL ".join(
        "SELECT " + ", ".join("NULL" if v is None else repr(v) for v in row) for row in rows
    )
    assert grader.run(task, literal).ok
    grade = grader.grade_query(task, literal)
    assert not grade.success
    assert grade.components["row_f1"] == 1.0  # right on the task database...
    assert grade.components["variants_passed"] == 0.0  # ...and nowhere else
    assert grade.score <= grader.config.partial_credit


def test_select_star_fails(grader):
    task = _task("SELECT id, email FROM users WHERE plan = 'pro'")
    grade = grader.grade_query(task, "SELECT * FROM users WHERE plan = 'pro'")
    assert not grade.success and "columns" in grade.reason


def test_missing_distinct_near_miss_fails_with_small_partial_credit(grader):
    gold = "SELECT DISTINCT u.plan FROM orders o JOIN users u ON o.user_id = u.id WHERE o.status = 'refunded'"
    task = _task(gold)
    grade = grader.grade_query(task, gold.replace("DISTINCT ", ""))
    assert not grade.success
    assert 0 < grade.score <= grader.config.partial_credit


def test_order_counts_only_when_the_task_says_so(grader):
    gold = "SELECT id, price FROM products ORDER BY price DESC, id LIMIT 5"
    reversed_ = "SELECT * FROM (SELECT id, price FROM products ORDER BY price DESC, id LIMIT 5) ORDER BY price ASC"
    assert not grader.grade_query(_task(gold, order_matters=True), reversed_).success
    assert grader.grade_query(_task(gold, order_matters=False), reversed_).success


def test_failing_candidate_reports_error_kind(grader):
    grade = grader.grade_query(_task(REVENUE), "SELEC 1")
    assert not grade.success and grade.error_kind == "syntax" and grade.components["executes"] == 0.0
    grade = grader.grade_query(_task(REVENUE), "DELETE FROM orders")
    assert grade.error_kind == "not_authorized"


def test_broken_gold_raises_instead_of_scoring_zero(grader):
    with pytest.raises(GraderError):
        grader.grade_query(_task("SELECT nope FROM users"), "SELECT 1")


def test_task_problems_flags_invalid_tasks(grader):
    assert grader.task_problems(_task("SELECT id FROM users WHERE 1 = 0")) == ["gold result is empty",
                                                                            "gold result is the same on every variant"]
    constant = _task("SELECT 42")
    assert "gold result is the same on every variant" in grader.task_problems(constant)
    same = _task(REVENUE, broken=REVENUE)
    assert grader.task_problems(same) == ["broken query gives the gold result"]
    assert grader.task_problems(_task(REVENUE, broken="SELEC 1")) == []


def test_comparison_rules():
    config = GradingConfig()
    gold = reference_of(Execution(columns=["a", "b"], rows=[(1, "x"), (2.5, None), (2.5, None)]))
    assert results_match([(2.5, None), (1.0, "x"), (2.5, None)], 2, gold, False, config)  # multiset, 1 == 1.0
    assert not results_match([(2.5, None), (1, "x")], 2, gold, False, config)  # multiplicity counts
    assert results_match([(1, "x"), (2.5000000001, None), (2.5, None)], 2, gold, True, config)  # tolerance
    assert not results_match([(2.5, None), (1, "x"), (2.5, None)], 2, gold, True, config)  # order, when it matters
    assert not results_match([(1, "X"), (2.5, None), (2.5, None)], 2, gold, False, config)  # strings are exact
    assert row_f1([(1, "x")], 2, gold) == pytest.approx(0.5)
    assert row_f1([(1, "x")], 1, gold) == 0.0
    assert canonical_row((1, 1.0, True, "a", None)) == (1.0, 1.0, 1.0, "a", None)


def test_gold_results_are_cached(grader):
    task = _task(REVENUE)
    assert grader.reference(task, 1) is grader.reference(task, 1)


# -- budgets: a correct slow query is never failed, running out is never called a wrong answer ------

BOOKINGS = DbSpec(
    schema_sql="CREATE TABLE bookings (id INTEGER PRIMARY KEY, guest TEXT, price REAL);",
    data_sql=(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
        "INSERT INTO bookings SELECT i, 'guest ' || i, ROUND(((i * 7919) % 10007) / 3.0, 2) FROM n;"
    ),
)
TOP5 = "SELECT id, price FROM bookings ORDER BY price DESC, id LIMIT 5"


def test_a_correlated_subquery_rewrite_of_a_top_n_on_3000_rows_succeeds(grader):
    task = Task(task_id="top5", family="debug", db=BOOKINGS, question="the 5 most expensive bookings",
                gold_sql=TOP5, broken_sql="SELECT 1", order_matters=True)
    correlated = ("SELECT id, price FROM bookings b WHERE (SELECT COUNT(*) FROM bookings b2 WHERE b2.price > b.price "
                  "OR (b2.price = b.price AND b2.id < b.id)) < 5 ORDER BY price DESC, id")
    ranked = ("SELECT id, price FROM (SELECT id, price, ROW_NUMBER() OVER (ORDER BY price DESC, id) AS r FROM bookings) "
              "WHERE r <= 5 ORDER BY r")
    for candidate in (correlated, ranked):
        grade = grader.grade_query(task, candidate)
        assert grade.success, grade.reason


def test_running_out_of_budget_is_a_timeout_not_a_wrong_answer():
    small = make_grader(config=GradingConfig(min_budget_steps=20_000, budget_factor=1.0))
    task = Task(task_id="top5", family="debug", db=BOOKINGS, question="q", gold_sql=TOP5, broken_sql="SELECT 1",
                order_matters=True)
    slow = ("SELECT id, price FROM bookings b WHERE (SELECT COUNT(*) FROM bookings b2 WHERE b2.price > b.price "
            "OR (b2.price = b.price AND b2.id < b.id)) < 5 ORDER BY price DESC, id")
    grade = small.grade_query(task, slow)
    assert not grade.success and grade.error_kind == "timeout"
    assert "budget" in grade.reason and "does not compute" not in grade.reason


def test_a_failing_reference_is_computed_once_and_reported_every_time():
    grader = make_grader()
    task = _task("SELECT no_such_column FROM orders")
    calls = []
    original = grader._trusted_run

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    grader._trusted_run = counting  # type: ignore[method-assign]
    for _ in range(3):
        with pytest.raises(GraderError, match="no_such_column"):
            grader.grade_query(task, "SELECT 1")
    assert len(calls) == 1


def test_the_reference_has_no_wall_clock_limit():
    from dataclasses import replace

    from env_server.core.databases import Databases
    from env_server.core.sandbox import SandboxConfig

    # a grading safety net of a nanosecond changes no reference: references are trusted and have none
    databases = Databases(replace(SandboxConfig(), grading_cpu_limit_s=1e-9))
    grader = make_grader(databases=databases)
    task = Task(task_id="top5", family="debug", db=BOOKINGS, question="q", gold_sql=TOP5, broken_sql="SELECT 1",
                order_matters=True)
    assert len(grader.reference(task).rows) == 5


# -- order: implicit scan order is caught, float noise is forgiven ----------------------------------

TIES = DbSpec(
    schema_sql="CREATE TABLE items (id INTEGER PRIMARY KEY, category TEXT, price REAL);",
    data_sql=(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) "
        "INSERT INTO items SELECT i, 'c' || (i % 7), (i % 9) * 5.0 FROM n;"
    ),
)


def test_dropping_a_required_tiebreaker_fails_on_the_shuffled_variants(grader):
    task = Task(task_id="ties", family="debug", db=TIES, question="items by price, ties broken by id",
                gold_sql="SELECT id, price FROM items ORDER BY price DESC, id", broken_sql="SELECT 1", order_matters=True)
    assert grader.grade_query(task, "SELECT id, price FROM items ORDER BY price DESC, id ASC").success
    grade = grader.grade_query(task, "SELECT id, price FROM items ORDER BY price DESC")
    assert not grade.success and "order" in grade.reason


def test_rows_tied_on_every_sort_key_may_come_in_any_order(grader):
    task = Task(task_id="ties2", family="debug", db=TIES, question="categories by item count",
                gold_sql="SELECT category, COUNT(*) AS n FROM items GROUP BY category ORDER BY n DESC",
                broken_sql="SELECT 1", order_matters=True)
    other = "SELECT category, COUNT(*) AS n FROM items GROUP BY category ORDER BY n DESC, category DESC"
    assert grader.grade_query(task, other).success


def test_float_noise_in_a_sort_key_does_not_decide_the_order():
    config = GradingConfig()
    gold = reference_of(Execution(columns=["name", "total"], rows=[("b", 43.62), ("a", 43.61999999999999), ("c", 1.0)]),
                        ties=((0, 2),))
    assert results_match([("a", 43.62), ("b", 43.62), ("c", 1.0)], 2, gold, True, config)
    assert not results_match([("c", 1.0), ("a", 43.62), ("b", 43.62)], 2, gold, True, config)


# -- no wall clock decides a grade; what the safety net stops is not graded -----------------------------

HEAVY_COUNT = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 200000) "
               "SELECT status, COUNT(*) FROM orders WHERE (SELECT count(*) FROM r) > 0 GROUP BY status")


def test_a_heavy_correct_query_gets_the_same_grade_beside_busy_python_threads():
    """A correct rewrite with an uncorrelated recursive count: graded idle, then with 8 busy Python threads in
    the process (each budget check waits for the GIL). Only VM steps decide: the same grade, the same steps."""
    import threading

    task = _task("SELECT status, COUNT(*) FROM orders GROUP BY status")
    grader = make_grader()
    idle = grader.grade_query(task, HEAVY_COUNT)
    stop = threading.Event()

    def busy() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        loaded = grader.grade_query(task, HEAVY_COUNT)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert idle.success and loaded.success
    assert loaded == idle


def test_a_run_the_safety_net_stops_is_not_graded_never_zero():
    from dataclasses import replace

    from env_server.core.databases import Databases
    from env_server.core.sandbox import NotGraded, SandboxConfig

    databases = Databases(replace(SandboxConfig(), grading_cpu_limit_s=1e-9))
    grader = make_grader(databases=databases)
    task = _task("SELECT status, COUNT(*) FROM orders GROUP BY status")
    with pytest.raises(NotGraded, match="safety net"):
        grader.grade_query(task, HEAVY_COUNT)
    with pytest.raises(NotGraded, match="safety net"):
        grader.grade_submission(task, sql=HEAVY_COUNT)


def test_blob_bytes_are_charged_to_the_step_budget():
    """randomblob makes up to 1 MB inside one VM step: its bytes count as steps, so a recursive CTE of them
    runs out of its step budget in well under the safety net instead of running for minutes."""
    from env_server.core.sandbox import SandboxConfig, execute, harden, new_connection

    config = SandboxConfig(max_vm_steps=50_000_000)
    conn = harden(new_connection(), config)
    bomb = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 100000000) "
            "SELECT sum(length(hex(randomblob(499999)))) FROM r")
    execution = execute(conn, bomb, mode="read", config=config, purpose="grading")
    assert execution.error_kind is not None and execution.error_kind.value == "timeout"
    assert execution.stopped_by == "steps" and "step budget" in (execution.error or "")
    assert 50_000_000 <= execution.vm_steps < 52_000_000
    fine = execute(conn, "SELECT length(randomblob(16)), length(zeroblob(3)), typeof(randomblob(0))", mode="read",
                   config=config, purpose="grading")
    assert fine.rows == [(16, 3, "blob")]


# -- results of any size: over max_rows_graded rows, compared by a digest in bounded memory --------------

BIG = DbSpec(
    schema_sql="CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, amount REAL);",
    data_sql=(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000) "
        "INSERT INTO events SELECT i, i % 997, CASE i % 3 WHEN 0 THEN 'buy' WHEN 1 THEN 'view' ELSE 'ship' END, "
        "(i % 101) * 1.5 FROM n;"
    ),
)


@pytest.fixture(scope="module")
def big_grader():
    return make_grader()


def test_a_gold_of_100k_rows_is_gradeable_and_so_is_a_rewrite(big_grader):
    task = Task(task_id="big", family="debug", db=BIG, question="q", broken_sql="SELECT 1",
                gold_sql="SELECT id, user_id, amount FROM events WHERE kind <> 'ship'")
    reference = big_grader.reference(task)
    assert reference.digest is not None and reference.size == 80000 and len(reference.rows) <= 50
    assert big_grader.grade_query(task, task.gold_sql).success
    rewrite = "SELECT e.id, e.user_id, e.amount * 1 FROM events e WHERE e.kind IN ('buy', 'view') ORDER BY e.amount DESC"
    assert big_grader.grade_query(task, rewrite).success
    for wrong in ("SELECT id, user_id, amount FROM events WHERE kind <> 'view'",  # same count, other rows
                  "SELECT id, user_id, amount FROM events WHERE kind <> 'ship' AND id <> 7",  # one row fewer
                  "SELECT id, user_id, amount + 0.01 FROM events WHERE kind <> 'ship'",
                  "SELECT id, user_id FROM events WHERE kind <> 'ship'"):
        grade = big_grader.grade_query(task, wrong)
        assert not grade.success and grade.score == 0.0, (wrong, grade.reason)
    # a hard-coded preview is not the result
    assert not big_grader.grade_query(task, "SELECT id, user_id, amount FROM events WHERE id <= 60").success


def test_a_big_ordered_result_accepts_any_order_among_ties_and_no_other(big_grader):
    task = Task(task_id="big-ordered", family="debug", db=BIG, question="q", broken_sql="SELECT 1", order_matters=True,
                gold_sql="SELECT user_id, id FROM events WHERE kind = 'buy' ORDER BY user_id")
    assert big_grader.reference(task).digest is not None and big_grader.reference(task).key_positions == (0,)
    assert big_grader.grade_query(task, task.gold_sql).success
    # ties on user_id broken the other way: the question does not fix it
    assert big_grader.grade_query(task, "SELECT user_id, id FROM events WHERE kind = 'buy' ORDER BY user_id, id DESC").success
    grade = big_grader.grade_query(task, "SELECT user_id, id FROM events WHERE kind = 'buy' ORDER BY user_id DESC")
    assert not grade.success
