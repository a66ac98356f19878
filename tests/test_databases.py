"""Task databases: built once per identity, variants distinct, clones private, files supported."""
from __future__ import annotations

import sqlite3

from env_server.core.databases import Databases
from env_server.core.schema import introspect
from env_server.tasks.spec import DbSpec


def test_templates_are_built_once_and_variants_differ():
    dbs = Databases()
    spec = DbSpec(domain="hr", seed=4)
    assert dbs.template(spec) is dbs.template(DbSpec(domain="hr", seed=4))
    main = dbs.template(spec).conn.execute("SELECT COUNT(*), SUM(salary) FROM employees").fetchone()
    variant = dbs.template(spec, 1).conn.execute("SELECT COUNT(*), SUM(salary) FROM employees").fetchone()
    assert main != variant and dbs.cache.builds == 2


def test_clones_are_private_copies():
    dbs = Databases()
    spec = DbSpec(schema_sql="CREATE TABLE t(x INTEGER)", data_sql="INSERT INTO t VALUES (1), (2)")
    a = dbs.clone(spec)
    a.execute("DELETE FROM t")
    assert dbs.clone(spec).execute("SELECT COUNT(*) FROM t").fetchone() == (2,)


def test_sqlite_file_databases_and_schema(tmp_path):
    path = tmp_path / "x.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE a(id INTEGER PRIMARY KEY, v REAL); CREATE TABLE b(id INTEGER PRIMARY KEY, "
                       "a_id INTEGER REFERENCES a(id)); INSERT INTO a(v) VALUES (1.5);")
    conn.close()
    dbs = Databases()
    schema = dbs.schema(DbSpec(sqlite_path=str(path)))
    assert schema.table_names == ["a", "b"] and schema.foreign_keys() == [("b", "a_id", "a", "id")]
    assert "b(id INTEGER PK, a_id INTEGER -> a.id)  -- 0 rows" in schema.text


def test_introspect_reports_keys_and_counts():
    conn = sqlite3.connect(":memory:")
    conn.executescript("CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO p(name) VALUES ('x');")
    table = introspect(conn).table("P")
    assert table is not None and table.row_count == 1 and table.column("name").not_null


def test_inspect_reads_the_template_under_its_lock():
    dbs = Databases()
    spec = DbSpec(schema_sql="CREATE TABLE t(x INTEGER)", data_sql="INSERT INTO t VALUES (1), (2)")
    template = dbs.template(spec)

    def read(conn, schema):
        assert conn is template.conn and not template.lock.acquire(blocking=False)  # held by inspect
        return schema.table_names, conn.execute("SELECT SUM(x) FROM t").fetchone()[0]

    assert dbs.inspect(spec, read) == (["t"], 3)
    assert template.lock.acquire(blocking=False)  # released afterwards
    template.lock.release()
