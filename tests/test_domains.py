"""Tests for the seeded domain generators in env_server.core.domains (no network, in-memory SQLite)."""
from __future__ import annotations

import random
import re
import sqlite3

import pytest

from env_server.core.domains import DOMAINS, Domain, get_domain, populate

NAMES = sorted(DOMAINS)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")


def build(domain: Domain, seed: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    populate(conn, domain, seed)
    return conn


def dump(domain: Domain, seed: int) -> str:
    return "\n".join(build(domain, seed).iterdump())


def tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, pk flag) per column."""
    return [(r[1], r[2], r[5]) for r in conn.execute(f'PRAGMA table_info("{table}")')]


def foreign_keys(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """(child table, child column, parent table, parent column) for every declared REFERENCES."""
    return [(t, r[3], r[2], r[4]) for t in tables(conn) for r in conn.execute(f'PRAGMA foreign_key_list("{t}")')]


@pytest.fixture(scope="module", params=NAMES)
def built(request):
    domain = DOMAINS[request.param]
    return domain, build(domain, 0)


def test_registry_lists_seven_domains():
    assert NAMES == ["ecommerce", "education", "finance", "healthcare", "hr", "logistics", "streaming"]
    for name, domain in DOMAINS.items():
        assert domain.name == name and get_domain(name) is domain
        assert domain.description and domain.reference_date == "2024-12-31"


def test_registry_is_immutable():
    with pytest.raises(TypeError):
        DOMAINS["x"] = DOMAINS["hr"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del DOMAINS["hr"]  # type: ignore[attr-defined]


def test_get_domain_unknown_lists_valid_names():
    with pytest.raises(KeyError) as err:
        get_domain("casino")
    assert all(name in str(err.value) for name in NAMES)


def test_schema_conventions(built):
    domain, conn = built
    names = tables(conn)
    assert 4 <= len(names) <= 5
    assert set(domain.generate(random.Random(0))) == set(names)
    assert set(domain.nouns) == set(names)
    for table in names:
        assert re.fullmatch(r"[a-z_]+", table)
        cols = columns(conn, table)
        assert ("id", "INTEGER", 1) in cols
        assert all(re.fullmatch(r"[a-z_]+", c) and kind in ("INTEGER", "REAL", "TEXT") for c, kind, _ in cols)


def test_every_table_has_a_few_hundred_rows_at_most(built):
    _, conn = built
    for table in tables(conn):
        n = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        assert 8 <= n <= 1500, (table, n)


def test_same_seed_is_byte_identical():
    for name in NAMES:
        domain = DOMAINS[name]
        first = dump(domain, 7)
        random.seed(12345)  # the global RNG must not influence the generators
        assert dump(domain, 7) == first, name


def test_different_seeds_differ():
    for name in NAMES:
        domain = DOMAINS[name]
        assert len({dump(domain, seed) for seed in (0, 1, 2)}) == 3, name


def test_aggregates_vary_with_seed():
    """The largest table's numeric sums change with the seed, not just ids or names."""
    for name in NAMES:
        sums = set()
        for seed in (0, 1):
            conn = build(DOMAINS[name], seed)
            table = max(tables(conn), key=lambda t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0])
            numeric = [c for c, kind, pk in columns(conn, table) if kind == "REAL"] or \
                      [c for c, kind, pk in columns(conn, table) if kind == "INTEGER" and not pk]
            sums.add(conn.execute(f'SELECT SUM("{numeric[0]}") FROM "{table}"').fetchone()[0])
        assert len(sums) == 2, name


def test_fk_graph_is_connected_and_targets_exist(built):
    _, conn = built
    names = set(tables(conn))
    fks = foreign_keys(conn)
    assert fks
    adjacency = {t: set() for t in names}
    for child, _, parent, parent_col in fks:
        assert parent in names and parent_col == "id", (child, parent)
        adjacency[child].add(parent)
        adjacency[parent].add(child)
    start = min(names)
    reached, frontier = {start}, [start]
    while frontier:
        for nxt in adjacency[frontier.pop()] - reached:
            reached.add(nxt)
            frontier.append(nxt)
    assert reached == names


def test_fk_chain_has_two_levels(built):
    _, conn = built
    parents = {}
    for child, _, parent, _ in foreign_keys(conn):
        if child != parent:
            parents.setdefault(child, set()).add(parent)
    assert any(parents.get(p) for ps in parents.values() for p in ps)


def test_some_nulls_in_a_non_key_column(built):
    _, conn = built
    fk_cols = {(c, col) for c, col, _, _ in foreign_keys(conn)}
    found = []
    for table in tables(conn):
        for col, _, pk in columns(conn, table):
            if pk or (table, col) in fk_cols:
                continue
            if conn.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" IS NULL').fetchone()[0]:
                found.append((table, col))
    assert found


def test_some_orphan_rows(built):
    _, conn = built
    orphans = sum(
        conn.execute(
            f'SELECT COUNT(*) FROM "{child}" c WHERE c."{col}" IS NOT NULL '
            f'AND NOT EXISTS (SELECT 1 FROM "{parent}" p WHERE p."{pcol}" = c."{col}")'
        ).fetchone()[0]
        for child, col, parent, pcol in foreign_keys(conn)
    )
    assert orphans > 0


def test_nothing_dated_after_reference_date(built):
    domain, conn = built
    checked = 0
    for table in tables(conn):
        for col, kind, _ in columns(conn, table):
            if kind != "TEXT":
                continue
            values = [v for (v,) in conn.execute(f'SELECT "{col}" FROM "{table}" WHERE "{col}" IS NOT NULL')]
            if values and all(DATE_RE.match(v) for v in values):
                checked += 1
                assert max(values) <= domain.reference_date, (table, col, max(values))
    assert checked >= 2


def test_money_has_at_most_two_decimals(built):
    _, conn = built
    for table in tables(conn):
        for col, kind, _ in columns(conn, table):
            if kind == "REAL" and re.search(r"amount|price|cost|balance|salary|budget", col):
                bad = conn.execute(
                    f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" IS NOT NULL AND ROUND("{col}", 2) != "{col}"'
                ).fetchone()[0]
                assert bad == 0, (table, col)


def test_emails_are_unique(built):
    _, conn = built
    for table in tables(conn):
        if any(col == "email" for col, _, _ in columns(conn, table)):
            total, distinct = conn.execute(f'SELECT COUNT(*), COUNT(DISTINCT email) FROM "{table}"').fetchone()
            assert total == distinct, table
