"""Business-question templates for the "analyst" task family: a plain-English question with one typed answer.

An agent reads the question, queries the database read-only, and submits an answer of a fixed
type. The gold answer is whatever ``gold_sql`` returns on the task database, so this module never
stores answers, only the query that computes them.

It reuses the column profiler of :mod:`env_server.tasks.gold_queries` (every column classed as
key/measure/flag/category/date/label/text) and walks the declared foreign-key graph, so it runs on
the generated domains and on bring-your-own databases alike; templates that do not fit a schema are
skipped, and nothing here raises on an odd schema.

Every accepted question has a unique, deterministic answer:

* ``gold_sql`` returns exactly one column; one non-NULL row for ``int``/``float``/``string``, and
  2 to 30 distinct non-NULL rows (in no particular order) for ``set``;
* "most"/"highest"/"second-highest" questions are only kept when the data has no tie at the
  place that decides the answer (the top two, or top three, scores are checked);
* counts, totals and percentages of zero are rejected (a filter that selects nothing);
* literals (category values, months, thresholds) are drawn from the data with the caller's ``rng``.

Precision of ``float`` answers: every float question says "rounded to 2 decimals"
(``FLOAT_DECIMALS``, in ``FLOAT_FORMAT``/``PERCENT_FORMAT``), its gold SQL rounds to the same
decimals, and its ``tolerance`` is ``Precision(2)``
(:class:`~env_server.grading.answers.Precision`): an answer within half a unit of the last decimal
of the gold, ``|answer - gold| <= 0.005``, absolutely, is correct. The gold's own rounding and the
unrounded value pass; one unit off in the second decimal fails at any magnitude. (It used to be a
*relative* ``max(1e-4, 0.011 / |gold|)``, under which "gold + 1.00" passed on totals over 10,000.)

Size: over 600 lines because it is the catalogue of analyst question templates, each a short function with its gold SQL and answer type.
"""
from __future__ import annotations

import calendar
import random
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from env_server.core.identifiers import ident, is_bare
from env_server.core.schema import SchemaInfo
from env_server.grading.answers import Precision
from env_server.tasks.gold_queries import (
    ColumnProfile,
    Edge,
    TableProfile,
    _human,
    _literal,
    _total_of,
    profile,
)
from env_server.tasks.join_roles import role_tables
from env_server.tasks.quality import edge_problem

MIN_SET = 2
"""Fewest members a set answer may have."""
MAX_SET = 30
"""Most members a set answer may have."""
TRIES = 4
"""Random draws a template gets before it gives up on a schema."""

FLOAT_DECIMALS = 2
"""The decimals every float question asks for, its gold SQL rounds to, and its answer is graded at."""
FLOAT_PRECISION = Precision(FLOAT_DECIMALS)
"""The ``tolerance`` of every float question (half a unit of the last decimal, absolute)."""
INT_FORMAT = "Answer with a whole number."
FLOAT_FORMAT = f"Answer with a number {FLOAT_PRECISION.phrase}."
PERCENT_FORMAT = f"Answer with the percentage as a number from 0 to 100, {FLOAT_PRECISION.phrase}."
MONTH_FORMAT = "Answer with the month in YYYY-MM form."

_ID_LIKE = re.compile(r"(^|_)(id|key|code)$", re.IGNORECASE)
_CAMEL_ID_LIKE = re.compile(r"[a-z0-9](Id|ID|Key|Code)$")
_NOT_SUMMABLE = frozenset(
    ["year", "age", "zip", "postal", "phone", "number", "num", "no", "rank", "rating", "rate", "percent", "pct", "latitude", "longitude", "lat", "lon", "lng"]
)
"""Words in a measure's name that make its sum meaningless (a total of years, ratings, percentages)."""


@dataclass(frozen=True)
class Question:
    """One business question and the query whose result is its answer."""

    template: str
    """Name of the template it came from (one of ``QUESTION_TEMPLATES``)."""
    question: str
    """The plain-English question, ending with the form the answer must take."""
    gold_sql: str
    """One read-only SQLite statement returning one column: one row, or one row per set member."""
    answer_type: str
    """``"int"``, ``"float"``, ``"string"`` or ``"set"``."""
    tolerance: Precision | None
    """``FLOAT_PRECISION`` for ``float`` answers (see the module docstring), ``None`` otherwise."""
    level: int
    """1 single table, 2 one join/group/subquery, 3 CTE, window or nested aggregate."""
    alternative: str | None = None
    """A second standard formulation of ``gold_sql`` that must agree with it (strict builds check)."""


@dataclass(frozen=True)
class _Ctx:
    """What every template draws on: the (trusted) connection, the caller's rng and the profile."""

    conn: sqlite3.Connection
    rng: random.Random
    tables: Mapping[str, TableProfile]
    edges: tuple[Edge, ...]
    strict: bool = False
    """Quality rules on (:mod:`env_server.tasks.quality`), English included (:func:`_a`)."""


@dataclass(frozen=True)
class _Join:
    """A child-to-parent foreign-key edge with the SQL pieces to join along it."""

    child: TableProfile
    parent: TableProfile
    fk: str
    pk: str
    c: str
    """Alias of the child table."""
    p: str
    """Alias of the parent table."""

    @property
    def on(self) -> str:
        """``child AS c JOIN parent AS p ON c.fk = p.pk``."""
        return (
            f"{_q(self.child.name)} AS {self.c} JOIN {_q(self.parent.name)} AS {self.p} "
            f"ON {self.c}.{_q(self.fk)} = {self.p}.{_q(self.pk)}"
        )


# -- small helpers -----------------------------------------------------------------------------


_q = ident
"""An identifier as SQL (:func:`env_server.core.identifiers.ident`)."""


def _words(name: str) -> str:
    """A table or column name as lower-case words: ``orderDate`` and ``order_date`` -> ``order date``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"\s+", " ", _human(spaced)).strip().lower()


_MASS_NOUNS = frozenset((
    "weather", "data", "metadata", "information", "equipment", "staff", "personnel", "inventory", "news", "feedback",
    "software", "hardware", "furniture", "luggage", "baggage", "mail", "traffic", "music", "media", "revenue",
    "research", "series", "species", "sheep", "fish", "aircraft", "stock", "cash", "money", "history", "audit",
))
"""Last words a table name may end in that English does not pluralise: "weather records", not "weathers"."""


def _plural(noun: str) -> str:
    """A rough English plural for a derived table noun: nouns that already end in s are kept, and a mass noun
    counts its records (``weather`` -> ``weather records``)."""
    if noun.rsplit(" ", 1)[-1] in _MASS_NOUNS:
        return noun + " records"
    if noun.endswith("s") or not noun:
        return noun
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    if noun.endswith(("x", "ch", "sh", "z")):
        return noun + "es"
    return noun + "s"


def _singular(noun: str) -> str:
    """A rough English singular: ``categories`` -> ``category``, ``order lines`` -> ``order line``."""
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith(("sses", "shes", "ches", "xes", "zes", "uses")):
        return noun[:-2]
    if noun.endswith("s") and not noun.endswith("ss"):
        return noun[:-1]
    return noun


_PLURAL_HEAD = re.compile(r"^[a-z]+[^su]s\b", re.IGNORECASE)
_YOU_SOUND = re.compile(r"^(uni|use|usu|uti|eu|one\b)", re.IGNORECASE)


def _a(phrase: str, english: bool = False) -> str:
    """``phrase`` with an indefinite article: ``a price``, ``an order date``.

    With ``english`` (strict builds) the article follows the sound and the number: ``a unit price``,
    ``milliseconds`` and ``units in stock`` with none. (Off by default: the committed built-in questions were
    written without it.)

    >>> _a("unit price"), _a("unit price", True), _a("units in stock", True), _a("order date", True)
    ('an unit price', 'a unit price', 'units in stock', 'an order date')
    """
    if english:
        if _PLURAL_HEAD.match(phrase):
            return phrase
        if _YOU_SOUND.match(phrase):
            return "a " + phrase
    return ("an " if phrase[:1].lower() in tuple("aeiou") else "a ") + phrase


def _total(column: str) -> str:
    """``total price``, but ``sum of total amount`` (via ``_total_of``) for camelCase names too."""
    return _total_of(_words(column))


def _shown(value: object) -> str:
    """A data value as it appears in a question: text in single quotes, numbers bare."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def _sql_value(value: object) -> str:
    """A data value as an exact SQL literal (floats unrounded, unlike ``_literal``)."""
    return repr(value) if isinstance(value, float) else _literal(value)


def _date_words(column: str) -> str:
    """``order_date`` -> ``order date``, ``opened_at`` -> ``opened date``, ``event_time`` -> ``event time``."""
    words = _words(column)
    for suffix in (" at", " on"):
        if words.endswith(suffix) and len(words) > len(suffix):
            return words[: -len(suffix)] + " date"
    return words if words.endswith(("date", "day", "time", "timestamp")) else words + " date"


def _month_words(month: str) -> str:
    """``2023-03`` -> ``March 2023``."""
    return f"{calendar.month_name[int(month[5:7])]} {month[:4]}"


def _pick(ctx: _Ctx, items: Sequence):
    """One of ``items`` drawn with the context rng, or ``None`` when there are none."""
    return ctx.rng.choice(list(items)) if items else None


def _rows(ctx: _Ctx, sql: str) -> list[tuple]:
    """All rows of a trusted helper query (data checks while choosing literals)."""
    return ctx.conn.execute(sql).fetchall()


def _is_id_like(name: str) -> bool:
    """Whether a column name reads as an identifier (``customer_id``, ``customerId``, ``zip_code``)."""
    return bool(_ID_LIKE.search(name) or _CAMEL_ID_LIKE.search(name))


def _measures(t: TableProfile, summable: bool = False) -> list[ColumnProfile]:
    """Numeric measures that are not identifiers; ``summable`` also drops years, ages and such."""
    return [
        c for c in t.of_kind("measure")
        if not _is_id_like(c.name) and not (summable and (not c.additive or _NOT_SUMMABLE & set(_words(c.name).split())))
    ]


def _categories(t: TableProfile, text_only: bool = False) -> list[ColumnProfile]:
    """Category columns with at least two values (only text-valued ones with ``text_only``)."""
    return [
        c for c in t.of_kind("category")
        if len(c.values) >= 2 and not _is_id_like(c.name)
        and (not text_only or all(isinstance(v, str) for v in c.values))
    ]


def _dates(t: TableProfile) -> list[ColumnProfile]:
    return t.of_kind("date")


def _has_label(t: TableProfile) -> bool:
    return t.label != t.pk and t.columns[t.label].kind == "label"


def _aliases_for(child: TableProfile, parent: TableProfile) -> tuple[str, str]:
    """The profile aliases of the two tables when usable, else ``c`` and ``p``."""
    a, b = child.alias, parent.alias
    if a.lower() != b.lower() and all(is_bare(x) for x in (a, b)):
        return a, b
    return "c", "p"


def _joins(ctx: _Ctx, test: Callable[[TableProfile, TableProfile], bool]) -> list[_Join]:
    """Every usable child-to-parent edge whose tables pass ``test(child, parent)``."""
    out = []
    for e in ctx.edges:
        child, parent = ctx.tables[e.child], ctx.tables[e.parent]
        if test(child, parent):
            c, p = _aliases_for(child, parent)
            out.append(_Join(child, parent, e.fk, e.pk, c, p))
    return out


def _untied(ctx: _Ctx, scores_sql: str, places: int = 1) -> bool:
    """Whether the first ``places`` rows of a score-ordered query are strictly apart from their successors.

    ``scores_sql`` returns one score column ordered best first; ``places=1`` checks a unique top,
    ``places=2`` a unique first and second. NULL scores count as a tie.
    """
    scores = [r[0] for r in _rows(ctx, f"{scores_sql} LIMIT {places + 1}")]
    if len(scores) < places or any(s is None for s in scores):
        return False

    def apart(a: float, b: float) -> bool:
        return abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b))

    return all(apart(scores[i], scores[i + 1]) for i in range(min(places, len(scores) - 1)))


def _finish(ctx: _Ctx, template: str, question: str, sql: str, answer_type: str, level: int,
            alternative: str | None = None) -> Question | None:
    """Run ``sql`` and keep the question only when its result has the shape ``answer_type`` needs.
    ``alternative`` is a second formulation of ``sql`` a strict build requires to agree with it."""
    cursor = ctx.conn.execute(sql)
    rows = cursor.fetchall()
    if cursor.description is None or len(cursor.description) != 1:
        return None
    values = [r[0] for r in rows]
    tolerance = None
    if answer_type == "set":
        if not MIN_SET <= len(values) <= MAX_SET or None in values or len(set(values)) != len(values):
            return None
        if any(isinstance(v, str) and not v.strip() for v in values):
            return None
    else:
        if len(values) != 1 or values[0] is None:
            return None
        value = values[0]
        if answer_type == "int":
            if not isinstance(value, int) or value == 0:
                return None
        elif answer_type == "float":
            if not isinstance(value, (int, float)) or abs(value) < FLOAT_PRECISION.half_unit:
                return None  # rounds to 0.00
            tolerance = FLOAT_PRECISION
        elif answer_type == "string":
            if not isinstance(value, str) or not value.strip():
                return None
        else:
            return None
    return Question(template, question, sql, answer_type, tolerance, level, alternative)


# -- int templates -----------------------------------------------------------------------------


def q_count_by_category(ctx: _Ctx) -> Question | None:
    """How many rows have a given category value."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _categories(t)])
    if t is None:
        return None
    col = _pick(ctx, _categories(t))
    v = ctx.rng.choice(col.values)
    sql = f"SELECT COUNT(*) FROM {_q(t.name)} WHERE {_q(col.name)} = {_sql_value(v)}"
    text = f"How many {t.noun} have {_words(col.name)} {_shown(v)}? {INT_FORMAT}"
    return _finish(ctx, "count_by_category", text, sql, "int", 1)


def q_count_in_month(ctx: _Ctx) -> Question | None:
    """How many rows have a date in a given calendar month."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _dates(t)])
    if t is None:
        return None
    d = _pick(ctx, _dates(t))
    months = [r[0] for r in _rows(ctx, f"SELECT DISTINCT substr({_q(d.name)}, 1, 7) FROM {_q(t.name)} "
                                       f"WHERE {_q(d.name)} IS NOT NULL ORDER BY 1")]
    month = _pick(ctx, [m for m in months if isinstance(m, str) and re.match(r"^\d{4}-(0[1-9]|1[0-2])$", m)])
    if month is None:
        return None
    sql = f"SELECT COUNT(*) FROM {_q(t.name)} WHERE substr({_q(d.name)}, 1, 7) = '{month}'"
    text = f"How many {t.noun} have {_a(_date_words(d.name), ctx.strict)} in {_month_words(month)}? {INT_FORMAT}"
    return _finish(ctx, "count_in_month", text, sql, "int", 1)


def q_missing_values(ctx: _Ctx) -> Question | None:
    """How many rows have no value in a column."""
    candidates = [
        (t, c) for t in ctx.tables.values() for c in t.columns.values()
        if 0 < c.nulls < t.rows and c.name != t.pk
    ]
    pair = _pick(ctx, candidates)
    if pair is None:
        return None
    t, col = pair
    sql = f"SELECT COUNT(*) FROM {_q(t.name)} WHERE {_q(col.name)} IS NULL"
    text = f"How many {t.noun} have no {_words(col.name)} recorded (the value is missing)? {INT_FORMAT}"
    return _finish(ctx, "missing_values", text, sql, "int", 1)


def q_days_between(ctx: _Ctx) -> Question | None:
    """Calendar days between the earliest and the latest date of a column, optionally filtered."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _dates(t)])
    if t is None:
        return None
    d = _pick(ctx, _dates(t))
    where, extra = f"{_q(d.name)} IS NOT NULL", ""
    cat = _pick(ctx, _categories(t))
    if cat is not None and ctx.rng.random() < 0.5:
        v = ctx.rng.choice(cat.values)
        where += f" AND {_q(cat.name)} = {_sql_value(v)}"
        extra = f" with {_words(cat.name)} {_shown(v)}"
    # a zoned timestamp's calendar day as written (date() would convert it to UTC, or give NULL for +HH)
    day = f"date(substr({_q(d.name)}, 1, 10))" if d.zoned else f"date({_q(d.name)})"
    sql = (
        f"SELECT CAST(julianday(MAX({day})) - julianday(MIN({day})) AS INTEGER) "
        f"FROM {_q(t.name)} WHERE {where}"
    )
    text = (
        f"How many days lie between the earliest and the latest {_date_words(d.name)} of {t.noun}{extra}? "
        f"Count calendar days and ignore times of day. {INT_FORMAT}"
    )
    return _finish(ctx, "days_between", text, sql, "int", 2)


def q_count_above_average(ctx: _Ctx) -> Question | None:
    """How many rows have a measure above the table-wide average."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _measures(t)])
    if t is None:
        return None
    m = _pick(ctx, _measures(t))
    col = _q(m.name)
    sql = f"SELECT COUNT(*) FROM {_q(t.name)} WHERE {col} > (SELECT AVG({col}) FROM {_q(t.name)})"
    text = f"How many {t.noun} have {_a(_words(m.name), ctx.strict)} above the average {_words(m.name)} of all {t.noun}? {INT_FORMAT}"
    return _finish(ctx, "count_above_average", text, sql, "int", 2)


def q_parents_with_child_value(ctx: _Ctx) -> Question | None:
    """How many distinct parents have at least one child with a category value."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: bool(_categories(ch))))
    if j is None:
        return None
    cat = _pick(ctx, _categories(j.child))
    v = ctx.rng.choice(cat.values)
    sql = f"SELECT COUNT(DISTINCT {j.p}.{_q(j.pk)}) FROM {j.on} WHERE {j.c}.{_q(cat.name)} = {_sql_value(v)}"
    text = (
        f"How many different {j.parent.noun} have at least one {_singular(j.child.noun)} with "
        f"{_words(cat.name)} {_shown(v)}? {INT_FORMAT}"
    )
    return _finish(ctx, "parents_with_child_value", text, sql, "int", 2)


def _not_in(j: _Join, projection: str, condition: str) -> str:
    """The ``NOT IN`` formulation of the anti-join ``j`` (the templates write ``NOT EXISTS``): ``SELECT
    projection`` over parents that meet ``condition`` (empty, or ending in ``AND``) and have no child."""
    return (
        f"SELECT {projection} FROM {_q(j.parent.name)} AS {j.p} WHERE {condition}{j.p}.{_q(j.pk)} NOT IN "
        f"(SELECT {j.c}.{_q(j.fk)} FROM {_q(j.child.name)} AS {j.c} WHERE {j.c}.{_q(j.fk)} IS NOT NULL)"
    )


def q_count_childless(ctx: _Ctx) -> Question | None:
    """How many parents have no children at all (anti-join)."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: True))
    if j is None:
        return None
    sql = (
        f"SELECT COUNT(*) FROM {_q(j.parent.name)} AS {j.p} WHERE NOT EXISTS "
        f"(SELECT 1 FROM {_q(j.child.name)} AS {j.c} WHERE {j.c}.{_q(j.fk)} = {j.p}.{_q(j.pk)})"
    )
    text = f"How many {j.parent.noun} have no {j.child.noun} at all? {INT_FORMAT}"
    return _finish(ctx, "count_childless", text, sql, "int", 2, _not_in(j, "COUNT(*)", ""))


def q_parents_above_average_children(ctx: _Ctx) -> Question | None:
    """How many parents have more children than the average parent (CTE, zero-child parents included)."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: True))
    if j is None:
        return None
    sql = (
        f"WITH per_parent AS (SELECT {j.p}.{_q(j.pk)} AS parent_key, COUNT({j.c}.{_q(j.fk)}) AS n "
        f"FROM {_q(j.parent.name)} AS {j.p} LEFT JOIN {_q(j.child.name)} AS {j.c} "
        f"ON {j.c}.{_q(j.fk)} = {j.p}.{_q(j.pk)} GROUP BY {j.p}.{_q(j.pk)}) "
        f"SELECT COUNT(*) FROM per_parent WHERE n > (SELECT AVG(n) FROM per_parent)"
    )
    one = _singular(j.parent.noun)
    text = (
        f"How many {j.parent.noun} have more {j.child.noun} than the average {one}? "
        f"Include {j.parent.noun} with no {j.child.noun} (as zero) when taking the average. {INT_FORMAT}"
    )
    return _finish(ctx, "parents_above_average_children", text, sql, "int", 3)


# -- float templates ---------------------------------------------------------------------------

_AGGREGATES = (("SUM", "total"), ("AVG", "average"), ("MAX", "largest"))


def q_category_aggregate(ctx: _Ctx) -> Question | None:
    """Total, average or largest measure over the rows with a category value."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _categories(t) and _measures(t)])
    if t is None:
        return None
    m, cat = _pick(ctx, _measures(t)), _pick(ctx, _categories(t))
    aggs = [a for a in _AGGREGATES if a[0] != "SUM" or m in _measures(t, summable=True)]
    agg, word = ctx.rng.choice(aggs)
    v = ctx.rng.choice(cat.values)
    sql = f"SELECT ROUND({agg}({_q(m.name)}), {FLOAT_DECIMALS}) FROM {_q(t.name)} WHERE {_q(cat.name)} = {_sql_value(v)}"
    what = _total(m.name) if agg == "SUM" else f"{word} {_words(m.name)}"
    text = f"What is the {what} of {t.noun} with {_words(cat.name)} {_shown(v)}? {FLOAT_FORMAT}"
    return _finish(ctx, "category_aggregate", text, sql, "float", 1)


def q_share_percent(ctx: _Ctx) -> Question | None:
    """The percentage of all rows that carry a flag or a category value."""
    candidates = [
        (t, c) for t in ctx.tables.values() for c in t.columns.values()
        if c.kind == "flag" or c in _categories(t)
    ]
    pair = _pick(ctx, candidates)
    if pair is None:
        return None
    t, col = pair
    if col.kind == "flag":
        v, what = 1, f"are flagged as {_words(col.name)} ({_words(col.name)} = 1)"
    else:
        v = ctx.rng.choice(col.values)
        what = f"have {_words(col.name)} {_shown(v)}"
    sql = (
        f"SELECT ROUND(100.0 * SUM(CASE WHEN {_q(col.name)} = {_sql_value(v)} THEN 1 ELSE 0 END) / COUNT(*), {FLOAT_DECIMALS}) "
        f"FROM {_q(t.name)}"
    )
    text = f"What percentage of all {t.noun} {what}? {PERCENT_FORMAT}"
    return _finish(ctx, "share_percent", text, sql, "float", 1)


def q_month_total(ctx: _Ctx) -> Question | None:
    """The total of a measure over the rows dated in one calendar month."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _dates(t) and _measures(t, summable=True)])
    if t is None:
        return None
    d, m = _pick(ctx, _dates(t)), _pick(ctx, _measures(t, summable=True))
    months = [r[0] for r in _rows(ctx, f"SELECT DISTINCT substr({_q(d.name)}, 1, 7) FROM {_q(t.name)} "
                                       f"WHERE {_q(d.name)} IS NOT NULL AND {_q(m.name)} IS NOT NULL ORDER BY 1")]
    month = _pick(ctx, [x for x in months if isinstance(x, str) and re.match(r"^\d{4}-(0[1-9]|1[0-2])$", x)])
    if month is None:
        return None
    sql = f"SELECT ROUND(SUM({_q(m.name)}), {FLOAT_DECIMALS}) FROM {_q(t.name)} WHERE substr({_q(d.name)}, 1, 7) = '{month}'"
    text = (
        f"What is the {_total(m.name)} of {t.noun} with {_a(_date_words(d.name), ctx.strict)} in {_month_words(month)}? "
        f"{FLOAT_FORMAT}"
    )
    return _finish(ctx, "month_total", text, sql, "float", 1)


def q_average_children(ctx: _Ctx) -> Question | None:
    """The average number of children per parent, parents without children counted as zero."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: True))
    if j is None:
        return None
    sql = (
        f"SELECT ROUND(AVG(n), {FLOAT_DECIMALS}) FROM (SELECT COUNT({j.c}.{_q(j.fk)}) AS n FROM {_q(j.parent.name)} AS {j.p} "
        f"LEFT JOIN {_q(j.child.name)} AS {j.c} ON {j.c}.{_q(j.fk)} = {j.p}.{_q(j.pk)} GROUP BY {j.p}.{_q(j.pk)})"
    )
    one = _singular(j.parent.noun)
    text = (
        f"On average, how many {j.child.noun} does {_a(one, ctx.strict)} have? Count every {one}, including those with "
        f"none, and only {j.child.noun} that belong to an existing {one}. {FLOAT_FORMAT}"
    )
    return _finish(ctx, "average_children", text, sql, "float", 2)


def q_parent_category_aggregate(ctx: _Ctx) -> Question | None:
    """Total or average child measure over the children whose parent has a category value."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: bool(_categories(pa) and _measures(ch))))
    if j is None:
        return None
    m, cat = _pick(ctx, _measures(j.child)), _pick(ctx, _categories(j.parent))
    aggs = [a for a in _AGGREGATES[:2] if a[0] != "SUM" or m in _measures(j.child, summable=True)]
    agg, word = ctx.rng.choice(aggs)
    v = ctx.rng.choice(cat.values)
    sql = (
        f"SELECT ROUND({agg}({j.c}.{_q(m.name)}), {FLOAT_DECIMALS}) FROM {j.on} "
        f"WHERE {j.p}.{_q(cat.name)} = {_sql_value(v)}"
    )
    what = _total(m.name) if agg == "SUM" else f"{word} {_words(m.name)}"
    text = (
        f"What is the {what} of {j.child.noun} whose {_singular(j.parent.noun)} has "
        f"{_words(cat.name)} {_shown(v)}? {FLOAT_FORMAT}"
    )
    return _finish(ctx, "parent_category_aggregate", text, sql, "float", 2)


# -- string templates --------------------------------------------------------------------------


def q_top_category_by_count(ctx: _Ctx) -> Question | None:
    """The category value with the most (or fewest) rows."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _categories(t, text_only=True)])
    if t is None:
        return None
    cat = _pick(ctx, _categories(t, text_only=True))
    direction, word = ctx.rng.choice((("DESC", "the most"), ("ASC", "the fewest")))
    col = _q(cat.name)
    grouped = f"FROM {_q(t.name)} WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY COUNT(*) {direction}"
    if not _untied(ctx, f"SELECT COUNT(*) {grouped}"):
        return None
    sql = f"SELECT {col} {grouped} LIMIT 1"
    text = (
        f"Which {_words(cat.name)} has {word} {t.noun}? "
        f"Answer with the {_words(cat.name)} exactly as it appears in the data."
    )
    return _finish(ctx, "top_category_by_count", text, sql, "string", 1)


def q_top_category_by_measure(ctx: _Ctx) -> Question | None:
    """The category value with the highest total (or average) measure."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _categories(t, text_only=True) and _measures(t)])
    if t is None:
        return None
    cat, m = _pick(ctx, _categories(t, text_only=True)), _pick(ctx, _measures(t))
    aggs = [a for a in _AGGREGATES[:2] if a[0] != "SUM" or m in _measures(t, summable=True)]
    agg, word = ctx.rng.choice(aggs)
    col = _q(cat.name)
    grouped = (
        f"FROM {_q(t.name)} WHERE {col} IS NOT NULL AND {_q(m.name)} IS NOT NULL "
        f"GROUP BY {col} ORDER BY {agg}({_q(m.name)}) DESC"
    )
    if not _untied(ctx, f"SELECT {agg}({_q(m.name)}) {grouped}"):
        return None
    sql = f"SELECT {col} {grouped} LIMIT 1"
    what = _total(m.name) if agg == "SUM" else f"{word} {_words(m.name)}"
    text = (
        f"Which {_words(cat.name)} has the highest {what} across its {t.noun}? "
        f"Answer with the {_words(cat.name)} exactly as it appears in the data."
    )
    return _finish(ctx, "top_category_by_measure", text, sql, "string", 2)


def q_top_parent_by_children(ctx: _Ctx) -> Question | None:
    """The label of the parent with the most children."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: _has_label(pa)))
    if j is None:
        return None
    grouped = f"FROM {j.on} GROUP BY {j.p}.{_q(j.pk)} ORDER BY COUNT(*) DESC"
    if not _untied(ctx, f"SELECT COUNT(*) {grouped}"):
        return None
    sql = f"SELECT {j.p}.{_q(j.parent.label)} {grouped} LIMIT 1"
    text = (
        f"Which {_singular(j.parent.noun)} has the most {j.child.noun}? "
        f"Answer with its {_words(j.parent.label)} exactly as stored."
    )
    return _finish(ctx, "top_parent_by_children", text, sql, "string", 2)


def q_top_parent_by_total(ctx: _Ctx) -> Question | None:
    """The label of the parent whose children have the highest total measure."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: _has_label(pa) and bool(_measures(ch, summable=True))))
    if j is None:
        return None
    m = _pick(ctx, _measures(j.child, summable=True))
    total = f"SUM({j.c}.{_q(m.name)})"
    grouped = f"FROM {j.on} WHERE {j.c}.{_q(m.name)} IS NOT NULL GROUP BY {j.p}.{_q(j.pk)} ORDER BY {total} DESC"
    if not _untied(ctx, f"SELECT {total} {grouped}"):
        return None
    sql = f"SELECT {j.p}.{_q(j.parent.label)} {grouped} LIMIT 1"
    one = _singular(j.parent.noun)
    text = (
        f"Which {one} has the highest {_total(m.name)} across its {j.child.noun}? "
        f"Answer with the {one}'s {_words(j.parent.label)} exactly as stored."
    )
    return _finish(ctx, "top_parent_by_total", text, sql, "string", 2)


def q_busiest_month(ctx: _Ctx) -> Question | None:
    """The calendar month with the most rows."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _dates(t)])
    if t is None:
        return None
    d = _pick(ctx, _dates(t))
    month = f"substr({_q(d.name)}, 1, 7)"
    grouped = f"FROM {_q(t.name)} WHERE {_q(d.name)} IS NOT NULL GROUP BY {month} ORDER BY COUNT(*) DESC"
    if not _untied(ctx, f"SELECT COUNT(*) {grouped}"):
        return None
    sql = f"SELECT {month} {grouped} LIMIT 1"
    text = f"Which calendar month has the most {t.noun}, going by their {_date_words(d.name)}? {MONTH_FORMAT}"
    return _finish(ctx, "busiest_month", text, sql, "string", 2)


def q_label_of_extreme(ctx: _Ctx) -> Question | None:
    """The label of the row with the largest (or smallest) measure."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _has_label(t) and _measures(t)])
    if t is None:
        return None
    m = _pick(ctx, _measures(t))
    direction, word = ctx.rng.choice((("DESC", "largest"), ("ASC", "smallest")))
    ordered = f"FROM {_q(t.name)} WHERE {_q(m.name)} IS NOT NULL ORDER BY {_q(m.name)} {direction}"
    if not _untied(ctx, f"SELECT {_q(m.name)} {ordered}"):
        return None
    sql = f"SELECT {_q(t.label)} {ordered} LIMIT 1"
    one = _singular(t.noun)
    text = f"Which {one} has the {word} {_words(m.name)}? Answer with its {_words(t.label)} exactly as stored."
    return _finish(ctx, "label_of_extreme", text, sql, "string", 1)


def q_label_of_second(ctx: _Ctx) -> Question | None:
    """The label of the row with the second-highest measure (window function)."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _has_label(t) and _measures(t)])
    if t is None:
        return None
    m = _pick(ctx, _measures(t))
    col = _q(m.name)
    if not _untied(ctx, f"SELECT {col} FROM {_q(t.name)} WHERE {col} IS NOT NULL ORDER BY {col} DESC", places=2):
        return None
    sql = (
        f"SELECT {_q(t.label)} FROM (SELECT {_q(t.label)}, DENSE_RANK() OVER (ORDER BY {col} DESC) AS rnk "
        f"FROM {_q(t.name)} WHERE {col} IS NOT NULL) AS ranked WHERE rnk = 2"
    )
    one = _singular(t.noun)
    text = (
        f"Which {one} has the second-highest {_words(m.name)}? "
        f"Answer with its {_words(t.label)} exactly as stored."
    )
    table = _q(t.name)
    alternative = (
        f"SELECT {_q(t.label)} FROM {table} WHERE {col} = (SELECT MAX({col}) FROM {table} "
        f"WHERE {col} < (SELECT MAX({col}) FROM {table}))"
    )
    return _finish(ctx, "label_of_second", text, sql, "string", 3, alternative)


# -- set templates -----------------------------------------------------------------------------


def q_childless_parents(ctx: _Ctx) -> Question | None:
    """The labels of parents with no children (anti-join)."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: _has_label(pa)))
    if j is None:
        return None
    label = f"{j.p}.{_q(j.parent.label)}"
    sql = (
        f"SELECT DISTINCT {label} FROM {_q(j.parent.name)} AS {j.p} WHERE {label} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {_q(j.child.name)} AS {j.c} WHERE {j.c}.{_q(j.fk)} = {j.p}.{_q(j.pk)})"
    )
    text = (
        f"Which {j.parent.noun} have no {j.child.noun} at all? "
        f"List the {_words(j.parent.label)} of each, one per line."
    )
    return _finish(ctx, "childless_parents", text, sql, "set", 2,
                   _not_in(j, f"DISTINCT {label}", f"{label} IS NOT NULL AND "))


def q_parents_with_many_children(ctx: _Ctx) -> Question | None:
    """The labels of parents with more than N children, N chosen so that 2-30 qualify."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: _has_label(pa)))
    if j is None:
        return None
    counts = sorted((r[0] for r in _rows(ctx, f"SELECT COUNT(*) FROM {j.on} GROUP BY {j.p}.{_q(j.pk)}")), reverse=True)
    thresholds = sorted({n for n in counts if n >= 1 and MIN_SET <= sum(1 for x in counts if x > n) <= MAX_SET})
    n = _pick(ctx, thresholds)
    if n is None:
        return None
    sql = (
        f"SELECT DISTINCT {j.p}.{_q(j.parent.label)} FROM {j.on} WHERE {j.p}.{_q(j.parent.label)} IS NOT NULL "
        f"GROUP BY {j.p}.{_q(j.pk)} HAVING COUNT(*) > {n}"
    )
    text = (
        f"Which {j.parent.noun} have more than {n} {j.child.noun}? "
        f"List the {_words(j.parent.label)} of each, one per line."
    )
    return _finish(ctx, "parents_with_many_children", text, sql, "set", 2)


def q_categories_above_average(ctx: _Ctx) -> Question | None:
    """The category values whose average measure beats the overall average (CTE)."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _categories(t, text_only=True) and _measures(t)])
    if t is None:
        return None
    cat, m = _pick(ctx, _categories(t, text_only=True)), _pick(ctx, _measures(t))
    col, mc = _q(cat.name), _q(m.name)
    sql = (
        f"WITH per_group AS (SELECT {col} AS grp, AVG({mc}) AS avg_value FROM {_q(t.name)} "
        f"WHERE {col} IS NOT NULL GROUP BY {col}) "
        f"SELECT grp FROM per_group WHERE avg_value > (SELECT AVG({mc}) FROM {_q(t.name)})"
    )
    text = (
        f"Which {_words(cat.name)} values have an average {_words(m.name)} above the average {_words(m.name)} "
        f"of all {t.noun}? List each {_words(cat.name)} exactly as it appears in the data, one per line."
    )
    return _finish(ctx, "categories_above_average", text, sql, "set", 3)


def q_parent_categories_with_child_value(ctx: _Ctx) -> Question | None:
    """The distinct parent category values among parents having a child with a category value."""
    j = _pick(ctx, _joins(ctx, lambda ch, pa: bool(_categories(pa, text_only=True) and _categories(ch))))
    if j is None:
        return None
    out, cond = _pick(ctx, _categories(j.parent, text_only=True)), _pick(ctx, _categories(j.child))
    v = ctx.rng.choice(cond.values)
    sql = (
        f"SELECT DISTINCT {j.p}.{_q(out.name)} FROM {j.on} WHERE {j.c}.{_q(cond.name)} = {_sql_value(v)} "
        f"AND {j.p}.{_q(out.name)} IS NOT NULL"
    )
    text = (
        f"Which {_words(out.name)} values occur among {j.parent.noun} that have at least one "
        f"{_singular(j.child.noun)} with {_words(cond.name)} {_shown(v)}? "
        f"List each distinct {_words(out.name)} exactly as it appears in the data, one per line."
    )
    return _finish(ctx, "parent_categories_with_child_value", text, sql, "set", 2)


def q_labels_above_threshold(ctx: _Ctx) -> Question | None:
    """The labels of rows whose measure exceeds a threshold chosen so that 2-30 qualify."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _has_label(t) and _measures(t)])
    if t is None:
        return None
    m = _pick(ctx, _measures(t))
    values = [r[0] for r in _rows(ctx, f"SELECT {_q(m.name)} FROM {_q(t.name)} WHERE {_q(m.name)} IS NOT NULL "
                                       f"ORDER BY {_q(m.name)} DESC")]
    if len(values) <= MIN_SET:
        return None
    k = ctx.rng.randint(MIN_SET, min(MAX_SET, len(values) - 1))
    x = values[k]
    threshold = int(x) if m.integer else round(float(x), 2)
    sql = (
        f"SELECT DISTINCT {_q(t.label)} FROM {_q(t.name)} WHERE {_q(m.name)} > {_sql_value(threshold)} "
        f"AND {_q(t.label)} IS NOT NULL"
    )
    text = (
        f"Which {t.noun} have {_a(_words(m.name), ctx.strict)} above {threshold}? "
        f"List the {_words(t.label)} of each, one per line."
    )
    return _finish(ctx, "labels_above_threshold", text, sql, "set", 1)


def q_top_per_category(ctx: _Ctx) -> Question | None:
    """For each category value, the label of the row with the highest measure (window function)."""
    t = _pick(ctx, [t for t in ctx.tables.values() if _has_label(t) and _measures(t) and _categories(t)])
    if t is None:
        return None
    cat, m = _pick(ctx, _categories(t)), _pick(ctx, _measures(t))
    col, mc = _q(cat.name), _q(m.name)
    best: dict[object, list] = {}
    for group, value in _rows(ctx, f"SELECT {col}, {mc} FROM {_q(t.name)} WHERE {col} IS NOT NULL "
                                   f"AND {mc} IS NOT NULL ORDER BY {mc} DESC"):
        best.setdefault(group, []).append(value)
    if any(len(v) > 1 and v[0] == v[1] for v in best.values()):
        return None
    sql = (
        f"SELECT DISTINCT {_q(t.label)} FROM (SELECT {_q(t.label)}, ROW_NUMBER() OVER "
        f"(PARTITION BY {col} ORDER BY {mc} DESC) AS rn FROM {_q(t.name)} "
        f"WHERE {col} IS NOT NULL AND {mc} IS NOT NULL) AS ranked WHERE rn = 1"
    )
    text = (
        f"For each {_words(cat.name)}, find the {_singular(t.noun)} with the highest {_words(m.name)}. "
        f"List the {_words(t.label)} of each of them, one per line."
    )
    return _finish(ctx, "top_per_category", text, sql, "set", 3)


# -- the synthesiser ---------------------------------------------------------------------------

_TEMPLATES: tuple[Callable[[_Ctx], Question | None], ...] = (
    q_count_by_category, q_count_in_month, q_missing_values, q_days_between, q_count_above_average,
    q_parents_with_child_value, q_count_childless, q_parents_above_average_children,
    q_category_aggregate, q_share_percent, q_month_total, q_average_children, q_parent_category_aggregate,
    q_top_category_by_count, q_top_category_by_measure, q_top_parent_by_children, q_top_parent_by_total,
    q_busiest_month, q_label_of_extreme, q_label_of_second,
    q_childless_parents, q_parents_with_many_children, q_categories_above_average,
    q_parent_categories_with_child_value, q_labels_above_threshold, q_top_per_category,
)
QUESTION_TEMPLATES: tuple[str, ...] = tuple(t.__name__[2:] for t in _TEMPLATES)
"""Every template name, in the order questions are produced."""


def _usable_edges(conn: sqlite3.Connection, schema: SchemaInfo, tables: Mapping[str, TableProfile],
                  strict: bool = False) -> tuple[Edge, ...]:
    """Declared foreign keys between two different profiled tables whose referenced column is unique (and, when
    ``strict``, that pass :func:`~env_server.tasks.quality.edge_problem`)."""
    out = []
    for child, fk, parent, pk in schema.foreign_keys():
        if child == parent or child not in tables or parent not in tables:
            continue
        if fk not in tables[child].columns or pk not in tables[parent].columns:
            continue
        distinct, total = conn.execute(
            f"SELECT COUNT(DISTINCT {_q(pk)}), COUNT({_q(pk)}) FROM {_q(parent)}"
        ).fetchone()
        if total and distinct == total and not (strict and edge_problem(conn, child, fk, parent, pk, schema.foreign_keys())):
            out.append(Edge(child, fk, parent, pk))
    return tuple(out)


def _attempt(template: Callable[[_Ctx], Question | None], ctx: _Ctx) -> Question | None:
    """Up to ``TRIES`` draws of one template; ``None`` when none fits (SQLite errors count as misfits)."""
    for _ in range(TRIES):
        try:
            question = template(ctx)
        except (sqlite3.Error, ValueError, TypeError, OverflowError, ZeroDivisionError):
            question = None
        if question is not None:
            return question
    return None


def synthesise_questions(
    conn: sqlite3.Connection,
    schema: SchemaInfo,
    rng: random.Random,
    nouns: Mapping[str, str] | None = None,
    templates: Sequence[str] | None = None,
    strict: bool = False,
) -> list[Question]:
    """At most one question per template (all of ``QUESTION_TEMPLATES`` unless ``templates`` names some).

    Trusted connection, read-only use. Templates that do not fit the schema or its data are
    skipped, so the result may be shorter than asked for, or empty. ``ValueError`` for an unknown
    template name. ``strict`` applies the quality rules of :mod:`env_server.tasks.quality` to columns and joins.
    """
    wanted = QUESTION_TEMPLATES if templates is None else tuple(templates)
    unknown = [name for name in wanted if name not in QUESTION_TEMPLATES]
    if unknown:
        raise ValueError(f"unknown question templates {unknown}; valid: {', '.join(QUESTION_TEMPLATES)}")
    given = dict(nouns or {})
    named = {t.name: given.get(t.name) or _plural(_words(t.name)) for t in schema.tables}
    try:
        tables = profile(conn, schema, named, strict)
        edges = _usable_edges(conn, schema, tables, strict)
        if strict:  # several foreign keys to one parent: a join per role ("origin airports", "dest airports")
            tables, edges = role_tables(tables, list(edges), _singular)
            edges = tuple(edges)
    except (sqlite3.Error, ValueError, TypeError):
        return []
    ctx = _Ctx(conn=conn, rng=rng, tables=tables, edges=edges, strict=strict)
    out = []
    for template in _TEMPLATES:
        if template.__name__[2:] in wanted:
            question = _attempt(template, ctx)
            if question is not None:
                out.append(question)
    return out
