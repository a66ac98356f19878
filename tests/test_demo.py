"""The end-to-end smoke path CI runs: tiny model -> GRPO steps -> held-out evaluation -> charts -> table
(training/demo.py, as `make demo` runs it, in smoke sizes)."""
from __future__ import annotations

import json

from training.demo import SMOKE, run


def test_demo_smoke_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    rows = dict(run(SMOKE))
    assert set(rows) == {"training run", "echo_broken", "base", "trained", "oracle", "trained - base"}
    for path in rows.values():
        assert path.is_file()
    trained = json.loads(rows["trained"].read_text())
    assert trained["provenance"]["adapter"].endswith("runs/demo/adapter")
    assert json.loads(rows["oracle"].read_text())["summary"]["success_rate"]["mean"] == 1.0
    assert json.loads(rows["echo_broken"].read_text())["summary"]["success_rate"]["mean"] == 0.0
    figures = {p.name for p in (tmp_path / "figures").glob("*.png")}
    assert {"compare_demo_base_vs_demo_trained.png", "training_demo.png"} <= figures
    headline = json.loads(rows["trained - base"].read_text())["headline"]
    assert headline["n"] == 4 and 0.0 <= headline["p_value"] <= 1.0 and headline["train_seeds"] == 1
    run_dir = rows["training run"].parent
    metrics = json.loads(rows["training run"].read_text())
    stages = json.loads((run_dir / "stages.json").read_text())
    assert 0 < metrics["peak_rss_gb"] <= stages["summary"]["peak_rss_gb"] < 12
    history = [json.loads(line) for line in (run_dir / "log_history.jsonl").read_text().splitlines()]
    assert any(h.get("grad_norm", 0) > 0 for h in history), history  # the smoke steps trained something
    table = capsys.readouterr().out
    for path in rows.values():
        assert str(path) in table  # every number in the table names the file it came from
