"""The SQL reviewer: an explanatory check of agent SQL before it reaches the sandbox.

The sandbox (:mod:`env_server.core.sandbox`) is the hard safety layer: SQLite's authorizer sees the
compiled statement and refuses what a mode does not allow. The reviewer runs earlier and answers a
different question: *is this statement risky or wrong, and how should the agent fix it?* Each
problem becomes a :class:`Finding` with a stable ``code``, a severity and a message that names
the risk and the fix ("did you mean orders.status?", "use IS NULL", "add ON o.user_id = u.id").

Every check works on the tree that sqlglot parses with ``read="sqlite"``; nothing matches keywords
or substrings of the SQL text, so ``'DROP TABLE users'`` in a string literal, ``-- DELETE`` in a
comment or a column called ``dropoff_at`` are never mistaken for statements, while ``dElEtE`` or
``WITH x AS (...) DELETE ...`` are.

Findings (default severity)
---------------------------
error: ``parse_error`` (with line/column/offset), ``multiple_statements``, ``statement_not_allowed``
(ATTACH/DETACH, transactions, VACUUM, ...), ``pragma_not_allowed`` (all but the read-only table/index
pragmas), ``write_not_allowed`` (a write the family does not allow, REPLACE anywhere, or a write nested in
WITH/a subquery), ``drop_or_alter``, ``update_delete_without_where`` (no WHERE, or an always-true one),
``cartesian_join`` (sources of a FROM not linked by any ON/USING/WHERE predicate; one-row sources
such as an aggregate subquery are exempt; an explicit CROSS JOIN gets no exemption),
``unknown_table`` / ``unknown_column`` (with "did you mean", resolving aliases, CTEs and derived
tables), ``unbounded_recursive_cte``, ``function_not_allowed``, ``aggregate_in_where`` (SQLite's
"misuse of aggregate"), ``reviewer_error`` (the reviewer itself failed: fail closed).
warning: ``eq_null`` (``= NULL`` / ``<> NULL``), ``select_star_wide`` (``SELECT *`` reaching the agent from a
table with more than ``wide_table_columns`` columns, or more than ``large_table_rows`` rows without a LIMIT
that caps them).

Verdict rule
------------
Each finding's severity is looked up in ``ReviewConfig.severity_overrides`` for the task family
(then under ``"*"``, then the built-in default of the code). The verdict is ``block`` if any
finding's severity is at least ``block_at`` (default ``error``), else ``warn`` if any is at least
``warn_at`` (default ``warning``), else ``allow``. Severities are ordered ``info < warning < error``.

Schema checks (``unknown_table``, ``unknown_column``, ``select_star_wide``) need the schema of the
database the statement will run on; without one they are skipped. Pass the *current* schema (in
repair episodes a table the agent created earlier is part of it).

LLM combination rule
--------------------
:class:`LLMReviewer` (off unless ``DATAOPS_REVIEWER_BASE_URL`` and ``DATAOPS_REVIEWER_MODEL`` are
set) first runs the static review, then asks an OpenAI-compatible ``/chat/completions`` endpoint
for strict JSON ``{"verdict": "allow"|"warn"|"block", "reasons": [...]}``. The final verdict is the
*stricter* of the static and the LLM verdicts: the LLM can escalate (allow -> warn -> block) but
never relax a static verdict. The LLM's reasons are added as ``llm_review`` findings. On a timeout,
an HTTP error or a malformed reply the static review is returned unchanged, with
``llm={"error": ...}`` and ``source="static (llm failed: ...)"``; otherwise ``source`` is
``"static+llm"`` (``"static"`` for :class:`StaticReviewer`).

Size: over 600 lines because it is a catalogue: each static rule is a short function over the same parse tree and schema context, and the LLM reviewer only combines with their verdict; the rules read best top to bottom in one file.
"""
from __future__ import annotations

import difflib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

import httpx
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import TokenType

from env_server.core.identifiers import fold
from env_server.core import sqlglot_quiet
from env_server.core.sandbox import SandboxConfig
from env_server.core.schema import SchemaInfo, Table
from env_server.families import default_families

Severity = Literal["info", "warning", "error"]
Verdict = Literal["allow", "warn", "block"]

SEVERITY_RANK: Mapping[str, int] = MappingProxyType({"info": 0, "warning": 1, "error": 2})
VERDICT_RANK: Mapping[str, int] = MappingProxyType({"allow": 0, "warn": 1, "block": 2})
FAMILIES: tuple[str, ...] = default_families().names

FAMILY_WRITES: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: family.reviewer_writes for name, family in default_families().items()}
)
"""Statements each family may run besides reads; an unknown family may run none."""

DEFAULT_SEVERITY: Mapping[str, Severity] = MappingProxyType(
    {
        "parse_error": "error",
        "multiple_statements": "error",
        "statement_not_allowed": "error",
        "pragma_not_allowed": "error",
        "write_not_allowed": "error",
        "drop_or_alter": "error",
        "update_delete_without_where": "error",
        "cartesian_join": "error",
        "unknown_table": "error",
        "unknown_column": "error",
        "unbounded_recursive_cte": "error",
        "function_not_allowed": "error",
        "aggregate_in_where": "error",
        "reviewer_error": "error",
        "sql_too_long": "error",
        "sql_too_complex": "error",
        "eq_null": "warning",
        "select_star_wide": "warning",
    }
)
"""Built-in severity of every static finding code."""

READ_ONLY_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
"""PRAGMAs that only report (the sandbox allows the same set)."""

SQLITE_FUNCTIONS = frozenset(
    # core scalar functions (randomblob/zeroblob, load_extension and sqlite_* deliberately absent)
    "abs char coalesce concat concat_ws format glob hex ifnull iif if instr length like likelihood "
    "likely lower ltrim max min nullif octet_length printf quote random replace round rtrim sign "
    "substr substring trim typeof unhex unicode unlikely upper changes last_insert_rowid total_changes "
    # aggregates
    "avg count group_concat string_agg sum total "
    # window functions
    "row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value "
    # date and time
    "date time datetime julianday unixepoch strftime timediff "
    # math
    "acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2 "
    "mod pi pow power radians sin sinh sqrt tan tanh trunc "
    # JSON (scalar, aggregate, table-valued)
    "json jsonb json_array jsonb_array json_array_length json_error_position json_extract jsonb_extract "
    "json_insert jsonb_insert json_object jsonb_object json_patch jsonb_patch json_pretty json_remove "
    "jsonb_remove json_replace jsonb_replace json_set jsonb_set json_type json_valid json_quote "
    "json_group_array jsonb_group_array json_group_object jsonb_group_object json_each json_tree "
    # read-only pragma table-valued functions
    "pragma_table_info pragma_table_xinfo pragma_table_list pragma_index_list pragma_index_info "
    "pragma_index_xinfo pragma_foreign_key_list".split()
)
"""SQLite functions a query may call (core, aggregate, window, date, math, JSON)."""

_SYSTEM_TABLES = {
    name: frozenset({"type", "name", "tbl_name", "rootpage", "sql"})
    for name in ("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema")
}
_IMPLICIT_COLUMNS = frozenset({"rowid", "oid", "_rowid_"})
_AGGREGATE_NAMES = frozenset({"avg", "count", "group_concat", "string_agg", "sum", "total", "min", "max"})


def _default_overrides() -> Mapping[str, Mapping[str, Severity]]:
    return MappingProxyType({family: MappingProxyType(dict(DEFAULT_SEVERITY)) for family in FAMILIES})


@dataclass(frozen=True)
class Finding:
    """One problem: a stable ``code``, its severity, what is wrong and how to fix it."""

    code: str
    severity: Severity
    message: str
    position: int | None = None
    """Character offset in the SQL text, when known."""


@dataclass(frozen=True)
class Review:
    verdict: Verdict
    findings: tuple[Finding, ...]
    source: str
    latency_ms: float
    llm: dict | None = None

    def as_dict(self) -> dict:
        """A JSON-safe dict."""
        return {
            "verdict": self.verdict,
            "findings": [asdict(f) for f in self.findings],
            "source": self.source,
            "latency_ms": round(self.latency_ms, 4),
            "llm": json.loads(json.dumps(self.llm, default=str)) if self.llm is not None else None,
        }


@dataclass(frozen=True)
class ReviewConfig:
    warn_at: Severity = "warning"
    block_at: Severity = "error"
    severity_overrides: Mapping[str, Mapping[str, Severity]] = field(default_factory=_default_overrides)
    """Per family (or ``"*"`` for all): ``{code: severity}``. Codes not listed keep their default."""
    wide_table_columns: int = 8
    large_table_rows: int = 1000
    function_allowlist: frozenset[str] = SQLITE_FUNCTIONS
    max_sql_length: int = SandboxConfig.max_sql_length
    """Longest SQL reviewed, in characters: the sandbox's execution limit, checked before tokenizing
    (longer SQL is a ``sql_too_long`` finding; it could not run anyway)."""
    parse_work_per_token: int = 4
    """The parser's work budget: syntax nodes it may build per token (with a floor of ``min_parse_work``).
    sqlglot backtracks exponentially on some inputs (20 JOINs without ON took 21 s); a statement that
    exceeds the budget is a ``sql_too_complex`` finding. Real statements build at most 1.5 nodes per token
    (the gold, broken and repair SQL of every task and the reviewer corpus: median 0.7)."""
    min_parse_work: int = 5_000
    max_findings: int = 50
    """Findings listed per review; the rest are counted in one last finding as severe as the worst of them."""

    def __post_init__(self) -> None:
        for name in ("warn_at", "block_at"):
            if getattr(self, name) not in SEVERITY_RANK:
                raise ValueError(f"{name} must be one of {list(SEVERITY_RANK)}, not {getattr(self, name)!r}")
        for family, table in self.severity_overrides.items():
            for code, severity in table.items():
                if severity not in SEVERITY_RANK:
                    raise ValueError(f"severity_overrides[{family!r}][{code!r}] = {severity!r} is not a severity")

    def severity(self, code: str, family: str) -> Severity:
        for key in (family, "*"):
            table = self.severity_overrides.get(key)
            if table is not None and code in table:
                return table[code]
        return DEFAULT_SEVERITY.get(code, "error")

    def verdict(self, findings: tuple[Finding, ...] | list[Finding]) -> Verdict:
        worst = max((SEVERITY_RANK[f.severity] for f in findings), default=-1)
        if worst >= SEVERITY_RANK[self.block_at]:
            return "block"
        if worst >= SEVERITY_RANK[self.warn_at]:
            return "warn"
        return "allow"


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


class _ParseBudgetExceeded(Exception):
    """The parser built more syntax nodes than its budget (not a ParseError, so no backtracking catches it)."""


class _ReviewSQLite(SQLite):
    """SQLite as sqlglot reads it, keeping the name each function was called by; its parser stops
    (:class:`_ParseBudgetExceeded`) once it has built ``work_left`` syntax nodes."""

    ORIGINAL_NAME_META_KEY = "sqlite_name"

    class Parser(SQLite.Parser):
        work_left: int | None = None

        def expression(self, instance, token=None, comments=None):  # type: ignore[override]
            if self.work_left is not None:
                self.work_left -= 1
                if self.work_left < 0:
                    raise _ParseBudgetExceeded()
            return super().expression(instance, token, comments)


_DIALECT = _ReviewSQLite()
_NAME_KEY = "sqlite_name"


# sqlglot warns when it keeps a statement as a Command; the reviewer reports that itself.
sqlglot_quiet.install()


def _offset(sql: str, line: int, col: int) -> int:
    """Character offset of 1-based ``line``/``col`` in ``sql``."""
    start = 0
    for _ in range(max(line - 1, 0)):
        nl = sql.find("\n", start)
        if nl < 0:
            break
        start = nl + 1
    return min(start + max(col - 1, 0), len(sql))


def _parse(sql: str, work_per_token: int | None = None, min_work: int = 0) -> tuple[list[exp.Expr], list, Finding | None]:
    """Statements, tokens, and a ``parse_error`` finding when ``sql`` cannot be parsed (``sql_too_complex``
    when the parser builds more than ``max(min_work, work_per_token * tokens)`` syntax nodes)."""
    tokenizer = _DIALECT.tokenizer()
    try:
        tokens = tokenizer.tokenize(sql)
    except TokenError as exc:
        core = getattr(tokenizer, "_core", tokenizer)  # where the token that failed started
        pos = getattr(core, "_start", None)
        line = getattr(core, "_line", None)
        where = f" at character {pos}" + (f" (line {line})" if line else "") if isinstance(pos, int) else ""
        return [], [], Finding(
            "parse_error",
            "error",
            f"The SQL could not be tokenized{where}: {exc}. Usually an unterminated string or quoted "
            "identifier: close every ' and \" and send exactly one SQLite statement.",
            pos if isinstance(pos, int) else None,
        )
    parser = _DIALECT.parser()
    if work_per_token is not None:
        parser.work_left = max(min_work, work_per_token * len(tokens))
    try:
        statements = parser.parse(tokens, sql)
    except _ParseBudgetExceeded:
        return [], tokens, Finding(
            "sql_too_complex",
            "error",
            f"The statement is too complex to review: parsing its {len(tokens):,} tokens needed more than "
            f"{max(min_work, (work_per_token or 0) * len(tokens)):,} syntax nodes "
            "(usually many JOINs without ON, which the parser has to try every way of nesting). Give every JOIN "
            "an ON or USING clause, or split the statement.",
            None,
        )
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        line, col = err.get("line"), err.get("col")
        pos = None
        where = ""
        if line and col:
            end = _offset(sql, line, col)
            pos = max(end + 1 - len(err.get("highlight") or " "), 0)
            where = f" at line {line}, column {col} (character {pos})"
        description = err.get("description") or str(exc).splitlines()[0]
        near = f" near {err.get('highlight')!r}" if err.get("highlight") else ""
        return [], tokens, Finding(
            "parse_error",
            "error",
            f"SQLite syntax error{where}{near}: {description}. Check the statement there; keywords cannot "
            "be split by comments and only standard SQLite syntax is accepted.",
            pos,
        )
    except SqlglotError as exc:
        return [], tokens, Finding("parse_error", "error", f"The SQL could not be parsed: {exc}.", None)
    kept = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not kept:
        return [], tokens, Finding(
            "parse_error", "error", "No SQL statement was found (only whitespace, comments or ';'). Send one statement.", 0
        )
    return kept, tokens, None


def _position(node: exp.Expr | None) -> int | None:
    """Character offset of the first identifier (or positioned node) in ``node``."""
    if not isinstance(node, exp.Expr):
        return None
    best = None
    for sub in node.walk():
        meta = sub._meta
        if meta and "start" in meta:
            start = meta["start"]
            if best is None or start < best:
                best = start
    return best


def _limit_value(query: exp.Expr) -> int | None:
    limit = query.args.get("limit")
    if limit is None:
        return None
    value = limit.args.get("expression")
    if isinstance(value, exp.Literal) and not value.is_string:
        try:
            return int(value.this)
        except ValueError:
            return None
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
        return -1
    return None


def _has_aggregate(select: exp.Select) -> bool:
    """Whether a projection of ``select`` aggregates (outside windows and subqueries)."""
    stack = list(select.expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, (exp.Window, exp.Select, exp.Subquery)):
            continue
        if isinstance(node, exp.AggFunc):
            return True
        if isinstance(node, exp.Anonymous) and fold(node.name) in _AGGREGATE_NAMES:
            return True
        stack.extend(node.iter_expressions())
    return False


def _unwrap(query: exp.Expr | None) -> exp.Expr | None:
    while isinstance(query, exp.Subquery):
        query = query.this
    return query


def _single_row(query: exp.Expr | None) -> bool:
    """Whether ``query`` returns at most one row: LIMIT 0/1, no FROM, or aggregates without GROUP BY."""
    query = _unwrap(query)
    if isinstance(query, exp.Values):
        return len(query.expressions) <= 1
    if not isinstance(query, exp.Select):
        return False
    limit = _limit_value(query)
    if limit is not None and 0 <= limit <= 1:
        return True
    if query.args.get("group") is not None:
        return False
    if query.args.get("from_") is None:
        return True
    return _has_aggregate(query)


def _output_names(query: exp.Expr | None) -> frozenset[str] | None:
    """Column names ``query`` returns, lower-cased; None when not known (``*``, unnamed expressions)."""
    query = _unwrap(query)
    while isinstance(query, exp.SetOperation):
        query = _unwrap(query.this)
    if not isinstance(query, exp.Select):
        return None
    names = set()
    for proj in query.expressions:
        if isinstance(proj, exp.Alias):
            names.add(fold(proj.alias))
        elif isinstance(proj, exp.Column) and not isinstance(proj.this, exp.Star):
            names.add(fold(proj.name))
        else:
            return None
    return frozenset(names)


def _reads_column(node: exp.Expr) -> bool:
    return any(True for _ in node.find_all(exp.Column))


def _always_true(where: exp.Expr | None) -> bool:
    """Whether a WHERE clause filters nothing: it reads no column, or an OR has a constant branch."""
    if where is None:
        return True
    condition = where.this if isinstance(where, exp.Where) else where
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if not _reads_column(condition):
        return True
    if isinstance(condition, exp.Or):
        return any(not _reads_column(branch) for branch in condition.flatten())
    return False


def _conjuncts(condition: exp.Expr | None) -> list[exp.Expr]:
    if condition is None:
        return []
    if isinstance(condition, exp.Where):
        condition = condition.this
    if isinstance(condition, exp.And):
        return list(condition.flatten())
    return [condition]


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------


@dataclass
class _Source:
    key: str
    """Name a query refers to it by (alias or table name), lower-cased."""
    label: str
    node: exp.Expr
    table: Table | None = None
    columns: frozenset[str] | None = None
    """Lower-cased column names; None when unknown (accept any)."""
    single_row: bool = False
    dependent: bool = False
    """A table-valued function: it reads other sources of the FROM, so it is never cartesian."""


@dataclass
class _CTEInfo:
    columns: frozenset[str] | None
    single_row: bool


@dataclass
class _Scope:
    node: exp.Expr
    sources: list[_Source]
    by_key: dict[str, _Source]
    aliases: frozenset[str]


_SCOPE_TYPES = (exp.Select, exp.Update, exp.Delete, exp.Insert)


class _Context:
    """State of one statement's review."""

    __slots__ = ("sql", "family", "schema", "config", "findings", "ctes", "scopes", "reviewer", "outer_columns",
                 "unlisted")

    def __init__(self, reviewer: "StaticReviewer", sql: str, family: str, schema: SchemaInfo | None):
        self.reviewer = reviewer
        self.sql = sql
        self.family = family
        self.schema = schema
        self.config = reviewer.config
        self.findings: list[Finding] = []
        self.ctes: dict[str, _CTEInfo | None] = {}
        self.scopes: dict[int, _Scope] = {}
        self.outer_columns: set[int] = set()
        """ids of columns that resolve to an enclosing query, not to their own SELECT."""
        self.unlisted: dict[str, int] = {}
        """Findings past ``config.max_findings``, counted per code instead of listed."""

    @property
    def full(self) -> bool:
        return len(self.findings) >= self.config.max_findings

    def add(self, code: str, message: str, position: int | None = None) -> None:
        if self.full:
            self.unlisted[code] = self.unlisted.get(code, 0) + 1
            return
        self.findings.append(Finding(code, self.config.severity(code, self.family), message, position))

    def suggest(self, name: str, candidates: list[str]) -> str:
        """``_suggest``, skipped (the costly part of a finding) once the findings are no longer listed."""
        return "" if self.full else _suggest(name, candidates)

    def summarise_unlisted(self) -> None:
        """One finding for those past the cap, as severe as the worst of them (the verdict is unchanged)."""
        if not self.unlisted:
            return
        worst = max(self.unlisted, key=lambda code: SEVERITY_RANK[self.config.severity(code, self.family)])
        counts = ", ".join(f"{code} x{n}" for code, n in sorted(self.unlisted.items()))
        self.findings.append(Finding(
            worst, self.config.severity(worst, self.family),
            f"... and {sum(self.unlisted.values()):,} more findings not listed ({counts}); fix the ones above first.",
            None))

    # -- sources --------------------------------------------------------------------------------

    def source_of(self, node: exp.Expr) -> _Source:
        alias = node.alias if isinstance(node, (exp.Table, exp.Subquery)) else ""
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = node.name
            key = fold((alias or name))
            label = f"{name} ({alias})" if alias and fold(alias) != fold(name) else name
            lowered = fold(name)
            db = fold(node.text("db"))
            if not db and lowered in self.ctes:
                cte = self.ctes[lowered]
                return _Source(key, label, node, None, cte.columns if cte else None, bool(cte and cte.single_row))
            if lowered in _SYSTEM_TABLES:
                return _Source(key, label, node, None, _SYSTEM_TABLES[lowered])
            table = self.schema.table(name) if self.schema is not None else None
            if table is not None:
                columns = frozenset(fold(c) for c in table.column_names) | _IMPLICIT_COLUMNS
                return _Source(key, label, node, table, columns)
            return _Source(key, label, node)
        if isinstance(node, exp.Table):  # table-valued function, e.g. json_each(...)
            func = node.this
            name = func.name if isinstance(func, exp.Func) else node.name
            key = fold((alias or name or ""))
            return _Source(key, alias or name, node, dependent=True)
        if isinstance(node, exp.Subquery):
            return _Source(fold(alias), alias or "(subquery)", node, None, _output_names(node), _single_row(node))
        return _Source(fold(alias) if alias else "", "(source)", node)

    def scope(self, node: exp.Expr) -> _Scope:
        cached = self.scopes.get(id(node))
        if cached is not None:
            return cached
        raw: list[exp.Expr] = []
        aliases: set[str] = set()
        extra: list[_Source] = []
        if isinstance(node, exp.Select):
            from_ = node.args.get("from_")
            if from_ is not None:
                raw.append(from_.this)
            raw.extend(j.this for j in node.args.get("joins") or ())
            aliases = {fold(p.alias) for p in node.expressions if isinstance(p, exp.Alias)}
        elif isinstance(node, (exp.Update, exp.Delete)):
            if node.this is not None:
                raw.append(node.this)
            from_ = node.args.get("from_")
            if from_ is not None:
                raw.append(from_.this)
            raw.extend(j.this for j in node.args.get("joins") or ())
        elif isinstance(node, exp.Insert):
            target = node.this.this if isinstance(node.this, exp.Schema) else node.this
            if isinstance(target, exp.Table):
                raw.append(target)
                source = self.source_of(target)
                extra.append(_Source("excluded", "excluded", target, source.table, source.columns))
        sources = [self.source_of(r) for r in raw] + extra
        scope = _Scope(node, sources, {s.key: s for s in sources if s.key}, frozenset(aliases))
        self.scopes[id(node)] = scope
        return scope

    def visible_columns(self, scopes: list[_Scope]) -> list[str]:
        names: list[str] = []
        for scope in scopes:
            for source in scope.sources:
                if source.table is not None:
                    names.extend(source.table.column_names)
                elif source.columns is not None:
                    names.extend(source.columns)
            names.extend(scope.aliases)
        return list(dict.fromkeys(names))


def _suggest(name: str, candidates: list[str]) -> str:
    matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not matches:
        lowered = {fold(c): c for c in candidates}
        matches = [lowered[m] for m in difflib.get_close_matches(fold(name), list(lowered), n=3, cutoff=0.6)]
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"


# ---------------------------------------------------------------------------------------------
# The static reviewer
# ---------------------------------------------------------------------------------------------


class StaticReviewer:
    """Rule-based review of one SQL string against a family's permissions and a schema."""

    source = "static"

    def __init__(self, config: ReviewConfig | None = None):
        self.config = config or ReviewConfig()
        self._allowlist = frozenset(fold(name) for name in self.config.function_allowlist)
        self._allowlist_sorted = sorted(self._allowlist)

    def review(self, sql: str, family: str = "debug", schema: SchemaInfo | None = None) -> Review:
        started = time.perf_counter()
        findings = self.findings(sql, family, schema)
        return Review(
            verdict=self.config.verdict(findings),
            findings=tuple(findings),
            source=self.source,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def findings(self, sql: str, family: str = "debug", schema: SchemaInfo | None = None) -> list[Finding]:
        """The findings of ``sql``, in the order they were found (no verdict). Never raises: input the
        reviewer cannot handle fails closed with a ``parse_error`` or ``reviewer_error`` finding."""
        try:
            return self._findings(sql, family, schema)
        except RecursionError:
            code, message = "parse_error", (
                "The statement is nested too deeply to review (thousands of parentheses or operators). "
                "Write it flatter, e.g. with a CTE or IN (...)."
            )
        except Exception as exc:  # noqa: BLE001 - a reviewer bug must not crash the episode
            code, message = "reviewer_error", (
                f"The reviewer could not analyse this statement ({type(exc).__name__}: {exc}); it is blocked "
                "to be safe. Rewrite it in plain SQLite syntax."
            )
        return [Finding(code, self.config.severity(code, family), message, None)]

    def _findings(self, sql: str, family: str, schema: SchemaInfo | None) -> list[Finding]:
        ctx = _Context(self, sql if isinstance(sql, str) else "", family, schema)
        if not isinstance(sql, str):
            ctx.add("parse_error", "SQL must be a string.")
            return ctx.findings
        limit = self.config.max_sql_length
        if len(sql) > limit:
            ctx.add("sql_too_long", f"The SQL is {len(sql):,} characters; the limit is {limit:,} (the same as for "
                    "running it, so it could not run either). Send a shorter statement.", limit)
            return ctx.findings
        statements, tokens, error = _parse(sql, self.config.parse_work_per_token, self.config.min_parse_work)
        if error is not None:
            ctx.findings.append(Finding(error.code, self.config.severity(error.code, family), error.message, error.position))
            return ctx.findings
        if len(statements) > 1:
            position = None
            for i, token in enumerate(tokens):
                if token.token_type == TokenType.SEMICOLON and any(
                    t.token_type != TokenType.SEMICOLON for t in tokens[i + 1 :]
                ):
                    position = next(t.start for t in tokens[i + 1 :] if t.token_type != TokenType.SEMICOLON)
                    break
            ctx.add(
                "multiple_statements",
                f"{len(statements)} statements were sent; only one runs per call. Send each statement in its own "
                "call (and drop anything after the first ';').",
                position,
            )
        for statement in statements:
            self._statement(ctx, statement)
        ctx.summarise_unlisted()
        return ctx.findings

    # -- one statement ---------------------------------------------------------------------------

    def _statement(self, ctx: _Context, root: exp.Expr) -> None:
        allowed = FAMILY_WRITES.get(ctx.family, frozenset())
        family = ctx.family
        read_only = f"{family} episodes are read-only" if not allowed else f"{family} episodes may only run {', '.join(sorted(allowed))}"
        write: str | None = None
        if isinstance(root, (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)):
            pass
        elif isinstance(root, exp.Insert):
            write = "REPLACE" if str(root.args.get("alternative") or "").upper() == "REPLACE" else "INSERT"
        elif isinstance(root, exp.Update):
            write = "UPDATE"
        elif isinstance(root, exp.Delete):
            write = "DELETE"
        elif isinstance(root, exp.Create):
            write = f"CREATE {str(root.args.get('kind') or '').upper()}".strip()
        elif isinstance(root, (exp.Drop, exp.Alter)):
            what = "DROP" if isinstance(root, exp.Drop) else "ALTER"
            ctx.add(
                "drop_or_alter",
                f"{what} {str(root.args.get('kind') or 'TABLE').upper()} changes the schema and is never allowed. "
                + (
                    "To fix data, UPDATE or DELETE the affected rows with a WHERE clause."
                    if allowed
                    else "Answer with a SELECT instead."
                ),
                _position(root),
            )
            return
        elif isinstance(root, exp.Pragma):
            self._pragma(ctx, root)
            return
        elif isinstance(root, exp.Command):
            keyword = str(root.this or "").upper()
            if keyword == "REPLACE":
                write = "REPLACE"
            elif keyword in ("CREATE",):
                write = "CREATE (trigger or other object)"
            elif keyword in ("DROP", "ALTER"):
                ctx.add("drop_or_alter", f"{keyword} changes the schema and is never allowed.", 0)
                return
            else:
                ctx.add(
                    "statement_not_allowed",
                    f"{keyword or 'This'} statements are not allowed here (only SELECT"
                    + (", INSERT, UPDATE, DELETE, CREATE TABLE/VIEW" if allowed else "")
                    + " may run). "
                    + ("VACUUM INTO and similar commands can write files. " if keyword == "VACUUM" else "")
                    + "Rewrite it as a single query.",
                    0,
                )
                return
            ctx.add("write_not_allowed", self._write_message(write, allowed, read_only), 0)
            return
        else:
            what = type(root).__name__.upper()
            if what == "ENDSTATEMENT" and ctx.findings:
                return  # the END of a CREATE TRIGGER body, already reported
            if isinstance(root, (getattr(exp, "Attach", ()), getattr(exp, "Detach", ()))):
                detail = "ATTACH/DETACH would open or drop another database file and is never allowed."
            elif isinstance(root, (exp.Transaction, exp.Commit, exp.Rollback)):
                detail = "Transactions are managed by the environment; send the statement alone."
            else:
                detail = f"This is not a statement an agent may run here ({what})."
            ctx.add(
                "statement_not_allowed",
                detail + " Only SELECT" + (", INSERT, UPDATE, DELETE, CREATE TABLE/VIEW" if allowed else "") + " may run.",
                _position(root) or 0,
            )
            return

        if write is not None:
            if write not in allowed:
                ctx.add("write_not_allowed", self._write_message(write, allowed, read_only), _position(root.this) or 0)
            if write in ("UPDATE", "DELETE"):
                where = root.args.get("where")
                target = root.this if isinstance(root.this, exp.Expr) else next(iter(root.args.get("tables") or ()), None)
                if _always_true(where):
                    ctx.add(
                        "update_delete_without_where",
                        f"{write} {'has no WHERE clause' if where is None else 'has a WHERE clause that is always true'}"
                        f" and would change every row of {target.sql(dialect='sqlite') if target is not None else 'the table'}. "
                        "Add a WHERE clause that selects only the rows to fix.",
                        _position(target),
                    )
        self._walk(ctx, root)

    @staticmethod
    def _write_message(write: str, allowed: frozenset[str], read_only: str) -> str:
        if write == "REPLACE":
            return (
                "REPLACE / INSERT OR REPLACE silently deletes any row that conflicts before inserting and is not "
                "allowed. Use UPDATE ... WHERE to change existing rows, or INSERT ... ON CONFLICT DO UPDATE."
            )
        if allowed:
            return (
                f"{write} is not allowed: {read_only}. Indexes, triggers and other objects cannot be created; "
                "fix the data with INSERT, UPDATE or DELETE."
            )
        return f"{write} is not allowed: {read_only}. Answer with a SELECT that returns the rows instead."

    def _pragma(self, ctx: _Context, root: exp.Pragma) -> None:
        target = root.this
        name_node = target.this if isinstance(target, (exp.EQ, exp.Property)) else target
        if isinstance(name_node, exp.Dot):
            name_node = name_node.expression
        name = name_node.name if isinstance(name_node, exp.Expr) else str(name_node or "")
        if fold(name) in READ_ONLY_PRAGMAS:
            return
        ctx.add(
            "pragma_not_allowed",
            f"PRAGMA {name} is not allowed: pragmas can change how the database behaves "
            f"(writable_schema, foreign_keys, ...). Only {', '.join(sorted(READ_ONLY_PRAGMAS))} may be read; "
            "query the tables directly instead.",
            _position(root) or 0,
        )

    # -- the tree ----------------------------------------------------------------------------------

    def _walk(self, ctx: _Context, root: exp.Expr) -> None:
        columns: list[exp.Column] = []
        tables: list[exp.Table] = []
        selects: list[exp.Select] = []
        ctes: list[exp.CTE] = []
        aggregates: list[exp.Expr] = []
        allowlist = self._allowlist
        ctx.ctes = {}  # per statement
        for node in root.walk():
            kind = type(node)
            if kind is exp.Column:
                columns.append(node)
            elif kind is exp.Table:
                tables.append(node)
            elif kind is exp.Select:
                selects.append(node)
            elif kind is exp.CTE:
                ctes.append(node)
            elif kind is exp.EQ or kind is exp.NEQ:
                if (isinstance(node.this, exp.Null) or isinstance(node.expression, exp.Null)) and not (
                    isinstance(node.parent, (exp.Update, exp.OnConflict)) and node.arg_key == "expressions"
                ):  # SET col = NULL is an assignment, not a comparison
                    op = "=" if kind is exp.EQ else "<>"
                    fix = "IS NULL" if kind is exp.EQ else "IS NOT NULL"
                    ctx.add(
                        "eq_null",
                        f"'{node.sql(dialect='sqlite')}' compares with NULL using {op}, which is never true (it yields "
                        f"NULL). Use {fix} instead.",
                        _position(node),
                    )
            elif kind in (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter) and node is not root:
                ctx.add(
                    "write_not_allowed",
                    f"A data-modifying statement ({kind.__name__.upper()}) is nested inside WITH or a subquery; "
                    "SQLite cannot run it and it is never allowed. Send a plain SELECT"
                    + (" or one top-level INSERT/UPDATE/DELETE." if FAMILY_WRITES.get(ctx.family) else "."),
                    _position(node),
                )
            elif isinstance(node, exp.Func):
                if isinstance(node, exp.AggFunc):
                    aggregates.append(node)
                if kind is exp.Anonymous:
                    name = node.name
                else:
                    meta = node._meta
                    name = meta.get(_NAME_KEY) if meta else None
                if name and fold(name) not in allowlist:
                    lowered = fold(name)
                    if lowered in ("load_extension", "readfile", "writefile", "edit", "fts3_tokenizer") or lowered.startswith("sqlite_"):
                        why = "it can load code, touch files or expose engine internals"
                    elif lowered in ("randomblob", "zeroblob"):
                        why = "it can build huge blobs"
                    else:
                        why = "it is not a core SQLite function"
                    hint = ctx.suggest(lowered, self._allowlist_sorted) if why.startswith("it is not") else ""
                    ctx.add(
                        "function_not_allowed",
                        f"{name}() is not allowed: {why}. Use core SQLite functions only.{hint}",
                        _position(node),
                    )

        for cte in ctes:
            ctx.ctes[fold(cte.alias_or_name)] = None
        for cte in ctes:
            alias = cte.args.get("alias")
            declared = alias.columns if alias is not None else []
            cols = frozenset(fold(c.name) for c in declared) if declared else _output_names(cte.this)
            key = fold(cte.alias_or_name)
            info = _CTEInfo(cols, _single_row(cte.this))
            ctx.ctes[key] = info if key not in ctx.ctes or ctx.ctes[key] is None else _CTEInfo(None, False)
        for cte in ctes:
            self._recursive_cte(ctx, root, cte)

        if ctx.schema is not None:
            self._tables(ctx, root, tables)
            self._columns(ctx, columns)
            if isinstance(root, exp.Insert) and isinstance(root.this, exp.Schema):
                self._insert_columns(ctx, root.this)
        if aggregates:
            self._aggregates(ctx, aggregates)
        outputs: set[int] = set()  # the SELECTs whose rows reach the agent
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, exp.Subquery):
                stack.append(node.this)
            elif isinstance(node, exp.SetOperation):
                stack.extend((node.this, node.expression))
            elif isinstance(node, exp.Select):
                outputs.add(id(node))
        for select in selects:
            self._select(ctx, select, id(select) in outputs)

    def _recursive_cte(self, ctx: _Context, root: exp.Expr, cte: exp.CTE) -> None:
        name = fold(cte.alias_or_name)
        body = _unwrap(cte.this)
        members: list[exp.Expr] = []
        stack = [body]
        while stack:
            node = _unwrap(stack.pop())
            if isinstance(node, exp.SetOperation):
                stack.extend((node.this, node.expression))
            elif node is not None:
                members.append(node)

        def reads_self(member: exp.Expr) -> bool:
            return any(fold(t.name) == name and not t.text("db") for t in member.find_all(exp.Table))

        recursive = [m for m in members if isinstance(m, exp.Select) and reads_self(m)]
        if not recursive:
            return
        if isinstance(body, exp.SetOperation) and _limit_value(body) is not None:
            return
        for member in recursive:
            if not _always_true(member.args.get("where")) or _limit_value(member) is not None:
                continue
            other_sources = [
                j for j in member.args.get("joins") or () if not (isinstance(j.this, exp.Table) and fold(j.this.name) == name)
            ]
            from_ = member.args.get("from_")
            if from_ is not None and not (isinstance(from_.this, exp.Table) and fold(from_.this.name) == name):
                other_sources.append(from_)
            if other_sources:
                continue  # joins a real table: recursion stops when the join finds no more rows
            outer = root if isinstance(root, exp.Select) else None
            if (
                outer is not None
                and _limit_value(outer) is not None
                and outer.args.get("order") is None
                and outer.args.get("group") is None
                and not outer.args.get("distinct")
                and not _has_aggregate(outer)
            ):
                continue
            ctx.add(
                "unbounded_recursive_cte",
                f"The recursive part of CTE {cte.alias_or_name} has no WHERE condition that stops it and the outer "
                "query has no LIMIT that ends it early, so it recurses until the time budget runs out. Add a "
                f"WHERE bound to the recursive SELECT (e.g. WHERE n < 100).",
                _position(cte.args.get("alias")),
            )
            return

    def _tables(self, ctx: _Context, root: exp.Expr, tables: list[exp.Table]) -> None:
        schema = ctx.schema
        assert schema is not None
        created = root.this if isinstance(root, exp.Create) else None
        if isinstance(created, exp.Schema):
            created = created.this
        for table in tables:
            if table is created or not isinstance(table.this, exp.Identifier):
                continue
            name = table.name
            lowered = fold(name)
            db = fold(table.text("db"))
            if not db and lowered in ctx.ctes:
                continue
            if db and db not in ("main", "temp"):
                ctx.add(
                    "unknown_table",
                    f"No database named {db!r} is attached (only main). Refer to {name} without the {db}. prefix.",
                    _position(table),
                )
                continue
            if lowered in _SYSTEM_TABLES or schema.table(name) is not None:
                continue
            candidates = schema.table_names + [c for c in ctx.ctes]
            ctx.add(
                "unknown_table",
                f"No table named {name!r} exists.{ctx.suggest(name, candidates)} Tables: {', '.join(schema.table_names)}.",
                _position(table),
            )

    @staticmethod
    def _scope_chain(ctx: _Context, column: exp.Column, memo: dict[int, tuple[tuple, tuple, bool]]) -> tuple[tuple, bool]:
        """``(scopes, skip)`` of ``column``: the scopes it can see, innermost first, and whether it names an
        output column rather than a source column (nearest enclosing construct is a compound select's ORDER
        BY, a PRAGMA or a CREATE). Walks up only to the nearest ancestor already resolved, so a pass over
        every column is linear in the size of the tree, not quadratic in its depth. ``memo`` maps a node to
        ``(every scope above it, scopes it sees, skip)``."""
        path: list[tuple[exp.Expr, exp.Expr]] = []
        node: exp.Expr = column
        parent = column.parent
        above: tuple[tuple, tuple, bool] = ((), (), False)
        while parent is not None:
            known = memo.get(id(node))
            if known is not None:
                above = known
                break
            path.append((node, parent))
            node, parent = parent, parent.parent
        every, chain, skip = above
        for node, parent in reversed(path):
            if isinstance(parent, _SCOPE_TYPES):
                if not (isinstance(parent, exp.Insert) and node is not parent.args.get("conflict")
                        and node is not parent.this):  # the SELECT feeding an INSERT does not see its target
                    every = (ctx.scope(parent),) + every
                    chain, skip = every, False
            elif isinstance(parent, exp.SetOperation) and node is not parent.this and node is not parent.expression:
                chain, skip = (), True  # ORDER BY of a compound select: output names
            elif isinstance(parent, (exp.Pragma, exp.Create, exp.Schema)):
                chain, skip = (), True
            memo[id(node)] = (every, chain, skip)
        return chain, skip

    def _columns(self, ctx: _Context, columns: list[exp.Column]) -> None:
        memo: dict[int, tuple[tuple, tuple, bool]] = {}
        for column in columns:
            scopes, skip = self._scope_chain(ctx, column, memo)
            chain: list[_Scope] = list(scopes)
            if skip or not chain:
                continue
            name_node = column.this
            qualifier = column.table
            if isinstance(name_node, exp.Star):
                if qualifier and not any(fold(qualifier) in s.by_key for s in chain):
                    self._unknown_qualifier(ctx, column, qualifier, chain)
                continue
            name = column.name
            lowered = fold(name)
            if qualifier:
                q = fold(qualifier)
                depth = next((i for i, s in enumerate(chain) if q in s.by_key), None)
                if depth is None:
                    self._unknown_qualifier(ctx, column, qualifier, chain)
                    continue
                if depth:
                    ctx.outer_columns.add(id(column))
                source = chain[depth].by_key[q]
                if source.columns is None or lowered in source.columns:
                    continue
                known = source.table.column_names if source.table is not None else sorted(source.columns)
                ctx.add(
                    "unknown_column",
                    f"{source.label} has no column {name!r}.{ctx.suggest(name, known)} Its columns: {', '.join(known)}.",
                    _position(column),
                )
                continue
            depth = next(
                (
                    i
                    for i, scope in enumerate(chain)
                    if lowered in scope.aliases or any(s.columns is None or lowered in s.columns for s in scope.sources)
                ),
                None,
            )
            if depth is not None:
                if depth:
                    ctx.outer_columns.add(id(column))
                continue
            tables = [s.label for s in chain[0].sources]
            hint = ""
            if name_node.args.get("quoted"):
                hint = f" If you meant the text '{name}', write it in single quotes: double quotes name columns."
            where = f" in {', '.join(tables)}" if tables else " (the query reads no table)"
            ctx.add(
                "unknown_column",
                f"No column named {name!r}{where}.{ctx.suggest(name, ctx.visible_columns(chain))}{hint}",
                _position(column),
            )

    @staticmethod
    def _aggregates(ctx: _Context, aggregates: list[exp.Expr]) -> None:
        """Aggregates SQLite rejects: in WHERE, GROUP BY or ON, or reading only an outer query's columns."""
        owners = (exp.Select, exp.Update, exp.Delete)
        for agg in aggregates:
            node, parent = agg, agg.parent
            clause = None
            windowed = False
            while parent is not None and not isinstance(parent, owners):
                if isinstance(parent, exp.Window) and node is parent.this:
                    windowed = True
                    break
                if isinstance(parent, exp.Where):
                    clause = "WHERE"
                elif isinstance(parent, exp.Group):
                    clause = "GROUP BY"
                elif isinstance(parent, exp.Join) and node is parent.args.get("on"):
                    clause = "a join condition"
                node, parent = parent, parent.parent
            if windowed or parent is None:
                continue
            text = agg.sql(dialect="sqlite")
            if clause is not None:
                ctx.add(
                    "aggregate_in_where",
                    f"{text} is an aggregate inside {clause}, which SQLite rejects (misuse of aggregate): "
                    f"{clause} is applied to rows before they are grouped. Filter groups with HAVING "
                    "(after GROUP BY), or compute the aggregate in a subquery.",
                    _position(agg),
                )
                continue
            if not ctx.outer_columns:
                continue
            stack, cols = [agg], []
            while stack:
                sub = stack.pop()
                if isinstance(sub, (exp.Select, exp.Subquery)):
                    continue
                if isinstance(sub, exp.Column):
                    cols.append(sub)
                stack.extend(sub.iter_expressions())
            if not cols or not all(id(c) in ctx.outer_columns for c in cols):
                continue
            # the aggregate belongs to the enclosing query; fatal when this subquery sits in its WHERE
            node, outer = parent, parent.parent
            in_where = False
            while outer is not None and not isinstance(outer, owners):
                in_where = in_where or isinstance(outer, exp.Where)
                node, outer = outer, outer.parent
            if outer is None or not in_where:
                continue
            inner = ", ".join(s.label for s in ctx.scope(parent).sources) if isinstance(parent, exp.Select) else "the subquery"
            names = ", ".join(dict.fromkeys(c.name for c in cols))
            ctx.add(
                "aggregate_in_where",
                f"{text} reads only columns of the outer query ({names} is not a column of {inner}), so SQLite "
                "treats it as an aggregate of the outer query inside its WHERE and rejects it (misuse of "
                f"aggregate). Aggregate a column of {inner} instead.",
                _position(agg),
            )

    @staticmethod
    def _insert_columns(ctx: _Context, target: exp.Schema) -> None:
        """The column list of ``INSERT INTO t (a, b)`` against the columns of ``t``."""
        table = ctx.schema.table(target.this.name) if isinstance(target.this, exp.Table) and ctx.schema else None
        if table is None:
            return
        known = {fold(c) for c in table.column_names} | _IMPLICIT_COLUMNS
        for ident in target.expressions:
            if isinstance(ident, exp.Identifier) and fold(ident.name) not in known:
                ctx.add(
                    "unknown_column",
                    f"{table.name} has no column {ident.name!r}.{ctx.suggest(ident.name, table.column_names)} "
                    f"Its columns: {', '.join(table.column_names)}.",
                    _position(ident),
                )

    @staticmethod
    def _unknown_qualifier(ctx: _Context, column: exp.Column, qualifier: str, chain: list[_Scope]) -> None:
        names = [s.key for scope in chain for s in scope.sources if s.key]
        real = [s.table.name for scope in chain for s in scope.sources if s.table is not None and s.key != fold(s.table.name)]
        note = ""
        if fold(qualifier) in {fold(r) for r in real}:
            note = f" {qualifier} was given an alias; refer to it by that alias."
        ctx.add(
            "unknown_column",
            f"{column.sql(dialect='sqlite')}: no table or alias named {qualifier!r} in this query.{note}"
            f"{ctx.suggest(qualifier, names)} In scope: {', '.join(names) or 'none'}.",
            _position(column),
        )

    def _select(self, ctx: _Context, select: exp.Select, is_output: bool) -> None:
        scope = ctx.scope(select)
        sources = scope.sources
        # SELECT * over a wide or large table, only where the rows reach the agent
        if is_output:
            limit = _limit_value(select)
            for proj in select.expressions:
                if isinstance(proj, exp.Star):
                    targets = sources
                elif isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star):
                    targets = [s for s in sources if s.key == fold(proj.table)]
                else:
                    continue
                for source in targets:
                    table = source.table
                    if table is None:
                        continue
                    wide = len(table.columns) > self.config.wide_table_columns
                    large = table.row_count > self.config.large_table_rows and (
                        limit is None or limit < 0 or limit > self.config.large_table_rows
                    )
                    if wide or large:
                        why = []
                        if wide:
                            why.append(f"{len(table.columns)} columns")
                        if large:
                            why.append(f"{table.row_count:,} rows and no LIMIT")
                        ctx.add(
                            "select_star_wide",
                            f"SELECT * over {table.name} returns {' and '.join(why)}. Name only the columns you need"
                            + (" and add a LIMIT or a WHERE filter." if large else "."),
                            _position(proj) if _position(proj) is not None else _position(select),
                        )
        # cartesian products
        if len(sources) < 2:
            return
        self._cartesian(ctx, select, scope)

    def _cartesian(self, ctx: _Context, select: exp.Select, scope: _Scope) -> None:
        sources = scope.sources
        n = len(sources)
        parent = list(range(n))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(ids: list[int]) -> None:
            if len(ids) < 2:
                return
            first = find(ids[0])
            for other in ids[1:]:
                parent[find(other)] = first

        index = {id(s.node): i for i, s in enumerate(sources)}
        by_key = {s.key: i for i, s in enumerate(sources) if s.key}
        conditions: list[exp.Expr] = list(_conjuncts(select.args.get("where")))
        for join in select.args.get("joins") or ():
            i = index.get(id(join.this))
            if i is None:
                continue
            if join.args.get("using") or str(join.args.get("method") or "").upper() == "NATURAL":
                union(list(range(i + 1)))
            conditions.extend(_conjuncts(join.args.get("on")))
        for condition in conditions:
            ids: set[int] = set()
            for column in condition.find_all(exp.Column):
                qualifier = column.table
                if qualifier:
                    i = by_key.get(fold(qualifier))
                    if i is not None:
                        ids.add(i)
                elif not isinstance(column.this, exp.Star):
                    lowered = fold(column.name)
                    ids.update(i for i, s in enumerate(sources) if s.columns is None or lowered in s.columns)
            union(sorted(ids))

        groups: dict[int, list[int]] = {}
        for i, source in enumerate(sources):
            if source.single_row or source.dependent:
                continue
            groups.setdefault(find(i), []).append(i)
        if len(groups) < 2:
            return
        parts = list(groups.values())
        first, rest = parts[0], [i for part in parts[1:] for i in part]
        left = [sources[i] for i in first]
        right = [sources[i] for i in rest]
        rows = ""
        counts = [s.table.row_count for s in left + right if s.table is not None]
        if len(counts) == len(left) + len(right):
            product = 1
            for c in counts:
                product *= c
            rows = f" ({' x '.join(f'{c:,}' for c in counts)} = {product:,} rows)"
        hint = self._join_hint(ctx, left, right)
        ctx.add(
            "cartesian_join",
            f"{', '.join(s.label for s in right)} {'is' if len(right) == 1 else 'are'} joined to "
            f"{', '.join(s.label for s in left)} with no condition linking them, so every row pairs with every "
            f"row{rows}. Add a join condition (JOIN ... ON ...){hint}; an explicit CROSS JOIN is flagged too.",
            _position(right[0].node),
        )

    @staticmethod
    def _join_hint(ctx: _Context, left: list[_Source], right: list[_Source]) -> str:
        if ctx.schema is None:
            return ""
        for a in right:
            for b in left:
                if a.table is None or b.table is None:
                    continue
                for table, col, ref_table, ref_col in ctx.schema.foreign_keys():
                    if table == a.table.name and ref_table == b.table.name:
                        return f", e.g. ON {a.key}.{col} = {b.key}.{ref_col}"
                    if table == b.table.name and ref_table == a.table.name:
                        return f", e.g. ON {b.key}.{col} = {a.key}.{ref_col}"
        return ""


# ---------------------------------------------------------------------------------------------
# The LLM reviewer
# ---------------------------------------------------------------------------------------------

LLM_SYSTEM_PROMPT = """You review one SQL statement that an AI agent wants to run on a sandboxed SQLite \
database in a reinforcement-learning environment. Decide whether it is safe and sensible to run.
Block statements that write when the family does not allow it, change the schema (DROP, ALTER), \
touch files or other databases (ATTACH, VACUUM INTO, load_extension), run unbounded work (cartesian \
joins, unbounded recursion), or are clearly wrong for the schema. Warn about likely bugs that are \
safe to run. Allow everything else.
Reply with strict JSON only, no prose and no code fences:
{"verdict": "allow" | "warn" | "block", "reasons": ["short reason", ...]}"""


class LLMReviewer:
    """Static review, then an OpenAI-compatible model that may escalate (never relax) the verdict.

    The model is consulted on every call, a static block included (its reasons are still reported);
    the static findings are part of the prompt. Any failure of the call returns the static review.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 5.0,
        static: StaticReviewer | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = float(timeout_s)
        self.static = static or StaticReviewer()
        self._client: httpx.Client | None = None

    @property
    def config(self) -> ReviewConfig:
        return self.static.config

    @classmethod
    def from_env(cls, static: StaticReviewer | None = None) -> "LLMReviewer | None":
        """Configured from ``DATAOPS_REVIEWER_*``; None unless the base URL and the model are both set."""
        base_url = os.environ.get("DATAOPS_REVIEWER_BASE_URL", "").strip()
        model = os.environ.get("DATAOPS_REVIEWER_MODEL", "").strip()
        if not base_url or not model:
            return None
        timeout = os.environ.get("DATAOPS_REVIEWER_TIMEOUT_S", "").strip()
        try:
            timeout_s = float(timeout) if timeout else 5.0
        except ValueError:
            timeout_s = 5.0
        return cls(
            base_url,
            model,
            api_key=os.environ.get("DATAOPS_REVIEWER_API_KEY") or None,
            timeout_s=timeout_s,
            static=static,
        )

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _prompt(self, sql: str, family: str, schema: SchemaInfo | None, static: Review) -> list[dict]:
        allowed = sorted(FAMILY_WRITES.get(family, frozenset()))
        user = {
            "family": family,
            "writes_allowed": allowed or "none (read-only)",
            "sql": sql,
            "schema": schema.text if schema is not None else None,
            "static_findings": [f"{f.severity} {f.code}: {f.message}" for f in static.findings],
        }
        return [
            {"role": "system", "content": LLM_SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(user, indent=1)},
        ]

    def _ask(self, messages: list[dict]) -> tuple[str, list[str]]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        response = self._http().post(
            f"{self.base_url}/chat/completions",
            json={"model": self.model, "messages": messages, "temperature": 0},
            headers=headers,
            timeout=self.timeout_s,
        )
        response.raise_for_status()
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"malformed reply: no choices[0].message.content ({type(exc).__name__})") from None
        if not isinstance(content, str):
            raise ValueError("malformed reply: message content is not text")
        text = content.strip()
        if text.startswith("```"):
            text = text.strip("`")
            text = text[4:] if text.lower().startswith("json") else text
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError(f"malformed reply: not JSON: {content[:80]!r}") from None
        if not isinstance(data, dict) or data.get("verdict") not in VERDICT_RANK:
            raise ValueError(f"malformed reply: verdict must be allow, warn or block: {content[:80]!r}")
        reasons = data.get("reasons", [])
        if not isinstance(reasons, list):
            raise ValueError("malformed reply: reasons must be a list")
        return data["verdict"], [str(r) for r in reasons]

    def review(self, sql: str, family: str = "debug", schema: SchemaInfo | None = None) -> Review:
        started = time.perf_counter()
        static = self.static.review(sql, family, schema)
        asked = time.perf_counter()
        try:
            verdict, reasons = self._ask(self._prompt(sql if isinstance(sql, str) else "", family, schema, static))
        except httpx.TimeoutException:
            error = f"timeout after {self.timeout_s:g} s"
        except httpx.HTTPStatusError as exc:
            error = f"HTTP {exc.response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except ValueError as exc:
            error = str(exc)
        else:
            llm_ms = (time.perf_counter() - asked) * 1000
            final: Verdict = verdict if VERDICT_RANK[verdict] > VERDICT_RANK[static.verdict] else static.verdict
            severity: Severity = {"allow": "info", "warn": "warning", "block": "error"}[verdict]
            extra = tuple(Finding("llm_review", severity, reason) for reason in reasons)
            if not extra and verdict != "allow":
                extra = (Finding("llm_review", severity, f"The LLM reviewer said {verdict} without a reason."),)
            return Review(
                verdict=final,
                findings=static.findings + extra,
                source="static+llm",
                latency_ms=(time.perf_counter() - started) * 1000,
                llm={"model": self.model, "verdict": verdict, "reasons": reasons, "latency_ms": round(llm_ms, 2)},
            )
        return Review(
            verdict=static.verdict,
            findings=static.findings,
            source=f"static (llm failed: {error})",
            latency_ms=(time.perf_counter() - started) * 1000,
            llm={"error": error, "model": self.model},
        )


def make_reviewer(config: ReviewConfig | None = None) -> StaticReviewer | LLMReviewer:
    """The LLM reviewer when ``DATAOPS_REVIEWER_BASE_URL`` and ``_MODEL`` are set, else the static one."""
    static = StaticReviewer(config)
    return LLMReviewer.from_env(static=static) or static


__all__ = [
    "DEFAULT_SEVERITY",
    "FAMILY_WRITES",
    "Finding",
    "LLMReviewer",
    "READ_ONLY_PRAGMAS",
    "Review",
    "ReviewConfig",
    "SQLITE_FUNCTIONS",
    "Severity",
    "StaticReviewer",
    "Verdict",
    "make_reviewer",
]
