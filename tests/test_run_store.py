"""training/run_store.py: a run trained here, saved to a folder (as notebook 02 saves to Drive), is evaluated in a
fresh Python process that never saw the run folder (as notebook 04 on its own Colab machine); bad references fail
in one line, and saving to the Hub without a token attempts nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from training.evaluate import run_settings
from training.grpo import Args, train
from training.run_store import resolve_run, save_run

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "DATAOPS_RESULTS_DIR")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **overrides)
    return env


def test_a_saved_run_is_evaluated_in_a_fresh_process(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path / "trained"))
    run_dir = train(Args(model=tiny_model, n_tasks=2, difficulty="easy", max_steps=1, num_generations=2,
                         per_device_train_batch_size=2, max_completion_length=16, lora_r=4, lora_alpha=8,
                         save_steps=1, progress=False, run_id="travels"))
    assert (run_dir / "trainer").is_dir()  # a resumable checkpoint, which stays behind

    drive = tmp_path / "drive" / "MyDrive" / "dataops-gym-runs"
    ref = save_run(run_dir, drive)
    assert ref == str(drive / "travels")
    assert save_run(run_dir, drive) == ref  # saving again replaces the copy
    copied = sorted(str(p.relative_to(ref)) for p in Path(ref).rglob("*") if p.is_file())
    assert {"config.json", "metrics.json", "log_history.jsonl", "adapter/adapter_config.json"} <= set(copied)
    assert not [p for p in copied if p.startswith("trainer")]
    shutil.rmtree(run_dir)  # the evaluating machine never sees the original

    settings = run_settings(ref)
    assert (settings["families"], settings["difficulty"], settings["run_dir"]) == ("debug", "easy", ref)

    evaluated = tmp_path / "evaluated"
    done = subprocess.run(
        [sys.executable, "-m", "training.evaluate", "--run", ref, "--n", "2", "--difficulty", "easy",
         "--batch-size", "2", "--no-progress", "--name", "travelled"],
        cwd=REPO_ROOT, env=_env(DATAOPS_RESULTS_DIR=str(evaluated)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads((evaluated / "eval" / "travelled.json").read_text())
    prov = payload["provenance"]
    assert (prov["model"], prov["adapter"]) == (tiny_model, str(Path(ref) / "adapter"))
    assert prov["config"]["policy_kind"] == "grpo" and prov["config"]["sampling"]["max_new_tokens"] == 16
    assert payload["summary"]["n_tasks"] == 2 and {r["difficulty"] for r in payload["per_task"]} == {"easy"}


def test_bad_references_fail_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="no run folder at .*hf://"):
        resolve_run(tmp_path / "missing" / "run")
    runs = tmp_path / "runs"
    (runs / "probe").mkdir(parents=True)
    (runs / "probe" / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="no config.json.*holds the runs probe"):
        resolve_run(runs)  # the folder of runs, not a run
    with pytest.raises(SystemExit, match="has no adapter/"):
        resolve_run(runs / "probe")
    with pytest.raises(SystemExit, match="not a Hugging Face reference"):
        resolve_run("hf://only-a-user")
    with pytest.raises(SystemExit, match="not a training run folder"):
        save_run(tmp_path / "missing", tmp_path / "dest")


def test_the_hub_without_a_token_or_a_network(tmp_path):
    """In a fresh process with no token: saving to hf:// stops before loading the Hub client; downloading offline
    fails in one line, for hf:// and for a bare user/repo."""
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    script = textwrap.dedent(f"""
        import sys
        from training.run_store import resolve_run, save_run
        try:
            save_run({str(run)!r}, "hf://someone/dataops-gym-runs")
        except SystemExit as exc:
            print("SAVE", exc)
        print("HUB_LOADED", "huggingface_hub" in sys.modules)
        for ref in ("hf://someone/dataops-gym-runs/r1", "someone/dataops-gym-runs"):
            try:
                resolve_run(ref)
            except SystemExit as exc:
                print("RESOLVE", exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env=_env(HF_HOME=str(tmp_path / "hf-home")))
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr[-3000:]
    assert lines[0].startswith("SAVE saving to hf://someone/dataops-gym-runs needs a Hugging Face token")
    assert lines[1] == "HUB_LOADED False"
    assert lines[2].startswith("RESOLVE could not download the run hf://someone/dataops-gym-runs/r1 from the Hugging Face Hub:")
    assert lines[3].startswith("RESOLVE could not download the run someone/dataops-gym-runs from the Hugging Face Hub "
                               "(and there is no local folder of that name)")
    assert len(lines) == 4
