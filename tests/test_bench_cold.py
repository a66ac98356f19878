"""The cold first-grade bench: both sides run in fresh children, the gold is graded success, and the JSON keeps
every round beside the floor and says whether the bound holds."""
from __future__ import annotations

import json

from env_server.tools import bench_cold


def test_a_small_size_reports_first_grade_against_its_floor(tmp_path):
    out = tmp_path / "cold.json"
    bench_cold.main(sizes=(2_000,), rounds=2, out=out)
    payload = json.loads(out.read_text())
    size = payload["sizes"][0]
    assert size["orders"] == 2_000 and size["gold_graded_success_every_round"]
    assert size["first_grade_cpu_s"] > 0 and size["floor_cpu_s"] > 0
    assert len(size["rounds"]["first_grade_over_floor"]["values"]) == 2
    assert size["interleaving"]["order"] == ["first_grade", "floor", "first_grade", "floor"]
    assert set(payload["targets"]["largest_first_grade_over_floor"]) == {"bound", "met"}
