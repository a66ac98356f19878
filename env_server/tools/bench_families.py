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
from env_server.grading.grader import Grader
from env_server.tasks.registry import load_tasks
from env_server.tasks.spec import Task
from env_server.tools.measure import percentile, print_results

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


def _timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run(per_family: int = 40, resets: int = 400, repeats: int = 3, seed: int = 0, out: Path = OUT) -> Path:
    everything = load_tasks()
    rng = random.Random(seed)
    grader = Grader()
    k = grader.config.variants
    figures: dict[str, dict] = {}
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

        for task in sample:  # warm caches (gold results, repair targets) and both paths
            grade(task)(), floor(task)()
        grading_s = [_timed(grade(t), repeats) for t in tqdm(sample, desc=f"{family}: grading", unit="task")]
        floor_s = [_timed(floor(t), repeats) for t in sample]
        successes = sum(grade(t)().success for t in sample)

        env = DataOpsEnv(sample, grader=grader)
        reset_ms = []
        for i in range(resets):
            started = time.perf_counter()
            env.reset(task_id=sample[i % len(sample)].task_id)
            reset_ms.append((time.perf_counter() - started) * 1000)
        row = {
            "tasks": len(sample),
            "correct_submissions_graded_successful": successes,
            "reset_p50_ms": round(percentile(reset_ms, 0.5), 4),
            "reset_p99_ms": round(percentile(reset_ms, 0.99), 4),
            "grading_ms_median": round(statistics.median(grading_s) * 1000, 4),
            "floor_raw_sqlite_ms_median": round(statistics.median(floor_s) * 1000, 4),
            "grading_over_floor": round(sum(grading_s) / sum(floor_s), 3),
        }
        if spec.cites:
            search_s, fts_s = [], []
            plain_fts = sqlite3.connect(":memory:")
            plain_fts.execute("CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, domain UNINDEXED, title, body, "
                              "tokenize = 'porter unicode61')")
            plain_fts.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)",
                                  [(d.doc_id, d.domain, d.title, d.body) for d in grader.docs.docs.values()])
            for task in sample:
                env.reset(task_id=task.task_id)
                search_s.append(_timed(lambda: env.step({"action_type": "search_docs", "query": task.question}), 1))
                terms = search_terms(task.question)
                fts_s.append(_timed(lambda: plain_fts.execute(
                    "SELECT doc_id FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT 5", [terms]).fetchall(), repeats))
            row |= {
                "search_docs_step_ms_median": round(statistics.median(search_s) * 1000, 4),
                "floor_raw_fts5_ms_median": round(statistics.median(fts_s) * 1000, 4),
                "search_step_over_floor": round(sum(search_s) / sum(fts_s), 3),
            }
        env.close()
        for conn in plain.values():
            conn.close()
        figures[family] = row
    payload = {
        "provenance": provenance(model=None, split="heldout_iid", seeds=[seed],
                                 config={"per_family": per_family, "resets": resets, "repeats": repeats, "variants": k}),
        "summary": figures,
        "notes": "Per task, the best of `repeats` runs for grading and for the floor, caches warm. Repair grading "
        "replays the statements on K variants under the sandbox and diffs every table against the cached target; "
        "its floor only copies, writes and reads back. Answer grading reads a cached gold result, so its floor (one "
        "raw gold query) can cost more than grading itself: a ratio below 1 means grading is cheaper than running "
        "the query once. search_docs is timed as a whole environment step (observation included).",
    }
    return write_results(out, payload)


def main(per_family: int = 40) -> None:
    print_results(run(per_family=per_family), REPO_ROOT)
