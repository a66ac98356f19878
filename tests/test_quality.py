"""env_server/tasks/quality.py: the rules a generated task must pass, each attacked with the degenerate case it
refuses, then checked on everything a bring-your-own build of Chinook writes (with a bookkeeping column stamped
once for every row and a foreign key that is NULL everywhere, as in Sakila)."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from env_server.grading import Grader
from env_server.tasks.byo import tasks_for_database
from env_server.tasks.quality import edge_problem, is_constant, result_problem
from env_server.tasks.spec import DbSpec

CHINOOK = Path(__file__).resolve().parents[1] / "data" / "external" / "chinook" / "Chinook_Sqlite.sqlite"


def test_each_rule_refuses_its_degenerate_case():
    assert is_constant(0) and is_constant(1) and not is_constant(2)
    assert result_problem("SELECT a, COUNT(*) FROM t GROUP BY a", [("x", 9)]).startswith("one group")
    assert result_problem("SELECT a FROM t ORDER BY a LIMIT 10", [("x",)]).startswith("short top N")
    assert result_problem("SELECT 100.0 * SUM(f) / COUNT(*) FROM t", [(100.0,)],
                          "What percentage of lines have quantity 1?").startswith("degenerate share")
    assert result_problem("SELECT g, 100.0 * SUM(f) / COUNT(*) AS pct FROM t GROUP BY g",
                          [("a", 0.0), ("b", 100.0)]).startswith("degenerate share")
    # and lets the sound cases through
    assert result_problem("SELECT a FROM t ORDER BY a LIMIT 2", [("x",), ("y",)]) is None
    assert result_problem("SELECT 100.0 * SUM(f) / COUNT(*) FROM t", [(37.5,)], "What percentage ...") is None


def test_dead_and_ambiguous_joins():
    conn = sqlite3.connect(":memory:")
    conn.executescript("""
        CREATE TABLE language (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE film (id INTEGER PRIMARY KEY, language_id INT REFERENCES language(id),
                           original_language_id INT REFERENCES language(id));
        CREATE TABLE review (id INTEGER PRIMARY KEY, film_id INT REFERENCES film(id));
        INSERT INTO language VALUES (1, 'English'), (2, 'French');
        INSERT INTO film VALUES (1, 1, NULL), (2, 1, NULL);
        INSERT INTO review VALUES (1, 99);
    """)
    fks = [("film", "language_id", "language", "id"), ("film", "original_language_id", "language", "id"),
           ("review", "film_id", "film", "id")]
    assert edge_problem(conn, "film", "language_id", "language", "id", fks).startswith("ambiguous join")
    assert edge_problem(conn, "review", "film_id", "film", "id", fks).startswith("dead join")
    assert edge_problem(conn, "film", "language_id", "language", "id", fks[:1]) is None


def test_a_byo_build_keeps_only_tasks_that_pass_every_rule(tmp_path):
    path = tmp_path / "chinook.sqlite"
    shutil.copy(CHINOOK, path)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE Track ADD COLUMN last_update TEXT DEFAULT '2006-02-15 05:03:42'")
    conn.execute("ALTER TABLE Track ADD COLUMN OriginalGenreId INTEGER REFERENCES Genre (GenreId)")
    conn.commit()
    conn.close()
    grader = Grader()
    rejected: dict = {}
    by_family = tasks_for_database(DbSpec(sqlite_path=str(path)), "q", per_family=15, grader=grader,
                                   progress=False, rejected=rejected)
    for family in ("debug", "analyst", "repair"):
        assert len(by_family[family]) >= 10, (family, rejected[family].lines())
    for task in [t for tasks in by_family.values() for t in tasks]:
        if task.corruption == "legacy_migration":
            continue  # copies a whole table, every column included, by design
        text = " ".join([task.gold_sql or "", *(task.gold_repair_sql or []), task.question])
        assert "last_update" not in text and "OriginalGenreId" not in text, task.task_id
        if task.family in ("debug", "analyst"):
            rows = grader.reference(task).rows
            assert result_problem(task.gold_sql, rows, task.question) is None, task.task_id
