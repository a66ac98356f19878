"""What kind of file a bring-your-own input is, told from its first bytes, and the one-line refusal for each kind
the chosen flag cannot read.

``build-data --from-sqlite PATH`` reads a SQLite database; ``--from-sql PATH --dialect D`` reads SQL text
(a plain pg_dump, a mysqldump, a hand-written script) and, with ``--dialect postgres``, pg_dump's custom
(``-Fc``) and tar (``-Ft``) archives. :func:`check` runs before anything is built and raises
:class:`InputError` (a ``ValueError``) with one line that names the file, says what it is, and what to do
instead: a missing path, a directory (a pg_dump ``-Fd`` archive gets the command that converts it), an
empty file, a compressed file, an archive without ``--dialect postgres``, a SQLite file given to
``--from-sql`` and SQL given to ``--from-sqlite``, a dump whose header names another dialect, binary data.
What only reading the whole file can tell (its encoding, its SQL) is the loaders' to report.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "a.sql.gz").write_bytes(b"\\x1f\\x8b\\x08\\x00")
>>> kind(folder / "a.sql.gz"), kind(folder)
('gzip', 'directory')
"""
from __future__ import annotations

import re
from pathlib import Path

__all__ = ["InputError", "PG_ARCHIVES", "check", "kind", "text_dialect"]

HEAD_BYTES = 65_536
"""How much of a file is read to tell its kind."""
SQLITE_HEADER = b"SQLite format 3\x00"
PG_ARCHIVES = ("pg-custom", "pg-tar")
"""The pg_dump archive kinds read with ``--dialect postgres`` (through PostgreSQL's pg_restore)."""
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd",
               b"PK\x03\x04": "zip", b"7z\xbc\xaf\x27\x1c": "7z"}
_UNPACK = {"gzip": "gunzip -k", "bzip2": "bunzip2 -k", "xz": "unxz -k", "zstd": "unzstd", "zip": "unzip", "7z": "7z x"}
_PG_MARKERS = re.compile(r"^(-- PostgreSQL database dump|\\restrict |\\connect |COPY .* FROM stdin;)", re.MULTILINE)
_MYSQL_MARKERS = re.compile(r"^-- (MySQL|MariaDB) dump\b", re.MULTILINE)
_POSTGRES = ("postgres", "postgresql")
_MYSQL = ("mysql", "mariadb", "singlestore", "doris", "starrocks")


class InputError(ValueError):
    """The input cannot be read as given; the message is one line: the file, what it is, what to do."""


def kind(path: Path) -> str:
    """``missing``, ``directory``, ``pg-directory`` (a pg_dump ``-Fd`` archive), ``other`` (not a regular file),
    ``empty``, ``sqlite``, ``pg-custom``, ``pg-tar``, ``tar``, a compression (``gzip``, ``bzip2``, ``xz``, ``zstd``,
    ``zip``, ``7z``), ``binary`` (NUL bytes) or ``text``."""
    if not path.exists():
        return "missing"
    if path.is_dir():
        return "pg-directory" if (path / "toc.dat").is_file() else "directory"
    if not path.is_file():
        return "other"
    head = _head(path)
    if not head:
        return "empty"
    if head.startswith(SQLITE_HEADER):
        return "sqlite"
    if head.startswith(b"PGDMP"):
        return "pg-custom"
    if head[257:262] == b"ustar":
        return "pg-tar" if head[:100].split(b"\x00")[0] == b"toc.dat" else "tar"
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            return name
    return "binary" if b"\x00" in head else "text"


def text_dialect(path: Path) -> str | None:
    """``postgres`` for a file whose head looks like pg_dump output, ``mysql`` for a mysqldump, else None."""
    head = _head(path).decode("utf-8", errors="replace")
    if _MYSQL_MARKERS.search(head):
        return "mysql"
    if _PG_MARKERS.search(head):
        return "postgres"
    return None


def check(path: Path, dialect: str | None) -> str:
    """Refuse (:class:`InputError`) what ``--from-sqlite`` (``dialect`` None) or ``--from-sql --dialect
    dialect`` cannot read; returns the file's :func:`kind` otherwise."""
    found = kind(path)
    flag = "--from-sqlite" if dialect is None else "--from-sql"
    if found == "missing":
        raise InputError(f"no such file: {path}")
    if found == "pg-directory":
        raise InputError(f"{path} is a pg_dump directory-format archive (-Fd), which is read as one file only: "
                         f"convert it with `pg_restore -f {path.name}.sql {path}` and pass --from-sql {path.name}.sql "
                         "--dialect postgres (or dump again with -Fc or -Fp)")
    if found == "directory":
        raise InputError(f"{path} is a directory: pass a SQLite file (--from-sqlite PATH) or a SQL dump "
                         "(--from-sql PATH --dialect postgres|mysql|sqlite)")
    if found == "other":
        raise InputError(f"{path} is not a regular file: save the database or dump to a file and pass that")
    if found == "empty":
        raise InputError(f"{path} is empty (0 bytes): pass a SQLite database or a SQL dump with tables and rows")
    if found in _UNPACK:
        raise InputError(f"{path} is {found}-compressed: decompress it first (`{_UNPACK[found]} {path}`) and pass "
                         f"the uncompressed file to {flag}")
    if found == "tar":
        raise InputError(f"{path} is a tar archive but not a pg_dump one (no toc.dat first): extract it first and "
                         "pass the database or dump inside")
    if found in PG_ARCHIVES:
        what = f"a pg_dump {found[3:]}-format archive (-F{found[3]})"
        if dialect not in _POSTGRES:
            raise InputError(f"{path} is {what}: read it with --from-sql {path} --dialect postgres")
        return found
    if found == "sqlite":
        if dialect is not None:
            raise InputError(f"{path} is a SQLite database, not SQL text: use --from-sqlite {path}")
        return found
    if found == "binary":
        raise InputError(f"{path} is not a SQLite database nor SQL text (binary data, no known header): pass a "
                         "SQLite file to --from-sqlite or a SQL dump to --from-sql")
    written = text_dialect(path)
    given = f"--dialect is {dialect}" + (" (the default)" if dialect == "sqlite" else "")
    if dialect is None:
        hint = f"--dialect {written}" if written else "--dialect postgres|mysql|sqlite"
        raise InputError(f"{path} is not a SQLite database (it is text{', a ' + _dump(written) if written else ''}): "
                         f"if it is SQL, use --from-sql {path} {hint}")
    if written == "postgres" and dialect not in _POSTGRES:
        raise InputError(f"{path} is a {_dump(written)} but {given}: pass --dialect postgres")
    if written == "mysql" and dialect not in _MYSQL:
        raise InputError(f"{path} is a {_dump(written)} but {given}: pass --dialect mysql")
    return found


def _dump(dialect: str | None) -> str:
    return {"postgres": "PostgreSQL dump (pg_dump)", "mysql": "MySQL dump (mysqldump)"}.get(dialect or "", "SQL file")


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)
