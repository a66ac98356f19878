"""env_server/ingest/pg_dump.py through ``transpile.load_file``: a real PostgreSQL 15 ``pg_dump`` (Chinook, MIT, in
data/external/chinook) loads with the same rows, keys and foreign keys as Chinook's own SQLite build, and a
dump using every construct a real one may hold (meta-commands, enums, domains, functions with ``$$`` bodies,
triggers, views, identity and sequence defaults, arrays, jsonb, uuid, bytea, booleans, COPY escapes, keys
added afterwards, indexes) loads with what SQLite can keep, says what it skipped, and a broken statement
is reported with its own line and text."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from env_server.ingest.pg_dump import is_pg_dump, prepare
from env_server.ingest.transpile import TranspileError, sqlite_from_file

CHINOOK = Path(__file__).resolve().parents[1] / "data" / "external" / "chinook"


@pytest.fixture(autouse=True)
def _sqlglot_reader(monkeypatch):
    """These tests are about the sqlglot reader: keep the embedded PostgreSQL (tests/test_pg_restore.py) out."""
    monkeypatch.setenv("DATAOPS_PG_RESTORE", "0")

DUMP = (Path(__file__).parent / "data" / "shop_pgdump.sql").read_text()
"""A dump with every construct a real one may hold (written for these tests)."""


def test_real_pg_dump_matches_the_sqlite_build_of_the_same_data():
    dump = sqlite_from_file(CHINOOK / "chinook_pgdump.sql")
    original = sqlite3.connect(CHINOOK / "Chinook_Sqlite.sqlite")
    tables = {name for (name,) in dump.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert len(tables) == 11
    for table, theirs in [("invoice_line", "InvoiceLine"), ("track", "Track"), ("customer", "Customer"),
                          ("playlist_track", "PlaylistTrack")]:
        assert dump.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == \
            original.execute(f"SELECT COUNT(*) FROM {theirs}").fetchone()
    assert dump.execute("SELECT ROUND(SUM(total), 2) FROM invoice").fetchone() == \
        original.execute("SELECT ROUND(SUM(Total), 2) FROM Invoice").fetchone()
    keys = {row[2] for row in dump.execute("PRAGMA foreign_key_list(invoice_line)")}
    assert keys == {"invoice", "track"}
    assert [r[1] for r in dump.execute("PRAGMA table_info(invoice)") if r[5]] == ["invoice_id"]  # primary key
    assert dump.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchone()[0] > 0


def test_every_construct_of_a_dump_loads_or_is_skipped_and_counted(tmp_path):
    assert is_pg_dump(DUMP)
    prepared = prepare(DUMP)
    assert prepared.skipped == {"function": 1, "view": 1, "trigger": 1, "expression or partial index": 1}
    path = tmp_path / "shop.sql"
    path.write_text(DUMP)
    conn = sqlite_from_file(path)
    rows = conn.execute('SELECT id, person_id, feeling, born, tags, extra, ref, blob, active, note '
                        'FROM "Order Details" ORDER BY id').fetchall()
    assert rows[0] == (1, 1, "sad", 1990, "{a,b}", '{"k": 1}', "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\\x00ff", 1,
                       "line\nbreak")
    assert rows[1] == (2, None, "ok", None, None, None, None, None, 0, "back\\slash")
    assert conn.execute("SELECT name FROM person ORDER BY person_id").fetchall() == [("Ann",), ("Bo\tTab",)]
    # the enum's values are a CHECK; the keys added afterwards are in the table; the plain index is kept
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("""INSERT INTO "Order Details" (id, feeling) VALUES (3, 'angry')""")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO person (person_id, name) VALUES (3, 'Ann')")
    assert [r[2] for r in conn.execute('PRAGMA foreign_key_list("Order Details")')] == ["person"]
    assert [r[5] for r in conn.execute('PRAGMA table_info("Order Details")') if r[1] == "id"] == [1]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "od_person_idx" in indexes and "od_lower_idx" not in indexes


def test_a_broken_statement_is_named_by_its_own_line_and_text(tmp_path):
    broken = DUMP.replace("    note character varying(40)\n", "    note character varying(40) CHEKC (x)\n")
    path = tmp_path / "broken.sql"
    path.write_text(broken)
    with pytest.raises(TranspileError) as error:
        sqlite_from_file(path)
    message = str(error.value)
    line = broken.split("\n").index('CREATE TABLE shop."Order Details" (') + 1
    assert f"line {line}" in message and "CHEKC" in message and str(path) in message
    bad_copy = DUMP.replace("1\tAnn\n", "1\tAnn\textra\n")
    path.write_text(bad_copy)
    with pytest.raises(TranspileError, match=r"line \d+: COPY row has 3 fields, person lists 2 columns"):
        sqlite_from_file(path)


def test_hand_written_script_with_keys_added_afterwards(tmp_path):
    """ALTER TABLE ... ADD CONSTRAINT after the data, a plain CREATE INDEX (sqlglot would write NULLS LAST),
    an N'...' literal."""
    path = tmp_path / "script.sql"
    path.write_text(
        "CREATE TABLE artist (id integer NOT NULL, name text);\n"
        "CREATE TABLE album (id integer NOT NULL, artist_id integer, title text);\n"
        "INSERT INTO artist VALUES (1, N'Rock');\n"
        "INSERT INTO album VALUES (1, 1, 'First');\n"
        "ALTER TABLE artist ADD CONSTRAINT artist_pk PRIMARY KEY (id);\n"
        "ALTER TABLE album ADD CONSTRAINT album_artist_fk FOREIGN KEY (artist_id) REFERENCES artist (id);\n"
        "CREATE INDEX album_title ON album (title);\n"
    )
    conn = sqlite_from_file(path)
    assert conn.execute("SELECT a.name, b.title FROM album b JOIN artist a ON a.id = b.artist_id").fetchall() == \
        [("Rock", "First")]
    assert [r[2] for r in conn.execute("PRAGMA foreign_key_list(album)")] == ["artist"]
