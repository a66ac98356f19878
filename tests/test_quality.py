"""env_server/tasks/quality.py: the rules a generated task must pass, each attacked with the degenerate case it
refuses, then checked on everything a bring-your-own build of Chinook writes (with a bookkeeping column stamped
once for every row and a foreign key that is NULL everywhere, as in Sakila)."""
from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

from env_server.families import make_grader
from env_server.core.schema import introspect
from env_server.families import analyst
from env_server.grading.grader import Grader
from env_server.tasks.byo import tasks_for_database
from env_server.tasks.gold_queries import synthesise
from env_server.tasks.quality import (
    edge_problem,
    formulation_problem,
    is_constant,
    result_problem,
)
from env_server.tasks.rejections import Rejections
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


def test_dead_joins_are_refused_and_two_keys_to_one_parent_are_not():
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
    # two keys to one parent are joined by role (env_server.tasks.join_roles), not refused
    assert edge_problem(conn, "film", "language_id", "language", "id", fks) is None
    assert edge_problem(conn, "review", "film_id", "film", "id", fks).startswith("dead join")
    assert edge_problem(conn, "film", "language_id", "language", "id", fks[:1]) is None


def test_two_formulations_must_agree():
    conn = sqlite3.connect(":memory:")
    conn.executescript("""
        CREATE TABLE studio (code TEXT UNIQUE, name TEXT);
        CREATE TABLE album (id INTEGER PRIMARY KEY, studio_code TEXT REFERENCES studio (code));
        INSERT INTO studio VALUES ('a', 'Abbey'), ('b', 'Berlin'), (NULL, 'Nowhere');
        INSERT INTO album VALUES (1, 'a');
    """)
    not_exists = "SELECT name FROM studio AS s WHERE NOT EXISTS (SELECT 1 FROM album AS a WHERE a.studio_code = s.code)"
    not_in = "SELECT name FROM studio AS s WHERE s.code NOT IN (SELECT studio_code FROM album WHERE studio_code IS NOT NULL)"
    left_join = ("SELECT s.name FROM studio AS s LEFT JOIN album AS a ON a.studio_code = s.code "
                 "WHERE a.id IS NULL")
    # a NULL key: "studios with no album" is Berlin under NOT IN, Berlin and Nowhere under NOT EXISTS
    rows = conn.execute(not_exists).fetchall()
    assert formulation_problem(conn, rows, not_in).startswith("formulations disagree")
    assert formulation_problem(conn, rows, left_join) is None
    assert formulation_problem(conn, rows, None) is None
    assert formulation_problem(conn, rows, "SELECT nope FROM studio").startswith("formulations disagree")


def _null_keyed_database(path: Path) -> None:
    """Parents keyed by a UNIQUE code that is NULL on some rows, each with a name, a size and a city;
    children referencing them (one parent has none)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE studio (code TEXT UNIQUE, name TEXT, rooms INTEGER, city TEXT)")
    conn.execute("CREATE TABLE album (id INTEGER PRIMARY KEY, title TEXT, studio_code TEXT REFERENCES studio (code), "
                 "minutes REAL, genre TEXT)")
    cities = ["Oslo", "Lima", "Kyiv", "Pune"]
    studios = [(f"s{i}" if i % 5 else None, f"Studio {i}", 1 + (i * 7) % 13, cities[i % 4]) for i in range(40)]
    conn.executemany("INSERT INTO studio VALUES (?, ?, ?, ?)", studios)
    coded = [s[0] for s in studios if s[0] is not None]
    albums = [(i, f"Album {i}", coded[(i * 3) % (len(coded) - 6)], 20 + (i * 11) % 47 + i / 100,
               ["rock", "jazz", "folk"][i % 3]) for i in range(1, 200)]
    conn.executemany("INSERT INTO album VALUES (?, ?, ?, ?, ?)", albums)
    conn.commit()
    conn.close()


def test_strict_builds_drop_anti_joins_whose_formulations_disagree(tmp_path):
    path = tmp_path / "studios.sqlite"
    _null_keyed_database(path)
    db = DbSpec(sqlite_path=str(path))
    grader = make_grader()
    loose = list(analyst.tasks_for_db(grader, "byo", db, "s", ["count_childless", "childless_parents"],
                                      per_database=10))
    assert loose, "the templates apply to this database when the rule is off"
    rejected = Rejections()
    strict = list(analyst.tasks_for_db(grader, "byo", db, "s", ["count_childless", "childless_parents"],
                                       per_database=10, rejected=rejected, strict=True))
    # counting the childless studios depends on the NULL codes (NOT EXISTS counts them, NOT IN does not): dropped;
    # listing their codes does not (a NULL code cannot be listed), so with the table keyed by rowid it stays
    assert [t.task_id for t in strict if "count_childless" in t.task_id] == []
    assert all("IS NOT NULL" in t.gold_sql for t in strict)
    assert any(r.startswith("formulations disagree") for r in rejected), rejected
    # the same database with every key present: both formulations agree and the tasks are kept
    conn = sqlite3.connect(path)
    conn.execute("UPDATE studio SET code = 'n' || rowid WHERE code IS NULL")
    conn.commit()
    conn.close()
    fixed = list(analyst.tasks_for_db(make_grader(), "byo", DbSpec(sqlite_path=str(path)), "s",
                                      ["count_childless", "childless_parents"], per_database=10, strict=True))
    assert fixed


def test_debug_references_carry_their_second_formulation_and_it_agrees_on_chinook():
    conn = sqlite3.connect(f"file:{CHINOOK}?mode=ro", uri=True)
    golds = synthesise(conn, introspect(conn), random.Random(3), strict=True)
    with_alternative = {g.template: g for g in golds if g.alternative}
    assert {"anti_join", "window_rank"} <= set(with_alternative), sorted(with_alternative)
    for gold in with_alternative.values():
        assert formulation_problem(conn, conn.execute(gold.sql).fetchall(), gold.alternative) is None, gold.template


def test_a_byo_build_keeps_only_tasks_that_pass_every_rule(tmp_path):
    path = tmp_path / "chinook.sqlite"
    shutil.copy(CHINOOK, path)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE Track ADD COLUMN last_update TEXT DEFAULT '2006-02-15 05:03:42'")
    conn.execute("ALTER TABLE Track ADD COLUMN OriginalGenreId INTEGER REFERENCES Genre (GenreId)")
    conn.commit()
    conn.close()
    grader = make_grader()
    rejected: dict = {}
    by_family = tasks_for_database(DbSpec(sqlite_path=str(path)), "q", per_family=15, grader=grader,
                                   progress=False, rejected=rejected)
    for family in ("debug", "analyst", "repair"):
        assert len(by_family[family]) >= 10, (family, rejected[family].lines())
    reasons = " | ".join(rejected["debug"])
    assert "constant column" in reasons and "dead join" in reasons, reasons
    for task in [t for tasks in by_family.values() for t in tasks]:
        if task.corruption == "legacy_migration":
            continue  # copies a whole table, every column included, by design
        text = " ".join([task.gold_sql or "", *(task.gold_repair_sql or []), task.question])
        assert "last_update" not in text and "OriginalGenreId" not in text, task.task_id
        if task.family in ("debug", "analyst"):
            rows = grader.reference(task).rows
            assert result_problem(task.gold_sql, rows, task.question) is None, task.task_id
