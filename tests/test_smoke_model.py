"""training/smoke_model.py: a primed tiny model samples its task's gold answer sometimes but not always at the
training temperature (so a GRPO group's rewards differ), priming stops at its loss bound, and a second call reuses
the folder. That a smoke GRPO run then has a non-zero gradient is checked end to end in tests/test_demo.py."""
from __future__ import annotations

import json

import pytest

from env_server.tasks.registry import TaskRegistry, load_tasks
from training.grpo import Args, select_tasks
from training.smoke_model import TARGET_LOSS, primed_tiny_model_dir


def test_a_primed_tiny_model_is_right_sometimes_but_not_always():
    import torch

    from env_server.episode.environment import DataOpsEnv
    from env_server.families import make_grader
    from training.embedded_model import cache_dir, load_model
    from training.sft import sft_rows

    tasks = select_tasks(Args(n_tasks=2, difficulty="easy", bug_types="keyword_typo,eq_null,wrong_table"),
                         TaskRegistry(load_tasks()))
    out = primed_tiny_model_dir(tasks)  # the machine's cache, as the demo's and notebook 02's smoke runs use it
    assert out.parent == cache_dir() and out.name.startswith("tiny-primed-")
    record = json.loads((out / "primed.json").read_text())
    assert record["loss_last"] < TARGET_LOSS < record["loss_first"]
    assert record["tasks"] == [t.task_id for t in tasks]
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert primed_tiny_model_dir(tasks, out) == out and (out / "model.safetensors").stat().st_mtime_ns == stamp

    model, tokenizer = load_model(str(out), dtype="float32")
    rows = sft_rows(tasks, DataOpsEnv(TaskRegistry(tasks), grader=make_grader()), tokenizer)
    right = 0
    torch.manual_seed(0)
    for row in rows:
        prompt = tokenizer(row["prompt"], return_tensors="pt")
        answer = tokenizer(row["completion"], add_special_tokens=False).input_ids
        samples = model.generate(**prompt, do_sample=True, temperature=Args().temperature, top_k=0, top_p=1.0,
                                 max_new_tokens=len(answer), num_return_sequences=8, pad_token_id=tokenizer.eos_token_id)
        right += sum(sample[prompt.input_ids.shape[1]:].tolist() == answer for sample in samples)
    assert 0 < right < 8 * len(rows), right


def test_priming_needs_tasks(tmp_path):
    with pytest.raises(ValueError, match="at least one task"):
        primed_tiny_model_dir([], tmp_path)
