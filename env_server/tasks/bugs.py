"""The bug injector: breaks a verified "gold" SQLite query with one realistic developer mistake.

Each of the ``BUG_TYPES`` is one kind of mistake in the style of SQL-Rewind-like debugging
benchmarks (a typo'd keyword, a wrong column, a dropped join condition, ...). Every type but
``keyword_typo`` edits the sqlglot AST of the query and re-renders it for SQLite; ``keyword_typo``
edits one keyword token of the original text (found with sqlglot's tokenizer, so string literals
and identifiers are never touched) and keeps only edits SQLite rejects as a syntax error.

A bug type's *sites* are all the distinct broken queries it can make from a gold query;
``inject`` picks one with the caller's ``random.Random`` and ``applicable`` lists the types
that have at least one, so the two always agree.
"""
from __future__ import annotations

import calendar
import random
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta
from functools import cached_property
from types import MappingProxyType

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

from env_server.core.sandbox import scratch
from env_server.core.schema import SchemaInfo, Table

__all__ = ["BUG_DESCRIPTIONS", "BUG_TYPES", "applicable", "inject"]

BUG_TYPES: tuple[str, ...] = (
    "keyword_typo", "wrong_column", "wrong_table", "missing_join_condition", "left_vs_inner",
    "wrong_aggregate", "missing_group_by_column", "where_vs_having", "eq_null", "integer_division",
    "off_by_one_date", "wrong_order", "missing_distinct", "alias_misuse",
)

BUG_DESCRIPTIONS: Mapping[str, str] = MappingProxyType({
    "keyword_typo": "A SQL keyword is misspelled, so the query is a syntax error.",
    "wrong_column": "One column reference points at a different column of the same table.",
    "wrong_table": "One table in FROM or JOIN was replaced by a different table of the schema.",
    "missing_join_condition": "A JOIN lost its ON condition, so it pairs every row with every row.",
    "left_vs_inner": "A LEFT JOIN was written as an inner JOIN, or an inner JOIN as a LEFT JOIN.",
    "wrong_aggregate": "One aggregate uses the wrong function (SUM/AVG, MIN/MAX or the wrong COUNT).",
    "missing_group_by_column": "A column needed in GROUP BY was left out, so groups are merged.",
    "where_vs_having": "A filter is in the wrong clause: a group filter in WHERE, or a row filter in HAVING.",
    "eq_null": "A NULL check uses = NULL or <> NULL, which is never true, instead of IS [NOT] NULL.",
    "integer_division": "A division lost its cast to REAL, so SQLite does integer division and truncates.",
    "off_by_one_date": "A date boundary is off by one: an inclusive/exclusive operator or the date itself.",
    "wrong_order": "The sort direction of the first ORDER BY key is flipped, or the LIMIT is off by one.",
    "missing_distinct": "A DISTINCT was left out, so duplicates are returned or counted.",
    "alias_misuse": "A column is qualified with the wrong table alias.",
})

_SQLITE = sqlglot.Dialect.get_or_raise("sqlite")

# Misspellings per keyword (upper case); a variant is only used where SQLite rejects it.
_TYPOS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "SELECT": ("SELCT", "SELET", "SLECT"), "FROM": ("FORM", "FRM", "FOMR"),
    "WHERE": ("WHER", "WHRE", "WEHRE"), "GROUP": ("GRUOP", "GORUP", "GROPU"),
    "ORDER": ("ODER", "ORDR", "OREDR"), "JOIN": ("JION", "JON", "JOIM"),
    "HAVING": ("HAVNG", "HAIVNG", "HVAING"), "LIMIT": ("LIMT", "LIMTI", "LMIT"),
    "DISTINCT": ("DISTNCT", "DISTINT", "DISTICT"), "AND": ("ADN", "NAD"),
    "LEFT": ("LEFY", "LFET"), "INNER": ("INNR", "INER"), "CASE": ("CAES", "CSAE"),
    "WHEN": ("WHN", "WEHN"), "THEN": ("THNE", "TEHN"), "ELSE": ("ELES", "ESLE"),
    "END": ("EDN", "ENDD"), "WITH": ("WTIH", "WIHT"), "BETWEEN": ("BETWEN", "BEETWEEN"),
    "OVER": ("OVRE", "OEVR"), "PARTITION": ("PARTITON", "PARITION"), "UNION": ("UNOIN", "UINON"),
    "DESC": ("DSEC", "DECS"), "ASC": ("ACS",), "NULL": ("NUL", "NLUL"), "LIKE": ("LIEK", "LKIE"),
})
_LEADING_WORD = re.compile(r"[A-Za-z]+")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})((?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)$")
_SWAP_AGG: Mapping[type, type] = MappingProxyType({
    exp.Sum: exp.Avg, exp.Avg: exp.Sum, exp.Max: exp.Min, exp.Min: exp.Max,
})
_FLIP_CMP: Mapping[type, type] = MappingProxyType({
    exp.GTE: exp.GT, exp.GT: exp.GTE, exp.LT: exp.LTE, exp.LTE: exp.LT,
})


class _Query:
    """One gold query, parsed once, with helpers to render one edit of a private copy."""

    def __init__(self, sql: str, schema: SchemaInfo) -> None:
        self.sql = sql
        self.schema = schema
        try:
            trees = sqlglot.parse(sql, read="sqlite")
        except SqlglotError:
            trees = []
        trees = [t for t in trees if t is not None and not isinstance(t, exp.Semicolon)]
        self.tree: exp.Expression | None = trees[0] if len(trees) == 1 else None  # one statement only
        self.original = self.tree.sql(dialect="sqlite") if self.tree is not None else sql

    @cached_property
    def scopes(self) -> list[Scope]:
        try:
            return traverse_scope(self.tree) if self.tree is not None else []
        except SqlglotError:
            return []

    def find_all(self, *types: type) -> list[exp.Expression]:
        return list(self.tree.find_all(*types)) if self.tree is not None else []

    def mutate(self, node: exp.Expression, edit: Callable[[exp.Expression], object]) -> str:
        """Apply ``edit`` to the copy of ``node`` in a fresh copy of the tree and render it."""
        path = []
        while node.parent is not None:
            path.append((node.arg_key, node.index))
            node = node.parent
        root = self.tree.copy()
        target = root
        for key, index in reversed(path):
            value = target.args[key]
            target = value[index] if index is not None else value
        edit(target)
        return root.sql(dialect="sqlite")


# ---------------------------------------------------------------- shared helpers


def _tables_in(scope: Scope, schema: SchemaInfo) -> dict[str, Table | None]:
    """Source name (alias or table name) -> schema table, for the FROM/JOIN sources of ``scope``."""
    return {
        name: schema.table(source.name) if isinstance(source, exp.Table) else None
        for name, (_, source) in scope.selected_sources.items()
    }


def _source_columns(source: object, schema: SchemaInfo) -> set[str] | None:
    """Column names a FROM/JOIN source offers: a schema table's, or a CTE/subquery's outputs."""
    if isinstance(source, exp.Table):
        table = schema.table(source.name)
        return set(table.column_names) if table else None
    if isinstance(source, Scope) and isinstance(source.expression, exp.Query):
        return set(source.expression.named_selects)
    return None


def _own_columns(scope: Scope) -> list[exp.Column]:
    """Real column references written directly in this scope's SELECT (not stars, not nested)."""
    return [
        c for c in scope.columns
        if not isinstance(c.this, exp.Star) and c.find_ancestor(exp.Select) is scope.expression
    ]


def _resolve(col: exp.Column, tables: dict[str, Table | None]) -> Table | None:
    """The schema table ``col`` reads from, or None (CTE, subquery, select alias, ambiguous)."""
    if col.table:
        table = tables.get(col.table)
        return table if table is not None and table.column(col.name) else None
    owners = [t for t in tables.values() if t is not None and t.column(col.name)]
    return owners[0] if len(owners) == 1 else None


def _affinity(declared: str) -> str:
    """SQLite's type-affinity rules for a declared column type."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not t or "BLOB" in t:
        return "BLOB"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _first_tier(*tiers: list) -> list:
    return next((tier for tier in tiers if tier), [])


def _float_literal(node: exp.Expression) -> int | None:
    """The integer value of a float literal like ``1.0`` / ``100.0``, else None."""
    if isinstance(node, exp.Literal) and not node.is_string and any(ch in node.this for ch in ".eE"):
        value = float(node.this)
        if value.is_integer():
            return int(value)
    return None


def _is_float_cast(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)


def _shift_date(text: str, days: int = 0, months: int = 0) -> str | None:
    m = _ISO_DATE.match(text)
    if not m:
        return None
    try:
        day = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    if months:
        total = day.year * 12 + day.month - 1 + months
        year, month = divmod(total, 12)
        day = date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    day += timedelta(days=days)
    return day.isoformat() + m[4]


def _is_syntax_error(sql: str) -> bool:
    """True if SQLite refuses to parse ``sql`` (checked by compiling it with EXPLAIN on an empty DB)."""
    conn = scratch()
    try:
        conn.execute("EXPLAIN " + sql)
    except sqlite3.Error as err:
        text = str(err)
        return any(k in text for k in ("syntax error", "incomplete input", "unrecognized token"))
    except Exception:  # noqa: BLE001 - e.g. more than one statement
        return False
    finally:
        conn.close()
    return False


# ---------------------------------------------------------------- one generator per bug type


def _keyword_typo(q: _Query) -> Iterator[str]:
    try:
        tokens = _SQLITE.tokenize(q.sql)
    except SqlglotError:
        return
    for tok in tokens:
        kind = tok.token_type
        if kind in (TokenType.VAR, TokenType.IDENTIFIER) or kind.name.endswith("STRING"):
            continue
        m = _LEADING_WORD.match(q.sql, tok.start)
        if not m:
            continue
        word = m.group(0)
        for variant in _TYPOS.get(word.upper(), ()):
            typo = variant if not word.islower() else variant.lower()
            out = q.sql[:m.start()] + typo + q.sql[m.end():]
            if _is_syntax_error(out):
                yield out


def _wrong_column(q: _Query) -> Iterator[str]:
    for scope in q.scopes:
        tables = _tables_in(scope, q.schema)
        for col in _own_columns(scope):
            table = _resolve(col, tables)
            if table is None:
                continue
            current = table.column(col.name)
            others = [c for c in table.columns if c.name != col.name]
            if not col.table and len(tables) > 1:  # keep an unqualified reference unambiguous
                taken = {n for t in tables.values() if t is not None and t is not table for n in t.column_names}
                others = [c for c in others if c.name not in taken]
            same = _affinity(current.type)
            numeric = {"INTEGER", "REAL", "NUMERIC"}
            alts = _first_tier(
                [c for c in others if _affinity(c.type) == same],
                [c for c in others if (_affinity(c.type) in numeric) == (same in numeric)],
                others,
            )
            for alt in alts:
                yield q.mutate(col, lambda c, name=alt.name: c.set("this", exp.to_identifier(name)))


def _wrong_table(q: _Query) -> Iterator[str]:
    for scope in q.scopes:
        tables = _tables_in(scope, q.schema)
        own = _own_columns(scope)
        for name, (_, source) in scope.selected_sources.items():
            table = tables[name]
            if table is None:
                continue
            used = {c.name for c in own if _resolve(c, tables) is table}
            plain = {c.name for c in table.columns if not c.primary_key}  # "id" is shared by all
            others = [t for t in q.schema.tables if t.name.lower() != table.name.lower()]
            alts = _first_tier(
                [t for t in others if used and used <= set(t.column_names)],  # still runs
                [t for t in others if used & plain & set(t.column_names)],
                [t for t in others if plain & set(t.column_names)],
                others,
            )
            for alt in alts:
                yield q.mutate(source, lambda t, new=alt.name: t.set("this", exp.to_identifier(new)))


def _missing_join_condition(q: _Query) -> Iterator[str]:
    for join in q.find_all(exp.Join):
        if join.args.get("on") is not None or join.args.get("using"):
            yield q.mutate(join, _drop_condition)


def _drop_condition(join: exp.Join) -> None:
    join.set("on", None)
    join.set("using", None)
    if not join.side and not join.kind:
        join.set("kind", "INNER")  # render "INNER JOIN t AS x", not a comma join


def _left_vs_inner(q: _Query) -> Iterator[str]:
    for join in q.find_all(exp.Join):
        if join.args.get("on") is None and not join.args.get("using"):
            continue  # cross / comma joins
        if join.side == "LEFT":
            yield q.mutate(join, lambda j: (j.set("side", None), j.set("kind", None)))
        elif not join.side and join.kind in ("", "INNER"):
            yield q.mutate(join, lambda j: (j.set("side", "LEFT"), j.set("kind", None)))


def _wrong_aggregate(q: _Query) -> Iterator[str]:
    scope_of = {id(s.expression): s for s in q.scopes}
    for agg in q.find_all(exp.Sum, exp.Avg, exp.Max, exp.Min, exp.Count):
        if type(agg) in _SWAP_AGG:
            new = _SWAP_AGG[type(agg)]
            yield q.mutate(agg, lambda a, new=new: a.replace(new(**a.args)))
        elif isinstance(agg.this, exp.Column):  # COUNT(col) -> SUM(col)
            yield q.mutate(agg, lambda a: a.replace(exp.Sum(this=a.this)))
        elif isinstance(agg.this, exp.Star):
            scope = scope_of.get(id(agg.find_ancestor(exp.Select)))
            if scope is None:
                continue
            tables = {n: t for n, t in _tables_in(scope, q.schema).items() if t is not None}
            qualify = len(scope.selected_sources) > 1
            fks = [exp.column(c.name, table=n if qualify else None)
                   for n, t in tables.items() for c in t.columns if c.references]
            nullable = [exp.column(c.name, table=n if qualify else None)
                        for n, t in tables.items() for c in t.columns if not c.not_null]
            news = [exp.Count(this=exp.Distinct(expressions=[c])) for c in fks] or [exp.Count(this=c) for c in nullable]
            for new in news:  # COUNT(*) -> COUNT(DISTINCT fk), else COUNT(nullable column)
                yield q.mutate(agg, lambda a, new=new: a.replace(new.copy()))


def _missing_group_by_column(q: _Query) -> Iterator[str]:
    for select in q.find_all(exp.Select):
        group = select.args.get("group")
        keys = group.expressions if group else []
        if len(keys) >= 2:
            for key in keys:
                yield q.mutate(key, lambda k: k.pop())
        elif len(keys) == 1 and _other_bare_columns(select, keys[0]):
            yield q.mutate(select, lambda s: s.set("group", None))


def _other_bare_columns(select: exp.Select, key: exp.Expression) -> bool:
    """Whether the select list has a non-aggregated column expression other than the group key."""
    for projection in select.expressions:
        inner = projection.unalias()
        if inner == key or (isinstance(key, exp.Column) and not key.table and key.name == projection.alias_or_name):
            continue
        if projection.find(exp.AggFunc, exp.Window, exp.Subquery):
            continue
        if projection.find(exp.Column):
            return True
    return False


def _where_vs_having(q: _Query) -> Iterator[str]:
    for select in q.find_all(exp.Select):
        if select.args.get("having"):
            yield q.mutate(select, _having_to_where)
        elif select.args.get("group") and select.args.get("where"):
            for i in range(len(_conjuncts(select.args["where"].this))):
                yield q.mutate(select, lambda s, i=i: _where_to_having(s, i))


def _conjuncts(cond: exp.Expression) -> list[exp.Expression]:
    return list(cond.flatten()) if isinstance(cond, exp.And) else [cond]


def _having_to_where(select: exp.Select) -> None:
    cond = select.args["having"].this
    select.set("having", None)
    select.where(cond, append=True, copy=False)


def _where_to_having(select: exp.Select, i: int) -> None:
    conjuncts = _conjuncts(select.args["where"].this)
    moved = conjuncts.pop(i)
    select.set("where", exp.Where(this=exp.and_(*conjuncts, copy=False)) if conjuncts else None)
    select.having(moved, copy=False)


def _eq_null(q: _Query) -> Iterator[str]:
    for is_ in q.find_all(exp.Is):
        if not isinstance(is_.expression, exp.Null):
            continue
        outer = is_
        while isinstance(outer.parent, exp.Paren):
            outer = outer.parent
        if isinstance(outer.parent, exp.Not):  # NOT x IS NULL -> x <> NULL
            yield q.mutate(outer.parent, lambda n: n.replace(exp.NEQ(this=n.find(exp.Is).this, expression=exp.Null())))
        else:  # x IS NULL -> x = NULL
            yield q.mutate(is_, lambda n: n.replace(exp.EQ(this=n.this, expression=exp.Null())))


def _integer_division(q: _Query) -> Iterator[str]:
    for div in q.find_all(exp.Div):
        for operand in (div.this, div.expression):
            operand = operand.unnest()
            if _is_float_cast(operand):
                yield q.mutate(operand, lambda c: c.replace(c.this))
            elif _float_literal(operand) is not None:
                yield q.mutate(operand, lambda n, v=_float_literal(operand): n.replace(exp.Literal.number(v)))
            elif isinstance(operand, exp.Mul):
                for factor, other in ((operand.this, operand.expression), (operand.expression, operand.this)):
                    factor = factor.unnest()
                    value = _float_literal(factor)
                    if _is_float_cast(factor):
                        yield q.mutate(factor, lambda c: c.replace(c.this))
                    elif value == 1:  # a * 1.0 -> a
                        yield q.mutate(operand, lambda m, keep=other.arg_key: m.replace(m.args[keep]))
                    elif value is not None:  # 100.0 * a -> 100 * a
                        yield q.mutate(factor, lambda n, v=value: n.replace(exp.Literal.number(v)))


def _off_by_one_date(q: _Query) -> Iterator[str]:
    def shifts(lit: exp.Literal) -> Iterator[str]:
        for days in (1, -1):
            yield q.mutate(lit, lambda n, d=days: n.replace(exp.Literal.string(_shift_date(n.this, days=d))))
        if _ISO_DATE.match(lit.this)[3] == "01":
            for months in (1, -1):
                yield q.mutate(lit, lambda n, m=months: n.replace(exp.Literal.string(_shift_date(n.this, months=m))))

    def is_date(node: exp.Expression) -> bool:
        return isinstance(node, exp.Literal) and node.is_string and _shift_date(node.this) is not None

    for cmp in q.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ):
        for lit, other in ((cmp.this, cmp.expression), (cmp.expression, cmp.this)):
            if is_date(lit) and not isinstance(other, exp.Literal):
                if type(cmp) in _FLIP_CMP:
                    new = _FLIP_CMP[type(cmp)]
                    yield q.mutate(cmp, lambda c, new=new: c.replace(new(this=c.this, expression=c.expression)))
                yield from shifts(lit)
    for between in q.find_all(exp.Between):
        for bound in (between.args.get("low"), between.args.get("high")):
            if bound is not None and is_date(bound):
                yield from shifts(bound)


def _wrong_order(q: _Query) -> Iterator[str]:
    for order in q.find_all(exp.Order):
        if order.expressions:
            yield q.mutate(order.expressions[0], _flip_direction)
    for limit in q.find_all(exp.Limit):
        n = limit.expression
        if isinstance(n, exp.Literal) and n.is_int:
            for m in (n.to_py() + 1, n.to_py() - 1):
                if m > 0:
                    yield q.mutate(n, lambda node, m=m: node.replace(exp.Literal.number(m)))


def _flip_direction(ordered: exp.Ordered) -> None:
    desc = bool(ordered.args.get("desc"))
    nulls_first = ordered.args.get("nulls_first")
    if nulls_first is None:
        nulls_first = not desc  # SQLite: NULLs sort first ascending, last descending
    ordered.set("desc", not desc)
    ordered.set("nulls_first", not nulls_first)


def _missing_distinct(q: _Query) -> Iterator[str]:
    for select in q.find_all(exp.Select):
        if select.args.get("distinct"):
            yield q.mutate(select, lambda s: s.set("distinct", None))
    for distinct in q.find_all(exp.Distinct):
        if isinstance(distinct.parent, exp.AggFunc) and distinct.arg_key == "this" and len(distinct.expressions) == 1:
            yield q.mutate(distinct, lambda d: d.replace(d.expressions[0]))


def _alias_misuse(q: _Query) -> Iterator[str]:
    for scope in q.scopes:
        sources = {name: source for name, (_, source) in scope.selected_sources.items()}
        if len(sources) < 2:
            continue
        offered = {name: _source_columns(source, q.schema) or set() for name, source in sources.items()}
        for col in _own_columns(scope):
            if not col.table or col.table not in sources:
                continue
            others = [n for n in sources if n != col.table]
            for alias in _first_tier([n for n in others if col.name in offered[n]], others):
                yield q.mutate(col, lambda c, a=alias: c.set("table", exp.to_identifier(a)))


_GENERATORS: Mapping[str, Callable[[_Query], Iterator[str]]] = MappingProxyType({
    "keyword_typo": _keyword_typo,
    "wrong_column": _wrong_column,
    "wrong_table": _wrong_table,
    "missing_join_condition": _missing_join_condition,
    "left_vs_inner": _left_vs_inner,
    "wrong_aggregate": _wrong_aggregate,
    "missing_group_by_column": _missing_group_by_column,
    "where_vs_having": _where_vs_having,
    "eq_null": _eq_null,
    "integer_division": _integer_division,
    "off_by_one_date": _off_by_one_date,
    "wrong_order": _wrong_order,
    "missing_distinct": _missing_distinct,
    "alias_misuse": _alias_misuse,
})
assert tuple(_GENERATORS) == BUG_TYPES == tuple(BUG_DESCRIPTIONS)


def _sites(q: _Query, bug_type: str) -> Iterator[str]:
    """Distinct broken queries of ``bug_type``, in a fixed order; never the gold query itself."""
    if q.tree is None:  # not a single statement sqlglot can parse
        return
    seen = {q.original, q.sql}
    try:
        for out in _GENERATORS[bug_type](q):
            if out not in seen:
                seen.add(out)
                yield out
    except sqlglot.errors.SqlglotError:  # a query sqlglot cannot analyse has no site of this type
        return


def _check(bug_type: str) -> None:
    if bug_type not in _GENERATORS:
        raise ValueError(f"unknown bug type {bug_type!r}; valid bug types: {', '.join(BUG_TYPES)}")


def applicable(sql: str, schema: SchemaInfo) -> list[str]:
    """Bug types that have at least one site in this query (cheap, parse once)."""
    q = _Query(sql, schema)
    return [t for t in BUG_TYPES if next(_sites(q, t), None) is not None]


def inject(sql: str, bug_type: str, schema: SchemaInfo, rng: random.Random) -> str | None:
    """Return the query with one bug of ``bug_type``, or None if the query has no site for it.

    Deterministic for a given ``rng`` state. Raises ``ValueError`` for an unknown ``bug_type``.
    """
    _check(bug_type)
    sites = list(_sites(_Query(sql, schema), bug_type))
    return rng.choice(sites) if sites else None
