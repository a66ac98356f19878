"""The demo and the bench write results JSON with provenance, from real runs (tiny settings)."""
from __future__ import annotations

import json

from env_server.tools import bench
from env_server.tools import scripted_demo as demo


def test_demo_scripted_calibrators(tmp_path):
    path = demo.run(per_split=3, out=tmp_path / "demo.json")
    data = json.loads(path.read_text())
    assert {"git_sha", "command", "created_at", "seeds", "split", "config"} <= set(data["provenance"])
    rows = {(r["policy"], r["split"]): r for r in data["summary"]["by_policy_split"]}
    for split in ("fixed", "heldout_iid", "heldout_ood"):
        assert rows[("oracle", split)]["success_rate"] == 1.0
        assert rows[("echo_broken", split)]["success_rate"] == 0.0
    assert len(data["per_task"]) == 3 * (4 + 3 + 3)


def _check_rounds(block: dict, rounds: int) -> None:
    """Every figure holds each round's value, and its headline median lies within min..max."""
    assert block
    for name, stats in block.items():
        assert len(stats["values"]) == rounds, name
        assert min(stats["values"]) == stats["min"] <= stats["median"] <= stats["max"] == max(stats["values"]), name


def test_bench_writes_ratios_against_the_floor(tmp_path):
    path = bench.run(n_tasks=4, resets=20, rounds=3, out=tmp_path / "core.json")
    data = json.loads(path.read_text())
    summary = data["summary"]
    kinds = summary["candidates_by_kind"]
    assert kinds["gold"] == kinds["erroring"] == 4 and summary["candidates"] == sum(kinds.values())
    assert summary["floor_ms_per_candidate_median"] > 0 and summary["grading_over_floor"] > 0
    assert summary["grading_over_floor_gold_only"] > 0 and summary["grading_over_floor_erroring_only"] > 0
    assert {"reset_p50_ms", "grading_over_floor", "grading_over_floor_gold_only",
            "grading_over_floor_erroring_only"} <= set(data["targets"])
    _check_rounds(data["rounds"], 3)
    assert data["interleaving"]["order"] == ["reset", "grading", "floor"] * 3 and data["interleaving"]["per"] == "candidate"
    for name, stats in data["rounds"].items():  # headlines are the medians over rounds
        assert summary[name] == stats["median"], name


def test_bench_families_writes_ratios_against_the_floor(tmp_path):
    from env_server.tools import bench_families

    path = bench_families.run(per_family=2, resets=4, rounds=2, out=tmp_path / "families.json")
    data = json.loads(path.read_text())
    assert set(data["summary"]) == {"debug", "repair", "analyst", "grounded"}
    for family, row in data["summary"].items():
        assert row["correct_submissions_graded_successful"] == row["tasks"] == 2, family
        assert row["grading_over_floor"] > 0 and row["floor_raw_sqlite_ms_median"] > 0
        _check_rounds(row["rounds"], 2)
        assert row["grading_over_floor"] == row["rounds"]["grading_over_floor"]["median"]
        sides = ["reset", "grading", "floor"] + (["search", "fts5"] if family == "grounded" else [])
        assert data["interleaving"][family]["order"] == sides * 2 and data["interleaving"][family]["per"] == "task"
    assert data["summary"]["grounded"]["search_step_over_floor"] > 0


def test_bench_command_line_refuses_fewer_than_five_rounds(capsys):
    import pytest

    from env_server.__main__ import main

    for argv in (["bench", "--rounds", "3"], ["bench", "--hostile", "--rounds", "5"]):
        with pytest.raises(SystemExit):
            main(argv)
    err = capsys.readouterr().err
    assert "at least 5 rounds" in err and "--rounds does not apply to --hostile" in err
