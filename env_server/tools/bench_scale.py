"""``python -m env_server bench --scale``: cost at 1k, 10k, 100k and 1M rows; writes ``results/bench/scale.json``.

One debug task per size, on a database of that many orders (and a tenth as many customers), built with raw
``sqlite3`` into a file the task points at. For each size, in the same run, each figure beside its floor:

* **reset** p50/p99 of ``DataOpsEnv.reset`` (a read-only family: a read-only view of the shared database),
  beside the floor of opening the same kind of connection with raw ``sqlite3`` (``vfs=memdb``, ``mode=ro``),
  and beside what a reset used to cost: copying the database (raw ``sqlite3`` backup into ``:memory:``);
* **memory per open episode**: resident memory added by ``EPISODES`` open episodes, each having run a query
  that reads the whole orders table, divided by their number (freed heap is returned to the OS before each
  reading, so reused memory cannot hide growth), beside the database's own size, beside raw ``sqlite3``
  read-only connections with their default page cache doing the same scan, and beside a few private copies
  (what each episode held when every reset copied the database);
* **a repeated query**: one cheap point query run ``REPEATS`` times through the sandbox on one episode
  connection, beside raw ``sqlite3`` on the same kind of connection (the sandbox keeps its guards installed,
  so SQLite's prepared statement is reused);
* **grading per completion**: ``Grader.grade_query`` on the gold query, an equivalent rewrite and a broken
  query, beside raw ``sqlite3`` running the same three on plain copies of the task database and its
  variants; and whether gold and rewrite are graded success in every round.

The timed sides run in interleaved rounds (see :mod:`env_server.tools.measure`): each timed figure is the
median over rounds, each ratio the median of the per-round ratios, every round kept in the JSON; memory
is measured once per size.

The reference of each size is computed once, without a wall-clock limit, and its VM steps are reported.
Numbers depend on the machine and are reported, not asserted.

Floor: the raw ``sqlite3.connect`` calls here are the measured floor, deliberately outside the sandbox
(the one exception to: only :mod:`env_server.core.sandbox` opens connections).
"""
from __future__ import annotations

import ctypes
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from env_server.core.databases import Databases
from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.core.sandbox import execute
from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.tasks.spec import DbSpec, Task
from env_server.tools.measure import (ROUNDS, interleave, interleaving, medians, percentile, print_results,
                                      rounds_block, upper_targets)

OUT = REPO_ROOT / "results" / "bench" / "scale.json"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
EPISODES = 50
CLONES = 3
GOLD = ("SELECT c.city, COUNT(*) AS n, ROUND(SUM(o.amount), 2) AS total FROM orders AS o JOIN customers AS c "
        "ON c.id = o.customer_id WHERE o.status = 'paid' GROUP BY c.city")
REWRITE = ("SELECT city, n, total FROM (SELECT c.city AS city, COUNT(o.id) AS n, ROUND(SUM(o.amount), 2) AS total "
           "FROM customers AS c, orders AS o WHERE o.customer_id = c.id AND 'paid' = o.status GROUP BY 1) AS s")
BROKEN = ("SELECT c.city, COUNT(*) AS n, ROUND(SUM(o.amount), 2) AS total FROM orders AS o JOIN customers AS c "
          "ON c.id = o.customer_id WHERE o.status = 'Paid' GROUP BY c.city")
SCAN = "SELECT COUNT(*), SUM(amount) FROM orders WHERE status LIKE '%a%'"
POINT = "SELECT name, city FROM customers WHERE id = 7"
REPEATS = 2_000
TARGETS = {"reset_over_copy": 0.1, "episode_memory_over_database": 0.1}
"""Upper bounds from the issue, checked at the largest size."""


def build_database(path: Path, orders: int) -> None:
    """``orders`` orders over ``orders // 10`` customers in 8 cities, written with raw sqlite3 (deterministic)."""
    customers = max(10, orders // 10)
    conn = sqlite3.connect(path)
    conn.executescript(f"""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
                             amount REAL NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {customers})
        INSERT INTO customers SELECT i, 'Customer ' || i,
            CASE i % 8 WHEN 0 THEN 'Oslo' WHEN 1 THEN 'Lima' WHEN 2 THEN 'Pune' WHEN 3 THEN 'Kyiv'
                       WHEN 4 THEN 'Quito' WHEN 5 THEN 'Accra' WHEN 6 THEN 'Hanoi' ELSE 'Riga' END FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {orders})
        INSERT INTO orders SELECT i, 1 + (i * 7919) % {customers}, ROUND(5 + (i * 104729 % 100000) / 100.0, 2),
            CASE i % 3 WHEN 0 THEN 'paid' WHEN 1 THEN 'open' ELSE 'void' END,
            DATE('2024-01-01', '+' || (i % 366) || ' days') FROM n;
    """)
    conn.commit()
    conn.close()


def _rss_bytes() -> int:
    """Resident memory of this process, after handing freed heap back to the OS (glibc's ``malloc_trim``):
    otherwise memory freed by an earlier phase is reused silently and new allocations do not show."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure may then under-count
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def measure_size(orders: int, folder: Path, resets: int, rounds: int = ROUNDS) -> dict:
    """Every figure of one size; the timed sides interleaved over ``rounds`` rounds (memory measured once)."""
    path = folder / f"orders_{orders}.sqlite"
    build_database(path, orders)
    db_bytes = path.stat().st_size
    task = Task(task_id=f"scale-{orders}", family="debug", split="bench", db=DbSpec(sqlite_path=str(path)),
                question="paid order count and total per customer city", broken_sql=BROKEN, gold_sql=GOLD)
    grader = make_grader(databases=Databases(capacity=8))
    k = grader.config.variants

    started = time.perf_counter()
    references = [grader.reference(task, v) for v in range(k + 1)]
    cold_ms = (time.perf_counter() - started) * 1000
    template = grader.databases.template(task.db, 0)

    env = DataOpsEnv([task], grader=grader)
    env.reset(task_id=task.task_id)
    uri = f"file:/{template.shared_name}?vfs=memdb&mode=ro"
    plain = sqlite3.connect(path)
    reader = grader.databases.reader(task.db)
    raw_reader = sqlite3.connect(uri, uri=True)
    config = grader.sandbox_config
    copies = []  # plain copies of the task database and its variants: the grading floor
    for v in range(k + 1):
        dest = sqlite3.connect(":memory:")
        source = grader.databases.template(task.db, v)
        with source.lock:
            source.conn.backup(dest)
        copies.append(dest)
    candidates = {"gold": GOLD, "rewrite": REWRITE, "broken": BROKEN}

    def open_raw() -> None:
        sqlite3.connect(uri, uri=True).close()

    def copy() -> None:
        dest = sqlite3.connect(":memory:")
        plain.backup(dest)
        dest.close()

    def grading_side() -> dict[str, tuple[float, bool]]:
        out = {}
        for name, sql in candidates.items():
            started = time.perf_counter()
            grade = grader.grade_query(task, sql)
            out[name] = ((time.perf_counter() - started) * 1000, grade.success)
        return out

    def grading_floor_side() -> dict[str, float]:
        return {name: _timed(lambda: [conn.execute(sql).fetchall() for conn in copies])
                for name, sql in candidates.items()}

    resets_per_round = max(1, resets // rounds)
    copies_per_round = max(1, min(resets, 20) // rounds)
    queries_per_round = max(1, REPEATS // rounds)
    for _ in range(50):  # warm the query paths
        execute(reader, POINT, mode="read", config=config)
        raw_reader.execute(POINT).fetchall()
    sides = {
        # reset: ours, the raw-sqlite3 floor (open a read-only view the same way), and copying the database
        "reset": lambda: [_timed(lambda: env.reset(task_id=task.task_id)) for _ in range(resets_per_round)],
        "open_read_only": lambda: [_timed(open_raw) for _ in range(resets_per_round)],
        "copy_database": lambda: [_timed(copy) for _ in range(copies_per_round)],
        # a repeated cheap query: the sandbox (guards installed once per mode, so SQLite's prepared statement is
        # reused) against raw sqlite3 on the same kind of connection, and execute() on a plain connection, which
        # installs and removes the guards per statement (what every statement paid before they stayed installed)
        "query": lambda: [_timed(lambda: execute(reader, POINT, mode="read", config=config))
                          for _ in range(queries_per_round)],
        "query_raw": lambda: [_timed(lambda: raw_reader.execute(POINT).fetchall()) for _ in range(queries_per_round)],
        "query_guards_per_statement": lambda: [_timed(lambda: execute(raw_reader, POINT, mode="read", config=config))
                                               for _ in range(queries_per_round)],
        # grading per completion vs raw sqlite3 on plain copies of the task database and its variants
        "grading": grading_side,
        "grading_floor": grading_floor_side,
    }
    grading_side(), grading_floor_side()  # warm both
    done = interleave(sides, rounds)
    env.close()
    reader.close()
    raw_reader.close()
    for conn in copies:
        conn.close()

    per_round = []
    for i in range(done.rounds):
        got = done.round(i)
        reset_p50, floor_p50 = percentile(got["reset"], 0.5), percentile(got["open_read_only"], 0.5)
        copy_ms = statistics.median(got["copy_database"])
        query_p50, raw_p50 = percentile(got["query"], 0.5), percentile(got["query_raw"], 0.5)
        figures = {
            "reset_p50_ms": reset_p50,
            "reset_p99_ms": percentile(got["reset"], 0.99),
            "floor_open_read_only_p50_ms": floor_p50,
            "copy_database_median_ms": copy_ms,
            "reset_over_floor": reset_p50 / floor_p50,
            "reset_over_copy": reset_p50 / copy_ms,
            "repeated_query_p50_ms": query_p50,
            "floor_repeated_query_p50_ms": raw_p50,
            "repeated_query_over_floor": query_p50 / raw_p50,
            "repeated_query_guards_per_statement_p50_ms": percentile(got["query_guards_per_statement"], 0.5),
            "repeated_query_guards_per_statement_over_kept":
                percentile(got["query_guards_per_statement"], 0.5) / query_p50,
        }
        for name in candidates:
            graded_ms, floor_ms = got["grading"][name][0], got["grading_floor"][name]
            figures |= {f"grading_ms.{name}": graded_ms, f"floor_raw_sqlite_ms.{name}": floor_ms,
                        f"grading_over_floor.{name}": graded_ms / floor_ms}
        per_round.append(figures)
    block = rounds_block(per_round)
    headline = medians(block)
    verdicts = {name: [rnd[name][1] for rnd in done.results["grading"]] for name in candidates}

    # memory per open episode, each having scanned the orders table (measured once: not a timing)
    gc.collect()
    before = _rss_bytes()
    envs = []
    for _ in range(EPISODES):
        e = DataOpsEnv([task], grader=grader)
        e.reset(task_id=task.task_id)
        e._conn.execute(SCAN).fetchall()
        envs.append(e)
    per_episode = (_rss_bytes() - before) / EPISODES
    for e in envs:
        e.close()
    del envs
    gc.collect()
    before = _rss_bytes()
    raw = [sqlite3.connect(uri, uri=True) for _ in range(EPISODES)]
    for conn in raw:
        conn.execute(SCAN).fetchall()
    raw_per_connection = (_rss_bytes() - before) / EPISODES
    for conn in raw:
        conn.close()
    before = _rss_bytes()
    clones = []
    for _ in range(CLONES):
        dest = sqlite3.connect(":memory:")
        plain.backup(dest)
        clones.append(dest)
    per_clone = (_rss_bytes() - before) / CLONES
    for conn in clones:
        conn.close()
    del clones
    plain.close()
    return {
        "orders": orders,
        "database_mb": round(db_bytes / 2**20, 2),
        "cold_build_and_references_ms": round(cold_ms, 1),
        "reference_vm_steps": [r.vm_steps for r in references],
        **{name: value for name, value in headline.items() if "." not in name},
        "episode_memory_mb": round(per_episode / 2**20, 3),
        "floor_raw_reader_memory_mb": round(raw_per_connection / 2**20, 3),
        "episode_memory_over_database": round(per_episode / db_bytes, 4),
        "private_copy_memory_mb": round(per_clone / 2**20, 3),
        **{group: {name: headline[f"{group}.{name}"] for name in candidates}
           for group in ("grading_ms", "floor_raw_sqlite_ms", "grading_over_floor")},
        "graded_success_every_repeat": {name: all(v) for name, v in verdicts.items()},
        "graded_same_every_repeat": all(len(set(v)) == 1 for v in verdicts.values()),
        "rounds": block,
        "interleaving": interleaving(done),
    }


def run(sizes: tuple[int, ...] = SIZES, resets: int = 200, rounds: int = ROUNDS, out: Path = OUT) -> Path:
    """Measure every size and write ``out``; ``resets`` per size are spread over the ``rounds``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="dataops-scale-") as folder:
        for orders in tqdm(sizes, desc="sizes", unit="size"):
            rows.append(measure_size(orders, Path(folder), resets, rounds))
    largest = rows[-1]
    payload = {
        "provenance": provenance(model=None, split=None, seeds=[],
                                 config={"sizes": list(sizes), "resets": resets, "rounds": rounds,
                                         "queries": REPEATS, "episodes": EPISODES}),
        "summary": {
            "largest_orders": largest["orders"],
            "largest_database_mb": largest["database_mb"],
            "largest_reset_p50_ms": largest["reset_p50_ms"],
            "largest_copy_ms": largest["copy_database_median_ms"],
            "reset_over_copy": largest["reset_over_copy"],
            "episode_memory_mb": largest["episode_memory_mb"],
            "episode_memory_over_database": largest["episode_memory_over_database"],
            "largest_gold_grading_over_floor": largest["grading_over_floor"]["gold"],
            "repeated_query_over_floor": largest["repeated_query_over_floor"],
            "repeated_query_guards_per_statement_over_kept": largest["repeated_query_guards_per_statement_over_kept"],
            "correct_graded_success_every_run": all(
                r["graded_success_every_repeat"]["gold"] and r["graded_success_every_repeat"]["rewrite"]
                and not r["graded_success_every_repeat"]["broken"] for r in rows),
        },
        "sizes": rows,
        "targets": upper_targets(largest, TARGETS),
        "notes": "Per size, the timed sides run in interleaved rounds (sizes.<i>.interleaving.order): each round "
        "times a share of the resets, the read-only opens, a few copies, a share of the repeated queries through "
        "the sandbox, raw and with guards per statement, and grades the three queries once beside the floor. Each "
        "timed figure is the median over rounds and each ratio the median of the per-round ratios; "
        "sizes.<i>.rounds holds every round (grading figures as grading_ms.<query>...). Memory figures are "
        "measured once per size (they are not timings). "
        "Floors are raw sqlite3 doing the same operation in the same run: opening a read-only "
        "connection to the same shared in-memory database (reset), the same connections with their default "
        "page cache after the same scan (memory), the same three queries on plain copies of the task database "
        "and its 3 variants (grading). copy_database_median_ms is what a reset cost when every episode copied "
        "its database. Memory is resident-set growth divided by the number of open episodes.",
    }
    return write_results(out, payload)


def main(sizes: tuple[int, ...] = SIZES, rounds: int = ROUNDS) -> None:
    print_results(run(sizes=sizes, rounds=rounds), REPO_ROOT)
