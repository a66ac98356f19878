"""Variant draws made in SQL for large tables: deterministic per seed, the same kinds and sizes of change as the
Python draws, keys and NULLs kept, permuted text a permutation, and a seeded physical order."""
from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter

import pytest

from env_server.core.variants import perturb, shuffle_rows, variant_seed
from env_server.core.variants_sql import SQL_DRAWS_FROM_ROWS

N = SQL_DRAWS_FROM_ROWS


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE flights (id INTEGER PRIMARY KEY, carrier_id INTEGER, flag INTEGER, seats INTEGER, "
                 "fare REAL, day TEXT, stamp TEXT, code TEXT, note TEXT)")
    conn.execute(f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N})
        INSERT INTO flights SELECT i, i % 17, i % 2, CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 37) % 400 END,
            (i % 1000) * 1.25, date('2024-01-01', '+' || (i % 300) || ' days'),
            CASE WHEN i % 2 THEN strftime('%Y-%m-%dT%H:%M:%S', '2024-03-01', '+' || i || ' minutes')
                 ELSE strftime('%Y-%m-%d %H:%M', '2024-03-01', '+' || i || ' minutes') END,
            char(65 + i % 26) || char(65 + i % 7), NULL FROM n""")
    conn.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, v INTEGER)")
    conn.executemany("INSERT INTO small VALUES (?, ?)", [(i, i * 3) for i in range(1, 200)])
    conn.commit()
    return conn


def _copy(conn):
    out = sqlite3.connect(":memory:")
    conn.backup(out)
    return out


@pytest.fixture(scope="module")
def pair():
    clean = _db()
    variant = _copy(clean)
    perturb(variant, variant_seed("sql-draws", 1))
    return clean, variant


def test_the_same_seed_gives_the_same_variant_and_another_seed_another(pair):
    clean, variant = pair
    again, other = _copy(clean), _copy(clean)
    perturb(again, variant_seed("sql-draws", 1))
    perturb(other, variant_seed("sql-draws", 2))
    rows = lambda c: c.execute("SELECT * FROM flights ORDER BY id").fetchall()  # noqa: E731
    assert rows(again) == rows(variant) != rows(other)


def test_rows_kept_and_values_changed_as_the_python_draws_change_them(pair):
    clean, variant = pair
    before = {r[0]: r for r in clean.execute("SELECT * FROM flights")}
    after = {r[0]: r for r in variant.execute("SELECT * FROM flights")}
    assert 0.74 * N <= len(after) <= 0.93 * N and set(after) <= set(before)
    changed = Counter()
    for rid, new in after.items():
        old = before[rid]
        assert new[1] == old[1]  # carrier_id: a key, never changed
        assert new[8] is None  # NULLs stay NULL
        assert (old[3] is None) == (new[3] is None)
        assert new[2] in (0, 1)
        if new[3] != old[3]:
            changed["seats"] += 1
            assert isinstance(new[3], int) and new[3] >= 0
            assert 1 <= abs(new[3] - old[3]) <= max(1, round(old[3] * 0.2)) + 1
        if new[4] != old[4]:
            changed["fare"] += 1
            assert abs(new[4] - old[4]) <= 0.2 * old[4] + 0.01
        if new[5] != old[5]:
            changed["day"] += 1
            assert 1 <= abs((dt.date.fromisoformat(new[5]) - dt.date.fromisoformat(old[5])).days) <= 21
        if new[6] != old[6]:
            changed["stamp"] += 1
            assert len(new[6]) == len(old[6]) and ("T" in new[6]) == ("T" in old[6])
            gap = dt.datetime.fromisoformat(new[6]) - dt.datetime.fromisoformat(old[6])
            assert gap.seconds == 0 and 1 <= abs(gap.days) <= 21
        changed["flag"] += new[2] != old[2]
        changed["code"] += new[7] != old[7]
    for column in ("flag", "fare", "day", "stamp"):
        assert 0.30 * len(after) <= changed[column] <= 0.40 * len(after), (column, changed)
    assert 0.28 * len(after) <= changed["seats"] <= 0.40 * len(after), changed  # a few draws land on the same value
    assert 0.20 * len(after) <= changed["code"] <= 0.40 * len(after), changed  # a permutation keeps some in place
    kept = Counter(before[rid][7] for rid in after)
    assert Counter(r[7] for r in after.values()) == kept  # text is permuted among the chosen rows, not invented


PINNED = {  # sha256 prefixes of each domain's variant as the Python draws made it before the SQL draws existed
    "ecommerce": "c9acf1feeefc8074", "education": "2cc0a5e6825b59f4", "finance": "490add060195f20a",
    "healthcare": "886f6cdbc3958638", "hr": "16b9ee93de8ae449", "logistics": "9a28f7416f998f23",
    "streaming": "b7fa881670940197",
}


@pytest.mark.parametrize("domain", sorted(PINNED))
def test_small_tables_keep_the_python_draws_exactly(domain):
    """Every committed task's tables are small: their variants are byte for byte what they were."""
    import hashlib

    from env_server.core.domains import DOMAINS, populate

    conn = sqlite3.connect(":memory:")
    populate(conn, DOMAINS[domain], 3)
    perturb(conn, variant_seed(f"pin-{domain}", 1))
    shuffle_rows(conn, 11)
    digest = hashlib.sha256()
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        for row in conn.execute(f'SELECT rowid, * FROM "{name}"'):
            digest.update(repr(row).encode())
    assert digest.hexdigest()[:16] == PINNED[domain]


def test_a_large_table_is_stored_in_a_seeded_order(pair):
    _, variant = pair
    a, b = _copy(variant), _copy(variant)
    shuffle_rows(a, 5)
    shuffle_rows(b, 5)
    order = [r[0] for r in a.execute("SELECT id FROM flights")]
    assert order == [r[0] for r in b.execute("SELECT id FROM flights")]
    assert order != sorted(order) and sorted(order) == sorted(r[0] for r in variant.execute("SELECT id FROM flights"))
    assert a.execute("PRAGMA table_info(flights)").fetchall() == variant.execute("PRAGMA table_info(flights)").fetchall()
