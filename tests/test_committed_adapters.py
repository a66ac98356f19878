"""A committed adapter reproduces what its evaluation stored: loaded from the repository (fp16 safetensors), it
writes exactly the completions of the evaluation's first generation batch (training/adapters.py,
training/policies.py HFPolicy, training/generation.py). The batch is rebuilt as the evaluation built it: the
prompts sorted by rendered length, the shortest ``batch_size`` first, so padding and sampling are the same."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.tasks.registry import TaskRegistry, load_tasks
from reward_fns.prompts import single_turn_prompt
from training.generation import SamplingConfig
from training.policies import HFPolicy
from training.task_draws import draw_tasks, split_hash

REPO = Path(__file__).resolve().parents[1]
COMMITTED = [
    ("results/runs/grpo-debug-s0/adapter", "results/eval/arm-grpo-s0.json"),
    ("results/runs/sft-debug-s0/adapter", "results/eval/arm-sft.json"),
    pytest.param("results/runs/demo/adapter", "results/eval/demo_trained.json", marks=pytest.mark.slow),
    pytest.param("results/runs/grpo-debug-s1/adapter", "results/eval/arm-grpo-s1.json", marks=pytest.mark.slow),
    pytest.param("results/runs/grpo-debug-s2/adapter", "results/eval/arm-grpo-s2.json", marks=pytest.mark.slow),
]
"""(adapter folder, the evaluation that used it): every evaluated adapter the repository tracks. One adapter per
method runs in ``make test``; the other GRPO adapters (seeds 1 and 2, and the demo's: 72 s of the suite's CPU for
192-token completions), same code path, in ``make test-all`` (slow)."""


@pytest.mark.parametrize("adapter, evaluation", COMMITTED)
def test_a_committed_adapter_reproduces_its_stored_completions(adapter, evaluation):
    payload = json.loads((REPO / evaluation).read_text())
    config = payload["provenance"]["config"]
    assert config["policy"] == "hf" and config["adapter"].endswith(adapter)
    registry = TaskRegistry(load_tasks())
    tasks = draw_tasks(registry, config["split"], families=config["families"], n=config["n"], seed=0,
                       difficulty=config["difficulty"], bug_types=config["bug_types"])
    assert split_hash(tasks) == config["split_sha256"], "the task data changed since this evaluation"
    sampling = SamplingConfig(**config["sampling"])
    policy = HFPolicy(config["model"], str(REPO / adapter), sampling, progress=False)
    env = DataOpsEnv(registry, grader=make_grader())
    prompts = [single_turn_prompt(env, t.task_id) for t in tasks]
    texts = [policy.generator.render(p) for p in prompts]
    first_batch = sorted(range(len(tasks)), key=lambda i: (len(texts[i]), i))[: sampling.batch_size]
    completions = policy.complete([tasks[i] for i in first_batch], [prompts[i] for i in first_batch], seed=0)
    stored = {r["task_id"]: r["completion"] for r in payload["per_task"] if r["seed"] == 0}
    pairs = [(stored[tasks[i].task_id], completion[:2000]) for i, completion in zip(first_batch, completions)]
    assert len(pairs) >= 5
    assert [new for _, new in pairs] == [old for old, _ in pairs]
