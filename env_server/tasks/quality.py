"""Quality rules a generated task must pass before it is kept: what a data engineer would refuse to sign off.

The generators check what they build against the data itself:

* **constant column** — a column with at most one distinct non-NULL value (a bookkeeping ``last_update``
  stamped once for every row, an all-NULL ``original_language_id``) is never filtered, grouped, measured or
  asked about: :func:`is_constant`, applied when :func:`env_server.tasks.gold_queries.profile` classes
  columns;
* **dead join** — a foreign key none of whose values matches a row of the parent is never joined along
  (every parent would look childless): :func:`edge_problem`. (A table that references the same parent
  through several columns is no longer refused: each of those joins is named by its role, "origin
  airports", "dest airports": :mod:`env_server.tasks.join_roles`);
* **one group** — a "for each ..." result (``GROUP BY``) with fewer than two groups;
* **short top N** — a ``LIMIT n`` result with fewer than ``n`` rows ("the 5 staff" returning 2);
* **degenerate share** — a percentage that is 0 or 100 everywhere, or outside [0, 100]:
  :func:`result_problem`;
* **formulations disagree** — where a reference has a second standard formulation (``NOT EXISTS`` against
  ``NOT IN`` or ``LEFT JOIN … IS NULL``; a window function against a correlated subquery), the generator
  writes both and the task is kept only when they return the same rows: a NULL key or a duplicate id
  makes them differ, and then the question has no single right answer: :func:`formulation_problem`.

Each rule's name opens the reason it gives, so :class:`~env_server.tasks.rejections.Rejections` counts
candidates per rule.
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence

import sqlglot
from sqlglot import exp

from env_server.core.identifiers import quote_ident

__all__ = ["MIN_GROUPS", "edge_problem", "formulation_problem", "is_constant", "result_problem"]

MIN_GROUPS = 2
"""Fewest groups a "for each ..." result may have (the reasons say "two")."""


def is_constant(distinct_values: int) -> bool:
    """Whether a column with ``distinct_values`` distinct non-NULL values says nothing (at most one value)."""
    return distinct_values <= 1


def edge_problem(conn: sqlite3.Connection, child: str, fk: str, parent: str, pk: str,
                 foreign_keys: Sequence[tuple[str, str, str, str]]) -> str | None:
    """Why the foreign key ``child.fk -> parent.pk`` must not be joined along, or ``None``.

    ``foreign_keys`` are all of the schema's ``(child, fk, parent, pk)`` edges (kept for callers; several
    edges from one table to one parent are role-named by :mod:`env_server.tasks.join_roles`, not refused)."""
    matched = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM {quote_ident(child)} AS c JOIN {quote_ident(parent)} AS p "
        f"ON c.{quote_ident(fk)} = p.{quote_ident(pk)})"
    ).fetchone()[0]
    if not matched:
        return "dead join: no value of the foreign key matches a row of the parent"
    return None


def _top_select(sql: str) -> exp.Select | None:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return None
    return tree if isinstance(tree, exp.Select) else None


def result_problem(sql: str, rows: Sequence[Sequence[object]], question: str = "") -> str | None:
    """Why a gold query's result ``rows`` make a degenerate task, or ``None``.

    >>> result_problem("SELECT city, COUNT(*) FROM t GROUP BY city", [("Oslo", 3)])
    'one group: a for-each result with fewer than two groups'
    >>> result_problem("SELECT name FROM t ORDER BY x DESC LIMIT 5", [("a",), ("b",)])
    'short top N: LIMIT asks for more rows than there are'
    >>> result_problem("SELECT g, ROUND(100.0 * SUM(x) / COUNT(*), 2) AS pct FROM t GROUP BY g", [("a", 100.0), ("b", 100.0)])
    'degenerate share: every percentage is 0 or 100'
    >>> result_problem("SELECT g, COUNT(*) FROM t GROUP BY g", [("a", 1), ("b", 2)]) is None
    True
    """
    select = _top_select(sql)
    if select is not None:
        if select.args.get("group") and len(rows) < MIN_GROUPS:
            return "one group: a for-each result with fewer than two groups"
        limit = select.args.get("limit")
        if limit is not None and isinstance(limit.expression, exp.Literal) and limit.expression.is_int:
            n = int(limit.expression.this)
            if len(rows) < n:
                return "short top N: LIMIT asks for more rows than there are"
    shares = _share_values(select, rows, question)
    if shares:
        if all(v in (0, 100) for v in shares):
            return "degenerate share: every percentage is 0 or 100"
        if any(v < 0 or v > 100 for v in shares):
            return "degenerate share: a percentage outside 0 to 100"
    return None


def _share_values(select: exp.Select | None, rows: Sequence[Sequence[object]], question: str) -> list[float]:
    """The numbers of the result's percentage column (an alias ``pct``/``percent``/``share``, or the only
    number of a question that asks for a percentage)."""
    column = None
    if select is not None:
        for i, projection in enumerate(select.expressions):
            if projection.alias_or_name.lower() in ("pct", "percent", "percentage", "share"):
                column = i
    if column is None and "percentage" in question.lower() and rows and len(rows[0]) == 1:
        column = 0
    if column is None:
        return []
    return [float(r[column]) for r in rows if len(r) > column and isinstance(r[column], (int, float))]


def formulation_problem(conn: sqlite3.Connection, rows: Sequence[Sequence[object]], alternative: str | None) -> str | None:
    """Why two formulations of one reference make the task ambiguous, or ``None``: the reference's result
    ``rows`` and the trusted, read-only ``alternative`` run on ``conn`` must be the same multiset of rows
    (numbers compared as the grader compares them: :func:`env_server.grading.grader.canonical_row`).

    >>> conn = sqlite3.connect(":memory:")
    >>> _ = conn.executescript("CREATE TABLE p(id); CREATE TABLE c(pid); INSERT INTO p VALUES (1), (NULL); INSERT INTO c VALUES (5);")
    >>> not_exists = conn.execute("SELECT COUNT(*) FROM p WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.pid = p.id)").fetchall()
    >>> formulation_problem(conn, not_exists, "SELECT COUNT(*) FROM p WHERE id NOT IN (SELECT pid FROM c WHERE pid IS NOT NULL)")
    'formulations disagree: two standard formulations of the reference return different rows (a NULL or duplicate key?)'
    """
    from env_server.grading.compare import canonical_row

    if alternative is None:
        return None
    try:
        second = conn.execute(alternative).fetchall()
    except sqlite3.Error as exc:
        return f"formulations disagree: the second formulation fails ({exc})"
    if Counter(map(canonical_row, rows)) != Counter(map(canonical_row, second)):
        return ("formulations disagree: two standard formulations of the reference return different rows "
                "(a NULL or duplicate key?)")
    return None
