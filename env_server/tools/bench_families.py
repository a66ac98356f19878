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
from env_server.tools.measure import ROUNDS, interleave, interleaving, medians, percentile, print_results, rounds_block

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


def run(per_family: int = 40, resets: int = 400, rounds: int = ROUNDS, seed: int = 0, out: Path = OUT) -> Path:
    """Measure and write ``out``. Per family, each of ``rounds`` rounds runs: a share of the ``resets``,
    grading every sampled task's correct submission once, the floor once per task, and (grounded)
    search_docs and its FTS5 floor once per task."""
    everything = load_tasks()
    rng = random.Random(seed)
    grader = make_grader()
    k = grader.config.variants
    per_round = max(1, resets // rounds)
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
        reset_at = iter(range(per_round * rounds))

        def reset_side() -> list[float]:
            values = []
            for _ in range(per_round):
                task_id = sample[next(reset_at) % len(sample)].task_id
                started = time.perf_counter()
                env.reset(task_id=task_id)
                values.append((time.perf_counter() - started) * 1000)
            return values

        def grading_side() -> list[tuple[float, bool]]:
            out = []
            for g in graders:
                started = time.perf_counter()
                success = g().success
                out.append((time.perf_counter() - started, success))
            return out

        sides = {"reset": reset_side, "grading": grading_side, "floor": lambda: [_timed(f) for f in floors]}
        if spec.cites:
            plain_fts = sqlite3.connect(":memory:")
            plain_fts.execute("CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, domain UNINDEXED, title, body, "
                              "tokenize = 'porter unicode61')")
            plain_fts.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)",
                                  [(d.doc_id, d.domain, d.title, d.body) for d in grader.docs.docs.values()])
            terms = [search_terms(task.question) for task in sample]

            def search_side() -> list[float]:
                values = []
                for task in sample:
                    env.reset(task_id=task.task_id)  # not timed: a search is a step of a fresh episode
                    values.append(_timed(lambda: env.step({"action_type": "search_docs", "query": task.question})))
                return values

            def fts_side() -> list[float]:
                return [_timed(lambda: plain_fts.execute(
                    "SELECT doc_id FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT 5", [t]).fetchall()) for t in terms]

            search_side(), fts_side()  # warm both
            sides |= {"search": search_side, "fts5": fts_side}
        with tqdm(total=rounds, desc=f"{family}: rounds", unit="round") as bar:
            done = interleave(sides, rounds, progress=lambda _: bar.update())
        env.close()
        for conn in plain.values():
            conn.close()

        per_round_figures = []
        for i in range(done.rounds):
            got = done.round(i)
            grading_s = [elapsed for elapsed, _ in got["grading"]]
            row = {
                "reset_p50_ms": percentile(got["reset"], 0.5),
                "reset_p99_ms": percentile(got["reset"], 0.99),
                "grading_ms_median": statistics.median(grading_s) * 1000,
                "floor_raw_sqlite_ms_median": statistics.median(got["floor"]) * 1000,
                "grading_over_floor": sum(grading_s) / sum(got["floor"]),
            }
            if spec.cites:
                row |= {
                    "search_docs_step_ms_median": statistics.median(got["search"]) * 1000,
                    "floor_raw_fts5_ms_median": statistics.median(got["fts5"]) * 1000,
                    "search_step_over_floor": sum(got["search"]) / sum(got["fts5"]),
                }
            per_round_figures.append(row)
        if spec.cites:
            plain_fts.close()
        block = rounds_block(per_round_figures)
        successes = sum(all(rnd[j][1] for rnd in done.results["grading"]) for j in range(len(sample)))
        figures[family] = {"tasks": len(sample), "correct_submissions_graded_successful": successes,
                           **medians(block), "rounds": block}
        orders[family] = interleaving(done)
    payload = {
        "provenance": provenance(model=None, split="heldout_iid", seeds=[seed],
                                 config={"per_family": per_family, "resets": per_round * rounds,
                                         "resets_per_round": per_round, "rounds": rounds, "variants": k}),
        "summary": figures,
        "interleaving": orders,
        "notes": "Per family, each round runs a share of the resets, then grades every sampled task's correct "
        "submission once, then runs the floor once per task (and, for grounded, search_docs then its FTS5 floor "
        "once per task), caches warm; interleaving.<family>.order is the order the sides ran in. Headline "
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
