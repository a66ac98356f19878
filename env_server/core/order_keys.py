"""Sort keys of an ordered reference query, so the grader knows which rows are tied.

When a task says row order matters, the grader compares the candidate's rows with the gold's
position by position, except inside a *tie group*: consecutive gold rows whose ORDER BY keys are
equal, or whose order was decided only by a float difference within the grading tolerance
(``43.61999999999999`` vs ``43.62``). Inside a group any order is accepted, because the question does
not fix one. A dropped tiebreaker is still caught: the variants store rows in a shuffled physical
order (:func:`env_server.core.variants.shuffle_rows`), so relying on scan order gives another order there.

:func:`keyed_query` finds the keys: when every ORDER BY term is an output column (by position, alias
or the same expression) the keys are read off the gold rows; otherwise the query is rewritten to
return its ORDER BY expressions as extra trailing columns. Anything it cannot rewrite safely
(compound selects ordered by non-output terms, DISTINCT) gets no tie groups: strict order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import sqlglot
from sqlglot import exp

KEY_PREFIX = "__dataops_key_"


@dataclass(frozen=True)
class KeyedQuery:
    """How to read the sort keys of a gold query's rows."""

    sql: str
    """The query to run: the gold itself, or the gold with the keys appended as trailing columns."""
    positions: tuple[int, ...]
    """Column index of each ORDER BY key in the rows ``sql`` returns."""
    extra: int
    """Trailing key columns appended to the gold's own columns (0 when the keys are output columns)."""


def _output_position(term: exp.Expression, projections: list[exp.Expression]) -> int | None:
    if isinstance(term, exp.Literal) and term.is_int:
        index = int(term.this) - 1
        return index if 0 <= index < len(projections) else None
    if isinstance(term, exp.Column) and not term.table:
        for i, projection in enumerate(projections):
            if isinstance(projection, exp.Alias) and projection.alias.lower() == term.name.lower():
                return i
    for i, projection in enumerate(projections):
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if inner == term:
            return i
    return None


def keyed_query(sql: str) -> KeyedQuery | None:
    """The query that yields ``sql``'s rows with their ORDER BY keys, or None (no usable ORDER BY)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return None
    order = tree.args.get("order")
    if order is None or not order.expressions:
        return None
    terms = [o.this for o in order.expressions]
    if isinstance(tree, exp.Select):
        projections = list(tree.expressions)
    elif isinstance(tree, exp.SetOperation):
        projections = list(tree.selects)
    else:
        return None
    if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)) for p in projections):
        return None
    positions = [_output_position(term, projections) for term in terms]
    if all(p is not None for p in positions):
        return KeyedQuery(sql=sql, positions=tuple(positions), extra=0)  # type: ignore[arg-type]
    if not isinstance(tree, exp.Select) or tree.args.get("distinct"):
        return None
    keyed = tree.copy()
    width = len(projections)
    out: list[int] = []
    extra = 0
    for term, position in zip(terms, positions):
        if position is not None:
            out.append(position)
            continue
        keyed.append("expressions", exp.alias_(term.copy(), f"{KEY_PREFIX}{extra}"))
        out.append(width + extra)
        extra += 1
    return KeyedQuery(sql=keyed.sql(dialect="sqlite"), positions=tuple(out), extra=extra)


def _decided_by_noise(a: object, b: object, rel_tol: float, abs_tol: float) -> bool | None:
    """True: ``a`` and ``b`` differ only within the tolerance; False: they differ; None: equal."""
    if a == b or (a is None and b is None):
        return None
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol)
    return False


def tie_groups(keys: Sequence[Sequence[object]], rel_tol: float, abs_tol: float) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` of every run of two or more consecutive rows whose relative order the keys do
    not decide: every key equal, or the first unequal key different only within the tolerance."""
    groups: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        tied = False
        if i < len(keys):
            tied = True
            for a, b in zip(keys[i - 1], keys[i]):
                decided = _decided_by_noise(a, b, rel_tol, abs_tol)
                if decided is None:
                    continue
                tied = decided
                break
        if not tied:
            if i - start > 1:
                groups.append((start, i))
            start = i
    return tuple(groups)
