"""A SQL dump's bytes as text: UTF-8 (a byte-order mark dropped), or the encoding the dump itself declares.

pg_dump writes in the database's encoding and says so (``SET client_encoding = 'LATIN1';``); mysqldump says
``SET NAMES latin1``. :func:`read_sql_text` decodes UTF-8 first and, when that fails, the declared encoding;
a file that is neither gets a :class:`~env_server.ingest.transpile.TranspileError` naming the line and
byte, and the ``iconv`` command that converts it.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "d.sql"
>>> _ = path.write_bytes("SET client_encoding = 'LATIN1';\\nINSERT INTO t VALUES ('caf\\u00e9');\\n".encode("latin-1"))
>>> read_sql_text(path).splitlines()[1]
"INSERT INTO t VALUES ('café');"
>>> python_codec("WIN1252"), python_codec("LATIN9"), python_codec("utf8mb4"), python_codec("klingon")
('cp1252', 'iso8859-15', 'utf-8', None)
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path

__all__ = ["python_codec", "read_sql_text"]

_DECLARED = re.compile(
    r"^\s*(?:SET\s+client_encoding\s*(?:=|TO)\s*'([\w-]+)'"  # pg_dump
    r"|\\encoding\s+([\w-]+)"  # psql
    r"|(?:/\*!\d+\s+)?SET\s+NAMES\s+'?([\w-]+))",  # mysqldump
    re.IGNORECASE | re.MULTILINE)
_HEAD_CHARS = 65_536
_PG_LATIN = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "9", "6": "10", "7": "13", "8": "14", "9": "15", "10": "16"}
_NAMES = {"sql_ascii": "latin-1", "utf8mb4": "utf-8", "utf8mb3": "utf-8", "latin1": "cp1252", "euc_jp": "euc_jp",
          "sjis": "shift_jis", "win866": "cp866", "koi8r": "koi8_r", "koi8u": "koi8_u", "binary": "latin-1"}
"""Encoding names of PostgreSQL and MySQL that are not Python codec names (MySQL's latin1 is cp1252)."""


def python_codec(name: str) -> str | None:
    """The Python codec for an encoding name as PostgreSQL or MySQL spell it, or None if there is none."""
    lowered = name.lower()
    if lowered in _NAMES:
        return _NAMES[lowered]
    latin = re.fullmatch(r"latin(\d+)", lowered)
    if latin and latin.group(1) in _PG_LATIN:
        return f"iso8859-{_PG_LATIN[latin.group(1)]}"
    windows = re.fullmatch(r"win(\d{3,4})", lowered)
    candidate = f"cp{windows.group(1)}" if windows else lowered
    try:
        return codecs.lookup(candidate).name
    except LookupError:
        return None


def read_sql_text(path: str | Path) -> str:
    """The text of the dump at ``path`` (see the module docstring)."""
    from env_server.ingest.transpile import TranspileError

    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        failure = exc
    head = data[:_HEAD_CHARS].decode("ascii", errors="replace")
    for match in _DECLARED.finditer(head):
        declared = next(g for g in match.groups() if g)
        codec = python_codec(declared)
        if codec is None or codec == "utf-8":
            continue
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    line = data.count(b"\n", 0, failure.start) + 1
    raise TranspileError(f"{path} is not UTF-8 text (line {line} has byte 0x{data[failure.start]:02x}) and declares no "
                         f"other encoding: convert it first, e.g. `iconv -f latin1 -t utf-8 {path} > utf8.sql`, "
                         "or add SET client_encoding = 'LATIN1'; at its top")
