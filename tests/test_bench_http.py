"""env_server/tools/bench_http.py: each round's figures (ratios per round), and a tiny real run against real
servers whose JSON keeps every round in the order the sides ran (structure only: no timing is asserted)."""
from __future__ import annotations

import json

import pytest

from env_server.tools import bench_http


def _side(rate: float) -> dict:
    return {"grade_completions_per_s_4_in_flight": rate, "step_p50_ms_4_sessions_saturated": 1.0,
            "step_p99_ms_4_sessions_saturated": 2.0, "sessions_lost": 0, "one_connection_step_p50_ms": 1.0}


def test_round_figures_take_each_ratio_within_the_round():
    steps = {4: ([5.0, 6.0], [1.0, 2.0, 3.0])}
    got = {"grade_http": 100.0, "grade_in_process": 400.0, "grade_one_request": 3.2, "step_paced": steps,
           "step_saturated": steps, "1_replica": _side(200.0), "2_replicas": _side(300.0)}
    figures = bench_http._round_figures(got, (4,))
    assert figures["http_over_in_process_time"] == 4.0 and figures["replicas_grade_speedup"] == 1.5
    # 1,024 items at 400 per second in-process take 2.56 s: one request of 3.2 s is 1.25x that
    assert figures["one_request_s"] == 3.2 and figures["one_request_over_in_process_time"] == 3.2 / (1024 / 400.0)
    assert figures["step_p50_ms_4_sessions"] == 2.0 and figures["first_step_p99_ms_4_sessions_saturated"] == 6.0
    assert figures["replicas.2_replicas.grade_completions_per_s_4_in_flight"] == 300.0


@pytest.mark.slow
def test_http_bench_keeps_every_round(tmp_path):
    path = bench_http.run(n_items=16, steps=2, rounds=2, sessions=(2, 4), pinned_sessions=2,
                          out=tmp_path / "http.json")
    data = json.loads(path.read_text())
    assert data["interleaving"]["order"] == data["interleaving"]["sides"] * 2
    assert data["interleaving"]["sides"][:2] == ["grade_http", "grade_in_process"]
    for name, stats in data["rounds"].items():
        assert len(stats["values"]) == 2 and stats["min"] <= stats["median"] <= stats["max"], name
    summary = data["summary"]
    assert summary["http_over_in_process_time"] == data["rounds"]["http_over_in_process_time"]["median"]
    assert summary["replicas_sessions_lost"] == 0 and set(data["replicas"]) == {"1_replica", "2_replicas"}
    assert summary["one_request_items"] == 1024 and summary["one_request_over_in_process_time"] > 0
