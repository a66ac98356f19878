"""The reviewer bench writes a results JSON with provenance, from a real (short) run over the corpus."""
from __future__ import annotations

import json

from env_server.tools import bench_reviewer


def test_naive_baseline_is_the_seed_keyword_check():
    tables = ["users", "orders"]
    assert bench_reviewer.naive_verdict("  select * from users", tables) == "allow"
    assert bench_reviewer.naive_verdict("SELECT 1", tables) == "block"  # no table named
    assert bench_reviewer.naive_verdict("WITH x AS (SELECT 1) SELECT * FROM users", tables) == "block"
    assert bench_reviewer.naive_verdict("SELECT * FROM users; DROP TABLE orders", tables) == "allow"


def test_bench_reviewer_writes_results(tmp_path):
    path = bench_reviewer.run(out=tmp_path / "reviewer.json", repeats=1, max_tasks=40, rounds=3)
    data = json.loads(path.read_text())
    assert {"provenance", "summary", "targets", "per_case"} <= set(data)
    assert {"git_sha", "command", "created_at", "config"} <= set(data["provenance"])
    summary = data["summary"]
    cases = bench_reviewer.load_corpus()
    assert summary["cases"] == len(cases) == len(data["per_case"])
    for key in ("ours", "naive"):
        s = summary[key]
        assert {"precision", "recall", "accuracy", "confusion", "median_latency_ms", "p99_latency_ms", "wrong"} <= set(s)
        assert sum(s["confusion"].values()) == len(cases)
        assert s["median_latency_ms"] > 0 and s["p99_latency_ms"] >= s["median_latency_ms"]
        assert len(s["wrong"]) == s["confusion"]["false_block"] + s["confusion"]["missed_block"]
    assert summary["ours"]["recall"] == 1.0
    assert data["interleaving"]["order"] == ["ours", "naive"] * 3 and data["interleaving"]["per"] == "case"
    assert summary["timed_reviews_per_reviewer"] == 3 * len(cases)
    for key in ("ours", "naive"):
        for q in ("median", "p99"):
            stats = data["rounds"][f"{key}.{q}_latency_ms"]
            assert len(stats["values"]) == 3 and stats["min"] <= stats["median"] <= stats["max"]
            assert summary[key][f"{q}_latency_ms"] == stats["median"]
    assert summary["ours_over_naive_median_latency"] == data["rounds"]["ours_over_naive_median_latency"]["median"]
    assert summary["ours"]["confusion"]["missed_block"] == 0
    assert set(data["targets"]) == {"recall", "precision", "median_latency_ms"}
    assert all({"target", "value", "met"} <= set(t) for t in data["targets"].values())
    assert data["targets"]["recall"]["met"] is True
    tasks = summary["builtin_tasks"]
    if tasks is not None:  # built-in task data present
        assert tasks["gold"]["reviewed"] > 0 and tasks["gold"]["block"] == 0
        b = tasks["broken"]
        assert b["sandbox_rejects"] + b["sandbox_runs"] == b["reviewed"]
    row = data["per_case"][0]
    assert {"sql", "family", "db", "label", "ours", "naive"} <= set(row)
    assert row["ours"]["verdict"] in ("allow", "warn", "block") and row["naive"]["verdict"] in ("allow", "block")
