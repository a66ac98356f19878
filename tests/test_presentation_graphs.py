"""presentation_graphs.py: same JSON -> byte-identical PNGs; missing inputs skip; no literal scores; bench medians
drawn with min..max spread bars; every committed chart is what its committed JSON draws today."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from matplotlib.testing.compare import compare_images
from PIL import Image

import presentation_graphs

SOURCE = Path(presentation_graphs.__file__).read_text()
RESULTS = Path(presentation_graphs.__file__).resolve().parent / "results"
NOT_CHARTS = {"playground.png"}
"""PNGs in results/figures that presentation_graphs does not draw: the playground screenshot (tests/test_playground.py)."""
PIXEL_TOLERANCE = 1.0
"""RMS over 0-255 channels. The same JSON and matplotlib give identical bytes (RMS 0); a bar moved by 0.5% of
its axis is about 0.5, a stale figure (bench_ratios.png showing a 4,743 ms p99 where http.json holds 9.7 ms)
tens. A matplotlib upgrade that moves anti-aliasing past this: redraw the charts."""


def _write(root: Path, rel: str, payload: dict) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def _rounds(medians: dict[str, float]) -> dict[str, dict]:
    """A bench's rounds block around fixture medians: 5 rounds from 0.8x to 1.5x the median."""
    return {name: {"values": [m * f for f in (0.8, 1.0, 1.5, 0.9, 1.1)], "median": m, "min": m * 0.8, "max": m * 1.5}
            for name, m in medians.items()}


def _fixtures(root: Path) -> None:
    """Small results files in the shapes the project writes (values are fixture data, not results)."""
    prov = {"git_sha": "fixture", "command": "fixture", "created_at": "fixture", "split": "heldout_iid"}
    records = [
        {"policy": p, "review": r, "reward": round(0.1 * i, 2), "success": i % 2 == 0, "risky_attempted": i % 3,
         "risky_executed": 0 if r else i % 3, "blocked": i % 3 if r else 0}
        for p in ("careless", "oracle") for r in (False, True) for i in range(6)
    ]
    groups = {}
    for rec in records:
        groups.setdefault((rec["policy"], rec["review"]), []).append(rec)
    _write(root, "eval/reviewer_path.json", {"provenance": prov, "per_task": records, "summary": {"by_policy_review": [
        {"policy": p, "review": r, "episodes": len(rs), "risky_attempted": sum(x["risky_attempted"] for x in rs),
         "risky_executed": sum(x["risky_executed"] for x in rs), "blocked": sum(x["blocked"] for x in rs),
         "success_rate": sum(x["success"] for x in rs) / len(rs), "mean_reward": sum(x["reward"] for x in rs) / len(rs)}
        for (p, r), rs in sorted(groups.items())]}})
    _write(root, "eval/demo_scripted.json", {"provenance": prov, "summary": {"by_policy_split": [
        {"policy": p, "split": s, "episodes": 4, "success_rate": v, "mean_reward": v, "mean_steps": 2}
        for p, v in (("oracle", 1.0), ("echo_broken", 0.0)) for s in ("fixed", "heldout_iid")]}})
    _write(root, "bench/reviewer.json", {"provenance": prov, "summary": {
        name: {"precision": v, "recall": v, "accuracy": v, "median_latency_ms": v, "p99_latency_ms": v,
               "confusion": {"true_block": 3, "false_block": 1, "missed_block": 1, "true_allow": 5}}
        for name, v in (("ours", 0.9), ("naive", 0.6))}, "rounds": _rounds({
            f"{name}.{q}_latency_ms": v for name, v in (("ours", 0.9), ("naive", 0.6)) for q in ("median", "p99")})})
    core = {"grading_over_floor": 1.2, "grading_over_floor_gold_only": 1.3, "grading_over_floor_rewrite_only": 1.25,
            "grading_over_floor_wrong_only": 1.1, "grading_over_floor_erroring_only": 4.0}
    _write(root, "bench/core.json", {"provenance": prov, "summary": core, "rounds": _rounds(core)})
    http = {"http_over_in_process_time": 0.98, "step_p50_ms_64_sessions": 5.0, "step_p99_ms_64_sessions": 15.0,
            "step_p50_ms_256_sessions": 6.0, "step_p99_ms_256_sessions": 25.0}
    _write(root, "bench/http.json", {"provenance": prov, "summary": http, "rounds": _rounds(http)})

    steps = list(range(1, 6))
    _write(root, "runs/fixture-run/metrics.json", {"run_id": "fixture-run", "steps": 5, "n_train_tasks": 3})
    (root / "runs/fixture-run/log_history.jsonl").write_text("".join(json.dumps(
        {"step": s, "reward": 0.1 * s, "rewards/execution_reward/mean": 0.05 * s, "execution/success_rate": 0.1 * s,
         "loss": 0.01 * s}) + "\n" for s in steps) + json.dumps({"train_runtime": 1.0}) + "\n")
    # a paired comparison, written by training.evaluate's own code from two fixture evaluations
    from training.evaluate import summarise, write_comparison

    for who, solved in (("base", {0, 1}), ("trained", {0, 1, 2, 3})):
        records = [{"task_id": f"debug-t{k}", "seed": 0, "split": "heldout_ood", "family": "debug",
                    "difficulty": "easy", "bug_types": ["keyword_typo" if k % 2 else "wrong_table"],
                    "tags": [f"template:t{k % 3}"], "gold_sql": f"SELECT {k % 3}", "reward": float(k in solved), "success": k in solved, "steps": 1, "format_ok": k < 5}
                   for k in range(8)]
        _write(root, f"eval/fixture_{who}.json", {"name": f"fixture_{who}", "provenance": {
            **prov, "model": "fixture", "split_sha256": "x", "config": {"policy_details": {}, "train_seed": 0}},
            "per_task": records, "summary": summarise(records)})
    write_comparison(root / "eval/fixture_base.json", [root / "eval/fixture_trained.json"], out_dir=root / "eval",
                     command="fixture")
    from training.arms import write_arms

    write_arms([root / "eval/fixture_base.json", root / "eval/fixture_trained.json"], labels=["base", "grpo"],
               out_dir=root / "eval", name="fixture", command="fixture")
    _write(root, "runs/fixture-run/config.json", {"provenance": {**prov, "model": "fixture", "seeds": [0]}})


def test_same_json_gives_identical_pngs(tmp_path):
    _fixtures(tmp_path / "results")
    first = presentation_graphs.render(tmp_path / "results", tmp_path / "a")
    second = presentation_graphs.render(tmp_path / "results", tmp_path / "b")
    assert len(first) == len(presentation_graphs.FIGURES) and len(first) == len(second)
    for (a, _), (b, _) in zip(first, second):
        assert Path(a).read_bytes() == Path(b).read_bytes(), a


def test_missing_inputs_skip_with_a_message(tmp_path, capsys):
    written = presentation_graphs.render(tmp_path / "empty", tmp_path / "out")
    assert written == []
    assert "skip reviewer_path.png: missing" in capsys.readouterr().out


def test_each_figure_says_where_it_came_from(tmp_path, capsys):
    _fixtures(tmp_path / "results")
    presentation_graphs.render(tmp_path / "results", tmp_path / "out", only={"bench_ratios"})
    out = capsys.readouterr().out
    assert "bench_ratios.png <- " in out and "core.json" in out and "http.json" in out


def test_plotting_code_holds_no_literal_scores():
    score_like = re.compile(r"(acc|accuracy|score|success|reward|precision|recall|rate|f1)", re.I)
    offenders = []
    for node in ast.walk(ast.parse(SOURCE)):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if isinstance(node.value.value, (int, float)) and any(score_like.search(n) for n in names):
                offenders.append((node.lineno, names))
        if isinstance(node, ast.keyword) and node.arg and score_like.search(node.arg):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, (int, float)):
                offenders.append((node.value.lineno, node.arg))
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and score_like.search(key.value):
                    if isinstance(value, (ast.Constant, ast.List)) and not isinstance(getattr(value, "value", None), str):
                        offenders.append((key.lineno, key.value))
    hook_rule = re.compile(r"(acc|accuracy|score|success|reward)[a-z_]*\s*=\s*[0-9]+\.?[0-9]*\s*(#|$)", re.M)
    assert not offenders and not hook_rule.search(SOURCE), offenders


def _plotted(path: Path) -> list[dict]:
    return json.loads(Image.open(path).text[presentation_graphs.PLOTTED_KEY])


def test_bench_charts_draw_medians_with_min_max_spread_bars(tmp_path):
    _fixtures(tmp_path / "results")
    presentation_graphs.render(tmp_path / "results", tmp_path / "out", only={"bench_ratios", "reviewer_bench"})
    ratios = _plotted(tmp_path / "out" / "bench_ratios.png")[1]
    medians = [1.2, 1.3, 1.25, 1.1, 4.0, 0.98]  # all, gold, rewrite, wrong, erroring, HTTP
    assert [bar[3] for bar in ratios["bars"]] == medians
    # each spread bar runs from the rounds' min to their max (0.8x .. 1.5x the median in the fixtures)
    spreads = sorted((seg[0][1], seg[1][1]) for seg in ratios["segments"][0])
    assert spreads == sorted((round(m * 0.8, 6), round(m * 1.5, 6)) for m in medians)
    assert "5 rounds" in ratios["title"]
    latency = _plotted(tmp_path / "out" / "reviewer_bench.png")[2]
    assert [bar[3] for bar in latency["bars"]] == [0.9, 0.6, 0.9, 0.6] and latency["segments"]


def test_every_committed_chart_is_what_its_committed_json_draws(tmp_path):
    """Redraw every committed chart from the committed results into a temporary folder: the same charts, each
    plotting the same data (texts, bars, lines read back from the PNG) and matching in pixels within
    PIXEL_TOLERANCE. On failure: ``python presentation_graphs.py`` and commit results/figures."""
    written = presentation_graphs.render(RESULTS, tmp_path)
    drawn = sorted(Path(png).name for png, _ in written)
    committed = sorted(p.name for p in (RESULTS / "figures").glob("*.png") if p.name not in NOT_CHARTS)
    assert drawn == committed, "committed charts and the charts the committed JSON draws differ"
    stale = []
    for name in drawn:
        old, new = RESULTS / "figures" / name, tmp_path / name
        if presentation_graphs.PLOTTED_KEY not in Image.open(old).text or _plotted(old) != _plotted(new):
            stale.append(f"{name}: plots other data than its JSON")
            continue
        failed = compare_images(str(old), str(new), tol=PIXEL_TOLERANCE)
        if failed:
            stale.append(f"{name}: {failed.splitlines()[0]} {failed.split('RMS Value:')[1].split()[0]}")
    assert not stale, stale
