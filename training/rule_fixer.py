"""A rule-based fixer of broken SQL queries: the no-model control that an RL-trained policy must beat.

It reads what a model is shown, the broken query and the task database's schema (table and column names, foreign
keys, NOT NULL columns), and what running a query on that database says (SQLite's error message); it never sees
the gold query. :func:`fix_query` takes the three as arguments (``run`` is a callable that runs a query and
returns its error message, or None when it ran), so nothing here can reach a task's answer. The ``rule_fixer``
policy of :mod:`training.policies` wraps it.

Rules (:data:`RULES`), in the order they are tried:

1. ``keyword_spelling`` (only while SQLite calls the query a syntax error): a word of the query (sqlglot's
   tokenizer, so never inside a string literal or a quoted identifier) that is not an SQL keyword (the words of
   sqlglot's SQLite tokenizer keywords), not a schema name (ASCII case folded), not an alias or CTE the query
   defines and not a qualifier, but is within Damerau-Levenshtein distance 1 (keywords of up to 3 letters) or 2
   (longer ones) of a keyword, is replaced by that keyword, its case kept. The guesses are tried nearest first;
   the first after which the query runs is kept, else the first that at least removes the syntax error.
2. ``null_comparison``: ``= NULL`` becomes ``IS NULL``, ``!=``/``<> NULL`` becomes ``IS NOT NULL`` (never true as
   written, whatever the data).
3. While running the query fails with "no such column" or "no such table" (at most :data:`MAX_NAME_FIXES` times),
   the first of these that changes it:
   ``alias_requalify``: ``a.col`` where ``col`` is the only column read through ``a`` that ``a``'s table lacks and
   exactly one other source of the same SELECT has it: qualified with that source;
   ``table_swap``: a table lacking a column read through it, replaced by the one other schema table that has
   every column read through it (a tie goes to the one the rest of the query names or links to by a foreign key);
   ``unknown_name``: a column or table name within edit distance 1 (4 to 7 letters) or 2 (8 or more) of exactly one
   name of the sources (or of the schema's tables): that name.
4. Rewrites of the parsed query (sqlglot), each kept only when the query then runs (or did not run before):
   ``aggregate_clause``: in a grouped SELECT, a WHERE condition holding an aggregate (or an aggregate's alias)
   moves to HAVING, and a HAVING condition holding none moves to WHERE;
   ``left_join_key``: a select-list item or GROUP BY key that is the NULL-able side of a LEFT JOIN's
   ``ON a.x = b.y`` is read from the kept side (``b.y`` is NULL exactly where nothing matched);
   ``group_key_qualifier``: a select-list column ``i.id`` that is not grouped while exactly one GROUP BY key is the
   same column name through another source (``d.id``, not equated with it by a join) reads that key;
   ``group_by_completion``: a plain select-list column of a grouped or aggregating SELECT that no GROUP BY key
   covers is added to GROUP BY (the ONLY_FULL_GROUP_BY rule);
   ``join_condition_from_fk``: a JOIN with no condition (or ``ON TRUE``) is joined on the one foreign key between
   its table and the tables before it;
   ``anti_join``: an inner JOIN whose table is then tested ``IS NULL`` on a NOT NULL column (never true after an
   inner join) becomes a LEFT JOIN;
   ``real_division``: in ``ROUND(a / b, d)`` with ``d > 0`` and neither side already REAL (a float literal, a cast
   to REAL, an AVG), ``a`` is cast to REAL: SQLite divides integers as integers.

No rule changes any of the 2,360 gold queries of the train and held-out debug tasks (checked when the rules were
written: a rule that fires on a correct query costs the tasks it would otherwise leave solved).

The bug types it cannot honestly fix (the query runs and is merely wrong: ``wrong_aggregate``, ``wrong_order``,
``missing_distinct``, ``off_by_one_date``, ``left_vs_inner`` outside the anti-join shape, a ``wrong_column`` or
``wrong_table`` that still runs) are left as they are: guessing there needs the intent, which only the question
states. The rules do not read the question.

Size: over 600 lines because it is a catalogue: each rule is a short function over the same tokens or parse tree
and schema, and they read best top to bottom in one file, in the order :func:`fix_query` applies them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import Token, TokenType

from env_server.core.identifiers import fold
from env_server.core.schema import SchemaInfo

__all__ = ["REWRITES", "RULES", "Fix", "Runner", "damerau_levenshtein", "fix_keyword_spelling", "fix_null_comparisons",
           "fix_query", "is_syntax_error", "near_keywords", "sql_keywords"]

RULES: tuple[str, ...] = (
    "keyword_spelling", "null_comparison", "alias_requalify", "table_swap", "unknown_name", "aggregate_clause",
    "left_join_key", "group_key_qualifier", "group_by_completion", "join_condition_from_fk", "anti_join",
    "real_division",
)
"""Every rule, in the order :func:`fix_query` tries them."""

MAX_NAME_FIXES = 6
"""How many "no such column/table" errors in a row the name rules may fix."""

Runner = Callable[[str], "str | None"]
"""Runs a query on the task database: its error message, or None when it ran."""

_DIALECT = sqlglot.Dialect.get_or_raise("sqlite")
_SYNTAX_MARKERS = ("syntax error", "incomplete input", "unrecognized token")
_MISSING = re.compile(r"no such (column|table): (.+?)\s*$")
_REAL_TYPES = {"REAL", "FLOAT", "DOUBLE", "DECIMAL", "NUMERIC"}


@dataclass
class Fix:
    """The fixed query and the rules that changed it, in the order they did."""

    sql: str
    rules: list[str] = field(default_factory=list)


# -- words and distances -----------------------------------------------------------------------------------------


def damerau_levenshtein(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment), case-sensitive.

    >>> damerau_levenshtein("SLECT", "SELECT"), damerau_levenshtein("FORM", "FROM"), damerau_levenshtein("NAD", "AND")
    (1, 1, 1)
    >>> damerau_levenshtein("FOMR", "FROM"), damerau_levenshtein("agg", "AND")
    (2, 3)
    """
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[len(b)]


@lru_cache(maxsize=1)
def sql_keywords() -> frozenset[str]:
    """The words of sqlglot's SQLite tokenizer keywords, upper case (``GROUP BY`` gives GROUP and BY).

    >>> {"SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "JOIN", "NULL"} <= sql_keywords()
    True
    """
    return frozenset(word for keyword in _DIALECT.tokenizer_class.KEYWORDS
                     for word in keyword.split() if word.isalpha())


def _max_distance(keyword: str) -> int:
    """How far a word may be from ``keyword`` to count as its misspelling: 1 up to 3 letters, else 2."""
    return 1 if len(keyword) <= 3 else 2


def near_keywords(word: str) -> list[tuple[int, str]]:
    """The keywords ``word`` may be a misspelling of, as ``(distance, KEYWORD)``, nearest first.

    >>> near_keywords("WHER")[:2]
    [(1, 'WHEN'), (1, 'WHERE')]
    >>> near_keywords("SELECT"), near_keywords("ab")
    ([], [])
    """
    upper = word.upper()
    if len(word) < 3 or not word.isalpha() or upper in sql_keywords():
        return []
    out = []
    for keyword in sql_keywords():
        if abs(len(keyword) - len(upper)) <= 2:
            distance = damerau_levenshtein(upper, keyword)
            if distance <= _max_distance(keyword):
                out.append((distance, keyword))
    return sorted(out)


def is_syntax_error(message: str | None) -> bool:
    """Whether a SQLite error message says the query does not parse."""
    return bool(message) and any(marker in message for marker in _SYNTAX_MARKERS)


def _tokens(sql: str) -> list[Token]:
    try:
        return list(_DIALECT.tokenize(sql))
    except SqlglotError:
        return []


def _schema_names(schema: SchemaInfo) -> set[str]:
    return {fold(t.name) for t in schema.tables} | {fold(c.name) for t in schema.tables for c in t.columns}


def _defined_names(tokens: list[Token]) -> set[str]:
    """Aliases (the word after AS) and CTE names (the word before ``AS (``) the query defines, folded."""
    names = set()
    for i, tok in enumerate(tokens):
        if tok.token_type != TokenType.ALIAS:
            continue
        if i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN and i > 0:
            names.add(fold(tokens[i - 1].text))
        elif i + 1 < len(tokens):
            names.add(fold(tokens[i + 1].text))
    return names


# -- rule 1: keyword spelling ------------------------------------------------------------------------------------


def _spelling_candidates(sql: str, schema: SchemaInfo) -> list[tuple[int, int, str]]:
    """``(distance, token index, replacement text)`` for each misspelt-keyword guess, nearest first."""
    tokens = _tokens(sql)
    known = _schema_names(schema) | _defined_names(tokens)
    out = []
    for i, tok in enumerate(tokens):
        if tok.token_type != TokenType.VAR or fold(tok.text) in known:
            continue
        if i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.DOT:
            continue  # a qualifier: a table or an alias
        word = sql[tok.start: tok.end + 1]
        for distance, keyword in near_keywords(word):
            out.append((distance, i, keyword.lower() if word.islower() else keyword))
    return sorted(out)


def _replace_token(sql: str, token: Token, text: str) -> str:
    return sql[:token.start] + text + sql[token.end + 1:]


def fix_keyword_spelling(sql: str, schema: SchemaInfo, run: Runner) -> str | None:
    """One misspelt keyword replaced (rule 1), or None when no guess removes the syntax error."""
    tokens = _tokens(sql)
    fallback = None
    for _, index, keyword in _spelling_candidates(sql, schema):
        candidate = _replace_token(sql, tokens[index], keyword)
        error = run(candidate)
        if error is None:
            return candidate
        if fallback is None and not is_syntax_error(error):
            fallback = candidate
    return fallback


# -- rule 2: NULL comparisons ------------------------------------------------------------------------------------


def fix_null_comparisons(sql: str) -> str:
    """``= NULL`` as ``IS NULL`` and ``<>``/``!= NULL`` as ``IS NOT NULL`` (rule 2), outside string literals.

    >>> fix_null_comparisons("SELECT id FROM t WHERE a = NULL AND b <> null AND c = 'x = NULL'")
    "SELECT id FROM t WHERE a IS NULL AND b IS NOT null AND c = 'x = NULL'"
    """
    tokens = _tokens(sql)
    for op, nxt in reversed(list(zip(tokens, tokens[1:]))):
        if nxt.token_type == TokenType.NULL and op.token_type in (TokenType.EQ, TokenType.NEQ):
            text = "IS " + ("NOT " if op.token_type == TokenType.NEQ else "") + sql[nxt.start: nxt.end + 1]
            sql = sql[:op.start] + text + sql[nxt.end + 1:]
    return sql


# -- parsed queries ----------------------------------------------------------------------------------------------


def _parse(sql: str) -> exp.Expression | None:
    """The one statement ``sql`` holds, parsed as SQLite, or None."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="sqlite") if t is not None]
    except SqlglotError:
        return None
    return trees[0] if len(trees) == 1 and not isinstance(trees[0], exp.Semicolon) else None


def _render(tree: exp.Expression) -> str:
    return tree.sql(dialect="sqlite")


def _scopes(tree: exp.Expression) -> list[Scope]:
    try:
        return traverse_scope(tree)
    except SqlglotError:
        return []


def _sources(scope: Scope) -> dict[str, object]:
    """Source name (alias or table name, folded) -> its node: an ``exp.Table`` or a child ``Scope``."""
    return {fold(name): source for name, (_, source) in scope.selected_sources.items()}


def _offered(source: object, schema: SchemaInfo) -> set[str] | None:
    """Folded column names a source offers: a schema table's, or a CTE's/subquery's outputs."""
    if isinstance(source, exp.Table):
        table = schema.table(source.name)
        return {fold(c) for c in table.column_names} if table else None
    if isinstance(source, Scope) and isinstance(source.expression, exp.Query):
        return {fold(n) for n in source.expression.named_selects}
    return None


def _columns_via(scope: Scope, qualifier: str) -> list[exp.Column]:
    """The scope's columns read through source ``qualifier`` (folded; "" means unqualified)."""
    return [c for c in scope.columns if fold(c.table) == qualifier and not isinstance(c.this, exp.Star)]


def _split_name(name: str) -> tuple[str, str]:
    """``("a", "col")`` for ``a.col``, ``("", "col")`` for ``col``; folded."""
    qualifier, _, column = name.rpartition(".")
    return fold(qualifier), fold(column)


# -- rule 3: missing names ---------------------------------------------------------------------------------------


def _missing_name(error: str | None) -> tuple[str, str] | None:
    """``("column", "a.col")`` or ``("table", "t")`` from a "no such column/table" message, else None."""
    match = _MISSING.search(error or "")
    return (match.group(1), match.group(2)) if match else None


def fix_alias_requalify(tree: exp.Expression, schema: SchemaInfo, name: str) -> bool:
    """``a.col``, where only ``col`` is missing from ``a``'s table and exactly one other source has it, qualified
    with that source instead."""
    qualifier, column = _split_name(name)
    if not qualifier:
        return False
    for scope in _scopes(tree):
        sources = _sources(scope)
        wrong = [c for c in _columns_via(scope, qualifier) if fold(c.name) == column]
        if not wrong or qualifier not in sources:
            continue
        own = _offered(sources[qualifier], schema) or set()
        missing = {fold(c.name) for c in _columns_via(scope, qualifier)} - own
        others = [n for n, s in sources.items() if n != qualifier and column in (_offered(s, schema) or set())]
        if missing != {column} or len(others) != 1:
            continue
        target = next(n for n in scope.selected_sources if fold(n) == others[0])
        for col in wrong:
            col.set("table", exp.to_identifier(target))
        return True
    return False


def _linked(schema: SchemaInfo, a: str, b: str) -> bool:
    """Whether a foreign key joins tables ``a`` and ``b`` (either way)."""
    return any({fold(t), fold(r)} == {fold(a), fold(b)} for t, _, r, _ in schema.foreign_keys())


def fix_table_swap(tree: exp.Expression, schema: SchemaInfo, name: str) -> bool:
    """The table lacking a column read through it replaced by the one other schema table that has every column read
    through it (several: the one the rest of the query names, or links to by a foreign key)."""
    qualifier, column = _split_name(name)
    for scope in _scopes(tree):
        sources = _sources(scope)
        key = qualifier or (next(iter(sources)) if len(sources) == 1 else None)
        if key is None or key not in sources or not isinstance(sources[key], exp.Table) \
                or column in (_offered(sources[key], schema) or {column}):
            continue
        aliases = {fold(p.alias) for p in getattr(scope.expression, "expressions", []) if p.alias}
        used = [c for c in scope.columns if not isinstance(c.this, exp.Star) and (
            fold(c.table) == key or (not qualifier and not c.table and fold(c.name) not in aliases))]
        if column not in {fold(c.name) for c in used}:
            continue
        node: exp.Table = sources[key]  # type: ignore[assignment]
        needed = {fold(c.name) for c in used}
        fits = [t for t in schema.tables if fold(t.name) != fold(node.name)
                and needed <= {fold(c) for c in t.column_names}]
        if len(fits) > 1:  # the one the rest of the query names, or links to by a foreign key
            elsewhere = {fold(t.name) for t in tree.find_all(exp.Table) if t is not sources[key]}
            fits = [t for t in fits if fold(t.name) in elsewhere
                    or any(_linked(schema, t.name, other) for other in elsewhere)]
        if len(fits) != 1:
            continue
        old = node.name
        node.set("this", exp.to_identifier(fits[0].name))
        if not node.alias:
            for col in used:
                if fold(col.table) == fold(old):
                    col.set("table", exp.to_identifier(fits[0].name))
        return True
    return False


def _nearest(word: str, names: Iterable[str]) -> str | None:
    """The one name within a small edit distance of ``word`` (ASCII case folded), else None."""
    limit = 0 if len(word) < 4 else 1 if len(word) < 8 else 2
    found = {n for n in names if fold(n) != fold(word) and damerau_levenshtein(fold(word), fold(n)) <= limit}
    return found.pop() if len(found) == 1 else None


def fix_unknown_name(tree: exp.Expression, schema: SchemaInfo, kind: str, name: str) -> bool:
    """A missing column or table renamed to the one schema name near it."""
    if kind == "table":
        new = _nearest(name, schema.table_names)
        tables = [t for t in tree.find_all(exp.Table) if fold(t.name) == fold(name)] if new else []
        for table in tables:
            table.set("this", exp.to_identifier(new))
        return bool(tables)
    qualifier, column = _split_name(name)
    for scope in _scopes(tree):
        wrong = [c for c in _columns_via(scope, qualifier) if fold(c.name) == column]
        if not wrong:
            continue
        sources = _sources(scope)
        pool = [sources[qualifier]] if qualifier in sources else list(sources.values())
        offered = set().union(*[(_offered(s, schema) or set()) for s in pool]) if pool else set()
        new = _nearest(column, offered)
        if new is None:
            continue
        for col in wrong:
            col.set("this", exp.to_identifier(new))
        return True
    return False


def _fix_one_missing_name(sql: str, schema: SchemaInfo, error: str) -> tuple[str, str] | None:
    """``(rule, fixed sql)`` for the first name rule that changes the query, or None."""
    missing = _missing_name(error)
    if missing is None:
        return None
    kind, name = missing
    rules: list[tuple[str, Callable[[exp.Expression], bool]]] = [
        ("alias_requalify", lambda t: fix_alias_requalify(t, schema, name)),
        ("table_swap", lambda t: fix_table_swap(t, schema, name)),
        ("unknown_name", lambda t: fix_unknown_name(t, schema, kind, name)),
    ] if kind == "column" else [("unknown_name", lambda t: fix_unknown_name(t, schema, kind, name))]
    for rule, apply in rules:
        tree = _parse(sql)
        if tree is not None and apply(tree):
            fixed = _render(tree)
            if fixed != sql:
                return rule, fixed
    return None


# -- rule 4: rewrites of the parsed query ------------------------------------------------------------------------


def _own(node: exp.Expression, select: exp.Select, *kinds: type) -> list[exp.Expression]:
    """Nodes of ``kinds`` in ``node`` that belong to ``select`` itself (not to a subquery), windows left out."""
    return [n for n in node.find_all(*kinds)
            if n.find_ancestor(exp.Select) is select and not isinstance(n.parent, exp.Window)]


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    return list(condition.flatten()) if isinstance(condition, exp.And) else [condition]


def _clause(kind: type, conditions: list[exp.Expression]) -> exp.Expression | None:
    return kind(this=exp.and_(*conditions)) if conditions else None


def aggregate_clause(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """In a grouped SELECT, aggregate conditions in HAVING and row conditions in WHERE."""
    changed = False
    for select in tree.find_all(exp.Select):
        where, having = select.args.get("where"), select.args.get("having")
        if not select.args.get("group") or not (where or having):
            continue
        aggregate_aliases = {fold(p.alias) for p in select.expressions if p.alias and _own(p, select, exp.AggFunc)}

        def is_aggregate(condition: exp.Expression) -> bool:
            return bool(_own(condition, select, exp.AggFunc)) or any(
                not c.table and fold(c.name) in aggregate_aliases for c in _own(condition, select, exp.Column))

        rows = _conjuncts(where.this if where else None)
        groups = _conjuncts(having.this if having else None)
        if not any(map(is_aggregate, rows)) and all(map(is_aggregate, groups)):
            continue
        new_where = [c for c in rows if not is_aggregate(c)] + [c for c in groups if not is_aggregate(c)]
        new_having = [c for c in groups if is_aggregate(c)] + [c for c in rows if is_aggregate(c)]
        select.set("where", _clause(exp.Where, new_where))
        select.set("having", _clause(exp.Having, new_having))
        changed = True
    return changed


def _is_key(projection: exp.Expression, keys: list[exp.Expression], select: exp.Select) -> bool:
    """Whether a select-list item is covered by the GROUP BY ``keys`` (by expression, name, alias or position)."""
    inner = projection.unalias()
    position = select.expressions.index(projection) + 1
    for key in keys:
        if isinstance(key, exp.Literal) and key.is_int and int(key.this) == position:
            return True
        if isinstance(key, exp.Column) and isinstance(inner, exp.Column):
            if fold(key.name) == fold(inner.name) and (not key.table or not inner.table
                                                        or fold(key.table) == fold(inner.table)):
                return True
        if isinstance(key, exp.Column) and not key.table and projection.alias and fold(key.name) == fold(projection.alias):
            return True
        if key == inner:
            return True
    return False


def _column_key(column: exp.Column) -> tuple[str, str]:
    return fold(column.table), fold(column.name)


def _joined_equal(select: exp.Select) -> set[frozenset[tuple[str, str]]]:
    """Pairs of columns a JOIN condition of ``select`` equates (``ON a.x = b.y``)."""
    pairs = set()
    for join in select.args.get("joins") or []:
        for condition in _conjuncts(join.args.get("on")):
            if isinstance(condition, exp.EQ) and isinstance(condition.this, exp.Column) \
                    and isinstance(condition.expression, exp.Column):
                pairs.add(frozenset((_column_key(condition.this), _column_key(condition.expression))))
    return pairs


def left_join_key(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """A select-list item or GROUP BY key that is the joined (NULL-able) side of a LEFT JOIN's ``ON a.x = b.y``
    read from the kept side instead (``b.y`` is NULL exactly where there is no match; ``a.x`` never is)."""
    changed = False
    for select in tree.find_all(exp.Select):
        kept: dict[tuple[str, str], exp.Column] = {}
        for join in select.args.get("joins") or []:
            if (join.side or "").upper() != "LEFT" or not isinstance(join.this, exp.Table):
                continue
            joined = fold(_source_name(join.this))
            for condition in _conjuncts(join.args.get("on")):
                if isinstance(condition, exp.EQ) and isinstance(condition.this, exp.Column) \
                        and isinstance(condition.expression, exp.Column):
                    for nullable, other in ((condition.this, condition.expression),
                                            (condition.expression, condition.this)):
                        if fold(nullable.table) == joined and fold(other.table) != joined:
                            kept[_column_key(nullable)] = other
        group = select.args.get("group")
        items = [p.unalias() for p in select.expressions] + list(group.expressions if group else [])
        for item in items:
            if isinstance(item, exp.Column) and _column_key(item) in kept:
                other = kept[_column_key(item)]
                item.set("table", exp.to_identifier(other.table))
                item.set("this", exp.to_identifier(other.name))
                changed = True
    return changed


def group_key_qualifier(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """A select-list column that is not grouped, where exactly one GROUP BY key is the same column name through
    another source (and no JOIN condition equates the two), qualified like that key (``SELECT i.id ... GROUP BY
    d.id`` reads ``d.id``)."""
    changed = False
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        keys = [k for k in (group.expressions if group else []) if isinstance(k, exp.Column) and k.table]
        equal = _joined_equal(select)
        for projection in select.expressions:
            inner = projection.unalias()
            if not isinstance(inner, exp.Column) or not inner.table or _is_key(projection, keys, select):
                continue
            namesakes = [k for k in keys if fold(k.name) == fold(inner.name)
                         and frozenset((_column_key(k), _column_key(inner))) not in equal]
            if len(namesakes) == 1:
                inner.set("table", exp.to_identifier(namesakes[0].table))
                changed = True
    return changed


def group_by_completion(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """Plain select-list columns of a grouped or aggregating SELECT added to its GROUP BY."""
    changed = False
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        keys = list(group.expressions) if group else []
        aggregating = any(_own(p, select, exp.AggFunc) for p in select.expressions)
        if (not keys and not aggregating) or _own(select, select, exp.Window):
            continue
        missing = [p.unalias() for p in select.expressions
                   if isinstance(p.unalias(), exp.Column) and not isinstance(p.unalias().this, exp.Star)
                   and not _is_key(p, keys, select)]
        if missing:
            select.group_by(*[m.copy() for m in missing], append=True, copy=False)
            changed = True
    return changed


def _source_name(table: exp.Table) -> str:
    return table.alias_or_name


def join_condition_from_fk(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """A JOIN with no condition (or ``ON TRUE``) joined on the one foreign key to a table before it."""
    changed = False
    for select in tree.find_all(exp.Select):
        first = select.args.get("from_") or select.args.get("from")
        before = [first.this] if first is not None and isinstance(first.this, exp.Table) else []
        for join in select.args.get("joins") or []:
            node, on = join.this, join.args.get("on")
            if not isinstance(node, exp.Table):
                continue
            missing = (on is None or (isinstance(on, exp.Boolean) and on.this is True)) and not join.args.get("using")
            if missing and (join.kind or "").upper() != "CROSS" and schema.table(node.name):
                links = [exp.EQ(this=exp.column(c, table=_source_name(a)), expression=exp.column(rc, table=_source_name(b)))
                         for prev in before
                         for t, c, r, rc in schema.foreign_keys()
                         for a, b in ((node, prev), (prev, node))
                         if fold(t) == fold(a.name) and fold(r) == fold(b.name)]
                if len(links) == 1:
                    join.set("on", links[0])
                    changed = True
            before.append(node)
    return changed


def anti_join(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """An inner JOIN whose table is then tested ``IS NULL`` on a NOT NULL column, made a LEFT JOIN."""
    changed = False
    for select in tree.find_all(exp.Select):
        where = select.args.get("where")
        tested = [c.this for c in _conjuncts(where.this if where else None)
                  if isinstance(c, exp.Is) and isinstance(c.expression, exp.Null) and isinstance(c.this, exp.Column)]
        for join in select.args.get("joins") or []:
            node = join.this
            if not isinstance(node, exp.Table) or join.side or (join.kind or "").upper() == "CROSS":
                continue
            table = schema.table(node.name)
            for column in tested:
                found = table.column(column.name) if table and column.table else None
                if found is not None and found.not_null and fold(column.table) == fold(_source_name(node)):
                    join.set("side", "LEFT")
                    join.set("kind", None)
                    changed = True
                    break
    return changed


def _is_real(node: exp.Expression) -> bool:
    """Whether an operand is already REAL: holds a float literal, a cast to a REAL type, or an AVG."""
    for n in node.find_all(exp.Literal, exp.Cast, exp.Avg):
        if isinstance(n, exp.Avg):
            return True
        if isinstance(n, exp.Cast) and n.to.this.name in _REAL_TYPES:
            return True
        if isinstance(n, exp.Literal) and not n.is_string and not n.is_int:
            return True
    return False


def real_division(tree: exp.Expression, schema: SchemaInfo) -> bool:
    """In ``ROUND(a / b, d)`` with ``d > 0`` and neither side REAL, ``a`` cast to REAL."""
    changed = False
    for rounding in tree.find_all(exp.Round):
        decimals = rounding.args.get("decimals")
        if not (isinstance(decimals, exp.Literal) and decimals.is_int and int(decimals.this) > 0):
            continue
        home = rounding.find_ancestor(exp.Select)
        for division in list(rounding.this.find_all(exp.Div)):
            if division.find_ancestor(exp.Select) is not home:
                continue
            if _is_real(division.this) or _is_real(division.expression):
                continue
            division.set("this", exp.Cast(this=division.this.copy(), to=exp.DataType.build("REAL")))
            changed = True
    return changed


REWRITES: tuple[tuple[str, Callable[[exp.Expression, SchemaInfo], bool]], ...] = (
    ("aggregate_clause", aggregate_clause),
    ("left_join_key", left_join_key),
    ("group_key_qualifier", group_key_qualifier),
    ("group_by_completion", group_by_completion),
    ("join_condition_from_fk", join_condition_from_fk),
    ("anti_join", anti_join),
    ("real_division", real_division),
)
assert RULES[5:] == tuple(name for name, _ in REWRITES)


# -- the fixer ---------------------------------------------------------------------------------------------------


def fix_query(sql: str, schema: SchemaInfo, run: Runner) -> Fix:
    """The broken query ``sql`` with every rule that applies (:data:`RULES`), given the task database's ``schema``
    and ``run`` (runs a query on it: its error message, or None). Never raises on a query it cannot parse: the
    rules that need a parse are skipped."""
    fix = Fix(sql)
    error = run(fix.sql)
    for _ in range(3):  # rule 1: one misspelt keyword per pass
        if not is_syntax_error(error):
            break
        spelled = fix_keyword_spelling(fix.sql, schema, run)
        if spelled is None:
            break
        fix.sql, error = spelled, run(spelled)
        fix.rules.append("keyword_spelling")
    compared = fix_null_comparisons(fix.sql)  # rule 2
    if compared != fix.sql:
        fix.sql, error = compared, run(compared)
        fix.rules.append("null_comparison")
    seen = {fix.sql}
    for _ in range(MAX_NAME_FIXES):  # rule 3
        named = _fix_one_missing_name(fix.sql, schema, error) if error else None
        if named is None or named[1] in seen:
            break
        rule, fix.sql = named
        seen.add(fix.sql)
        error = run(fix.sql)
        fix.rules.append(rule)
    for rule, rewrite in REWRITES:  # rule 4
        tree = _parse(fix.sql)
        if tree is None or not rewrite(tree, schema):
            continue
        candidate = _render(tree)
        candidate_error = run(candidate)
        if candidate != fix.sql and (candidate_error is None or error is not None):
            fix.sql, error = candidate, candidate_error
            fix.rules.append(rule)
    return fix
