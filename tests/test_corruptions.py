"""Procedural corruptions for the repair family: every kind applies to every domain, setups are salted and
survive perturbed variants, gold repairs are rule-based, sandbox-legal and idempotent, and literal repairs
copied from the task database fail on a variant."""
from __future__ import annotations

import random
import sqlite3
from collections import Counter
from functools import cache

import pytest

from env_server.core.sandbox import SandboxConfig, clone, execute
from env_server.core.schema import introspect
from env_server.core.variants import perturb, variant_seed
from env_server.grading.state_diff import rows_of
from env_server.tasks.corruptions import (
    CORRUPTION_KINDS,
    Corruption,
    apply_gold,
    apply_setup,
    normalise_salt,
    plan,
)
from env_server.core.domains import DOMAINS, populate

SEEDS = (0, 4)
SALT_A = 1_234
SALT_B = variant_seed("corruptions-test", 1)  # a 64-bit seed, as the grader's variants use
VARIANT_SEED = 99


def _copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    dest = sqlite3.connect(":memory:")
    conn.backup(dest)
    return dest


@cache
def _clean(domain: str, seed: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    populate(conn, DOMAINS[domain], seed)
    return conn


@cache
def _variant(domain: str, seed: int) -> sqlite3.Connection:
    conn = _copy(_clean(domain, seed))
    perturb(conn, VARIANT_SEED)
    return conn


@cache
def _plan(domain: str, seed: int) -> tuple[Corruption, ...]:
    conn = _clean(domain, seed)
    return tuple(plan(conn, introspect(conn), random.Random(seed), DOMAINS[domain].nouns))


def _set_up(conn: sqlite3.Connection, corruption: Corruption, salt: int) -> sqlite3.Connection:
    copy = _copy(conn)
    apply_setup(copy, corruption, salt)
    return copy


def _repaired(conn: sqlite3.Connection, corruption: Corruption) -> sqlite3.Connection:
    copy = _copy(conn)
    apply_gold(copy, corruption)
    return copy


def _cases() -> list[tuple[str, int]]:
    return [(domain, seed) for domain in sorted(DOMAINS) for seed in SEEDS]


@pytest.mark.parametrize("domain,seed", _cases())
def test_every_kind_applies_to_every_domain(domain, seed):
    corruptions = _plan(domain, seed)
    kinds = Counter(c.kind for c in corruptions)
    assert set(kinds) == set(CORRUPTION_KINDS), f"missing kinds: {set(CORRUPTION_KINDS) - set(kinds)}"
    assert max(kinds.values()) <= 2
    assert len({(c.kind, c.target) for c in corruptions}) == len(corruptions)
    for c in corruptions:
        assert c.goal and c.gold_repair_sql and c.tables
        assert all(":salt" not in s for s in c.gold_repair_sql), "gold repairs may not depend on the salt"
        assert any(":salt" in s for s in c.setup_sql) or not c.setup_sql, "setups must be salted"


@pytest.mark.parametrize("domain,seed", _cases())
def test_setup_gold_and_idempotence_on_task_database(domain, seed):
    clean = _clean(domain, seed)
    before = rows_of(clean)
    for c in _plan(domain, seed):
        corrupted = _set_up(clean, c, SALT_A)
        start = rows_of(corrupted)
        if c.setup_sql:
            assert start != before, f"{c.kind}:{c.target} setup changed nothing"
        else:
            assert c.kind == "missing_aggregate"  # the summary table is simply missing
        repaired = _repaired(corrupted, c)
        target = rows_of(repaired)
        assert target != start, f"{c.kind}:{c.target} gold changed nothing"
        assert {t.lower() for t in c.tables} <= set(target)
        changed = {t for t in target if target[t] != start.get(t)}
        assert changed <= {t.lower() for t in c.tables}, f"{c.kind}:{c.target} gold touched {changed}"
        apply_gold(repaired, c)
        assert rows_of(repaired) == target, f"{c.kind}:{c.target} gold is not idempotent"
        # the gold repair is legal in the agent's sandbox (write mode) and gives the same state there
        config = SandboxConfig(time_limit_s=10.0)
        sandboxed = clone(corrupted, config)
        for statement in c.gold_repair_sql:
            result = execute(sandboxed, statement, mode="write", config=config)
            assert result.ok, f"{c.kind}:{c.target}: {result.error}"
        assert rows_of(sandboxed) == target


@pytest.mark.parametrize("domain,seed", _cases())
def test_corrupted_rows_are_a_small_salted_share(domain, seed):
    clean = _clean(domain, seed)
    for c in _plan(domain, seed):
        if c.kind not in ("format_drift", "case_whitespace", "null_impute", "orphans", "unit_swap", "duplicates"):
            continue
        table = c.tables[0]
        rows = Counter(clean.execute(f'SELECT * FROM "{table}"').fetchall())
        hit = []
        for salt in (SALT_A, SALT_B):
            corrupted = _set_up(clean, c, salt)
            after = Counter(corrupted.execute(f'SELECT * FROM "{table}"').fetchall())
            hit.append(after - rows)
        total = sum(rows.values())
        for diff in hit:
            share = sum(diff.values()) / total
            assert sum(diff.values()) >= 1 and share <= 0.2, f"{c.kind}:{c.target} hit {share:.1%}"
            if total >= 100 and c.kind in ("duplicates", "unit_swap", "orphans"):
                assert 0.04 <= share <= 0.16, f"{c.kind}:{c.target} hit {share:.1%}"
        assert hit[0] != hit[1], f"{c.kind}:{c.target}: both salts corrupt the same rows"


@pytest.mark.parametrize("domain,seed", _cases())
def test_setup_and_gold_apply_to_a_perturbed_variant(domain, seed):
    variant = _variant(domain, seed)
    before = rows_of(variant)
    for c in _plan(domain, seed):
        with_a = _set_up(variant, c, SALT_A)
        with_b = _set_up(variant, c, SALT_B)
        start = rows_of(with_b)
        if c.setup_sql:
            assert start != before, f"{c.kind}:{c.target} setup changed nothing on the variant"
            assert rows_of(with_a) != start, f"{c.kind}:{c.target}: the salt does not move the corruption"
        repaired = _repaired(with_b, c)
        target = rows_of(repaired)
        assert target != start, f"{c.kind}:{c.target} gold changed nothing on the variant"
        apply_gold(repaired, c)
        assert rows_of(repaired) == target


def _preexisting(conn: sqlite3.Connection, c: Corruption) -> Counter:
    """The rows of the corrupted table that already looked hit before the setup: NULLs of a null_impute
    column, orphans of an orphans foreign key."""
    table, column = c.tables[0], c.target.split(".", 1)[1]
    if c.kind == "null_impute":
        return Counter(conn.execute(f'SELECT * FROM "{table}" WHERE "{column}" IS NULL').fetchall())
    parent, key = next((p, pc) for child, fk, p, pc in introspect(conn).foreign_keys()
                       if child.lower() == table.lower() and fk.lower() == column.lower())
    return Counter(conn.execute(
        f'SELECT * FROM "{table}" WHERE "{column}" IS NOT NULL '
        f'AND "{column}" NOT IN (SELECT "{key}" FROM "{parent}" WHERE "{key}" IS NOT NULL)').fetchall())


def _leaves_unplanted_rows(clean: sqlite3.Connection, c: Corruption, salt: int) -> None:
    """The gold repair keeps every row the setup did not hit; for null_impute and orphans, every row that
    looked hit before the setup (a NULL, an orphan) is among them."""
    before = rows_of(clean)
    corrupted = _set_up(clean, c, salt)
    during = rows_of(corrupted)
    after = rows_of(_repaired(corrupted, c))
    for table, rows in before.items():
        lost = (rows & during.get(table, Counter())) - after.get(table, Counter())
        assert not lost, f"{c.kind}:{c.target}: the gold repair changed {sum(lost.values())} unplanted rows of {table}"
    if c.kind in ("null_impute", "orphans"):
        kept = _preexisting(clean, c) - after[c.tables[0].lower()]
        assert not kept, f"{c.kind}:{c.target}: {sum(kept.values())} pre-existing rows were repaired away"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_gold_repairs_leave_every_unplanted_row_alone(domain):
    """The domains plant real NULLs and orphans; no repair fills or deletes them, on the task database
    and on a variant with another salt."""
    seed = SEEDS[0]
    audited = set()
    for c in _plan(domain, seed):
        for db, salt in ((_clean(domain, seed), SALT_A), (_variant(domain, seed), SALT_B)):
            _leaves_unplanted_rows(db, c, salt)
        if c.kind in ("null_impute", "orphans") and _preexisting(_clean(domain, seed), c):
            assert len(c.setup_sql) == 3 and c.setup_sql[0].startswith("CREATE TABLE"), c.target
            audited.add(c.kind)
    assert audited == {"null_impute", "orphans"}


FLIGHTS = "tests/data/flights_realistic.sql"
"""A small realistic analytics database: a key-less fact table, HHMM clock times, two foreign keys to one
table, NULLs meaning cancelled, destinations with no airports row, ISO timestamps with Z and offsets."""


@cache
def _flights() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    with open(FLIGHTS, encoding="utf-8") as f:
        conn.executescript(f.read())
    return conn


@pytest.mark.parametrize("strict", [False, True])
def test_every_kind_on_real_data_keeps_its_nulls_and_orphans(strict):
    clean = _flights()
    planned = plan(clean, introspect(clean), random.Random(0), strict=strict)
    assert {"null_impute", "orphans"} <= {c.kind for c in planned}
    for c in planned:
        for salt in (SALT_A, SALT_B):
            _leaves_unplanted_rows(clean, c, salt)


def test_the_old_fill_every_null_repair_fails_where_nulls_mean_something():
    """The attack: a policy that fills every NULL (or deletes every orphan) of the column, as the repair
    used to, no longer reaches the gold state where the data had its own NULLs and orphans."""
    clean = _flights()
    checked = set()
    planned = {(c.kind, c.target): c for seed in range(4)
               for c in plan(clean, introspect(clean), random.Random(seed), strict=True)}
    for c in planned.values():
        if c.kind not in ("null_impute", "orphans") or not _preexisting(clean, c):
            continue
        main = _set_up(clean, c, SALT_A)
        greedy = _copy(main)
        for statement in c.gold_repair_sql:
            greedy.execute(statement.split(" AND ", 1)[0] if c.kind == "null_impute"
                           else statement.rsplit(" AND ", 1)[0])
        assert rows_of(greedy) != rows_of(_repaired(main, c)), f"{c.kind}:{c.target}"
        checked.add(c.kind)
    assert checked == {"null_impute", "orphans"}


RESTORING = ("format_drift", "case_whitespace", "duplicates", "legacy_migration", "unit_swap")
"""Kinds whose gold repair gives back exactly the clean table (the others impute, delete or add)."""


@pytest.mark.parametrize("domain,seed", _cases())
def test_restoring_kinds_give_back_the_clean_table(domain, seed):
    clean = _clean(domain, seed)
    for c in _plan(domain, seed):
        if c.kind not in RESTORING:
            continue
        for db in (clean, _variant(domain, seed)):
            if db is not clean and c.kind == "duplicates":
                continue  # a variant's permuted values may happen to form extra duplicates, which gold removes too
            repaired = _repaired(_set_up(db, c, SALT_B), c)
            assert rows_of(repaired, c.tables) == rows_of(db, c.tables), f"{c.kind}:{c.target}"


def _literal_repair(main: sqlite3.Connection, c: Corruption) -> list[str]:
    """A repair that reproduces gold on the task database with ids and values read off it."""
    table = c.tables[0]
    if c.kind == "duplicates":
        repaired = _repaired(main, c)
        key = "id"
        ids = {r[0] for r in main.execute(f'SELECT "{key}" FROM "{table}"')} - {
            r[0] for r in repaired.execute(f'SELECT "{key}" FROM "{table}"')
        }
        return [f'DELETE FROM "{table}" WHERE "{key}" IN ({", ".join(map(str, sorted(ids)))})']
    column = c.target.split(".", 1)[1]
    if c.kind == "null_impute":
        repaired = _repaired(main, c)
        filled = [r[0] for r in main.execute(f'SELECT id FROM "{table}" WHERE "{column}" IS NULL')
                  if repaired.execute(f'SELECT "{column}" FROM "{table}" WHERE id = ?', r).fetchone()[0] is not None]
        value = repaired.execute(f'SELECT "{column}" FROM "{table}" WHERE id = ?', (filled[0],)).fetchone()[0]
        return [f'UPDATE "{table}" SET "{column}" = {value!r} WHERE id IN ({", ".join(map(str, filled))})']
    if c.kind == "unit_swap":
        repaired = _repaired(main, c)
        before = dict(main.execute(f'SELECT id, "{column}" FROM "{table}"').fetchall())
        after = dict(repaired.execute(f'SELECT id, "{column}" FROM "{table}"').fetchall())
        return [f'UPDATE "{table}" SET "{column}" = {after[i]!r} WHERE id = {i}' for i in before if before[i] != after[i]]
    raise AssertionError(c.kind)


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_literal_repairs_fail_on_a_variant(domain):
    seed = SEEDS[0]
    clean, variant = _clean(domain, seed), _variant(domain, seed)
    checked = set()
    for c in _plan(domain, seed):
        if c.kind not in ("duplicates", "null_impute", "unit_swap"):
            continue
        main = _set_up(clean, c, SALT_A)
        literal = _literal_repair(main, c)
        # it does reproduce the gold state on the task database ...
        patched = _copy(main)
        for statement in literal:
            patched.execute(statement)
        assert rows_of(patched) == rows_of(_repaired(main, c)), f"{c.kind}:{c.target}"
        # ... but not on a variant corrupted with another salt
        other = _set_up(variant, c, SALT_B)
        target = rows_of(_repaired(other, c))
        for statement in literal:
            other.execute(statement)
        assert rows_of(other) != target, f"{c.kind}:{c.target}: a literal repair passes the variant"
        checked.add(c.kind)
    assert checked == {"duplicates", "null_impute", "unit_swap"}


def test_planning_is_deterministic_and_leaves_the_database_alone():
    clean = _clean("finance", 0)
    before = rows_of(clean)
    a = plan(clean, introspect(clean), random.Random(7))
    b = plan(clean, introspect(clean), random.Random(7))
    assert a == b
    assert rows_of(clean) == before


def test_salt_is_normalised_for_sqlite():
    assert 0 <= normalise_salt(2**64 - 1) < 2**31
    assert 0 <= normalise_salt(-5) < 2**31
    with pytest.raises(TypeError):
        normalise_salt("7")  # type: ignore[arg-type]


def test_failing_setup_names_the_statement():
    conn = sqlite3.connect(":memory:")
    broken = Corruption("unit_swap", "t.x", ("UPDATE missing_table SET x = 1",), ("SELECT 1",), "goal", ("t",))
    with pytest.raises(ValueError, match="missing_table"):
        apply_setup(conn, broken, 1)
    with pytest.raises(ValueError, match="statement 1"):
        apply_setup(conn, broken, 1)


def _foreign_database() -> sqlite3.Connection:
    """A small database unlike the generated domains: TEXT primary keys, no foreign keys, a timestamp, a
    table without a primary key (and a spaced column name) and a WITHOUT ROWID table."""
    rng = random.Random(3)
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        """
        CREATE TABLE sku (code TEXT PRIMARY KEY, label TEXT NOT NULL, family TEXT, weight REAL, added TEXT);
        CREATE TABLE stock_move (ref TEXT PRIMARY KEY, code TEXT, qty INTEGER, moved_at TEXT);
        CREATE TABLE tiny (k TEXT PRIMARY KEY, v TEXT);
        CREATE TABLE readings ("Sensor Name" TEXT, value REAL, taken TEXT);
        CREATE TABLE pairs (a INTEGER, b INTEGER, w REAL, PRIMARY KEY (a, b)) WITHOUT ROWID;
        """
    )
    families = ("tools", "garden", "paint", "kitchen")
    conn.executemany(
        "INSERT INTO sku VALUES (?, ?, ?, ?, ?)",
        [(f"SKU-{i:04d}", f"Item {i}", rng.choice(families), round(rng.uniform(0.5, 9.5), 2),
          f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}") for i in range(150)],
    )
    conn.executemany(
        "INSERT INTO stock_move VALUES (?, ?, ?, ?)",
        [(f"MV{i}", f"SKU-{rng.randrange(150):04d}", rng.randint(10, 90),
          f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:15:00") for i in range(300)],
    )
    conn.executemany("INSERT INTO tiny VALUES (?, ?)", [("a", "x"), ("b", "y")])
    conn.executemany(
        "INSERT INTO readings VALUES (?, ?, ?)",
        [(rng.choice(("north", "south", "east")), round(rng.uniform(5, 40), 2), f"2024-03-{rng.randint(1, 28):02d}")
         for _ in range(120)],
    )
    conn.executemany("INSERT INTO pairs VALUES (?, ?, ?)", [(i, i % 7, rng.random()) for i in range(60)])

    conn.commit()
    return conn


def test_plan_works_on_an_unseen_database():
    conn = _foreign_database()
    corruptions = plan(conn, introspect(conn), random.Random(0))
    assert corruptions
    touched = {t for c in corruptions for t in c.tables}
    assert not touched & {"tiny", "pairs"}  # too few rows; no rowid
    assert {"format_drift", "case_whitespace", "duplicates", "unit_swap"} <= {c.kind for c in corruptions}
    assert all(" " not in c.target for c in corruptions)
    variant = _copy(conn)
    perturb(variant, 5)
    for c in corruptions:
        for db, salt in ((conn, SALT_A), (variant, SALT_B)):
            corrupted = _set_up(db, c, salt)
            start = rows_of(corrupted)
            apply_gold(corrupted, c)
            assert rows_of(corrupted) != start, f"{c.kind}:{c.target}"


def test_plan_refuses_an_uncommitted_database():
    conn = _foreign_database()
    conn.execute("INSERT INTO tiny VALUES ('c', 'z')")
    with pytest.raises(ValueError, match="commit"):
        plan(conn, introspect(conn), random.Random(0))
