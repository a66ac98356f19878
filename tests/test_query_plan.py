"""env_server/grading/query_plan.py: nested full scans are counted from SQLite's plan, never run, and a task build
rejects a query that would multiply two large tables (Grader.task_problems) before running it; an ordinary join,
a subquery and every committed task's queries stay well under the bound."""
from __future__ import annotations

import sqlite3
import time

import pytest

from env_server.families import make_grader
from env_server.grading.query_plan import nested_scan_rows
from env_server.tasks.spec import DbSpec, Task


def _build(conn: sqlite3.Connection, rows: int = 10_000) -> None:
    conn.executescript(f"""
        CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE trips (start_id INTEGER, end_id INTEGER, km REAL);  -- key-less, like a real fact table
        WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT {rows})
        INSERT INTO places SELECT i, 'p' || i FROM r;
        WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT {rows})
        INSERT INTO trips SELECT 1 + (i * 7) % {rows}, 1 + (i * 13) % {rows}, i % 97 FROM r;
    """)


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    _build(conn)
    return conn


@pytest.mark.parametrize("sql, combinations", [
    ("SELECT p.name, t.km FROM trips AS t JOIN places AS p ON p.id = t.start_id", 0),  # lookups by key
    ("SELECT p.name FROM places AS p WHERE p.id IN (SELECT end_id FROM trips)", 0),  # a subquery: another level
    ("SELECT count(*) FROM trips AS t JOIN places AS p ON p.id = p.id", 10_000 * 10_000),  # a self-compare bug
    ("SELECT count(*) FROM trips, places", 10_000 * 10_000),
    ("SELECT count(*) FROM trips AS a JOIN trips AS b ON a.km < b.km", 10_000 * 10_000),  # no equality at all
    ("WITH w AS (SELECT * FROM trips WHERE km > 3) SELECT count(*) FROM w, places", 10_000 * 10_000),
    ("SELEC nothing", 0),
])
def test_nested_full_scans_are_counted_from_the_plan(conn, sql, combinations):
    assert nested_scan_rows(conn, sql) == combinations


def test_a_build_rejects_a_cartesian_broken_query_without_running_it(tmp_path):
    path = tmp_path / "trips.sqlite"
    with sqlite3.connect(path) as made:
        _build(made)
    db = DbSpec(sqlite_path=str(path))
    gold = "SELECT p.name, count(*) FROM trips AS t JOIN places AS p ON p.id = t.start_id GROUP BY p.name"
    broken = "SELECT p.name, count(*) FROM trips AS t JOIN places AS p ON p.id = p.id GROUP BY p.name"
    grader = make_grader()
    started = time.perf_counter()
    problems = grader.task_problems(Task(task_id="cartesian", family="debug", db=db, question="q", gold_sql=gold,
                                         broken_sql=broken))
    assert len(problems) == 1 and "broken query nests full scans over 100,000,000 row combinations" in problems[0]
    assert time.perf_counter() - started < 5.0  # 1e8 combinations would run for far longer
    fixed = Task(task_id="fine", family="debug", db=db, question="q", gold_sql=gold,
                 broken_sql=gold.replace("p.id = t.start_id", "p.id = t.end_id"))
    assert not any("full scans" in p for p in grader.task_problems(fixed))


def test_no_committed_query_comes_near_the_bound():
    from env_server.tasks.registry import load_tasks

    grader = make_grader()
    worst = 0
    for task in load_tasks(family="debug")[::7]:
        template = grader.databases.template(task.db, 0)
        with template.lock:
            worst = max(worst, *(nested_scan_rows(template.conn, sql) for sql in (task.gold_sql, task.broken_sql)))
    assert worst < grader.config.cartesian_rows / 10, worst
