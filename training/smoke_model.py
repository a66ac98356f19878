"""A tiny model primed on the gold answers of its smoke tasks, so that a smoke GRPO run has a gradient.

A random tiny model (:func:`training.embedded_model.tiny_model_dir`) never writes a query that runs, so every
completion of a GRPO group earns the same reward (0). Every advantage is then 0, and so are the loss and the
gradient: the run "trains" and the adapter stays as it was initialised, which proves nothing about the training
path. :func:`primed_tiny_model_dir` teaches the tiny model, by teacher forcing on all its weights, the gold answer of
each task the smoke run trains on: the rendered single-turn prompt GRPO sees, then the gold query and the closing
fence (:func:`training.sft.sft_rows`). It stops as soon as the mean loss per answer token falls under a bound, so
the model is right often but not always: sampled, it writes the gold answer in some completions and something else
in others, the rewards of a group differ, and a GRPO step moves the adapter. ``tests/test_smoke_model.py`` checks
that its samples are right sometimes but not always; ``tests/test_demo.py``, that the demo's smoke run has a
non-zero gradient norm.

The primed folder is written once per task list and setting (``primed.json`` records them) and reused after: by
default under :func:`training.embedded_model.cache_dir`, named by a hash of both, so the smoke runs of a machine
(the demo's and notebook 02's) prime once.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from env_server.tasks.spec import Task

TARGET_LOSS = 0.2
"""Mean cross-entropy per answer token (at temperature 1) at which priming stops. Training samples at temperature
0.5 (``Args.temperature``), which sharpens the model: primed to 0.03, every sampled completion was the gold answer
(all rewards equal, no gradient); primed to 0.15-0.3, groups held both right and wrong answers (measured on the
demo's smoke tasks)."""


def _key(tasks: Sequence[Task], target_loss: float, max_steps: int, learning_rate: float, seed: int) -> str:
    text = json.dumps([[t.task_id, t.gold_sql] for t in tasks] + [target_loss, max_steps, learning_rate, seed])
    return hashlib.sha256(text.encode()).hexdigest()


def primed_tiny_model_dir(tasks: Sequence[Task], out: Path | None = None, *, target_loss: float = TARGET_LOSS,
                          max_steps: int = 400, learning_rate: float = 3e-3, seed: int = 0) -> Path:
    """The folder of a tiny random model primed on the gold answers of ``tasks``, written once; ``out`` defaults to
    ``<cache_dir>/tiny-primed-<hash of the tasks and settings>``.

    Each step is one pass over every task (a full-weight AdamW update on the summed answer-token loss); priming
    stops when the mean loss per answer token is under ``target_loss``, or after ``max_steps`` steps, which raises
    (a smoke run would then train nothing). Seeded: the same tasks and settings give the same weights. The folder
    is written beside its final name and renamed into place, so processes priming at once never see half of it."""
    import os
    import shutil
    import tempfile

    import torch

    from env_server.episode.environment import DataOpsEnv
    from env_server.families import make_grader
    from env_server.tasks.registry import TaskRegistry
    from training.embedded_model import cache_dir, load_model, tiny_model_dir
    from training.sft import sft_rows

    if not tasks:
        raise ValueError("priming needs at least one task")
    key = _key(tasks, target_loss, max_steps, learning_rate, seed)
    out = Path(out) if out is not None else cache_dir() / f"tiny-primed-{key[:16]}"
    if _primed(out, key):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the cache's other folders are readable
    tiny_model_dir(work, seed=seed)
    model, tokenizer = load_model(str(work), dtype="float32")
    env = DataOpsEnv(TaskRegistry(list(tasks)), grader=make_grader())
    examples = []
    for row in sft_rows(list(tasks), env, tokenizer):
        prompt = tokenizer(row["prompt"]).input_ids
        answer = tokenizer(row["completion"], add_special_tokens=False).input_ids
        ids = torch.tensor([prompt + answer[:-1]])
        examples.append((ids, torch.tensor(answer)))
    answer_tokens = sum(len(answer) for _, answer in examples)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model.train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
        losses: list[float] = []
        for _ in range(max_steps):
            optimiser.zero_grad()
            total = 0.0
            for ids, answer in examples:  # logits for the answer positions only: the 49k-wide head is the cost
                logits = model(input_ids=ids, logits_to_keep=len(answer)).logits[0]
                loss = torch.nn.functional.cross_entropy(logits.float(), answer, reduction="sum")
                loss.backward()
                total += loss.item()
            losses.append(total / answer_tokens)
            if losses[-1] < target_loss:
                break
            optimiser.step()
        else:
            raise RuntimeError(f"priming the tiny model did not reach a loss of {target_loss} per answer token in "
                               f"{max_steps} steps (last {losses[-1]:.3f})")
    model.eval()
    model.save_pretrained(work)
    (work / "primed.json").write_text(json.dumps({"key": key, "tasks": [t.task_id for t in tasks], "steps": len(losses),
                                                 "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
                                                 "target_loss": target_loss}, indent=2) + "\n")
    if out.exists():  # a stale folder (other settings under this name), or another process won the race
        if _primed(out, key):
            shutil.rmtree(work, ignore_errors=True)
            return out
        shutil.rmtree(out)
    os.replace(work, out)
    return out


def _primed(out: Path, key: str) -> bool:
    record = out / "primed.json"
    return record.exists() and json.loads(record.read_text()).get("key") == key
