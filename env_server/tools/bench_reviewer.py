"""Bench the SQL reviewer on the labelled corpus; writes ``results/bench/reviewer.json``.

Two reviewers see every case of ``tests/data/reviewer_cases.jsonl`` (SQL, family, database, and a
label ``allow`` or ``block`` saying what *should* happen), each with the real schema of the case's
database:

* **ours**: :class:`env_server.episode.reviewer.StaticReviewer` with its default config; a ``warn``
  verdict counts as not blocked;
* **naive**: the keyword baseline of the seed design, re-implemented below: block anything whose
  stripped, upper-cased text does not start with ``SELECT``, and block a query unless some table
  name appears somewhere in its text.

For each: precision, recall and accuracy with *block* as the positive class, the confusion
counts, the median and p99 latency of one review in milliseconds (every case reviewed
``repeats`` times per round after a warm-up pass, each call timed on its own; ours and the naive
baseline interleaved case by case over rounds, see :mod:`env_server.tools.measure`), and the cases it
got wrong.
Targets apply to ours: recall 1.0, precision >= 0.95, median latency <= 1 ms.

The corpus was written together with the reviewer, so its figures are in-sample. As an
out-of-sample check the bench also reviews the built-in tasks (``data/tasks``, when built): every
gold query should be allowed (a block there is a false block), and every broken query is run in the
sandbox, to count how many of those SQLite rejects are also blocked by the reviewer beforehand.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from env_server.core.databases import Databases
from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.core.sandbox import execute
from env_server.core.schema import SchemaInfo
from env_server.episode.reviewer import StaticReviewer
from env_server.families import family_of, make_grader
from env_server.tasks.spec import DbSpec
from env_server.tools.measure import ROUNDS, interleave, interleaving, medians, percentile, rounds_block

OUT = REPO_ROOT / "results" / "bench" / "reviewer.json"
CORPUS = REPO_ROOT / "tests" / "data" / "reviewer_cases.jsonl"
TARGETS = {"recall": 1.0, "precision": 0.95, "median_latency_ms": 1.0}


def naive_verdict(sql: str, table_names: list[str]) -> str:
    """The seed design's keyword check: SELECT-prefixed text that mentions a table name."""
    text = sql.strip().upper()
    if not text.startswith("SELECT"):
        return "block"
    return "allow" if any(name.upper() in text for name in table_names) else "block"


def load_corpus(path: Path = CORPUS) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]




def _score(labels: list[str], predicted: list[str]) -> dict:
    tp = sum(l == "block" and p == "block" for l, p in zip(labels, predicted))
    fp = sum(l == "allow" and p == "block" for l, p in zip(labels, predicted))
    fn = sum(l == "block" and p != "block" for l, p in zip(labels, predicted))
    tn = sum(l == "allow" and p != "block" for l, p in zip(labels, predicted))
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "accuracy": round((tp + tn) / len(labels), 4) if labels else 1.0,
        "confusion": {"true_block": tp, "false_block": fp, "missed_block": fn, "true_allow": tn},
    }


def task_check(reviewer: StaticReviewer, databases: Databases, max_tasks: int | None = None) -> dict | None:
    """Gold and broken queries of the built-in tasks: false blocks on gold, agreement with the sandbox on broken."""
    from env_server.tasks.registry import load_tasks

    try:
        tasks = load_tasks()
    except FileNotFoundError:
        return None
    if max_tasks is not None:
        tasks = tasks[:: max(1, len(tasks) // max_tasks)][:max_tasks]
    gold = {"reviewed": 0, "allow": 0, "warn": 0, "block": 0}
    broken = {"reviewed": 0, "sandbox_rejects": 0, "sandbox_rejects_blocked": 0, "sandbox_runs": 0,
              "sandbox_runs_blocked": 0, "sandbox_runs_warned": 0}
    false_blocks: list[dict] = []
    codes: dict[str, int] = {}
    conns: dict[str, object] = {}
    for task in tasks:
        if not task.gold_sql and not task.broken_sql:
            continue
        schema = databases.schema(task.db)
        if task.gold_sql:
            review = reviewer.review(task.gold_sql, task.family, schema)
            gold["reviewed"] += 1
            gold[review.verdict] += 1
            if review.verdict == "block":
                false_blocks.append({"task_id": task.task_id, "sql": task.gold_sql, "codes": [f.code for f in review.findings]})
        if task.broken_sql:
            review = reviewer.review(task.broken_sql, task.family, schema)
            for f in review.findings:
                codes[f.code] = codes.get(f.code, 0) + 1
            if task.db.key not in conns:
                conns[task.db.key] = databases.clone(task.db)
            result = execute(conns[task.db.key], task.broken_sql, mode="write" if family_of(task.family).writes else "read",
                             config=databases.config)
            broken["reviewed"] += 1
            if result.ok:
                broken["sandbox_runs"] += 1
                broken["sandbox_runs_blocked"] += review.verdict == "block"
                broken["sandbox_runs_warned"] += review.verdict == "warn"
            else:
                broken["sandbox_rejects"] += 1
                broken["sandbox_rejects_blocked"] += review.verdict == "block"
    for conn in conns.values():
        conn.close()
    return {
        "tasks": len(tasks),
        "gold": {**gold, "false_block_rate": round(gold["block"] / gold["reviewed"], 4) if gold["reviewed"] else 0.0,
                 "false_blocks": false_blocks},
        "broken": {**broken, "finding_counts": dict(sorted(codes.items(), key=lambda kv: -kv[1]))},
    }


def run(out: Path = OUT, repeats: int = 6, corpus: Path = CORPUS, max_tasks: int | None = None,
        rounds: int = ROUNDS) -> Path:
    """Review the corpus and write ``out``: each of ``rounds`` rounds takes every case in turn and times
    ``repeats`` reviews of it by ours, then by the naive baseline."""
    cases = load_corpus(corpus)
    databases = make_grader().databases  # the grader's: it reads the external tasks' SQL dumps too
    schemas: dict[str, SchemaInfo] = {}
    for case in cases:
        spec = DbSpec(**case["db"])
        if spec.key not in schemas:
            schemas[spec.key] = databases.schema(spec)
    inputs = [(c["sql"], c["family"], schemas[DbSpec(**c["db"]).key]) for c in cases]
    reviewer = StaticReviewer()

    reviews = [reviewer.review(sql, family, schema) for sql, family, schema in inputs]  # also the warm-up
    ours = ["block" if r.verdict == "block" else "allow" for r in reviews]
    naive = [naive_verdict(sql, schema.table_names) for sql, _family, schema in inputs]

    clock = time.perf_counter

    def ours_side(j: int) -> list[float]:
        """``repeats`` reviews of case ``j``, each timed on its own (ms)."""
        sql, family, schema = inputs[j]
        values = []
        for _ in range(repeats):
            started = clock()
            reviewer.review(sql, family, schema)
            values.append((clock() - started) * 1000)
        return values

    def naive_side(j: int) -> list[float]:
        sql, _family, schema = inputs[j]
        names = schema.table_names
        values = []
        for _ in range(repeats):
            started = clock()
            naive_verdict(sql, names)
            values.append((clock() - started) * 1000)
        return values

    for j in range(len(inputs)):  # ours was warmed by the verdict pass above
        naive_side(j)
    done = interleave({"ours": ours_side, "naive": naive_side}, rounds, items=range(len(inputs)), per="case")
    flat = {side: [[ms for per_case in done.results[side][i] for ms in per_case] for i in range(done.rounds)]
            for side in ("ours", "naive")}  # side -> round -> every timed review of that round
    ours_ms = [ms for values in flat["ours"] for ms in values]
    naive_ms = [ms for values in flat["naive"] for ms in values]
    block = rounds_block([
        {"ours.median_latency_ms": statistics.median(got["ours"]), "ours.p99_latency_ms": percentile(got["ours"], 0.99),
         "naive.median_latency_ms": statistics.median(got["naive"]),
         "naive.p99_latency_ms": percentile(got["naive"], 0.99),
         "ours_over_naive_median_latency": statistics.median(got["ours"]) / statistics.median(got["naive"])}
        for got in ({side: flat[side][i] for side in flat} for i in range(done.rounds))
    ])
    headline = medians(block)

    labels = [c["label"] for c in cases]
    per_case = []
    for i, (case, review) in enumerate(zip(cases, reviews)):
        per_case.append(
            {
                "index": i,
                "sql": case["sql"],
                "family": case["family"],
                "db": case["db"],
                "label": case["label"],
                "reason": case.get("reason", ""),
                "ours": {
                    "verdict": review.verdict,
                    "correct": ours[i] == case["label"],
                    "codes": [f.code for f in review.findings],
                    "latency_ms_median": round(statistics.median(
                        [ms for per_round in done.results["ours"] for ms in per_round[i]]), 4),
                },
                "naive": {"verdict": naive[i], "correct": naive[i] == case["label"]},
            }
        )

    def wrong(key: str) -> list[dict]:
        return [
            {"index": row["index"], "label": row["label"], "verdict": row[key]["verdict"], "sql": row["sql"]}
            for row in per_case
            if not row[key]["correct"]
        ]

    summary = {}
    for key, predicted in (("ours", ours), ("naive", naive)):
        summary[key] = {
            **_score(labels, predicted),
            "median_latency_ms": headline[f"{key}.median_latency_ms"],
            "p99_latency_ms": headline[f"{key}.p99_latency_ms"],
            "wrong": wrong(key),
        }
    summary["cases"] = len(cases)
    summary["block_labels"] = labels.count("block")
    summary["allow_labels"] = labels.count("allow")
    summary["timed_reviews_per_reviewer"] = len(ours_ms)
    summary["ours_over_naive_median_latency"] = headline["ours_over_naive_median_latency"]
    summary["ours_verdicts"] = {v: sum(r.verdict == v for r in reviews) for v in ("allow", "warn", "block")}
    summary["builtin_tasks"] = task_check(reviewer, databases, max_tasks)

    ours_summary = summary["ours"]
    targets = {
        "recall": {"target": f"== {TARGETS['recall']}", "value": ours_summary["recall"],
                   "met": ours_summary["recall"] >= TARGETS["recall"]},
        "precision": {"target": f">= {TARGETS['precision']}", "value": ours_summary["precision"],
                      "met": ours_summary["precision"] >= TARGETS["precision"]},
        "median_latency_ms": {"target": f"<= {TARGETS['median_latency_ms']}", "value": ours_summary["median_latency_ms"],
                              "met": ours_summary["median_latency_ms"] <= TARGETS["median_latency_ms"]},
    }
    payload = {
        "provenance": provenance(
            model=None,
            split="reviewer_corpus",
            seeds=sorted({c["db"].get("seed") for c in cases if c["db"].get("seed") is not None}),
            config={"corpus": str(Path(corpus).resolve().relative_to(REPO_ROOT)) if Path(corpus).resolve().is_relative_to(REPO_ROOT) else str(corpus),
                    "repeats_per_round": repeats, "rounds": rounds, "reviewer": "StaticReviewer(ReviewConfig())", "max_tasks": max_tasks},
        ),
        "summary": summary,
        "targets": targets,
        "rounds": block,
        "interleaving": interleaving(done),
        "per_case": per_case,
        "notes": "Block is the positive class; a 'warn' verdict counts as not blocked. Latency is one review "
        "call (parse + checks) timed on its own, after a warm-up pass. Ours and the naive baseline run in "
        "interleaved rounds: each round takes every case in turn and reviews it `repeats_per_round` times with "
        "ours, then with the naive baseline; "
        "summary.<reviewer>.median_latency_ms and p99_latency_ms are medians over rounds of each round's median "
        "and p99 (rounds.<reviewer>.<figure> holds every round), ours_over_naive_median_latency the median of the "
        "per-round ratios; per_case latency is the median over all of a case's timed reviews. The corpus is in-sample (written with the reviewer); "
        "summary.builtin_tasks is the out-of-sample check on the generated tasks: false blocks on gold queries, "
        "and broken queries split by whether the sandbox rejects them.",
    }
    return write_results(out, payload)


def main(rounds: int = ROUNDS) -> None:
    path = run(rounds=rounds)
    data = json.loads(path.read_text())
    summary = data["summary"]
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    print(f"wrote {shown}  ({summary['cases']} cases: {summary['block_labels']} block, {summary['allow_labels']} allow)")
    for key in ("ours", "naive"):
        s = summary[key]
        c = s["confusion"]
        print(
            f"  {key:5}  precision {s['precision']:.3f}  recall {s['recall']:.3f}  accuracy {s['accuracy']:.3f}  "
            f"(TP {c['true_block']} FP {c['false_block']} FN {c['missed_block']} TN {c['true_allow']})  "
            f"median {s['median_latency_ms']:.4f} ms  p99 {s['p99_latency_ms']:.4f} ms  wrong {len(s['wrong'])}"
        )
    tasks = summary.get("builtin_tasks")
    if tasks:
        g, b = tasks["gold"], tasks["broken"]
        print(f"  built-in tasks: {g['reviewed']} gold queries, {g['block']} blocked (false block rate {g['false_block_rate']}); "
              f"{b['reviewed']} broken: sandbox rejects {b['sandbox_rejects']}, of which blocked {b['sandbox_rejects_blocked']}; "
              f"sandbox runs {b['sandbox_runs']}, of which blocked {b['sandbox_runs_blocked']}, warned {b['sandbox_runs_warned']}")
    for name, stats in data["rounds"].items():
        print(f"  {name}: median {stats['median']} [{stats['min']}..{stats['max']} over {len(stats['values'])} rounds]")
    for name, target in data["targets"].items():
        print(f"  target {name} {target['target']}: {target['value']} {'met' if target['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
