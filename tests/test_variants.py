"""Database variants: seeded, keep keys, drop some rows, move some values, respect constraints."""
from __future__ import annotations

import sqlite3

from env_server.core.variants import perturb, variant_seed
from env_server.core.domains import DOMAINS, populate


def _shop() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    populate(conn, DOMAINS["ecommerce"], 0)
    return conn


def _copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    dest = sqlite3.connect(":memory:")
    conn.backup(dest)
    return dest


def _dump(conn: sqlite3.Connection) -> list[str]:
    return list(conn.iterdump())


def test_variants_are_seeded_and_differ_by_seed():
    main = _shop()
    a, b, c = _copy(main), _copy(main), _copy(main)
    perturb(a, variant_seed("shop", 1))
    perturb(b, variant_seed("shop", 1))
    perturb(c, variant_seed("shop", 2))
    assert _dump(a) == _dump(b) != _dump(c) != _dump(main)


def test_rows_are_subset_and_keys_unchanged():
    main = _shop()
    variant = _copy(main)
    perturb(variant, 123)
    for table in ("users", "orders", "order_items"):
        before = {r[0] for r in main.execute(f"SELECT id FROM {table}")}
        after = [r[0] for r in variant.execute(f"SELECT id FROM {table}")]
        assert 0.6 * len(before) < len(after) < len(before)
        assert set(after) <= before  # no invented rows
    main_fk = dict(main.execute("SELECT id, user_id FROM orders").fetchall())
    assert all(main_fk[i] == u for i, u in variant.execute("SELECT id, user_id FROM orders"))


def test_values_move_in_non_key_columns():
    main = _shop()
    variant = _copy(main)
    perturb(variant, 7)
    main_rows = {r[0]: r for r in main.execute("SELECT id, status, total_amount, order_date FROM orders")}
    changed = [0, 0, 0]
    for row in variant.execute("SELECT id, status, total_amount, order_date FROM orders"):
        for i in range(3):
            changed[i] += row[i + 1] != main_rows[row[0]][i + 1]
    assert all(n > 20 for n in changed), changed


def test_unique_constraints_survive():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, code INTEGER UNIQUE, flag INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, i * 10, i % 2) for i in range(1, 200)])
    perturb(conn, 5)
    codes = [r[0] for r in conn.execute("SELECT code FROM t")]
    assert len(codes) == len(set(codes))


def test_shuffled_variants_keep_contents_and_schema_but_not_scan_order():
    from env_server.core.variants import shuffle_rows

    main = _shop()
    shuffled = _copy(main)
    shuffle_rows(shuffled, 3)
    tables = [r[0] for r in main.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    moved = 0
    for table in tables:
        before = main.execute(f'SELECT * FROM "{table}"').fetchall()
        after = shuffled.execute(f'SELECT * FROM "{table}"').fetchall()
        assert sorted(before, key=repr) == sorted(after, key=repr)
        assert main.execute(f'PRAGMA table_info("{table}")').fetchall() == shuffled.execute(
            f'PRAGMA table_info("{table}")').fetchall()
        assert main.execute(f'PRAGMA foreign_key_list("{table}")').fetchall() == shuffled.execute(
            f'PRAGMA foreign_key_list("{table}")').fetchall()
        moved += before != after
    assert moved == len(tables)


def test_variants_applied_in_bulk_equal_variants_applied_row_by_row(monkeypatch):
    """perturb and shuffle_rows apply their seeded draws in a few statements per column; the result is the
    database the row-by-row form makes, row for row and in the same physical order."""
    import sqlite3

    from env_server.core import variants
    from env_server.core.domains import get_domain, populate

    def built() -> list:
        conn = sqlite3.connect(":memory:")
        populate(conn, get_domain("ecommerce"), 5)
        variants.perturb(conn, variants.variant_seed("bulk", 1))
        variants.shuffle_rows(conn, variants.variant_seed("bulk|order", 1))
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [conn.execute(f'SELECT rowid, * FROM "{t}"').fetchall() for t in tables]

    bulk = built()
    monkeypatch.setattr(variants, "_BULK", 10**12)  # every column row by row
    assert built() == bulk
