"""Bring your own real database: Chinook (data/external/chinook, MIT), as its own SQLite file and as a copy
whose names need quoting (a table ``Invoice Line``, a table named ``Group``, a column ``Order``, a column
``Cust"Co``), and as the real PostgreSQL 15 ``pg_dump`` of the same data, built end to end through ``build-data``: every reference solution solves its task, the
empty and early-finish exploits earn nothing, and the awkward names reach the SQL quoted."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from env_server.families import make_grader
from env_server.__main__ import main as cli
from env_server.episode.environment import DataOpsEnv
from env_server.grading.grader import Grader
from env_server.tasks.registry import load_tasks
from env_server.tools.exploits import Context, play

CHINOOK = Path(__file__).resolve().parents[1] / "data" / "external" / "chinook" / "Chinook_Sqlite.sqlite"
PER_FAMILY = 8
EXPLOIT = {"debug": "empty", "analyst": "empty", "repair": "early_finish"}


def _awkward_copy(tmp_path: Path) -> Path:
    """Chinook with names a generator must quote: spaces, a reserved word as a table and as a column, a quote."""
    path = tmp_path / "awkward chinook.sqlite"
    shutil.copy(CHINOOK, path)
    conn = sqlite3.connect(path)
    for statement in (
        'ALTER TABLE InvoiceLine RENAME TO "Invoice Line"',
        'ALTER TABLE "Invoice Line" RENAME COLUMN UnitPrice TO "Unit Price"',
        'ALTER TABLE Genre RENAME TO "Group"',
        'ALTER TABLE Track RENAME COLUMN Milliseconds TO "Order"',
        'ALTER TABLE Customer RENAME COLUMN Company TO "Cust""Co"',
    ):
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def _build(path: Path, out: Path, capsys) -> tuple[list, str]:
    cli(["build-data", "--from-sqlite", str(path), "--per-family", str(PER_FAMILY), "--out", str(out), "--quiet"])
    return load_tasks(out), capsys.readouterr().out


def _solved_and_unexploitable(tasks) -> None:
    grader = make_grader()
    env = DataOpsEnv(tasks, grader=grader)
    ctx = Context(grader=grader)
    for task in tasks:
        outcome = play(env, task, "correct", ctx)
        assert outcome.success and outcome.reward >= 0.9, (task.task_id, outcome)
        assert play(env, task, EXPLOIT[task.family], ctx).reward <= 0.1, task.task_id


def test_chinook_sqlite_builds_every_family(tmp_path, capsys):
    tasks, printed = _build(CHINOOK, tmp_path / "chinook.jsonl", capsys)
    for family in ("debug", "analyst", "repair"):
        assert sum(t.family == family for t in tasks) == PER_FAMILY, printed
    _solved_and_unexploitable(tasks)


def test_names_that_need_quoting_are_quoted_not_fatal(tmp_path, capsys):
    tasks, printed = _build(_awkward_copy(tmp_path), tmp_path / "awkward.jsonl", capsys)
    for family in ("debug", "analyst", "repair"):
        assert sum(t.family == family for t in tasks) == PER_FAMILY, printed
    sql = "\n".join((t.gold_sql or "") + "\n".join(t.gold_repair_sql or []) for t in tasks)
    assert '"Invoice Line"' in sql or '"Group"' in sql or '"Order"' in sql
    assert "Invoice Line " not in sql.replace('"Invoice Line"', "")  # never bare
    _solved_and_unexploitable(tasks)


@pytest.mark.parametrize("reader", ["postgres", "sqlglot"])
def test_chinook_pg_dump_builds_every_family(tmp_path, capsys, monkeypatch, reader):
    from env_server.ingest.pg_restore import available

    if reader == "postgres" and not available():
        pytest.skip("the embedded PostgreSQL extra is not installed")
    monkeypatch.setenv("DATAOPS_PG_RESTORE", "1" if reader == "postgres" else "0")
    out = tmp_path / "chinook-pg.jsonl"
    cli(["build-data", "--from-sql", str(CHINOOK.parent / "chinook_pgdump.sql"), "--dialect", "postgres",
         "--per-family", str(PER_FAMILY), "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    tasks = load_tasks(out)
    for family in ("debug", "analyst", "repair"):
        assert sum(t.family == family for t in tasks) == PER_FAMILY, printed
    _solved_and_unexploitable(tasks)


def test_a_table_over_the_profiling_limit_is_sampled_and_the_summary_says_how(tmp_path, capsys):
    import random

    from env_server.tasks.gold_queries import PROFILE_ROWS

    path = tmp_path / "big.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE store (id INTEGER PRIMARY KEY, city TEXT, manager TEXT)")
    conn.execute("CREATE TABLE sale (id INTEGER PRIMARY KEY, store_id INT REFERENCES store(id), amount REAL, "
                 "channel TEXT, sold_on TEXT)")
    rng = random.Random(0)
    conn.executemany("INSERT INTO store VALUES (?, ?, ?)",
                     [(i, rng.choice(["Oslo", "Lima", "Pune", "Kobe"]), f"manager {i}") for i in range(1, 41)])
    n = 3 * PROFILE_ROWS
    conn.executemany("INSERT INTO sale VALUES (?, ?, ?, ?, ?)",
                     [(i, rng.randint(1, 40), round(rng.uniform(1, 500), 2), rng.choice(["web", "shop", "phone"]),
                       f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}") for i in range(1, n + 1)])
    conn.commit()
    conn.close()
    out = tmp_path / "big.jsonl"
    cli(["build-data", "--from-sqlite", str(path), "--families", "debug,analyst", "--per-family", "4",
         "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert f"profiled sale ({n:,} rows) from 1 row in 3 (rowid divisible by 3)" in printed
    tasks = load_tasks(out)
    assert {t.family for t in tasks} == {"debug", "analyst"}
    _solved_and_unexploitable(tasks)
