"""``python -m env_server bench``: measure the core and write ``results/bench/core.json``.

Figures, all measured in the same run on the same machine:

* **reset latency** (p50/p99) of ``DataOpsEnv.reset`` on warm templates, and the one-off cold
  build time of a database with its variants;
* **grading throughput**: ``Grader.grade_query`` on a fixed set of candidate queries, gold results already
  cached, as in GRPO where many completions share a task. Four kinds per sampled task: the gold query; a
  **rewrite** (the gold wrapped as ``SELECT * FROM (gold)``, for golds without ORDER BY); the broken query when
  it runs and is **wrong**; and an **erroring** one (the gold with its first ``SELECT`` misspelt). Reported
  overall and per kind, with the number of candidates stopped by the step budget;
* **the floor**: raw ``sqlite3`` doing the executions the grade needs, on plain copies of the same databases
  and variants (``execute`` + ``fetchall``; no authorizer, no budget, no canonical comparison): the task
  database and then each variant in turn, stopping at the first statement that fails and after the first
  database whose rows differ from the gold's there (plain list equality), as grading stops. Grading cost is
  reported as a ratio to this floor.

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
TARGETS = {"reset_p50_ms": 0.2, "grading_over_floor": 1.5, "grading_over_floor_gold_only": 1.1,
           "grading_over_floor_rewrite_only": 1.1, "grading_over_floor_wrong_only": 1.3,
           "grading_over_floor_erroring_only": 1.5}
"""Upper bounds from the issues, for this 2-core machine."""
KINDS = ("gold", "rewrite", "wrong", "erroring")


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
    candidates, kinds = _candidates(sample, grader)

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

    gold_rows = {(task.db.key, v): {} for task in sample for v in range(k + 1)}
    for task in sample:
        for v in range(k + 1):
            gold_rows[(task.db.key, v)][task.gold_sql] = plain[(task.db.key, v)].execute(task.gold_sql).fetchall()

    def floor_one(task, sql) -> float:
        started = time.perf_counter()
        for v in range(k + 1):
            key = (task.db.key, v)
            try:
                rows = plain[key].execute(sql).fetchall()
            except sqlite3.Error:
                break
            if rows != gold_rows[key][task.gold_sql]:
                break
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
    by_kind = {kind: [i for i in range(n) if kinds[i] == kind] for kind in KINDS}
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
            **{f"grading_over_floor_{kind}_only": ratio(idx) for kind, idx in by_kind.items() if idx},
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
        "candidates_by_kind": {kind: len(idx) for kind, idx in by_kind.items()},
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
        "targets": upper_targets(figures, {name: bound for name, bound in TARGETS.items() if name in figures}),
        "notes": "Each round takes every candidate in turn and times a reset of its task, grading it, and the floor "
        "running it, `repeats` times in a row (reset, grading, floor, grading, floor, then the next candidate), "
        "after a warm-up pass of both; a candidate's time in a round is its best of those repeats. "
        "Headline figures are medians over rounds; each ratio is the median of the per-round ratios (grading time "
        "over floor time summed over the round's candidates of that kind). The floor runs a candidate on the task "
        "database and then each variant, as grading does, and stops where grading stops: at the first error, or "
        "after the first database whose rows differ from the gold's there (plain list equality: a right answer "
        "in another row order stops the floor where grading runs on, so a ratio can only be overstated). Candidate kinds: gold; rewrite (SELECT * "
        "FROM (gold), for golds without ORDER BY); wrong (the task's broken query where it runs and is not "
        "graded a success); erroring (the gold with its first SELECT misspelt). An erroring candidate's floor is "
        "one failed prepare (about 2 us), so its ratio measures the grader's fixed cost per call.",
    }
    return write_results(out, payload)


def _candidates(sample: list, grader) -> tuple[list[tuple], list[str]]:
    """(task, sql) pairs of each kind (:data:`KINDS`) for the sampled tasks, and the kind of each."""
    candidates, kinds = [], []
    for task in sample:
        found = [("gold", task.gold_sql), ("erroring", task.gold_sql.replace("SELECT", "SELEC", 1))]
        if "ORDER BY" not in task.gold_sql.upper():
            found.append(("rewrite", f"SELECT * FROM ({task.gold_sql.strip().rstrip(';')})"))
        if task.broken_sql:
            grade = grader.grade_query(task, task.broken_sql)
            if grade.error_kind is None and not grade.success:
                found.append(("wrong", task.broken_sql))
        for kind, sql in found:
            candidates.append((task, sql))
            kinds.append(kind)
    return candidates, kinds


def main(n_tasks: int = 200, resets: int = 2000, rounds: int = ROUNDS) -> None:
    print_results(run(n_tasks=n_tasks, resets=resets, rounds=rounds), REPO_ROOT)
