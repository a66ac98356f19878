"""Task specs, JSONL I/O and the registry: clear errors that name the line and what to fix."""
from __future__ import annotations

import json
import sqlite3

import pytest

from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import DbSpec, Task, load_jsonl, save_jsonl

BASE = {"task_id": "a", "family": "debug", "question": "q", "broken_sql": "SELEC 1", "gold_sql": "SELECT 1"}


def test_top_level_embedded_sql_is_lifted_into_db():
    task = Task.model_validate({**BASE, "schema_sql": "CREATE TABLE t(x)", "data_sql": "INSERT INTO t VALUES (1)"})
    assert task.db.schema_sql == "CREATE TABLE t(x)" and task.db.key.startswith("sql:")


@pytest.mark.parametrize(
    "db, message",
    [
        ({}, "exactly one source"),
        ({"domain": "hr"}, "needs both"),
        ({"domain": "hr", "seed": 1, "schema_sql": "x"}, "exactly one source"),
    ],
)
def test_db_spec_errors(db, message):
    with pytest.raises(ValueError, match=message):
        DbSpec(**db)


def test_family_fields_are_required():
    with pytest.raises(ValueError, match="needs broken_sql"):
        Task.model_validate({**BASE, "broken_sql": None, "db": {"domain": "hr", "seed": 0}})


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**BASE, "db": {"domain": "hr", "seed": 0}}) + "\n\n{not json}\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:3: not valid JSON"):
        load_jsonl(path)
    path.write_text(json.dumps({**BASE, "db": {"domain": "hr", "seed": 0}, "colour": "red"}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: invalid task \(colour: Extra inputs"):
        load_jsonl(path)


def test_round_trip_is_deterministic(tmp_path):
    tasks = load_tasks(split="fixed")
    save_jsonl(tasks, tmp_path / "a.jsonl")
    again = load_jsonl(tmp_path / "a.jsonl")
    save_jsonl(again, tmp_path / "b.jsonl")
    assert again == tasks and (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_sqlite_path_resolves_relative_to_the_file(tmp_path):
    db = tmp_path / "dbs" / "x.sqlite"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({**BASE, "sqlite_path": "dbs/x.sqlite"}) + "\n")
    assert load_jsonl(path)[0].db.sqlite_path == str(db.resolve())


def test_registry_rejects_duplicates_and_suggests_ids():
    tasks = load_tasks(split="fixed")
    with pytest.raises(ValueError, match="duplicate"):
        TaskRegistry(tasks + tasks[:1])
    registry = TaskRegistry(tasks)
    with pytest.raises(KeyError, match="did you mean debug-fixed-logic_fix"):
        registry.get("debug-fixed-logic_fx")
    assert len(registry.filter(difficulty="hard", family="debug")) == 2


def test_load_tasks_filters_and_reads_folders(tmp_path):
    assert {t.split for t in load_tasks(split="heldout_ood")} == {"heldout_ood"}
    save_jsonl(load_tasks(split="fixed", family="debug"), tmp_path / "x.jsonl")
    assert len(load_tasks(tmp_path)) == 4


ANALYST = {"task_id": "f", "family": "analyst", "db": {"domain": "hr", "seed": 0}, "gold_sql": "SELECT 1.5",
           "answer_type": "float", "question": "What is it? Answer with a number rounded to 2 decimals."}


def test_float_tolerance_is_the_stated_precision_or_a_legacy_relative_number(tmp_path):
    from env_server.grading.answers import Precision

    task = Task.model_validate({**ANALYST, "tolerance": {"decimals": 2}})
    assert task.tolerance == Precision(2)
    legacy = Task.model_validate({**ANALYST, "task_id": "g", "tolerance": 0.0001})  # older files load as before
    assert legacy.tolerance == 0.0001 and not isinstance(legacy.tolerance, Precision)
    path = tmp_path / "tasks.jsonl"
    save_jsonl([task, legacy], path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["tolerance"] for line in lines] == [{"decimals": 2}, 0.0001]
    assert load_jsonl(path) == [task, legacy]
    for bad in ({"decimals": 2, "places": 2}, {"decimals": 13}, {"decimals": -1}, -0.1, float("nan")):
        with pytest.raises(ValueError, match="tolerance"):
            Task.model_validate({**ANALYST, "tolerance": bad})
