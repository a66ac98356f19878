"""``python -m env_server bench``: measure the core and write ``results/bench/core.json``.

Figures, all measured in the same run on the same machine:

* **reset latency** (p50/p99) of ``DataOpsEnv.reset`` on warm templates, and the one-off cold
  build time of a database with its variants;
* **grading throughput**: ``Grader.grade_query`` on a fixed set of candidate queries (the gold and
  the broken query of each sampled task), gold results already cached, as in GRPO where many
  completions share a task; reported overall, for gold and broken candidates separately, with the
  number of candidates stopped by the time budget;
* **the floor**: raw ``sqlite3`` executing the very same candidate queries on plain copies of the
  same databases and variants (``execute`` + ``fetchall``, no authorizer, no budgets, no
  comparison). Grading cost is reported as a ratio to this floor.

The sides run in interleaved rounds (each round: reset, grading, floor on the first candidate, then on the
next...; see :mod:`env_server.tools.measure`): each figure is the median over rounds, each ratio the median of the
per-round ratios, and every round is kept under ``rounds`` in the JSON.

It is a script, not a timed test: numbers depend on the machine and are reported, not asserted.

Floor: the raw ``sqlite3.connect`` calls here are the measured floor, deliberately outside the sandbox
(the one exception to: only :mod:`env_server.core.sandbox` opens connections).
"""
from __future__ import annotations

import random
import sqlite3
import statistics
import time
from pathlib import Path

from tqdm import tqdm

from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.tasks.registry import load_tasks
from env_server.tools.measure import (ROUNDS, best_per_item, interleave, interleaving, medians, percentile,
                                      print_results, repeated, rounds_block, upper_targets)

OUT = REPO_ROOT / "results" / "bench" / "core.json"
TARGETS = {"reset_p50_ms": 0.2, "grading_over_floor": 1.5}
"""Upper bounds from the issue, for this 2-core machine."""


def run(n_tasks: int = 200, resets: int = 2000, rounds: int = ROUNDS, repeats: int = 2, seed: int = 0,
        out: Path = OUT) -> Path:
    """Measure and write ``out``. Each of the ``rounds`` takes every candidate in turn: a reset of its task (or
    more, to time at least ``resets`` in all), then grading it and the floor running it, ``repeats`` times in a
    row; a candidate's time in a round is its best of those."""
    tasks = load_tasks(split="train", family="debug")
    rng = random.Random(seed)
    sample = rng.sample(tasks, min(n_tasks, len(tasks)))
    grader = make_grader()
    k = grader.config.variants

    # cold: build each database and its variants once, and the gold results
    cold = []
    for task in tqdm(sample, desc="warm-up (build databases, gold results)", unit="task"):
        started = time.perf_counter()
        for v in range(k + 1):
            grader.reference(task, v)
        cold.append((time.perf_counter() - started) * 1000)
    builds = grader.databases.cache.builds

    env = DataOpsEnv(sample, grader=grader)
    env.reset(task_id=sample[0].task_id)
    # candidates: gold and broken of each task
    candidates = [(t, sql) for t in sample for sql in (t.gold_sql, t.broken_sql)]

    # floor: raw sqlite3 on plain copies of the same databases
    plain: dict[tuple, sqlite3.Connection] = {}
    for task in sample:
        for v in range(k + 1):
            key = (task.db.key, v)
            if key not in plain:
                conn = sqlite3.connect(":memory:")
                template = grader.databases.template(task.db, v)
                with template.lock:
                    template.conn.backup(conn)
                plain[key] = conn

    def floor_one(task, sql) -> float:
        started = time.perf_counter()
        for v in range(k + 1):
            try:
                plain[(task.db.key, v)].execute(sql).fetchall()
            except sqlite3.Error:
                pass
        return time.perf_counter() - started

    def grade_one(task, sql) -> tuple[float, str | None]:
        started = time.perf_counter()
        grade = grader.grade_query(task, sql)
        return time.perf_counter() - started, grade.error_kind

    for task, sql in candidates:  # warm both paths before timing
        floor_one(task, sql), grade_one(task, sql)

    # resets: spread over the candidates of every round (at least one before each candidate)
    resets_each = max(1, -(-resets // (rounds * len(candidates))))

    def reset_side(item) -> list[float]:
        candidate, repeat = item
        values = []
        for _ in range(0 if repeat else resets_each):  # timed on a candidate's first repeat only
            started = time.perf_counter()
            env.reset(task_id=candidate[0].task_id)
            values.append((time.perf_counter() - started) * 1000)
        return values

    with tqdm(total=rounds, desc="rounds: reset, grading, raw sqlite3 on each candidate", unit="round") as bar:
        done = interleave({
            "reset": reset_side,
            "grading": lambda item: grade_one(*item[0]),
            "floor": lambda item: floor_one(*item[0]),
        }, rounds, progress=lambda _: bar.update(), items=repeated(candidates, repeats), per="candidate")
    env.close()
    for conn in plain.values():
        conn.close()

    n = len(candidates)
    gold_idx = [i for i in range(n) if i % 2 == 0]
    broken_idx = [i for i in range(n) if i % 2 == 1]
    figures_per_round = []
    for i in range(done.rounds):
        got = done.round(i)
        reset_ms = [ms for values in got["reset"] for ms in values]
        grading_s = best_per_item(got["grading"], repeats, key=lambda v: v[0])
        floor_s = best_per_item(got["floor"], repeats)

        def ratio(idx: list[int]) -> float:
            return sum(grading_s[j] for j in idx) / sum(floor_s[j] for j in idx)

        figures_per_round.append({
            "reset_p50_ms": percentile(reset_ms, 0.5),
            "reset_p99_ms": percentile(reset_ms, 0.99),
            "grading_per_s": n / sum(grading_s),
            "grading_ms_per_candidate_median": statistics.median(grading_s) * 1000,
            "floor_raw_sqlite_per_s": n / sum(floor_s),
            "floor_ms_per_candidate_median": statistics.median(floor_s) * 1000,
            "grading_over_floor": ratio(list(range(n))),
            "grading_over_floor_gold_only": ratio(gold_idx),
            "grading_over_floor_broken_only": ratio(broken_idx),
            "candidates_stopped_by_budget": sum(kind == "timeout" for _, kind in got["grading"][::repeats]),
        })
    block = rounds_block(figures_per_round)
    headline = medians(block)
    figures = {
        "reset_p50_ms": headline["reset_p50_ms"],
        "reset_p99_ms": headline["reset_p99_ms"],
        "cold_build_per_task_median_ms": round(statistics.median(cold), 2),
        "databases_built": builds,
        "candidates": n,
        "databases_per_candidate": k + 1,
        **{name: value for name, value in headline.items() if not name.startswith("reset_")},
    }
    payload = {
        "provenance": provenance(
            model=None,
            split="train",
            seeds=[seed],
            config={"n_tasks": len(sample), "resets": resets_each * n * rounds, "resets_per_candidate": resets_each,
                    "rounds": rounds, "repeats": repeats, "variants": k},
        ),
        "summary": figures,
        "rounds": block,
        "interleaving": interleaving(done),
        "targets": upper_targets(figures, TARGETS),
        "notes": "Each round takes every candidate in turn and times a reset of its task, grading it, and the floor "
        "running it, `repeats` times in a row (reset, grading, floor, grading, floor, then the next candidate), "
        "after a warm-up pass of both; a candidate's time in a round is its best of those repeats. "
        "Headline figures are medians over rounds; each ratio is the median of the per-round ratios (grading time "
        "over floor time summed over the round's candidates). The floor executes "
        "every candidate on the task database and all its variants with no budget. Grading does less when it "
        "can: it skips the variants once the task database rules success out, and stops a statement at its "
        "VM-step budget, so the overall and broken-only ratios can fall below 1. Gold candidates always run on "
        "every database and never hit the budget: grading_over_floor_gold_only is the like-for-like cost of the "
        "sandbox and the comparison.",
    }
    return write_results(out, payload)


def main(n_tasks: int = 200, resets: int = 2000, rounds: int = ROUNDS) -> None:
    print_results(run(n_tasks=n_tasks, resets=resets, rounds=rounds), REPO_ROOT)
