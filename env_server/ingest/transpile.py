"""Transpile a PostgreSQL (or other sqlglot dialect) SQL file into SQLite, deterministically.

Used to load databases written for other engines (the defog-data databases in
``data/external/defog-data``) into SQLite. sqlglot parses every statement, this module rewrites
the syntax tree where SQLite needs something else, and sqlglot generates the SQLite text:

* every current-time function (``NOW()``, ``CURRENT_DATE``, ``CURRENT_TIMESTAMP``, ``LOCALTIMESTAMP``,
  ...) is pinned to ``now``, and each constant expression around it (``NOW() - INTERVAL '5 days'``,
  ``DATE_TRUNC('month', CURRENT_DATE)``, ``EXTRACT(EPOCH FROM ...)``, ``TO_CHAR(...)``, casts) is
  evaluated once, at transpile time, into an ISO text or number literal, so two builds are identical;
* a value inserted into a column takes the column's declared type, as PostgreSQL would store it
  (a timestamp into a ``DATE`` column keeps its date, a numeric into ``BIGINT`` is rounded);
* ``BOOLEAN`` true/false become 1/0; ``SERIAL``/``BIGSERIAL`` become ``INTEGER`` (an ``INTEGER PRIMARY
  KEY`` when the column is the primary key, so SQLite numbers omitted ids itself);
* schema qualifiers (``public.author``, ``consumer_div.users``) are dropped: SQLite has one schema;
* ``PRIMARY KEY`` and ``REFERENCES`` clauses are kept, so ``PRAGMA foreign_key_list`` sees them;
* interval arithmetic over columns becomes ``DATETIME(x, '+N unit')``;
* ``CREATE SCHEMA``, ``SET``, ``COMMENT ON``, transaction statements and MySQL's ``LOCK``/``UNLOCK TABLES``
  are dropped (no SQLite meaning).

Errors are :class:`TranspileError`: the message names the file, the statement number and line, a
snippet, and what to fix.

Size: over 600 lines because every dialect construct sqlglot leaves to us (types, defaults, sequences, COPY blocks, MySQL table options, ...) is one small rewrite of one shared pass, each with its own test.
"""
from __future__ import annotations

import calendar
import math
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.parser import Parser
from sqlglot.tokens import Token, TokenType

from env_server.core import sqlglot_quiet
from env_server.core.sandbox import scratch

sqlglot_quiet.install()  # a Command fallback is either dropped (LOCK TABLES) or refused with our own message

REFERENCE_NOW = "2025-01-30 12:00:00"
"""The instant every current-time function is pinned to. 2025-01-30 is the date of the defog-data
commit this project reads (856295d8...), so relative dates in that data ("8 days ago") land where
their authors saw them; noon keeps ``CURRENT_DATE`` and ``NOW()`` on the same day in any zone."""

_SNIPPET_CHARS = 160


class TranspileError(ValueError):
    """A statement could not be transpiled or loaded; the message says where and what to fix."""


@dataclass(frozen=True)
class _Interval:
    """A PostgreSQL interval: months, days and microseconds are kept apart, as PostgreSQL does."""

    months: int = 0
    days: int = 0
    micros: int = 0

    def negated(self) -> _Interval:
        """The interval pointing the other way."""
        return _Interval(-self.months, -self.days, -self.micros)

    def plus(self, other: _Interval) -> _Interval:
        """The sum of two intervals."""
        return _Interval(self.months + other.months, self.days + other.days, self.micros + other.micros)

    def times(self, factor: int) -> _Interval:
        """The interval repeated ``factor`` times."""
        return _Interval(self.months * factor, self.days * factor, self.micros * factor)


Value = None | bool | int | Decimal | float | str | date | datetime | time | _Interval
"""What a constant expression evaluates to at transpile time."""


class _CannotFold(Exception):
    """The expression is not a constant this module can evaluate; it is left to SQLite."""


@dataclass(frozen=True)
class _Statement:
    """One source statement and its SQLite text."""

    number: int
    line: int
    snippet: str
    sql: str


@dataclass(frozen=True)
class _Context:
    """What the rewrite of one file needs: the pinned time and the column types declared so far."""

    now: datetime
    source: str
    tables: dict[str, list[tuple[str, exp.DataType | None]]]
    """Lower-cased table name -> its columns (lower-cased name, declared type), in declared order."""
    indexes: list[exp.Expr] = field(default_factory=list)
    """``CREATE INDEX`` statements owed by the statement just rewritten (MySQL's inline ``KEY name (cols)``)."""


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def to_sqlite_statements(
    sql_text: str, dialect: str = "postgres", now: str = REFERENCE_NOW, source: str = "<sql>"
) -> list[str]:
    """The SQLite statements equivalent to ``sql_text`` (written in ``dialect``), in order.

    Statements with no SQLite meaning (``CREATE SCHEMA``, ``SET``, ``COMMENT ON``, ``BEGIN``...) are
    dropped. ``now`` ("YYYY-MM-DD HH:MM:SS") pins every current-time function; ``source`` names the
    input in error messages. Raises :class:`TranspileError`.
    """
    return [statement.sql for statement in _transpile(sql_text, dialect, now, source)]


def load_into(
    conn: sqlite3.Connection,
    sql_text: str,
    dialect: str = "postgres",
    now: str = REFERENCE_NOW,
    source: str = "<sql>",
) -> None:
    """Transpile ``sql_text`` and execute it into ``conn`` in one transaction, then commit.

    The input is trusted (it runs without an authorizer). On any failure the transaction is rolled
    back and a :class:`TranspileError` names the statement.
    """
    statements = _transpile(sql_text, dialect, now, source)
    if conn.in_transaction:
        raise TranspileError(f"{source}: the connection has an open transaction; commit or roll it back before loading")
    conn.execute("BEGIN")
    try:
        for statement in statements:
            _execute(conn, statement, source)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def load_file(
    conn: sqlite3.Connection, path: str | Path, dialect: str = "postgres", now: str = REFERENCE_NOW
) -> None:
    """Load the SQL file at ``path`` into ``conn`` (see :func:`load_into`)."""
    path = Path(path)
    if dialect in ("postgres", "postgresql"):
        from env_server.ingest import pg_restore

        archive = pg_restore.archive_format(path)
        if archive is not None:
            if not pg_restore.available():
                raise TranspileError(f"{path} is a pg_dump {archive}-format archive; reading it needs PostgreSQL's "
                                     f"pg_restore: {pg_restore.INSTALL_HINT}, or dump it again as plain SQL (-Fp)")
            pg_restore.load_dump(conn, path)
            return
    from env_server.ingest.encoding import read_sql_text

    text = read_sql_text(path)
    if dialect in ("postgres", "postgresql"):
        from env_server.ingest import pg_dump, pg_restore

        if pg_dump.is_pg_dump(text) and pg_restore.available():
            pg_restore.load_dump(conn, path)  # the database that wrote the dump reads it
            return
        if pg_dump.is_pg_dump(text) or "\nALTER TABLE" in text or text.lstrip().startswith("\\"):
            _load_dump(conn, pg_dump, text, now, str(path))
            return
    load_into(conn, text, dialect=dialect, now=now, source=str(path))


def _load_dump(conn: sqlite3.Connection, pg_dump, text: str, now: str, source: str) -> None:
    """A ``pg_dump`` file (or a PostgreSQL script with ``ALTER TABLE``): :func:`env_server.ingest.pg_dump.prepare`,
    then the kept statements through the transpiler, then the ``COPY`` data, in one transaction."""
    prepared = pg_dump.prepare(text)
    load_into(conn, prepared.sql, dialect="postgres", now=now, source=source)
    conn.execute("BEGIN")
    try:
        pg_dump.load_copies(conn, prepared, source)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def sqlite_from_file(path: str | Path, dialect: str = "postgres", now: str = REFERENCE_NOW) -> sqlite3.Connection:
    """A new in-memory SQLite database holding the SQL file at ``path``."""
    conn = scratch()
    try:
        load_file(conn, path, dialect=dialect, now=now)
    except BaseException:
        conn.close()
        raise
    return conn


# --------------------------------------------------------------------------------------------------
# Splitting, parsing, executing
# --------------------------------------------------------------------------------------------------


def _transpile(sql_text: str, dialect: str, now: str, source: str) -> list[_Statement]:
    """Parse, rewrite and generate every statement of ``sql_text``."""
    context = _Context(now=_parse_now(now, source), source=source, tables={})
    engine = _dialect(dialect, source)
    parser = _parser(engine)
    statements: list[_Statement] = []
    for number, tokens in enumerate(_split(sql_text, engine, source), start=1):
        where = _where(source, number, tokens, sql_text)
        tree = _parse(parser, tokens, sql_text, dialect, where)
        rewritten = _rewrite(tree, context, where)
        if rewritten is None:
            continue
        try:
            sql = rewritten.sql(dialect="sqlite")
        except SqlglotError as err:
            raise TranspileError(f"{where}: sqlglot cannot write it as SQLite ({err}). Fix: simplify the statement") from err
        statements.append(_Statement(number, tokens[0].line, _snippet(sql_text, tokens), sql))
        for index in context.indexes:
            statements.append(_Statement(number, tokens[0].line, _snippet(sql_text, tokens), index.sql(dialect="sqlite")))
        context.indexes.clear()
    return statements


def _execute(conn: sqlite3.Connection, statement: _Statement, source: str) -> None:
    """Run one transpiled statement; a SQLite error becomes a :class:`TranspileError` naming it."""
    try:
        conn.execute(statement.sql)
    except sqlite3.Error as err:
        raise TranspileError(
            f"{source}: statement {statement.number} (line {statement.line}) failed in SQLite: {err}. "
            f"Source: `{statement.snippet}`. SQLite text: `{_shorten(statement.sql)}`. "
            "Fix the statement in the source (or extend env_server/ingest/transpile.py if it is valid there)"
        ) from err


def _parse_now(now: str, source: str) -> datetime:
    """``now`` as a naive datetime (UTC)."""
    try:
        pinned = datetime.fromisoformat(now)
    except ValueError as err:
        raise TranspileError(f"{source}: now={now!r} is not an ISO date/time; pass e.g. {REFERENCE_NOW!r}") from err
    if pinned.tzinfo is not None:
        pinned = pinned.astimezone(timezone.utc).replace(tzinfo=None)
    return pinned


def _dialect(name: str, source: str) -> Dialect:
    """The sqlglot dialect called ``name``."""
    try:
        return Dialect.get_or_raise(name)
    except (ValueError, SqlglotError) as err:
        raise TranspileError(f"{source}: unknown SQL dialect {name!r}; pass a sqlglot dialect name such as 'postgres'") from err


def _parser(engine: Dialect) -> Parser:
    """A parser for ``engine`` whose ``TO_CHAR`` also understands MySQL-style ``%`` formats.

    defog's broker data calls ``TO_CHAR(ts, '%Y%m%d %H:%i:%s')``; the column it fills is documented as
    "yyyyMMdd HH:mm:ss". PostgreSQL itself would print most of those letters literally, and sqlglot's
    PostgreSQL format mapping turns the ``d`` into a day of the week. A ``%`` never occurs in a
    PostgreSQL template, so a format holding one is read as the MySQL format its author meant. The
    override lives on this parser instance only.
    """
    parser = engine.parser()
    original = parser.FUNCTIONS.get("TO_CHAR")
    if original is None:
        return parser

    def build_to_char(args: list[exp.Expr]) -> exp.Expr:
        fmt = args[1] if len(args) > 1 else None
        if isinstance(fmt, exp.Literal) and fmt.is_string and "%" in fmt.this and len(args) == 2:
            return exp.TimeToStr(this=args[0], format=exp.Literal.string(_mysql_format(fmt.this)))
        try:
            return original(args)
        except TypeError:
            return original(args, dialect=engine)

    parser.FUNCTIONS = {**parser.FUNCTIONS, "TO_CHAR": build_to_char}
    return parser


_MYSQL_FORMAT = {
    "Y": "%Y", "y": "%y", "m": "%m", "c": "%-m", "d": "%d", "e": "%-d", "H": "%H", "k": "%-H",
    "h": "%I", "I": "%I", "l": "%-I", "i": "%M", "s": "%S", "S": "%S", "f": "%f", "p": "%p",
    "M": "%B", "b": "%b", "W": "%A", "a": "%a", "j": "%j", "T": "%H:%M:%S", "%": "%%",
}


def _mysql_format(fmt: str) -> str:
    """A MySQL ``DATE_FORMAT`` pattern as the strftime pattern sqlglot uses internally."""
    out: list[str] = []
    index = 0
    while index < len(fmt):
        char = fmt[index]
        if char == "%" and index + 1 < len(fmt):
            code = fmt[index + 1]
            out.append(_MYSQL_FORMAT.get(code, code))
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _split(sql_text: str, engine: Dialect, source: str) -> list[list[Token]]:
    """The tokens of each statement (split at top-level semicolons; comment-only chunks dropped)."""
    try:
        tokens = engine.tokenize(sql_text)
    except (TokenError, SqlglotError) as err:
        raise TranspileError(
            f"{source}: cannot tokenize the SQL ({err}). Fix: look for an unterminated string, quoted identifier or comment"
        ) from err
    chunks: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(token)
    return [chunk for chunk in chunks if chunk]


def _parse(parser: Parser, tokens: list[Token], sql_text: str, dialect: str, where: str) -> exp.Expr:
    """Parse one statement's tokens."""
    try:
        trees = [tree for tree in parser.parse(tokens, sql_text) if tree is not None]
    except ParseError as err:
        detail = err.errors[0].get("description") if err.errors else str(err)
        at = ""
        line = err.errors[0].get("line") if err.errors else None
        lines = sql_text.split("\n")
        if isinstance(line, int) and 0 < line <= len(lines):
            at = f" at line {line}: `{_shorten(lines[line - 1])}`"
        raise TranspileError(f"{where}: does not parse as {dialect} SQL ({detail}){at}. Fix the statement's syntax") from err
    except SqlglotError as err:
        raise TranspileError(f"{where}: does not parse as {dialect} SQL ({err}). Fix the statement's syntax") from err
    if len(trees) != 1:
        raise TranspileError(f"{where}: expected one statement, found {len(trees)}. Fix: end each statement with ';'")
    return trees[0]


def _where(source: str, number: int, tokens: list[Token], sql_text: str) -> str:
    """``file: statement N (line L) `snippet``` for error messages."""
    return f"{source}: statement {number} (line {tokens[0].line}) `{_snippet(sql_text, tokens)}`"


def _snippet(sql_text: str, tokens: list[Token]) -> str:
    """The statement's source text, whitespace collapsed, shortened."""
    return _shorten(sql_text[tokens[0].start : tokens[-1].end + 1])


def _shorten(text: str) -> str:
    """``text`` on one line, at most ``_SNIPPET_CHARS`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 3] + "..."


# --------------------------------------------------------------------------------------------------
# Statement rewrites
# --------------------------------------------------------------------------------------------------


def _rewrite(tree: exp.Expr, context: _Context, where: str) -> exp.Expr | None:
    """The statement rewritten for SQLite, or None when it has no SQLite meaning."""
    if _is_noop(tree):
        return None
    _refuse_unsupported(tree, where)
    _strip_schemas(tree)
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        _rewrite_create_table(tree.this, context)
        for prop in list(tree.find_all(*_STORAGE_PROPERTIES)):  # ENGINE=InnoDB, CHARSET=...: nothing in SQLite
            prop.pop()
    elif isinstance(tree, exp.Insert):
        _rewrite_insert(tree, context)
    for national in list(tree.find_all(exp.National)):  # N'text': SQLite strings are already Unicode
        national.replace(exp.Literal.string(national.this))
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        for ordered in list(tree.this.find_all(exp.Ordered)):  # SQLite has no NULLS FIRST/LAST in an index
            if ordered.args.get("desc"):
                ordered.set("nulls_first", None)
            else:
                ordered.replace(ordered.this)
    tree = _fold_tree(tree, context.now)
    tree = _interval_arithmetic_to_datetime(tree)
    leftover = tree.find(exp.Interval)
    if leftover is not None:
        raise TranspileError(
            f"{where}: SQLite has no INTERVAL type and `{leftover.sql('postgres')}` is not added to or "
            "subtracted from a date here. Fix: write the date arithmetic as `x + INTERVAL '...'`"
        )
    return tree


def _is_noop(tree: exp.Expr) -> bool:
    """Statements without SQLite meaning: schemas, extensions, settings, comments, transactions."""
    if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() in {"SCHEMA", "EXTENSION"}:
        return True
    # MySQL dumps wrap each table's rows in LOCK TABLES ... / UNLOCK TABLES: nothing to lock here.
    if isinstance(tree, exp.Command) and str(tree.this).split()[0].upper() in _NOOP_COMMANDS:
        return True
    # The loader runs the whole file in its own transaction, so the file's own BEGIN/COMMIT go.
    return isinstance(tree, (exp.Set, exp.Comment, exp.Transaction, exp.Commit, exp.Rollback))


_NOOP_COMMANDS = frozenset({"LOCK", "UNLOCK"})
_STORAGE_PROPERTIES = (exp.EngineProperty, exp.AutoIncrementProperty, exp.CharacterSetProperty, exp.CollateProperty)


def _refuse_unsupported(tree: exp.Expr, where: str) -> None:
    """Raise for statements SQLite cannot run whatever the rewrite."""
    if isinstance(tree, exp.Command):
        raise TranspileError(
            f"{where}: sqlglot does not understand this statement (kept as an opaque command). "
            "Fix: remove it or rewrite it in standard SQL"
        )
    if isinstance(tree, exp.Alter) and tree.find(exp.AddConstraint) is not None:
        raise TranspileError(
            f"{where}: SQLite cannot add a constraint to an existing table. "
            "Fix: declare the PRIMARY KEY / FOREIGN KEY inside CREATE TABLE"
        )


def _strip_schemas(tree: exp.Expr) -> None:
    """Drop schema and catalog qualifiers (``public.author`` -> ``author``): SQLite has one schema."""
    for node in tree.find_all(exp.Table, exp.Column):
        node.set("db", None)
        node.set("catalog", None)


_SERIALS = {"SERIAL", "BIGSERIAL", "SMALLSERIAL"}
_UNSIGNED_INTEGERS = {"UINT", "UBIGINT", "USMALLINT", "UTINYINT", "UMEDIUMINT", "UINT128", "UINT256"}
"""MySQL's ``INT UNSIGNED`` and friends: SQLite integers (an ``INTEGER PRIMARY KEY`` stays a rowid alias)."""
_TEXT_LIKE = {"ENUM", "ENUM8", "ENUM16", "SET"}
"""MySQL's ``ENUM(...)`` and ``SET(...)``: stored as their text."""


def _rewrite_create_table(schema: exp.Schema, context: _Context) -> None:
    """Record the column types, turn SERIAL into INTEGER and fold each DEFAULT to a literal."""
    columns: list[tuple[str, exp.DataType | None]] = []
    for column in schema.expressions:
        if not isinstance(column, exp.ColumnDef):
            continue
        kind = column.args.get("kind")
        if isinstance(kind, exp.DataType) and kind.this.name in _SERIALS:
            # With a PRIMARY KEY this is SQLite's INTEGER PRIMARY KEY (a rowid alias): an omitted id is
            # numbered max(id) + 1 by SQLite. Without one SQLite cannot generate values; callers supply them.
            kind = exp.DataType.build("INTEGER")
            column.set("kind", kind)
        elif isinstance(kind, exp.DataType) and kind.this.name in _UNSIGNED_INTEGERS | _TEXT_LIKE:
            kind = exp.DataType.build("INTEGER" if kind.this.name in _UNSIGNED_INTEGERS else "TEXT")
            column.set("kind", kind)
        for constraint in column.args.get("constraints") or []:
            if isinstance(constraint.kind, exp.DefaultColumnConstraint):
                _fold_default(constraint.kind, kind, context.now)
        columns.append((column.name.lower(), kind if isinstance(kind, exp.DataType) else None))
    table = schema.this
    if isinstance(table, exp.Table):
        context.tables[table.name.lower()] = columns
        _move_inline_keys(schema, table, context)


def _move_inline_keys(schema: exp.Schema, table: exp.Table, context: _Context) -> None:
    """MySQL's inline ``UNIQUE KEY name (cols)`` becomes SQLite's ``UNIQUE (cols)``; an inline ``KEY name
    (cols)`` leaves the table for a ``CREATE INDEX`` run right after it."""
    for item in list(schema.expressions):
        if isinstance(item, exp.UniqueColumnConstraint) and isinstance(item.this, exp.Schema):
            item.set("this", exp.Schema(expressions=item.this.expressions))
        elif isinstance(item, exp.IndexColumnConstraint):
            columns = [exp.Ordered(this=exp.column(c.name, quoted=True), nulls_first=True) for c in item.expressions]
            name = f"{table.name}_{item.this.name if item.this else '_'.join(c.name for c in item.expressions)}"
            context.indexes.append(exp.Create(
                kind="INDEX",
                this=exp.Index(this=exp.to_identifier(name, quoted=True), table=exp.Table(this=exp.to_identifier(table.name, quoted=True)),
                               params=exp.IndexParameters(columns=columns)),
            ))
            item.pop()


def _fold_default(default: exp.DefaultColumnConstraint, kind: exp.DataType | None, now: datetime) -> None:
    """Replace a DEFAULT's expression by its literal value (``DEFAULT NOW()`` -> the pinned time).

    SQLite accepts only literals or parenthesised expressions as defaults, so an expression that cannot
    be folded is parenthesised.
    """
    expression = default.this
    literal = _fold_to_literal(expression, now, kind)
    if literal is not None:
        default.set("this", literal)
    elif not isinstance(expression, (exp.Literal, exp.Null, exp.Paren)):
        default.set("this", exp.Paren(this=expression))


def _rewrite_insert(insert: exp.Insert, context: _Context) -> None:
    """Fold every VALUES item to a literal of its target column's type (as PostgreSQL would store it)."""
    values = insert.expression
    if not isinstance(values, exp.Values):
        return
    target = insert.this
    table = target.this if isinstance(target, exp.Schema) else target
    declared = context.tables.get(table.name.lower(), []) if isinstance(table, exp.Table) else []
    types = dict(declared)
    if isinstance(target, exp.Schema) and target.expressions:
        names = [column.name.lower() for column in target.expressions]
    else:
        names = [name for name, _ in declared]
    for row in values.expressions:
        if not isinstance(row, exp.Tuple):
            continue
        items = []
        for index, item in enumerate(row.expressions):
            kind = types.get(names[index]) if index < len(names) else None
            items.append(_fold_to_literal(item, context.now, kind) or item)
        row.set("expressions", items)


def _fold_tree(tree: exp.Expr, now: datetime) -> exp.Expr:
    """Replace each maximal constant subexpression (top-down) by its literal value; return the root."""
    if not isinstance(tree, (exp.Literal, exp.Null)):
        literal = _fold_to_literal(tree, now, None)
        if literal is not None:
            return tree.replace(literal) if tree.parent is not None else literal
    for child in list(tree.iter_expressions()):
        _fold_tree(child, now)
    return tree


def _fold_to_literal(node: exp.Expr, now: datetime, kind: exp.DataType | None) -> exp.Expr | None:
    """The literal ``node`` evaluates to (stored as a ``kind`` column would), or None if not constant."""
    try:
        return _literal(_store_as(_evaluate(node, now), kind))
    except _CannotFold:
        return None


def _interval_arithmetic_to_datetime(tree: exp.Expr) -> exp.Expr:
    """``x + INTERVAL '5 days'`` over a non-constant ``x`` -> ``DATETIME(x, '+5 days')`` (bottom-up)."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, (exp.Add, exp.Sub)):
            return node
        left, right = node.this, node.expression
        if isinstance(right, exp.Interval):
            base, interval_node = left, right
        elif isinstance(left, exp.Interval) and isinstance(node, exp.Add):
            base, interval_node = right, left
        else:
            return node
        try:
            interval = _interval(interval_node)
        except _CannotFold:
            return node
        if isinstance(node, exp.Sub):
            interval = interval.negated()
        modifiers = [exp.Literal.string(text) for text in _sqlite_modifiers(interval)]
        return exp.Anonymous(this="DATETIME", expressions=[base.copy(), *modifiers])

    return tree.transform(rewrite, copy=False)


def _sqlite_modifiers(interval: _Interval) -> list[str]:
    """SQLite date modifiers applying ``interval`` (months, then days, then seconds, as PostgreSQL)."""
    modifiers = []
    if interval.months:
        modifiers.append(f"{interval.months:+d} months")
    if interval.days:
        modifiers.append(f"{interval.days:+d} days")
    if interval.micros:
        seconds = Decimal(interval.micros) / Decimal(1_000_000)
        modifiers.append(f"{'+' if seconds >= 0 else ''}{seconds.normalize():f} seconds")
    return modifiers


# --------------------------------------------------------------------------------------------------
# Constant evaluation
# --------------------------------------------------------------------------------------------------

_NOW_FUNCTIONS = {"NOW", "TRANSACTION_TIMESTAMP", "STATEMENT_TIMESTAMP", "CLOCK_TIMESTAMP", "LOCALTIMESTAMP", "GETDATE", "SYSDATE"}
_TIMESTAMP_NODES = tuple(
    getattr(exp, name)
    for name in ("CurrentTimestamp", "CurrentDatetime", "Localtimestamp", "CurrentTimestampLTZ")
    if hasattr(exp, name)
)
_TIME_NODES = tuple(getattr(exp, name) for name in ("CurrentTime", "Localtime") if hasattr(exp, name))
_TRUNC_NODES = tuple(
    getattr(exp, name) for name in ("TimestampTrunc", "DateTrunc", "DatetimeTrunc") if hasattr(exp, name)
)
_DATE_ADD_NODES = (exp.DateAdd, exp.DatetimeAdd, exp.TimestampAdd)
_DATE_SUB_NODES = (exp.DateSub, exp.DatetimeSub, exp.TimestampSub)


def _evaluate(node: exp.Expr, now: datetime) -> Value:
    """The value of a constant expression, PostgreSQL semantics; raises _CannotFold otherwise."""
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else _number(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Paren):
        return _evaluate(node.this, now)
    if isinstance(node, exp.Neg):
        return _negate(_evaluate(node.this, now))
    if isinstance(node, exp.CurrentDate):
        return now.date()
    if isinstance(node, _TIMESTAMP_NODES):
        return now
    if isinstance(node, _TIME_NODES):
        return now.time()
    if isinstance(node, exp.Anonymous) and str(node.this).upper() in _NOW_FUNCTIONS and not node.expressions:
        return now
    if isinstance(node, exp.Interval):
        return _interval(node)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
        return _arithmetic(node, _evaluate(node.this, now), _evaluate(node.expression, now))
    if isinstance(node, _DATE_ADD_NODES + _DATE_SUB_NODES):
        return _date_add(node, now)
    if isinstance(node, exp.DPipe):
        return _concat([_evaluate(node.this, now), _evaluate(node.expression, now)])
    if isinstance(node, exp.Concat):
        return _concat([_evaluate(arg, now) for arg in node.expressions])
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _cast(_evaluate(node.this, now), node.to)
    if isinstance(node, _TRUNC_NODES):
        return _truncate(_unit(node.args.get("unit")), _evaluate(node.this, now))
    if isinstance(node, exp.Extract):
        return _extract(_unit(node.this), _evaluate(node.expression, now))
    if isinstance(node, exp.TimeToStr):
        return _strftime(_evaluate(node.this, now), node.args.get("format"))
    raise _CannotFold(type(node).__name__)


def _number(text: str) -> int | Decimal:
    """A numeric literal: int when integral in form, else Decimal (PostgreSQL's numeric)."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        return Decimal(text)
    except InvalidOperation as err:
        raise _CannotFold(text) from err


def _is_number(value: Value) -> bool:
    """A number, not a boolean."""
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)


def _negate(value: Value) -> Value:
    """``-value``."""
    if value is None:
        return None
    if _is_number(value):
        return -value  # type: ignore[operator]
    if isinstance(value, _Interval):
        return value.negated()
    raise _CannotFold("negation")


def _unit(node: exp.Expr | None) -> str:
    """A unit name (``Var(MONTH)`` or ``'month'``) in lower case, without a plural ``s``."""
    if node is None:
        raise _CannotFold("no unit")
    name = node.name.lower()
    return name[:-1] if name.endswith("s") and name not in {"s", "ms", "us"} else name


_UNIT_ALIASES = {
    "year": "year", "yr": "year", "y": "year", "month": "month", "mon": "month", "week": "week", "w": "week",
    "day": "day", "d": "day", "hour": "hour", "hr": "hour", "h": "hour", "minute": "minute", "min": "minute",
    "m": "minute", "second": "second", "sec": "second", "s": "second", "millisecond": "millisecond",
    "msec": "millisecond", "ms": "millisecond", "microsecond": "microsecond", "usec": "microsecond",
    "us": "microsecond", "decade": "decade", "century": "century",
}
_MICROS = {"hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000, "millisecond": 1_000, "microsecond": 1}


def _interval(node: exp.Interval) -> _Interval:
    """An ``INTERVAL '...' [unit]`` literal ("5 days", "1 year 2 months", '15' MIN)."""
    body = node.this
    if not isinstance(body, exp.Literal):
        raise _CannotFold("interval over an expression")
    text = str(body.this)
    if node.args.get("unit") is not None:
        text = f"{text} {node.args['unit'].name}"
    parts = re.findall(r"([+-]?\d+(?:\.\d+)?)\s*([A-Za-z]+)", text)
    if not parts or re.sub(r"[+-]?\d+(?:\.\d+)?\s*[A-Za-z]+", "", text).strip():
        raise _CannotFold(f"interval {text!r}")
    total = _Interval()
    for amount, unit in parts:
        total = total.plus(_interval_part(Decimal(amount), unit))
    return total


def _interval_part(amount: Decimal, unit_text: str) -> _Interval:
    """One ``<amount> <unit>`` of an interval literal."""
    lowered = unit_text.lower()
    unit = _UNIT_ALIASES.get(lowered) or _UNIT_ALIASES.get(lowered.rstrip("s"))
    if unit in {"year", "month", "decade", "century"}:
        months = amount * {"year": 12, "month": 1, "decade": 120, "century": 1200}[unit]
        if months != months.to_integral_value():
            raise _CannotFold("fractional months")
        return _Interval(months=int(months))
    if unit in {"week", "day"}:
        days = amount * (7 if unit == "week" else 1)
        whole = int(days)
        return _Interval(days=whole, micros=int((days - whole) * 86_400_000_000))
    if unit in _MICROS:
        return _Interval(micros=int(amount * _MICROS[unit]))
    raise _CannotFold(f"interval unit {unit_text!r}")


def _arithmetic(node: exp.Expr, left: Value, right: Value) -> Value:
    """``left <op> right`` for numbers, dates, timestamps and intervals."""
    if left is None or right is None:
        return None
    if _is_number(left) and _is_number(right):
        return _numeric(node, left, right)  # type: ignore[arg-type]
    add = isinstance(node, exp.Add)
    sub = isinstance(node, exp.Sub)
    if isinstance(left, _Interval) and isinstance(right, _Interval) and (add or sub):
        return left.plus(right if add else right.negated())
    if isinstance(left, _Interval) and add and isinstance(right, date):
        left, right = right, left
    if isinstance(left, date) and isinstance(right, _Interval) and (add or sub):
        return _shift(_as_datetime(left), right if add else right.negated())
    if isinstance(left, date) and not isinstance(left, datetime) and isinstance(right, int) and (add or sub):
        return left + timedelta(days=right if add else -right)
    if isinstance(left, date) and isinstance(right, date) and sub:
        if not isinstance(left, datetime) and not isinstance(right, datetime):
            return (left - right).days
        delta = _as_datetime(left) - _as_datetime(right)
        return _Interval(days=delta.days, micros=delta.seconds * 1_000_000 + delta.microseconds)
    if isinstance(left, _Interval) and isinstance(right, int) and isinstance(node, exp.Mul):
        return left.times(right)
    raise _CannotFold(f"{type(left).__name__} {type(node).__name__} {type(right).__name__}")


def _numeric(node: exp.Expr, left: Decimal | float, right: Decimal | float) -> int | Decimal | float:
    """Number arithmetic; integer division truncates toward zero, as in PostgreSQL and SQLite."""
    if isinstance(left, float) or isinstance(right, float):
        left, right = float(left), float(right)
    if isinstance(node, exp.Add):
        return left + right  # type: ignore[operator]
    if isinstance(node, exp.Sub):
        return left - right  # type: ignore[operator]
    if isinstance(node, exp.Mul):
        return left * right  # type: ignore[operator]
    if right == 0:
        raise _CannotFold("division by zero")
    if isinstance(left, int) and isinstance(right, int):
        quotient = abs(left) // abs(right)
        if isinstance(node, exp.Mod):
            return left - (quotient if (left >= 0) == (right >= 0) else -quotient) * right
        return quotient if (left >= 0) == (right >= 0) else -quotient
    if isinstance(node, exp.Mod):
        raise _CannotFold("non-integer modulo")
    return left / right  # type: ignore[operator]


def _date_add(node: exp.Expr, now: datetime) -> Value:
    """``DATE_ADD``/``DATE_SUB`` style functions (other dialects): ``this`` plus ``expression`` units."""
    base = _evaluate(node.this, now)
    amount = _evaluate(node.expression, now)
    if isinstance(amount, _Interval):
        interval = amount
    elif _is_number(amount):
        interval = _interval_part(Decimal(str(amount)), _unit(node.args.get("unit") or exp.var("day")))
    else:
        raise _CannotFold("date add amount")
    if base is None:
        return None
    if not isinstance(base, date):
        raise _CannotFold("date add base")
    return _shift(_as_datetime(base), interval.negated() if isinstance(node, _DATE_SUB_NODES) else interval)


def _concat(values: list[Value]) -> Value:
    """``a || b``: NULL if any part is NULL, as PostgreSQL's ``||``."""
    if any(value is None for value in values):
        return None
    return "".join(_as_text(value) for value in values)


def _as_datetime(value: date) -> datetime:
    """A date as midnight of that day; a datetime unchanged."""
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)


def _shift(moment: datetime, interval: _Interval) -> datetime:
    """``moment + interval``: months first (day clamped to the month's end), then days, then time."""
    month_index = moment.year * 12 + (moment.month - 1) + interval.months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    shifted = moment.replace(year=year, month=month + 1, day=day)
    return shifted + timedelta(days=interval.days, microseconds=interval.micros)


def _dated(value: Value, unit: str, refusal: str) -> tuple[datetime, str]:
    """``value`` as a datetime and ``unit`` under its canonical name; a non-date cannot be folded."""
    if not isinstance(value, date):
        raise _CannotFold(refusal)
    return _as_datetime(value), _UNIT_ALIASES.get(unit, unit)


def _truncate(unit: str, value: Value) -> Value:
    """``DATE_TRUNC(unit, value)``: a timestamp (PostgreSQL casts a date to a timestamp first)."""
    if value is None:
        return None
    moment, unit = _dated(value, unit, "truncate a non-date")
    if unit == "microsecond":
        return moment
    if unit == "millisecond":
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if unit in {"second", "minute", "hour"}:
        keep = {"second": 3, "minute": 2, "hour": 1}[unit]
        parts = [moment.hour, moment.minute, moment.second][:keep]
        return datetime(moment.year, moment.month, moment.day, *parts)
    midnight = datetime(moment.year, moment.month, moment.day)
    if unit == "day":
        return midnight
    if unit == "week":
        return midnight - timedelta(days=midnight.weekday())
    if unit == "month":
        return midnight.replace(day=1)
    if unit == "quarter":
        return midnight.replace(month=(midnight.month - 1) // 3 * 3 + 1, day=1)
    if unit in {"year", "decade", "century"}:
        span = {"year": 1, "decade": 10, "century": 100}[unit]
        year = midnight.year if span == 1 else (midnight.year // span * span if unit == "decade" else (midnight.year - 1) // 100 * 100 + 1)
        return datetime(year, 1, 1)
    raise _CannotFold(f"truncate unit {unit!r}")


def _extract(unit: str, value: Value) -> Value:
    """``EXTRACT(unit FROM value)`` for dates and timestamps (numbers, as PostgreSQL's numeric)."""
    if value is None:
        return None
    moment, unit = _dated(value, unit, "extract from a non-date")
    if unit == "epoch":
        delta = moment - datetime(1970, 1, 1)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return Decimal(micros) / Decimal(1_000_000)
    if unit == "second":
        return Decimal(moment.second) + Decimal(moment.microsecond) / Decimal(1_000_000)
    fields: dict[str, Callable[[datetime], int]] = {
        "year": lambda m: m.year,
        "month": lambda m: m.month,
        "day": lambda m: m.day,
        "hour": lambda m: m.hour,
        "minute": lambda m: m.minute,
        "millisecond": lambda m: m.second * 1000 + m.microsecond // 1000,
        "microsecond": lambda m: m.second * 1_000_000 + m.microsecond,
        "dow": lambda m: m.isoweekday() % 7,
        "isodow": lambda m: m.isoweekday(),
        "doy": lambda m: m.timetuple().tm_yday,
        "quarter": lambda m: (m.month - 1) // 3 + 1,
        "week": lambda m: m.isocalendar()[1],
        "isoyear": lambda m: m.isocalendar()[0],
        "decade": lambda m: m.year // 10,
        "century": lambda m: (m.year - 1) // 100 + 1,
    }
    if unit not in fields:
        raise _CannotFold(f"extract unit {unit!r}")
    return fields[unit](moment)


def _strftime(value: Value, fmt: exp.Expr | None) -> Value:
    """``TO_CHAR``/``STRFTIME`` of a date with sqlglot's strftime-style format."""
    if value is None:
        return None
    if not isinstance(value, date) or not isinstance(fmt, exp.Literal) or not fmt.is_string:
        raise _CannotFold("format")
    return _as_datetime(value).strftime(fmt.this)


# --------------------------------------------------------------------------------------------------
# Types: casts, storage into a column, literals
# --------------------------------------------------------------------------------------------------


def _type_set(*names: str) -> frozenset:
    """The DataType.Type members called ``names`` that this sqlglot version has."""
    return frozenset(getattr(exp.DataType.Type, name) for name in names if hasattr(exp.DataType.Type, name))


_DATE_TYPES = _type_set("DATE", "DATE32")
_TIMESTAMP_TYPES = _type_set(
    "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPLTZ", "TIMESTAMPNTZ", "DATETIME", "DATETIME2", "DATETIME64",
    "SMALLDATETIME", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS",
)
_TIME_TYPES = _type_set("TIME", "TIMETZ")
_FLOAT_TYPES = _type_set("FLOAT", "DOUBLE", "UDOUBLE")
_BOOL_TYPES = _type_set("BOOLEAN")
_INTERVAL_TYPES = _type_set("INTERVAL")


def _category(kind: exp.DataType | None) -> str | None:
    """date, timestamp, time, int, float, decimal, text, bool, interval, or None (unknown)."""
    if not isinstance(kind, exp.DataType):
        return None
    this = kind.this
    if this in _DATE_TYPES:
        return "date"
    if this in _TIMESTAMP_TYPES:
        return "timestamp"
    if this in _TIME_TYPES:
        return "time"
    if this in exp.DataType.INTEGER_TYPES or this.name in _SERIALS:
        return "int"
    if this in _FLOAT_TYPES:
        return "float"
    if this in exp.DataType.REAL_TYPES:
        return "decimal"
    if this in exp.DataType.TEXT_TYPES:
        return "text"
    if this in _BOOL_TYPES:
        return "bool"
    if this in _INTERVAL_TYPES:
        return "interval"
    return None


def _cast(value: Value, kind: exp.DataType) -> Value:
    """``CAST(value AS kind)`` with PostgreSQL semantics."""
    if value is None:
        return None
    category = _category(kind)
    if isinstance(value, str):
        value = _parse_text(value, category, kind)
    if category is None or category == "interval":
        if isinstance(value, _Interval) and category == "interval":
            return value
        raise _CannotFold(f"cast to {kind.sql('postgres')}")
    return _convert(value, category, kind)


def _parse_text(text: str, category: str | None, kind: exp.DataType) -> Value:
    """A string cast to ``category`` (``'0'::bigint``, ``'2024-01-01'::date``, ``'t'::boolean``)."""
    stripped = text.strip()
    try:
        if category in {"date", "timestamp"}:
            moment = datetime.fromisoformat(stripped)
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
            return moment
        if category == "time":
            return time.fromisoformat(stripped)
        if category in {"int", "decimal"}:
            return _number(stripped)
        if category == "float":
            return float(stripped)
        if category == "bool":
            lowered = stripped.lower()
            if lowered in {"t", "true", "y", "yes", "on", "1"}:
                return True
            if lowered in {"f", "false", "n", "no", "off", "0"}:
                return False
            raise _CannotFold(f"boolean {text!r}")
        if category == "interval":
            return _interval(exp.Interval(this=exp.Literal.string(stripped)))
    except ValueError as err:
        raise _CannotFold(f"{text!r} as {kind.sql('postgres')}") from err
    return text


def _convert(value: Value, category: str, kind: exp.DataType) -> Value:
    """``value`` converted to ``category``; raises _CannotFold where PostgreSQL would reject it."""
    if category == "text":
        return _as_text(value)
    if category == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise _CannotFold("to boolean")
    if category == "int":
        if isinstance(value, bool):
            return int(value)
        if _is_number(value):
            return int(Decimal(str(value)).to_integral_value(rounding=ROUND_HALF_UP))
        raise _CannotFold("to integer")
    if category in {"decimal", "float"}:
        if not _is_number(value):
            raise _CannotFold("to number")
        if category == "float":
            return float(value)  # type: ignore[arg-type]
        return _with_scale(Decimal(str(value)), kind)
    if isinstance(value, _Interval) or not isinstance(value, (date, time)):
        raise _CannotFold(f"to {category}")
    if category == "date":
        if isinstance(value, time):
            raise _CannotFold("time to date")
        return value.date() if isinstance(value, datetime) else value
    if category == "timestamp":
        if isinstance(value, time):
            raise _CannotFold("time to timestamp")
        return _as_datetime(value)
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    raise _CannotFold("date to time")


def _with_scale(value: Decimal, kind: exp.DataType) -> Decimal:
    """A numeric rounded to the scale of ``NUMERIC(p, s)`` when the type has one."""
    params = kind.expressions
    if len(params) >= 2:
        scale_node = params[1].this if isinstance(params[1], exp.DataTypeParam) else params[1]
        if isinstance(scale_node, exp.Literal) and not scale_node.is_string:
            return value.quantize(Decimal(1).scaleb(-int(scale_node.this)), rounding=ROUND_HALF_UP)
    return value


def _store_as(value: Value, kind: exp.DataType | None) -> Value:
    """``value`` as a column of type ``kind`` stores it (PostgreSQL's assignment cast).

    Strings are left to SQLite's type affinity; an unknown type keeps the value as it is.
    """
    category = _category(kind)
    if value is None or isinstance(value, str) or category is None or kind is None:
        return value
    if isinstance(value, bool) and category != "bool":
        return int(value)
    try:
        return _convert(value, category, kind)
    except _CannotFold:
        return value


def _as_text(value: Value) -> str:
    """The text PostgreSQL prints for ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, _Interval) or value is None:
        raise _CannotFold("interval or NULL as text")
    return str(value)


def _format_datetime(moment: datetime) -> str:
    """ISO text SQLite's date functions read: 'YYYY-MM-DD HH:MM:SS[.ffffff]'."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")


def _literal(value: Value) -> exp.Expr:
    """A SQLite literal for ``value``: booleans as 1/0, dates and times as ISO text."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _CannotFold("non-finite numeric")
        return exp.Literal.number(format(value, "f"))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _CannotFold("non-finite float")
        return exp.Literal.number(repr(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (date, time)):
        return exp.Literal.string(_as_text(value))
    raise _CannotFold("an interval is not a storable value")
