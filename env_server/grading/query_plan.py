"""How many row combinations a query's join loops would visit, read from SQLite's plan without running it.

A task build must not run a candidate query whose joins multiply tables: a generated bug such as a join condition
that compares a column with itself (``ON a.id = a.id``) turns a join of two 336k-row tables into 1.1e11 row
combinations, which the build then ran until a budget stopped it. SQLite's ``EXPLAIN QUERY PLAN`` shows each query
level's loops as sibling rows: ``SEARCH t ...`` is an indexed lookup per outer row (or an automatic index SQLite
builds for an equality join), ``SCAN t`` a full pass. Two or more ``SCAN`` loops of one level are nested full
scans: a cartesian product, or a join on no equality at all. :func:`nested_scan_rows` multiplies the row counts of
those tables (aliases resolved with sqlglot; a CTE or subquery counts as the database's largest table), so the
caller can reject the candidate before it runs (``GradingConfig.cartesian_rows``).
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict

from env_server.core.identifiers import fold


def _aliases(sql: str) -> dict[str, str]:
    """Folded alias (or bare name) -> table name, for every table the statement reads."""
    import sqlglot
    from sqlglot import exp

    from env_server.core.sqlglot_quiet import install

    install()
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return {}
    return {fold(t.alias_or_name): t.name for t in tree.find_all(exp.Table) if t.name}


def nested_scan_rows(conn: sqlite3.Connection, sql: str) -> int:
    """The largest product of row counts over one query level's full-scan loops, where a level has two or more of
    them; 0 when none has (every join after the first loop is a lookup) or the statement does not prepare."""
    try:
        plan = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    except (sqlite3.Error, sqlite3.Warning, ValueError):
        return 0
    scans: dict[int, list[str]] = defaultdict(list)
    for _, parent, _, detail in plan:
        if detail.startswith("SCAN "):
            scans[parent].append(detail.split()[1])
    levels = [names for names in scans.values() if len(names) >= 2]
    if not levels:
        return 0
    tables = {fold(name): name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    counts: dict[str, int] = {}

    def rows(table: str) -> int:
        if table not in counts:
            counts[table] = conn.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
        return counts[table]

    aliases = _aliases(sql)
    largest = max((rows(t) for t in tables.values()), default=0)
    worst = 0
    for names in levels:
        product = 1
        for name in names:
            table = aliases.get(fold(name)) or tables.get(fold(name))
            product *= rows(table) if table is not None and fold(table) in tables else largest
        worst = max(worst, product)
    return worst
