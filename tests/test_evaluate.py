"""training/evaluate.py and training/policies.py: calibrators, CI arithmetic, comparisons, resuming."""
from __future__ import annotations

import json

import numpy as np
import pytest

from training.evaluate import (
    bootstrap_ci,
    compare,
    evaluate,
    main,
    per_task_means,
    summarise,
    write_comparison,
)
from training.generation import SamplingConfig


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    return tmp_path


def test_calibrators_bound_the_scale(results):
    oracle = json.loads(evaluate("oracle", split="heldout_iid", n=12, progress=False).read_text())
    echo = json.loads(evaluate("echo_broken", split="heldout_iid", n=12, progress=False).read_text())
    assert oracle["summary"]["success_rate"]["mean"] == 1.0
    assert echo["summary"]["success_rate"]["mean"] == 0.0
    assert oracle["summary"]["mean_reward"]["ci95"] == [1.0, 1.0]
    for payload in (oracle, echo):
        prov = payload["provenance"]
        for key in ("git_sha", "command", "created_at", "model", "adapter", "split", "split_sha256", "seeds", "config"):
            assert key in prov
        assert len(payload["per_task"]) == 12
        assert {"reward", "success", "steps", "error_kind", "task_id", "seed"} <= set(payload["per_task"][0])
    assert oracle["provenance"]["split_sha256"] == echo["provenance"]["split_sha256"]
    assert set(oracle["summary"]["by_bug_type"]) == {b for r in oracle["per_task"] for b in r["bug_types"]}


def test_random_valid_never_solves_and_is_seeded(results):
    first = json.loads(evaluate("random_valid", split="heldout_ood", n=8, seeds=2, progress=False).read_text())
    assert first["summary"]["success_rate"]["mean"] == 0.0
    assert first["summary"]["n_records"] == 16
    again = json.loads(evaluate("random_valid", split="heldout_ood", n=8, seeds=2, progress=False,
                                name="again").read_text())
    assert [r["sql"] for r in again["per_task"]] == [r["sql"] for r in first["per_task"]]


def test_bootstrap_ci_arithmetic():
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    values = [0.0] * 30 + [1.0] * 70
    lo, hi = bootstrap_ci(values)
    # the normal approximation of a proportion: 0.7 +- 1.96 * sqrt(0.7 * 0.3 / 100) = [0.610, 0.790]
    assert lo == pytest.approx(0.61, abs=0.02) and hi == pytest.approx(0.79, abs=0.02)
    assert bootstrap_ci(values) == (lo, hi)  # deterministic
    assert all(np.isnan(bootstrap_ci([])))


def _records(successes: dict[str, list[int]]) -> list[dict]:
    return [{"task_id": t, "seed": s, "success": bool(v), "reward": float(v), "steps": 1, "family": "debug",
             "difficulty": "easy", "bug_types": ["keyword_typo" if t < "m" else "wrong_table"], "error_kind": None}
            for t, vs in successes.items() for s, v in enumerate(vs)]


def test_summary_averages_seeds_per_task_then_breaks_down():
    records = _records({"a": [1, 0], "b": [1, 1], "x": [0, 0], "y": [0, 1]})
    assert per_task_means(records)["a"]["success"] == 0.5
    summary = summarise(records)
    assert summary["n_tasks"] == 4 and summary["n_records"] == 8
    assert summary["success_rate"]["mean"] == pytest.approx((0.5 + 1 + 0 + 0.5) / 4)
    assert summary["by_bug_type"]["keyword_typo"]["success_rate"]["mean"] == 0.75
    assert summary["by_bug_type"]["wrong_table"]["success_rate"]["mean"] == 0.25
    lo, hi = summary["success_rate"]["ci95"]
    assert 0 <= lo <= summary["success_rate"]["mean"] <= hi <= 1


def test_compare_is_paired_on_common_tasks():
    a = {"per_task": _records({"a": [0], "b": [0], "c": [1], "only_a": [1]})}
    b = {"per_task": _records({"a": [1], "b": [1], "c": [1], "only_b": [0]})}
    summary = compare(a, b)
    assert summary["n_tasks"] == 3
    assert summary["success_delta"]["mean"] == pytest.approx(2 / 3)
    assert summary["only_in_a"] == 1 and summary["only_in_b"] == 1
    lo, hi = summary["success_delta"]["ci95"]
    assert 0 <= lo <= 2 / 3 <= hi <= 1


def test_compare_files_and_cli(results, capsys):
    a = evaluate("echo_broken", split="heldout_iid", n=6, progress=False)
    b = evaluate("oracle", split="heldout_iid", n=6, progress=False)
    path = write_comparison(a, b)
    payload = json.loads(path.read_text())
    assert payload["summary"]["success_delta"]["mean"] == 1.0
    assert payload["provenance"]["config"]["same_split_sha256"] is True
    main(["--compare", str(a), str(b)])
    assert "compare_" in capsys.readouterr().out


def test_interrupted_evaluation_resumes(results, monkeypatch):
    import training.evaluate as module

    calls = {"n": 0}
    real = module.run_single_turn

    def interrupted(*args, **kwargs):
        for record in real(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(module, "run_single_turn", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate("oracle", split="heldout_iid", n=8, progress=False, name="resume")
    partial = results / "eval" / "resume.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 1 + 4  # header + the 4 records made before the interrupt
    monkeypatch.setattr(module, "run_single_turn", real)
    payload = json.loads(evaluate("oracle", split="heldout_iid", n=8, progress=False, name="resume").read_text())
    assert len(payload["per_task"]) == 8 and not partial.exists()
    # other settings under the same name are refused, not mixed in
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(module, "run_single_turn", interrupted)
        calls["n"] = 0
        evaluate("oracle", split="heldout_iid", n=8, progress=False, name="mixed")
    monkeypatch.setattr(module, "run_single_turn", real)
    with pytest.raises(SystemExit, match="--fresh"):
        evaluate("oracle", split="heldout_ood", n=8, progress=False, name="mixed")
    assert evaluate("oracle", split="heldout_ood", n=8, progress=False, name="mixed", fresh=True).exists()


def test_hf_policy_on_a_tiny_model(results, tiny_model):
    payload = json.loads(evaluate("hf", model=tiny_model, split="heldout_iid", n=3, progress=False,
                                  sampling=SamplingConfig(max_new_tokens=8)).read_text())
    assert payload["provenance"]["model"] == tiny_model
    assert payload["provenance"]["config"]["policy_details"]["sampling"]["max_new_tokens"] == 8
    assert payload["summary"]["n_tasks"] == 3


def test_openai_policy_plays_episodes_and_logs(results, fake_llm, monkeypatch, capsys):
    gold = ("SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
            "ORDER BY signup_date, id")
    monkeypatch.setenv("API_BASE_URL", fake_llm.url)
    monkeypatch.setenv("MODEL_NAME", "scripted-chat")
    monkeypatch.setenv("API_KEY", "secret")
    # a real OpenAI client against a scripted chat server: one exploratory query, then the fix
    fake_llm.replies = [json.dumps({"action_type": "run_query", "sql": "SELECT COUNT(*) FROM users"}),
                        "Here it is: " + json.dumps({"action_type": "submit_query", "sql": gold})] * 4
    payload = json.loads(evaluate("openai", split="fixed", n=4, bug_types=None, progress=False,
                                  name="openai").read_text())
    first = next(r for r in payload["per_task"] if r["task_id"] == "debug-fixed-syntax_fix")
    assert first["success"] is True and first["steps"] == 2
    out = capsys.readouterr().out
    assert "[START] task=" in out and "env=dataops-gym model=scripted-chat" in out
    assert "[STEP] step=1 action=run_query reward=0.00 done=false error=null" in out
    assert "[END] success=true steps=2 score=1.00" in out
    assert fake_llm.requests[0]["auth"] == "Bearer secret"
    assert payload["provenance"]["config"]["policy_details"]["model"] == "scripted-chat"


def test_openai_policy_needs_its_settings(results, monkeypatch):
    for name in ("API_BASE_URL", "MODEL_NAME", "API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="API_BASE_URL, MODEL_NAME, API_KEY"):
        evaluate("openai", split="fixed", n=1, progress=False)


def test_mcnemar_and_seed_aggregation_on_known_tables():
    from training.evaluate import compare, mcnemar_exact

    # 2 tasks only A solved, 12 only B solved: exact two-sided binomial p = 2 * P(X <= 2 | 14, 1/2)
    assert mcnemar_exact(2, 12) == float(f"{2 * sum(__import__('math').comb(14, i) for i in range(3)) / 2 ** 14:.4g}")

    def records(solved, n=20, seed=0):
        return [{"task_id": f"t{i:02d}", "seed": seed, "family": "debug", "difficulty": "easy",
                 "bug_types": ["keyword_typo"], "success": i in solved, "reward": float(i in solved), "steps": 1,
                 "format_ok": True} for i in range(n)]

    a = {"name": "a", "per_task": records({0, 1})}
    b1 = {"name": "b1", "per_task": records({0, 1, 2, 3, 4, 5})}
    b2 = {"name": "b2", "per_task": records({0, 2, 3, 4, 5, 6})}
    one = compare(a, b1)
    assert (one["n_tasks"], one["success_a"], one["success_b"]) == (20, 0.1, 0.3)
    assert one["success_test"] == {"b_better": 4, "a_better": 0, "ties": 16, "p_value": mcnemar_exact(0, 4)}
    assert one["p_value"] == one["per_b_seed"][0]["mcnemar_p"]  # one seed: the sign test is McNemar
    both = compare(a, [b1, b2])
    assert both["success_b"] == 0.3 and "2 seeds" in both["test"]
    assert [s["b_only"] for s in both["per_b_seed"]] == [4, 5] and [s["a_only"] for s in both["per_b_seed"]] == [0, 1]
    assert both["success_test"]["b_better"] == 5 and both["success_test"]["a_better"] == 1  # task 1: 1 - 0.5


def test_draw_tasks_takes_several_difficulties():
    from env_server.tasks.registry import TaskRegistry, load_tasks
    from training.task_draws import draw_tasks

    registry = TaskRegistry(load_tasks())
    both = draw_tasks(registry, "train", families="debug", difficulty="easy,medium")
    assert {t.difficulty for t in both} == {"easy", "medium"}
    easy = draw_tasks(registry, "train", families="debug", difficulty="easy")
    medium = draw_tasks(registry, "train", families="debug", difficulty="medium")
    assert len(both) == len(easy) + len(medium)
