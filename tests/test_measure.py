"""env_server/tools/measure.py: sides run interleaved round after round, every round is kept with its median,
min and max, a headline ratio is the median of the per-round ratios (structure only: no timing is asserted)."""
from __future__ import annotations

import json

import pytest

from env_server.tools import measure


def test_interleave_runs_each_side_once_per_round_in_order():
    calls: list[str] = []
    done = measure.interleave({"a": lambda: calls.append("a") or len(calls),
                               "b": lambda: calls.append("b") or len(calls)}, rounds=5)
    assert calls == ["a", "b"] * 5 == done.order
    assert done.rounds == 5 and done.results == {"a": [1, 3, 5, 7, 9], "b": [2, 4, 6, 8, 10]}
    assert done.round(2) == {"a": 5, "b": 6}
    block = measure.interleaving(done)
    assert block["rounds"] == 5 and block["sides"] == ["a", "b"] and block["order"] == calls
    assert "median of the per-round ratios" in block["headline"]


def test_interleave_on_items_runs_every_side_on_each_item_in_turn():
    calls: list[tuple[str, int]] = []
    done = measure.interleave({"a": lambda x: calls.append(("a", x)) or x, "b": lambda x: calls.append(("b", x)) or -x},
                              rounds=5, items=[1, 2, 3], per="candidate")
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)] * 5
    assert done.results == {"a": [[1, 2, 3]] * 5, "b": [[-1, -2, -3]] * 5} and done.order == ["a", "b"] * 5
    assert measure.interleaving(done)["per"] == "candidate"
    assert measure.interleaving(measure.interleave({"a": lambda: 1}, rounds=5))["per"] is None


def test_repeated_items_alternate_the_sides_on_an_item_and_keep_its_best():
    items = measure.repeated(["x", "y"], 3)
    assert items == [("x", 0), ("x", 1), ("x", 2), ("y", 0), ("y", 1), ("y", 2)]
    times = iter([5.0, 1.0, 2.0, 9.0, 7.0, 8.0])
    done = measure.interleave({"a": lambda item: next(times), "b": lambda item: item[1]}, rounds=1, items=items)
    assert measure.best_per_item(done.results["a"][0], 3) == [1.0, 7.0]
    assert measure.best_per_item([(3, "s"), (2, "t")], 2, key=lambda v: v[0]) == [2]
    with pytest.raises(ValueError):
        measure.best_per_item([1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError):
        measure.repeated(["x"], 0)


def test_interleave_refuses_no_rounds_or_no_sides():
    with pytest.raises(ValueError):
        measure.interleave({"a": lambda: 1}, rounds=0)
    with pytest.raises(ValueError):
        measure.interleave({}, rounds=5)
    with pytest.raises(ValueError):
        measure.interleave({"a": lambda x: x}, rounds=5, items=[])


def test_headline_ratio_is_the_median_of_per_round_ratios_not_a_ratio_of_medians():
    ours, floor = [1.0, 10.0, 3.0, 4.0, 5.0], [1.0, 1.0, 2.0, 8.0, 5.0]
    per_round = [{"ours_s": a, "floor_s": b, "ours_over_floor": a / b} for a, b in zip(ours, floor)]
    block = measure.rounds_block(per_round)
    assert block["ours_over_floor"]["values"] == [1.0, 10.0, 1.5, 0.5, 1.0]
    assert measure.medians(block)["ours_over_floor"] == 1.0  # the median ratio; median(ours)/median(floor) = 2.0
    for stats in block.values():
        assert stats["min"] <= stats["median"] <= stats["max"] and len(stats["values"]) == 5


def test_spread_rounds_to_significant_digits_and_keeps_integers():
    stats = measure.spread([0.000123456, 0.000234567, 0.000345678], digits=3)
    assert stats == {"values": [0.000123, 0.000235, 0.000346], "median": 0.000235, "min": 0.000123, "max": 0.000346}
    assert measure.spread([3, 1, 2]) == {"values": [3, 1, 2], "median": 2, "min": 1, "max": 3}
    assert measure.spread([1234.567])["median"] == 1235.0


def test_rounds_block_refuses_rounds_with_different_figures():
    with pytest.raises(ValueError):
        measure.rounds_block([{"a": 1.0}, {"b": 1.0}])
    with pytest.raises(ValueError):
        measure.rounds_block([])


def test_print_results_shows_the_spread_over_rounds(tmp_path, capsys):
    block = measure.rounds_block([{"x": 1.0}, {"x": 3.0}, {"x": 2.0}])
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"summary": {"x": 2.0, "n": 4}, "rounds": block,
                                "targets": measure.upper_targets({"x": 2.0}, {"x": 1.5})}))
    measure.print_results(path)
    out = capsys.readouterr().out
    assert "x: 2.0  [1.0..3.0 over 3 rounds]" in out and "n: 4\n" in out and "target x <= 1.5: NOT met" in out


def test_percentile_is_nearest_rank():
    assert measure.percentile([5, 1, 3], 0.5) == 3 and measure.percentile([1, 2, 3, 4], 0.99) == 4
    with pytest.raises(ValueError):
        measure.percentile([], 0.5)
