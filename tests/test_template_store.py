"""The template store: a slow build saved on disk is loaded by another Databases (another process, a restart)
instead of built; keys include the code that builds databases; the warm command fills it."""
from __future__ import annotations

import sqlite3

from env_server.core.databases import Databases
from env_server.core.template_store import TemplateStore, code_version
from env_server.tasks.spec import DbSpec

DB = DbSpec(schema_sql="CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL, k TEXT);",
            data_sql="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                     "INSERT INTO t SELECT i, i * 1.5, 'k' || (i % 7) FROM n;")


def _rows(databases: Databases, variant: int) -> list[tuple]:
    template = databases.template(DB, variant)
    with template.lock:
        return template.conn.execute("SELECT rowid, * FROM t").fetchall()


def test_a_stored_template_is_loaded_not_built_and_is_the_same(tmp_path):
    first = Databases(store=TemplateStore(tmp_path, min_build_s=0.0))
    built = [_rows(first, v) for v in range(4)]
    assert first.cache.store.saves == 4 and len(list(tmp_path.glob("*.sqlite"))) == 4
    second = Databases(store=TemplateStore(tmp_path, min_build_s=0.0))  # another process, or a restart
    assert [_rows(second, v) for v in range(4)] == built  # variants included: same rows, same physical order
    assert second.cache.store.loads == 4 and second.cache.store.saves == 0


def test_fast_builds_are_not_stored_and_keys_carry_the_code_version(tmp_path):
    store = TemplateStore(tmp_path, min_build_s=3600.0)
    databases = Databases(store=store)
    _rows(databases, 0)
    assert store.saves == 0 and not list(tmp_path.glob("*.sqlite"))
    assert code_version() and store.path(("x", 0)) != TemplateStore(tmp_path / "other").path(("x", 1))


def test_an_unreadable_stored_file_is_removed_and_the_template_built(tmp_path):
    store = TemplateStore(tmp_path, min_build_s=0.0)
    key = (Databases(store=None).identity(DB), 0)
    store.folder.mkdir(parents=True, exist_ok=True)
    store.path(key).write_bytes(b"not a database")
    conn = sqlite3.connect(":memory:")
    assert not store.load(key, conn) and not store.path(key).exists()
    assert len(_rows(Databases(store=store), 0)) == 3000


def test_the_warm_command_fills_the_store_for_the_next_process(tmp_path, monkeypatch):
    from env_server.tools.warm import warm

    monkeypatch.setenv("DATAOPS_CACHE_DIR", str(tmp_path))
    first = warm(task_ids=["debug-fixed-syntax_fix"], progress=False)
    assert first["tasks"] == 1 and first["saved_to_store"] == 4 and not first["failed"]
    again = warm(task_ids=["debug-fixed-syntax_fix"], progress=False)
    assert again["loaded_from_store"] == 4 and again["saved_to_store"] == 0
