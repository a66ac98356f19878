"""``python -m env_server bench --families``: what grading and playing cost per family; writes
``results/bench/families.json``.

For a sample of held-out tasks of each family, in one run on one machine:

* **reset latency** (p50/p99) of ``DataOpsEnv.reset`` on warm templates;
* **grading** of the correct submission, gold results and repair targets already cached (as in
  GRPO, where many completions share a task), against a **floor** measured in the same run with
  raw ``sqlite3`` on plain copies of the same databases and variants:

  - repair: ``Grader.grade_repair`` (replay the statements on the K variants, snapshot and diff
    every table) vs. raw sqlite3 copying each database, running the same statements and reading
    every table back (``backup`` + ``execute`` + ``SELECT *``), with no authorizer and no diff;
  - analyst and grounded: ``Grader.grade_answer`` (typed parsing, anti-spraying, citations) vs.
    raw sqlite3 running the gold query once on the task database;
  - debug: ``Grader.grade_query`` vs. raw sqlite3 running the query on every database (as
    ``python -m env_server bench`` does in depth);

* **search_docs** latency through the environment vs. the same FTS5 query on a plain connection.

The sides run in interleaved rounds (see :mod:`env_server.tools.measure`): each figure is the median
over rounds, each ratio the median of the per-round ratios, every round kept in the JSON.

It is a script, not a timed test: figures depend on the machine and are reported, not asserted.

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

from env_server.core.docs import search_terms
from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.episode.environment import DataOpsEnv
from env_server.families import default_families, family_of
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks.registry import load_tasks
from env_server.tasks.spec import Task
from env_server.tools.measure import (ROUNDS, best_per_item, interleave, interleaving, medians, percentile,
                                      print_results, repeated, rounds_block)

OUT = REPO_ROOT / "results" / "bench" / "families.json"


def _plain(grader: Grader, task: Task, variant: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    template = grader.databases.template(task.db, variant)
    with template.lock:
        template.conn.backup(conn)
    return conn


def _answer(grader: Grader, task: Task) -> object:
    rows = grader.reference(task).rows
    return [r[0] for r in rows] if task.answer_type == "set" else rows[0][0]


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(per_family: int = 40, resets: int = 400, rounds: int = ROUNDS, repeats: int = 3, seed: int = 0,
        out: Path = OUT) -> Path:
    """Measure and write ``out``. Per family, each of ``rounds`` rounds takes every sampled task in turn: its
    share of the ``resets``, grading its correct submission, the floor, and (grounded) search_docs and its
    FTS5 floor, ``repeats`` times in a row; a task's time in a round is its best of those."""
    everything = load_tasks()
    rng = random.Random(seed)
    grader = make_grader()
    k = grader.config.variants
    figures: dict[str, dict] = {}
    orders: dict[str, dict] = {}
    for family in default_families().names:
        spec = family_of(family)
        pool = [t for t in everything if t.family == family and t.split == "heldout_iid"]
        sample = rng.sample(pool, min(per_family, len(pool)))
        plain = {(t.task_id, v): _plain(grader, t, v) for t in tqdm(sample, desc=f"{family}: build", unit="task")
                 for v in range(k + 1)}

        def grade(task: Task):
            if spec.writes:
                return lambda: grader.grade_repair(task, task.gold_repair_sql or [])
            if spec.submits == "query":
                return lambda: grader.grade_query(task, task.gold_sql or "")
            answer = _answer(grader, task)
            return lambda: grader.grade_answer(task, answer, task.doc_ids)

        def floor(task: Task):
            if spec.writes:
                def repair_floor():
                    for v in range(k + 1):
                        conn = sqlite3.connect(":memory:")
                        plain[(task.task_id, v)].backup(conn)
                        for statement in task.gold_repair_sql or []:
                            conn.execute(statement)
                        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                            conn.execute(f'SELECT * FROM "{name}"').fetchall()
                        conn.close()
                return repair_floor
            if spec.submits == "query":
                return lambda: [plain[(task.task_id, v)].execute(task.gold_sql).fetchall() for v in range(k + 1)]
            return lambda: plain[(task.task_id, 0)].execute(task.gold_sql).fetchall()

        graders = [grade(t) for t in sample]
        floors = [floor(t) for t in sample]
        for g, f in zip(graders, floors):  # warm caches (gold results, repair targets) and both paths
            g(), f()
        env = DataOpsEnv(sample, grader=grader)
        env.reset(task_id=sample[0].task_id)
        resets_each = max(1, -(-resets // (rounds * len(sample))))

        def reset_side(item: tuple[int, int]) -> list[float]:
            j, repeat = item
            values = []
            if repeat:  # a task's resets are timed on its first repeat only
                return values
            for _ in range(resets_each):
                started = time.perf_counter()
                env.reset(task_id=sample[j].task_id)
                values.append((time.perf_counter() - started) * 1000)
            return values

        def grading_side(item: tuple[int, int]) -> tuple[float, bool]:
            j, _ = item
            started = time.perf_counter()
            success = graders[j]().success
            return time.perf_counter() - started, success

        sides = {"reset": reset_side, "grading": grading_side, "floor": lambda item: _timed(floors[item[0]])}
        if spec.cites:
            plain_fts = sqlite3.connect(":memory:")
            plain_fts.execute("CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, domain UNINDEXED, title, body, "
                              "tokenize = 'porter unicode61')")
            plain_fts.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)",
                                  [(d.doc_id, d.domain, d.title, d.body) for d in grader.docs.docs.values()])
            terms = [search_terms(task.question) for task in sample]

            def search_side(item: tuple[int, int]) -> float:
                j, _ = item
                env.reset(task_id=sample[j].task_id)  # not timed: a search is a step of a fresh episode
                return _timed(lambda: env.step({"action_type": "search_docs", "query": sample[j].question}))

            def fts_side(item: tuple[int, int]) -> float:
                return _timed(lambda: plain_fts.execute(
                    "SELECT doc_id FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT 5", [terms[item[0]]]).fetchall())

            for j in range(len(sample)):  # warm both
                search_side((j, 0)), fts_side((j, 0))
            sides |= {"search": search_side, "fts5": fts_side}
        with tqdm(total=rounds, desc=f"{family}: rounds", unit="round") as bar:
            # each task `repeats` times in a row (A B A B A B on it), then the next task
            done = interleave(sides, rounds, progress=lambda _: bar.update(),
                              items=repeated(range(len(sample)), repeats), per="task")

        env.close()
        for conn in plain.values():
            conn.close()

        per_round_figures = []
        for i in range(done.rounds):
            got = done.round(i)
            grading_s = best_per_item(got["grading"], repeats, key=lambda v: v[0])
            floor_s = best_per_item(got["floor"], repeats)
            row = {
                "reset_p50_ms": percentile([ms for values in got["reset"] for ms in values], 0.5),
                "reset_p99_ms": percentile([ms for values in got["reset"] for ms in values], 0.99),
                "grading_ms_median": statistics.median(grading_s) * 1000,
                "floor_raw_sqlite_ms_median": statistics.median(floor_s) * 1000,
                "grading_over_floor": sum(grading_s) / sum(floor_s),
            }
            if spec.cites:
                search_s = best_per_item(got["search"], repeats)
                fts_s = best_per_item(got["fts5"], repeats)
                row |= {
                    "search_docs_step_ms_median": statistics.median(search_s) * 1000,
                    "floor_raw_fts5_ms_median": statistics.median(fts_s) * 1000,
                    "search_step_over_floor": sum(search_s) / sum(fts_s),
                }
            per_round_figures.append(row)
        if spec.cites:
            plain_fts.close()
        block = rounds_block(per_round_figures)
        every_round = [all(ok for rnd in done.results["grading"] for _, ok in rnd[j * repeats:(j + 1) * repeats])
                       for j in range(len(sample))]
        figures[family] = {"tasks": len(sample), "correct_submissions_graded_successful": sum(every_round),
                           **medians(block), "rounds": block}
        orders[family] = interleaving(done)
    payload = {
        "provenance": provenance(model=None, split="heldout_iid", seeds=[seed],
                                 config={"per_family": per_family, "resets_min": resets, "rounds": rounds, "repeats": repeats,
                                         "variants": k}),
        "summary": figures,
        "interleaving": orders,
        "notes": "Per family, each round takes every sampled task in turn: resets (at least `resets_min` over "
        "the rounds), grades its correct submission once, runs the floor once (and, for grounded, search_docs "
        "then its FTS5 floor) `repeats` times in a row, caches warm; interleaving.<family>.order is the order "
        "the sides ran in on each task. A task's time in a round is its best of those repeats. Headline "
        "figures are medians over rounds; grading_over_floor and search_step_over_floor are the medians of the "
        "per-round ratios of summed times; summary.<family>.rounds holds every round. "
        "correct_submissions_graded_successful counts tasks graded success in every round. Repair grading "
        "replays the statements on K variants under the sandbox and diffs every table against the cached target; "
        "its floor only copies, writes and reads back. Answer grading reads a cached gold result, so its floor (one "
        "raw gold query) can cost more than grading itself: a ratio below 1 means grading is cheaper than running "
        "the query once. search_docs is timed as a whole environment step (observation included).",
    }
    return write_results(out, payload)


def main(per_family: int = 40, rounds: int = ROUNDS) -> None:
    print_results(run(per_family=per_family, rounds=rounds), REPO_ROOT)
