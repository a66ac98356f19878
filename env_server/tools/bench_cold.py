"""``python -m env_server bench --cold``: the first grade of a large task in a fresh process, beside the raw
``sqlite3`` floor doing the same work; writes ``results/bench/cold.json``.

For each size, a debug task on a database of that many orders (:func:`env_server.tools.bench_scale.build_database`,
the same database and gold query as ``bench --scale``). Each side runs in a child process of its own, timed
after its imports, with the on-disk template store off (``DATAOPS_TEMPLATE_STORE=off``), so nothing built
before is reused:

* **first grade**: a new grader's ``grade_query`` of the gold query: it loads the database, builds the three
  variants (rows dropped, values moved, rows stored in a new order) and runs the gold query on all four;
* **floor**: raw ``sqlite3`` copying the file into memory, making three copies whose every table is rebuilt in
  a random physical order (``CREATE TABLE … AS SELECT … ORDER BY random()``), and running the gold query on
  the four databases.

The sides are interleaved over rounds (:mod:`env_server.tools.measure`); each figure is the child's own CPU
seconds (both sides run on one thread, so a busy machine stretches wall time but not these), and the headline
ratio is the median of the per-round ratios. Wall seconds are kept beside them.

Floor: the raw ``sqlite3.connect`` calls in the floor child are the measured floor, deliberately outside the
sandbox (the one exception to: only :mod:`env_server.core.sandbox` opens connections).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from env_server.core.provenance import provenance, results_dir, write_results
from env_server.tools.bench_scale import build_database
from env_server.tools.measure import ROUNDS, interleave, interleaving, medians, rounds_block

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZES = (100_000, 1_000_000)
TARGET = 5.0
"""The issue's bound on first grade over floor at the largest size."""

_FIRST_GRADE = r"""
import json, resource, sys, time
from env_server.core.dbspec import DbSpec
from env_server.families import make_grader
from env_server.tasks.spec import Task
from env_server.tools.bench_scale import BROKEN, GOLD
path = sys.argv[1]
task = Task(task_id="cold", family="debug", split="bench", db=DbSpec(sqlite_path=path), question="q",
            broken_sql=BROKEN, gold_sql=GOLD)
grader = make_grader()
cpu, wall = time.process_time(), time.perf_counter()
grade = grader.grade_query(task, GOLD)
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall, "success": grade.success}))
"""

_FLOOR = r"""
import json, sqlite3, sys, time
from env_server.tools.bench_scale import GOLD
path = sys.argv[1]
cpu, wall = time.process_time(), time.perf_counter()
main = sqlite3.connect(":memory:")
source = sqlite3.connect(path)
source.backup(main)
source.close()
databases = [main]
for _ in range(3):
    copy = sqlite3.connect(":memory:")
    main.backup(copy)
    for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        copy.execute(f'CREATE TABLE "shuffled" AS SELECT * FROM "{name}" ORDER BY random()')
        copy.execute(f'DROP TABLE "{name}"')
        copy.execute(f'ALTER TABLE "shuffled" RENAME TO "{name}"')
    databases.append(copy)
for conn in databases:
    conn.execute(GOLD).fetchall()
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall, "success": True}))
"""


def _child(code: str, path: Path) -> dict:
    env = {**os.environ, "DATAOPS_TEMPLATE_STORE": "off", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_size(orders: int, folder: Path, rounds: int) -> dict:
    path = folder / f"orders_{orders}.sqlite"
    build_database(path, orders)
    done = interleave({"first_grade": lambda: _child(_FIRST_GRADE, path), "floor": lambda: _child(_FLOOR, path)},
                      rounds=rounds, progress=lambda i: print(f"{orders:,} orders: round {i + 1}/{rounds}", flush=True))
    per_round = []
    for i in range(done.rounds):
        got = done.round(i)
        per_round.append({
            "first_grade_cpu_s": got["first_grade"]["cpu_s"], "floor_cpu_s": got["floor"]["cpu_s"],
            "first_grade_over_floor": got["first_grade"]["cpu_s"] / max(got["floor"]["cpu_s"], 1e-9),
            "first_grade_wall_s": got["first_grade"]["wall_s"], "floor_wall_s": got["floor"]["wall_s"],
        })
    block = rounds_block(per_round)
    return {"orders": orders, "database_mb": round(path.stat().st_size / 1e6, 2), **medians(block),
            "gold_graded_success_every_round": all(r["success"] for r in done.results["first_grade"]),
            "rounds": block, "interleaving": interleaving(done)}


def main(sizes: tuple[int, ...] = SIZES, rounds: int = ROUNDS, out: Path | None = None) -> dict:
    out = out or results_dir() / "bench" / "cold.json"
    with tempfile.TemporaryDirectory() as tmp:
        measured = [measure_size(n, Path(tmp), rounds) for n in sizes]
    largest = measured[-1]
    payload = {
        "provenance": provenance(config={"sizes": list(sizes), "rounds": rounds, "template_store": "off",
                                         "timing": "each child's own CPU seconds after its imports"}),
        "summary": {"largest_orders": largest["orders"],
                    "largest_first_grade_over_floor": largest["first_grade_over_floor"],
                    "gold_graded_success_every_round": all(m["gold_graded_success_every_round"] for m in measured)},
        "targets": {"largest_first_grade_over_floor": {"bound": TARGET,
                                                       "met": largest["first_grade_over_floor"] <= TARGET}},
        "sizes": measured,
    }
    write_results(out, payload)
    return payload
