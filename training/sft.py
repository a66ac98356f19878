"""The supervised control for a GRPO run: LoRA SFT on the gold fixes of the same tasks, same rank, same steps.

A reviewer asks whether RL is what helped, or whether any training on those tasks would have. This module answers
with the obvious alternative: take a GRPO run's curriculum (the task ids its ``config.json`` kept), build the same
single-turn prompts the run trained on, and fine-tune the same model with the same LoRA adapter (rank, alpha,
dropout, target modules), learning rate and number of optimiser steps on the gold answer of each task, with TRL's
``SFTTrainer`` (loss on the completion only). The run folder has the layout of a GRPO run, so
``python -m training.evaluate --run results/runs/<id>`` evaluates it, and its ``config.json`` says
``"method": "sft"`` so the evaluation records the policy kind ``sft``.

    python -m training.sft --from-run results/runs/grpo-debug-s0 --run-id sft-debug-s0

Each optimiser step sees ``--batch-size`` examples (default 8: the GRPO run's 8 completions per step), so both
arms take the same number of steps over the same tasks; the gold answer is the gold query in one fenced block,
which is exactly what the reward scores 1.0.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from env_server.core.provenance import peak_rss_gb, provenance, results_dir
from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import Task
from reward_fns.prompts import FENCE
from training.task_draws import split_hash

LORA_FIELDS = ("model", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "learning_rate", "max_steps",
               "max_completion_length", "top_p", "top_k", "stop_at_fence", "temperature")
"""What the SFT run copies from the GRPO run it controls for (its config.json ``args``)."""


@dataclass
class SFTArgs:
    """Configuration of one SFT control run."""

    from_run: str = ""
    """The GRPO run folder (results/runs/<id>) whose tasks, model, LoRA settings and step count are copied."""
    max_steps: int = 0
    """Optimiser steps; 0 = the GRPO run's max_steps."""
    batch_size: int = 8
    """Examples per optimiser step (the GRPO run's completions per step)."""
    micro_batch_size: int = 2
    """Examples per forward pass; the step accumulates ``batch_size / micro_batch_size`` of them. Eight
    schema-long prompts in one pass hold 8 x ~1.5k x 49k float32 logits (with their softmax and entropy
    copies): 16.7 GB on CPU, killed by the OOM killer; two at a time keep the run under 6 GB."""
    seed: int = 0
    """Seeds the example order, LoRA initialisation and torch."""
    run_id: str = ""
    """Run folder name under results/runs; empty = 'sft-' + the GRPO run's id."""
    output_dir: str = ""
    """Where run folders go; empty = results/runs (or $DATAOPS_RESULTS_DIR/runs)."""
    progress: bool = True
    """Show progress bars."""


def source_run(run_dir: Path) -> dict[str, Any]:
    """The GRPO run's ``config.json``, or a clear error when ``run_dir`` is not a run folder with a curriculum."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise SystemExit(f"--from-run {run_dir}: no config.json there (expected results/runs/<id> of a GRPO run)")
    record = json.loads(path.read_text())
    if not record.get("task_ids"):
        raise SystemExit(f"--from-run {run_dir}: its config.json lists no task_ids")
    return record


def gold_answer(task: Task) -> str:
    """What the model should write after the opened ```sql fence: the gold query and the closing fence."""
    if not task.gold_sql:
        raise SystemExit(f"task {task.task_id} has no gold query: SFT needs single-query tasks (debug, analyst)")
    return f"{task.gold_sql.strip()}\n{FENCE}"


def sft_rows(tasks: list[Task], env: DataOpsEnv, tokenizer: Any) -> list[dict[str, str]]:
    """One prompt/completion row per task: the rendered single-turn prompt GRPO trained on, and the gold answer."""
    from reward_fns.prompts import single_turn_prompt
    from training.generation import prompt_text

    return [{"prompt": prompt_text(tokenizer, single_turn_prompt(env, task.task_id)), "completion": gold_answer(task),
             "task_id": task.task_id} for task in tasks]


def train_sft(args: SFTArgs, argv: list[str] | None = None) -> Path:
    """Run the SFT control; returns its run folder (config.json, log_history.jsonl, metrics.json, adapter/)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from training.embedded_model import load_model, resolve_model

    started = time.time()
    source_dir = Path(args.from_run)
    source = source_run(source_dir)
    grpo_args = source["provenance"]["config"]["args"]
    copied = {k: grpo_args[k] for k in LORA_FIELDS if k in grpo_args}
    steps = args.max_steps or int(copied["max_steps"])
    set_seed(args.seed)
    has_gpu = torch.cuda.is_available()
    registry = TaskRegistry(load_tasks())
    tasks = [registry.get(task_id) for task_id in source["task_ids"]]
    env = DataOpsEnv(registry, grader=make_grader())
    model, tokenizer = load_model(resolve_model(copied["model"]), dtype="float32")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    dataset = Dataset.from_list(sft_rows(tasks, env, tokenizer)).shuffle(seed=args.seed)
    run_id = args.run_id or f"sft-{source_dir.name}"
    run_dir = (Path(args.output_dir) if args.output_dir else results_dir() / "runs") / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    peft_config = LoraConfig(r=copied["lora_r"], lora_alpha=copied["lora_alpha"], lora_dropout=copied["lora_dropout"],
                             target_modules=[m.strip() for m in copied["lora_targets"].split(",") if m.strip()],
                             task_type="CAUSAL_LM")
    device = {} if has_gpu else {"use_cpu": True, "bf16": False, "gradient_checkpointing": False}
    micro = min(args.micro_batch_size, args.batch_size)
    if micro < 1 or args.batch_size % micro:
        raise SystemExit(f"--batch-size ({args.batch_size}) must be a multiple of --micro-batch-size ({micro})")
    config = SFTConfig(output_dir=str(run_dir / "trainer"), learning_rate=copied["learning_rate"], max_steps=steps,
                       per_device_train_batch_size=micro, gradient_accumulation_steps=args.batch_size // micro,
                       completion_only_loss=True, max_length=4096, logging_steps=1, seed=args.seed,
                       data_seed=args.seed, report_to="none", save_strategy="no", disable_tqdm=not args.progress,
                       lr_scheduler_type="linear", **device)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset.remove_columns(["task_id"]),
                         processing_class=tokenizer, peft_config=peft_config)
    record = {
        "provenance": provenance(
            command=("python -m training.sft " + shlex.join(argv)).strip() if argv is not None
            else "training.sft.train_sft(SFTArgs(...)) from Python",
            hardware=torch.cuda.get_device_name(0) if has_gpu else f"CPU ({os.cpu_count()} cores)",
            model=copied["model"], adapter=None, split="train", split_sha256=split_hash(tasks), seeds=[args.seed],
            config={"method": "sft", "controls_for": str(source_dir), "sft_args": dataclasses.asdict(args),
                    "args": {**copied, "max_steps": steps, "seed": args.seed},
                    "sft": {"batch_size": args.batch_size, "micro_batch_size": micro, "max_steps": steps, "completion_only_loss": True,
                            "lr_scheduler_type": "linear"},
                    "n_train_tasks": len(tasks), "device": "cuda" if has_gpu else "cpu"},
        ),
        "curriculum": {"kind": "copied", "reused_from": str(source_dir / "config.json"), "kept": len(tasks)},
        "task_ids": [t.task_id for t in tasks],
    }
    (run_dir / "config.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    trainer.train()
    history = list(trainer.state.log_history)
    with (run_dir / "log_history.jsonl").open("w") as fh:
        for entry in history:
            fh.write(json.dumps(entry, default=float) + "\n")
    losses = [h["loss"] for h in history if "loss" in h]
    metrics = {"run_id": run_id, "method": "sft", "steps": trainer.state.global_step, "n_train_tasks": len(tasks),
               "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
               "wall_seconds": round(time.time() - started, 3), "peak_rss_gb": peak_rss_gb()}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    from training.adapters import save_fp16

    save_fp16(trainer.model, tokenizer, run_dir / "adapter", base_model=copied["model"])
    print(json.dumps({"run_dir": str(run_dir), **metrics}, indent=2))
    return run_dir


def parse_args(argv: list[str] | None = None) -> SFTArgs:
    parser = argparse.ArgumentParser(prog="python -m training.sft", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--from-run", required=True, help="the GRPO run folder whose tasks and settings are copied (results/runs/<id>)")
    parser.add_argument("--max-steps", type=int, default=0, help="optimiser steps (0 = the GRPO run's)")
    parser.add_argument("--batch-size", type=int, default=8, help="examples per optimiser step")
    parser.add_argument("--micro-batch-size", type=int, default=2,
                        help="examples per forward pass (the step accumulates batch-size / micro-batch-size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-id", default="", help="run folder name (default sft-<GRPO run id>)")
    parser.add_argument("--output-dir", default="", help="where run folders go (default results/runs)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    return SFTArgs(**{k.replace("-", "_"): v for k, v in vars(parser.parse_args(argv)).items()})


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    train_sft(parse_args(argv), argv)


if __name__ == "__main__":
    main()
