"""Read PostgreSQL ``pg_dump`` plain-format output (and hand-written PostgreSQL scripts) into SQLite.

A real dump is more than ``CREATE TABLE`` and ``INSERT``: it opens with psql meta-commands
(``\\restrict``) and ``SET`` lines, declares enums, domains, sequences, functions, triggers and views,
loads its data in ``COPY … FROM stdin;`` blocks, and adds its keys afterwards with ``ALTER TABLE ONLY …
ADD CONSTRAINT``. :func:`prepare` turns such a file into what :mod:`env_server.ingest.transpile` reads, with
every kept statement on the same line as in the file (so an error names the file's own line and shows
its own text):

* psql meta-commands, ``SET``, ``set_config``/``setval`` calls, ``COMMENT ON``, ``OWNER TO``, grants,
  extensions and schemas are dropped (no SQLite meaning);
* ``CREATE TYPE … AS ENUM`` becomes ``TEXT`` wherever the type is used, with ``CHECK (col IN (…))``;
  ``CREATE DOMAIN`` becomes its base type;
* sequences are dropped and ``nextval(…)`` defaults with them: the key column stays an integer key;
* ``ALTER TABLE … ADD CONSTRAINT`` primary, unique and foreign keys are folded into the table's
  ``CREATE TABLE``; ``CREATE INDEX`` keeps its plain column list (``USING btree`` and schemas dropped);
* functions, procedures, triggers, views, rules, policies, aggregates and operators are skipped and
  counted (:attr:`Prepared.skipped`, one summary line each);
* arrays, ``json``/``jsonb``, ``uuid``, ``tsvector`` and other types with no SQLite counterpart are
  stored as ``TEXT`` (``bytea`` as ``BLOB``);
* ``COPY`` blocks are parsed (tab-separated, ``\\N`` for NULL, backslash escapes) and loaded row by row,
  ``t``/``f`` into boolean columns as 1/0.

>>> p = prepare("CREATE TYPE mood AS ENUM ('sad', 'ok');\\nCREATE TABLE t (id integer NOT NULL, m mood);\\n"
...             "ALTER TABLE ONLY t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\\nCOPY t (id, m) FROM stdin;\\n1\\tok\\n\\\\.\\n")
>>> print(p.sql.strip())
CREATE TABLE t (id integer NOT NULL, m TEXT CHECK (m IN ('sad', 'ok')), CONSTRAINT t_pkey PRIMARY KEY (id));
>>> p.copies[0].rows
[['1', 'ok']]
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from env_server.core.identifiers import quote_ident
from env_server.core.variants import _split_top_level as split_top_level

__all__ = ["Copy", "Prepared", "is_pg_dump", "prepare", "unescape_copy_field"]

_DUMP_MARKERS = re.compile(r"^(-- PostgreSQL database dump|\\restrict |COPY .* FROM stdin;)", re.MULTILINE)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"(?:{_NAME}\.)?{_NAME}"
_DOLLAR = re.compile(r"\$[A-Za-z_]*\$")

_DROPPED = (
    "SET ", "RESET ", "COMMENT ON ", "GRANT ", "REVOKE ", "CREATE EXTENSION", "CREATE SCHEMA", "ALTER SCHEMA",
    "ALTER DEFAULT PRIVILEGES", "SELECT PG_CATALOG.SET_CONFIG", "SELECT PG_CATALOG.SETVAL", "CREATE SEQUENCE",
    "ALTER SEQUENCE", "CREATE PUBLICATION", "CREATE SUBSCRIPTION", "CREATE STATISTICS", "SECURITY LABEL",
    "ALTER TYPE", "ALTER DOMAIN", "ALTER FUNCTION", "ALTER AGGREGATE", "ALTER VIEW", "ALTER MATERIALIZED VIEW",
    "REFRESH MATERIALIZED VIEW", "ALTER EVENT TRIGGER", "ALTER TEXT SEARCH", "CREATE TEXT SEARCH", "CREATE CAST",
    "CREATE COLLATION", "BEGIN", "COMMIT", "START TRANSACTION",
)
"""Statement openings dropped without a word: settings, ownership, privileges, sequences, transactions."""

_SKIPPED = {
    "function": re.compile(r"^CREATE (OR REPLACE )?(FUNCTION|PROCEDURE)\b"),
    "trigger": re.compile(r"^CREATE (OR REPLACE )?(CONSTRAINT )?(EVENT )?TRIGGER\b"),
    "view": re.compile(r"^CREATE (OR REPLACE )?((TEMP|TEMPORARY|RECURSIVE|MATERIALIZED) )?VIEW\b"),
    "rule": re.compile(r"^CREATE (OR REPLACE )?RULE\b"),
    "policy": re.compile(r"^(CREATE|ALTER) POLICY\b"),
    "aggregate": re.compile(r"^CREATE (OR REPLACE )?AGGREGATE\b"),
    "operator": re.compile(r"^CREATE OPERATOR\b"),
    "composite type": re.compile(r"^CREATE TYPE\b"),
}
"""Objects with no SQLite counterpart that a dump may hold: skipped, and counted by kind."""

_ENUM = re.compile(rf"^CREATE TYPE ({_QUALIFIED}) AS ENUM \((.*)\)\s*;$", re.IGNORECASE | re.DOTALL)
_DOMAIN = re.compile(rf"^CREATE DOMAIN ({_QUALIFIED}) AS (.+?)(\s+(DEFAULT|CONSTRAINT|CHECK|NOT NULL|NULL|COLLATE)\b.*)?;$",
                     re.IGNORECASE | re.DOTALL)
_ADD_CONSTRAINT = re.compile(
    rf"^ALTER TABLE (?:ONLY )?({_QUALIFIED}) ADD CONSTRAINT ({_NAME}) ((PRIMARY KEY|UNIQUE|FOREIGN KEY)\b.*);$",
    re.IGNORECASE | re.DOTALL)
_ALTER_TABLE = re.compile(r"^ALTER TABLE\b", re.IGNORECASE)
_CREATE_TABLE = re.compile(rf"^CREATE (?:UNLOGGED )?TABLE ({_QUALIFIED})\s*\(", re.IGNORECASE)
_INDEX = re.compile(
    rf"^CREATE (UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?({_NAME}) ON (?:ONLY )?({_QUALIFIED})"
    rf"(?: USING \w+)? \(([^()]*)\)\s*;$", re.IGNORECASE | re.DOTALL)
_COPY = re.compile(rf"^COPY ({_QUALIFIED})\s*(?:\(([^)]*)\))?\s+FROM stdin;$", re.IGNORECASE | re.DOTALL)
_NEXTVAL_DEFAULT = re.compile(r"\s+DEFAULT\s+nextval\((?:[^()]|\([^()]*\))*\)", re.IGNORECASE)
_IDENTITY = re.compile(r"\s+GENERATED (ALWAYS|BY DEFAULT) AS IDENTITY(\s*\((?:[^()]|\([^()]*\))*\))?", re.IGNORECASE)
_ARRAY_TYPE = re.compile(
    r"\b(?:[A-Za-z_][\w.]*)(?:\s+(?:varying|precision|without time zone|with time zone))?"
    r"(?:\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\[\d*\])+", re.IGNORECASE)
_TEXT_TYPES = re.compile(
    r"\b(jsonb?|uuid|tsvector|tsquery|inet|cidr|macaddr8?|xml|point|line|lseg|box|path|polygon|circle|"
    r"int4range|int8range|numrange|tsrange|tstzrange|daterange|bit varying|varbit|pg_lsn|txid_snapshot|"
    r"regclass|oid|citext|hstore|ltree)\b(?![\w.(])", re.IGNORECASE)
_BYTEA = re.compile(r"\bbytea\b", re.IGNORECASE)
_BOOLEAN_COLUMN = re.compile(rf"^\s*({_NAME})\s+(boolean|bool)\b", re.IGNORECASE)
_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_COPY_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)")


@dataclass
class Copy:
    """One ``COPY … FROM stdin`` block: its table, its columns and its rows (each field text or ``None``)."""

    table: str
    columns: list[str]
    rows: list[list[str | None]]
    line: int
    """Line of the ``COPY`` statement in the file."""


@dataclass
class Prepared:
    """A dump made ready for :mod:`env_server.ingest.transpile`: the SQL text to transpile (kept statements on their
    own lines), the ``COPY`` blocks to load after it, and what was skipped."""

    sql: str
    copies: list[Copy] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    """Objects skipped by kind (function, trigger, view, ...)."""
    booleans: dict[str, set[str]] = field(default_factory=dict)
    """Boolean columns of each table (unquoted names): their ``COPY`` values ``t``/``f`` load as 1/0."""

    def summary(self) -> list[str]:
        """One line per kind of skipped object."""
        return [f"skipped {n} {kind}{'s' if n != 1 else ''} (no SQLite counterpart)" for kind, n in sorted(self.skipped.items())]


def is_pg_dump(text: str) -> bool:
    """Whether ``text`` looks like ``pg_dump`` output (its header, a ``\\restrict`` line or a ``COPY`` block)."""
    return bool(_DUMP_MARKERS.search(text[:200_000]) or "FROM stdin;" in text)


def unquote(name: str) -> str:
    """A possibly quoted, possibly schema-qualified name as the bare table or column name.

    >>> unquote('public."Order Details"'), unquote("public.album"), unquote('"a""b"')
    ('Order Details', 'album', 'a"b')
    """
    parts = re.findall(r'"((?:[^"]|"")+)"|([^."]+)', name.strip())
    quoted, plain = parts[-1]
    return quoted.replace('""', '"') if quoted else plain


def unescape_copy_field(text: str) -> str | None:
    """One ``COPY`` text-format field as its value: ``\\N`` is NULL, backslash escapes are decoded.

    >>> unescape_copy_field("\\\\N"), unescape_copy_field("a\\\\tb"), unescape_copy_field("c:\\\\\\\\x")
    (None, 'a\\tb', 'c:\\\\x')
    """
    if text == "\\N":
        return None
    if "\\" not in text:
        return text

    def decode(match: re.Match) -> str:
        code = match.group(1)
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _COPY_ESCAPES.get(code, code)

    return _COPY_ESCAPE.sub(decode, text)


def _statements(text: str):
    """``(first line, statement text, copy rows or None)`` for each statement; psql meta-commands and comment
    lines are not statements. A ``COPY … FROM stdin;`` statement carries the data lines up to ``\\.``."""
    lines = text.split("\n")
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith(("--", "\\")):
            i += 1
            continue
        start, chunk, dollar = i, [], None
        while i < n:
            chunk.append(lines[i])
            for tag in _DOLLAR.findall(_without_comment(lines[i])):
                dollar = None if dollar == tag else (dollar or tag)
            i += 1
            if dollar is None and _without_comment(lines[i - 1]).rstrip().endswith(";"):
                break
        statement = "\n".join(chunk)
        rows = None
        if _COPY.match(statement.strip()):
            rows = []
            while i < n and lines[i].rstrip("\r") != "\\.":  # a dump saved with CRLF line ends too
                rows.append(lines[i].rstrip("\r"))
                i += 1
            i += 1  # the \. line
        yield start + 1, statement, rows


def _without_comment(line: str) -> str:
    """``line`` without a trailing ``--`` comment (outside quotes)."""
    if "--" not in line:
        return line
    out, quoted = [], False
    for index, char in enumerate(line):
        if char == "'":
            quoted = not quoted
        if not quoted and line.startswith("--", index):
            break
        out.append(char)
    return "".join(out)


def _type_pattern(name: str) -> re.Pattern:
    """A use of the user type ``name`` (bare or schema-qualified, maybe quoted) as a column type."""
    bare = re.escape(name)
    return re.compile(rf'(?<![\w"])(?:{_NAME}\.)?(?:"{bare}"|{bare})(?![\w"])(?!\s*\()', re.IGNORECASE)


def prepare(text: str) -> Prepared:
    """The dump ``text`` as :class:`Prepared`: SQL for the transpiler, ``COPY`` data, skipped objects."""
    out_lines = [""] * (text.count("\n") + 1)
    enums: dict[str, str] = {}
    domains: dict[str, str] = {}
    tables: dict[str, tuple[int, str]] = {}  # table -> (line, statement), constraints folded in at the end
    constraints: dict[str, list[str]] = {}
    others: list[tuple[int, str]] = []
    prepared = Prepared(sql="")
    for line, statement, rows in _statements(text):
        body = statement.strip()
        upper = " ".join(body.split()).upper()
        if rows is not None:
            match = _COPY.match(body)
            columns = [unquote(c) for c in match.group(2).split(",")] if match.group(2) else []
            prepared.copies.append(Copy(unquote(match.group(1)), columns, [r.split("\t") for r in rows], line))
            continue
        if upper.startswith(_DROPPED):
            continue
        enum = _ENUM.match(body)
        if enum:
            enums[unquote(enum.group(1))] = enum.group(2).strip()
            continue
        domain = _DOMAIN.match(body)
        if domain:
            domains[unquote(domain.group(1))] = domain.group(2).strip()
            continue
        kind = next((k for k, pattern in _SKIPPED.items() if pattern.match(upper)), None)
        if kind is not None:
            prepared.skipped[kind] += 1
            continue
        added = _ADD_CONSTRAINT.match(" ".join(body.split()))
        if added:
            constraints.setdefault(unquote(added.group(1)), []).append(f"CONSTRAINT {added.group(2)} {added.group(3).strip()}")
            continue
        if _ALTER_TABLE.match(body):
            continue  # nextval defaults, OWNER TO, identity, ENABLE TRIGGER, CLUSTER ON ...: no SQLite meaning
        created = _CREATE_TABLE.match(body)
        if created:
            tables[unquote(created.group(1))] = (line, body)
            continue
        index = _INDEX.match(" ".join(body.split()))
        if index:
            columns = index.group(4)
            if re.fullmatch(rf"\s*{_NAME}(\s+(ASC|DESC))?(\s*,\s*{_NAME}(\s+(ASC|DESC))?)*\s*", columns, re.IGNORECASE):
                table = quote_ident(unquote(index.group(3)))
                others.append((line, f"CREATE {index.group(1) or ''}INDEX {index.group(2)} ON {table} ({columns.strip()});"))
            else:
                prepared.skipped["expression or partial index"] += 1
            continue
        if upper.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
            prepared.skipped["expression or partial index"] += 1
            continue
        others.append((line, body))
    for name, (line, body) in tables.items():
        body = _table_types(body, enums, domains)
        prepared.booleans[name] = {unquote(m.group(1)) for m in map(_BOOLEAN_COLUMN.match, _column_lines(body)) if m}
        extra = constraints.get(name, [])
        if extra:
            close = body.rstrip().rstrip(";").rstrip()
            assert close.endswith(")")
            body = close[:-1].rstrip() + ", " + ", ".join(extra) + ");"
        _place(out_lines, line, body)
    for line, body in others:
        _place(out_lines, line, _table_types(body, enums, domains) if body.upper().startswith("INSERT") else body)
    prepared.sql = "\n".join(out_lines)
    return prepared


def _column_lines(body: str) -> list[str]:
    """The comma-separated parts of a ``CREATE TABLE``'s parenthesised body (quotes and nested parentheses kept)."""
    return split_top_level(body[body.index("(") + 1: body.rstrip().rstrip(";").rstrip().rindex(")")])


def _table_types(body: str, enums: dict[str, str], domains: dict[str, str]) -> str:
    """A ``CREATE TABLE`` with user types replaced (enum -> TEXT + CHECK, domain -> base type), sequence and
    identity defaults dropped, and types SQLite has no counterpart for stored as TEXT or BLOB."""
    body = _NEXTVAL_DEFAULT.sub("", body)
    body = _IDENTITY.sub("", body)
    if not _CREATE_TABLE.match(body):
        return body
    head = body.partition("(")[0]
    columns = _column_lines(body)
    tail = body.rstrip().rstrip(";").rstrip()
    rewritten = []
    for column in columns:
        match = re.match(rf"(\s*)({_NAME})(\s+)(.*)$", column, re.DOTALL)
        if not match or match.group(2).upper() in {"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE"}:
            rewritten.append(column)
            continue
        name, definition = match.group(2), match.group(4)
        for enum, values in enums.items():
            pattern = _type_pattern(enum)
            typed = bool(pattern.match(definition))
            definition = pattern.sub("TEXT", definition)  # the column's type and any ::enum cast in a default
            if typed:
                definition += f" CHECK ({name} IN ({values}))"
        for domain, base in domains.items():
            definition = _type_pattern(domain).sub(base, definition)
        definition = _ARRAY_TYPE.sub("TEXT", definition, count=1)
        definition = _TEXT_TYPES.sub("TEXT", definition, count=1)
        definition = _BYTEA.sub("BLOB", definition, count=1)
        rewritten.append(f"{match.group(1)}{name}{match.group(3)}{definition}")
    closing = tail[tail.rindex(")"):]
    return head + "(" + ",".join(rewritten) + closing + ";"


def _place(out_lines: list[str], line: int, body: str) -> None:
    """Put ``body`` at ``line`` (1-based), its own lines below it, without shifting any other statement."""
    for offset, text in enumerate(body.split("\n")):
        index = line - 1 + offset
        if index < len(out_lines):
            out_lines[index] = text if not out_lines[index] else out_lines[index] + " " + text
        else:
            out_lines.append(text)


def load_copies(conn, prepared: Prepared, source: str) -> int:
    """Insert every ``COPY`` block of ``prepared`` into ``conn`` (its tables already created); returns the rows
    loaded. Raises :class:`~env_server.ingest.transpile.TranspileError` naming the block's line on a bad row."""
    import sqlite3

    from env_server.ingest.transpile import TranspileError

    loaded = 0
    for copy in prepared.copies:
        table = quote_ident(copy.table)
        columns = copy.columns or [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if not columns:
            raise TranspileError(f"{source}: line {copy.line}: COPY into {copy.table}, which the dump never creates")
        booleans = [i for i, c in enumerate(columns) if c in prepared.booleans.get(copy.table, set())]
        sql = f"INSERT INTO {table} ({', '.join(quote_ident(c) for c in columns)}) VALUES ({', '.join('?' * len(columns))})"
        rows = []
        for offset, raw in enumerate(copy.rows, start=1):
            values = [unescape_copy_field(v) for v in raw]
            if len(values) != len(columns):
                raise TranspileError(f"{source}: line {copy.line + offset}: COPY row has {len(values)} fields, "
                                     f"{copy.table} lists {len(columns)} columns: {raw!r:.160}")
            for i in booleans:
                values[i] = {"t": 1, "f": 0}.get(values[i], values[i])
            rows.append(values)
        try:
            conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise TranspileError(f"{source}: line {copy.line}: loading COPY {copy.table}: {exc}") from None
        loaded += len(rows)
    return loaded
