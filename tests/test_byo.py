"""Bring your own database: ``build-data --from-sql PATH --dialect postgres`` and ``--from-sqlite PATH``
generate debug, analyst and repair tasks for databases the generators have never seen, and those
tasks play end to end through ``DataOpsEnv`` (the correct script solves each one).

Demonstrated on defog-data databases read from ``data/external``: broker, car_dealership and
ewallet as PostgreSQL dumps, and yelp as a SQLite file. (The others hold a handful of rows per table:
they get debug and analyst tasks, and no repair task, since a corruption needs rows to hide in.)
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from env_server.families import make_grader
from env_server.__main__ import main as cli
from env_server.episode.environment import DataOpsEnv
from env_server.grading.grader import Grader
from env_server.tasks.registry import load_tasks
from env_server.tools.exploits import Context, play

try:
    from env_server.tasks.external import defog_dir

    DEFOG = defog_dir()
except FileNotFoundError:  # pragma: no cover - committed in data/external
    DEFOG = None

pytestmark = pytest.mark.skipif(DEFOG is None, reason="data/external/defog-data is not available")
PER_FAMILY = 4


def _check(out, name: str) -> None:
    tasks = load_tasks(out)
    families = {t.family for t in tasks}
    assert families == {"debug", "analyst", "repair"}, families
    for family in families:
        assert sum(t.family == family for t in tasks) == PER_FAMILY
    assert all(t.task_id.startswith(f"{t.family}-{name}-") for t in tasks)
    grader = make_grader()
    env = DataOpsEnv(tasks, grader=grader)
    ctx = Context(grader=grader)
    for family in sorted(families):
        task = next(t for t in tasks if t.family == family)
        outcome = play(env, task, "correct", ctx)
        assert outcome.success and outcome.reward >= 0.9, outcome
        assert play(env, task, {"debug": "empty", "analyst": "empty", "repair": "early_finish"}[family], ctx).reward <= 0.1


@pytest.mark.parametrize("name", ["broker", "car_dealership", "ewallet"])
def test_from_sql_postgres_dump(tmp_path, capsys, name):
    out = tmp_path / f"{name}.tasks.jsonl"
    cli(["build-data", "--from-sql", str(DEFOG / name / f"{name}.sql"), "--dialect", "postgres",
         "--per-family", str(PER_FAMILY), "--out", str(out), "--quiet"])
    assert f"wrote {3 * PER_FAMILY} tasks" in capsys.readouterr().out
    # the database is referenced by a path relative to the task file, not copied
    paths = {json.loads(line)["db"]["sql_path"] for line in out.read_text().splitlines()}
    assert len(paths) == 1 and not Path(paths.pop()).is_absolute()
    _check(out, name.replace("_", "-"))


def test_tiny_database_gets_no_repair_tasks_and_says_why(tmp_path, capsys):
    out = tmp_path / "academic.jsonl"
    cli(["build-data", "--from-sql", str(DEFOG / "academic" / "academic.sql"), "--dialect", "postgres",
         "--per-family", "2", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert "repair: 0" in printed and "too few rows" in printed
    assert {t.family for t in load_tasks(out)} == {"debug", "analyst"}


def test_from_sqlite_file(tmp_path, capsys):
    from env_server.ingest.transpile import sqlite_from_file

    source = sqlite_from_file(DEFOG / "yelp" / "yelp.sql")
    path = tmp_path / "my shop.sqlite"
    target = sqlite3.connect(path)
    source.backup(target)
    target.close()
    out = tmp_path / "mine.jsonl"
    cli(["build-data", "--from-sqlite", str(path), "--per-family", str(PER_FAMILY), "--out", str(out), "--quiet"])
    _check(out, "my-shop")


def test_bad_inputs_fail_with_a_clear_message(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        cli(["build-data", "--from-sqlite", str(tmp_path / "missing.sqlite"), "--out", str(tmp_path / "x.jsonl")])
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1,;\n")
    with pytest.raises(SystemExit, match="bad.sql"):
        cli(["build-data", "--from-sql", str(bad), "--dialect", "postgres", "--out", str(tmp_path / "x.jsonl")])
    with pytest.raises(SystemExit):
        cli(["build-data", "--from-sqlite", str(bad), "--families", "grounded", "--out", str(tmp_path / "x.jsonl")])


def test_the_summary_of_a_binary_or_non_utf8_dump_ends_cleanly(tmp_path):
    """A pg_dump -Fc archive is binary: the build's summary step once read it as UTF-8 text and died with a
    traceback after writing the tasks (issue 28)."""
    from env_server.tasks.byo import dump_summary

    archive = tmp_path / "shop.dump"
    archive.write_bytes(b"PGDMP\x01\x0e\x00" + bytes(range(256)))
    assert dump_summary(archive, "postgres") == ["a pg_dump custom-format archive, restored by PostgreSQL's pg_restore"]
    latin = tmp_path / "latin.sql"
    latin.write_bytes("CREATE TABLE t (name text); -- caf\u00e9\n".encode("latin-1"))
    assert dump_summary(latin, "postgres") == ["not UTF-8 text: no summary of what the dump reader kept"]
    assert dump_summary(archive, None) == []
