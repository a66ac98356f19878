"""env_server/tools/bench_scale.py at two small sizes: the JSON has every figure beside its floor, correct queries
grade success in every round, every timed figure keeps its rounds (the figures themselves are reported, not asserted)."""
from __future__ import annotations

import json

from env_server.tools.bench_scale import run


def test_scale_bench_writes_each_figure_beside_its_floor(tmp_path):
    path = run(sizes=(1_000, 20_000), resets=30, rounds=2, out=tmp_path / "scale.json")
    data = json.loads(path.read_text())
    assert data["provenance"]["git_sha"] and data["summary"]["correct_graded_success_every_run"]
    small, large = data["sizes"]
    for row in (small, large):
        assert row["graded_success_every_repeat"] == {"gold": True, "rewrite": True, "broken": False}
        assert row["graded_same_every_repeat"]
        for floor in ("floor_open_read_only_p50_ms", "copy_database_median_ms", "floor_raw_reader_memory_mb"):
            assert floor in row
        assert set(row["grading_over_floor"]) == {"gold", "rewrite", "broken"}
        assert row["interleaving"]["order"] == row["interleaving"]["sides"] * 2
        assert {"reset", "open_read_only", "copy_database", "grading", "grading_floor"} <= set(row["interleaving"]["sides"])
        for name, stats in row["rounds"].items():  # every round kept; headline = median, within min..max
            assert len(stats["values"]) == 2 and stats["min"] <= stats["median"] <= stats["max"], name
        assert row["reset_over_copy"] == row["rounds"]["reset_over_copy"]["median"]
        assert row["grading_over_floor"]["gold"] == row["rounds"]["grading_over_floor.gold"]["median"]
    assert large["database_mb"] > 10 * small["database_mb"]
