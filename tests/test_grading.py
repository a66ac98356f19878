"""The grader: equivalent rewrites pass; literals, SELECT * and near misses fail; rules of comparison."""
from __future__ import annotations

import pytest

from env_server.grading import Grader, GraderError, GradingConfig, canonical_row, reference_of, results_match, row_f1
from env_server.sandbox import Execution
from env_server.tasks.spec import DbSpec, Task

SHOP = DbSpec(domain="ecommerce", seed=0)


def _task(gold: str, order_matters: bool = False, broken: str = "SELECT 1") -> Task:
    return Task(task_id="t", family="debug", db=SHOP, question="q", gold_sql=gold, broken_sql=broken,
                order_matters=order_matters)


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader()


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
