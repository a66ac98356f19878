"""The main job, as ``make demo`` runs it: offline, on CPU, on the embedded model.

1. Build the task data if it is missing.
2. A short LoRA GRPO run on the learnable easy debug tasks (``training.grpo``): those the committed
   curriculum probe ``results/runs/cpu-smollm2-debug-s0-probe`` kept, or a fresh ``learnable`` probe.
3. Evaluate the base model, the trained adapter, and the ``oracle`` and ``echo_broken``
   calibrators on the same held-out subset (``training.evaluate``), and compare base with trained,
   paired on tasks.
4. Regenerate the charts (``presentation_graphs.py``).
5. Print a table of the results, each row with the JSON file it came from.

Everything lands in ``results/`` (or ``$DATAOPS_RESULTS_DIR``): ``runs/demo/``,
``eval/demo_*.json``, ``eval/compare_demo_base_vs_demo_trained.json`` and ``figures/``. The
numbers in the table are read back from those files, never computed here.
``DATAOPS_SMOKE=1`` (or ``--smoke``) shrinks every stage to seconds on a tiny local model, for CI.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from env_server.core.provenance import results_dir
from env_server.tasks.registry import builtin_task_files

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of each stage, chosen for about 15 minutes on 2 CPU cores (an estimate from per-completion timings;
    results/runs/demo/metrics.json and the evaluation files record where the time went)."""

    model: str = "embedded:smollm2-135m-instruct"
    """The base model (embedded SmolLM2-135M-Instruct: no network)."""
    curriculum_from: str = "results/runs/cpu-smollm2-debug-s0-probe"
    """A committed curriculum probe of the same base model (relative to the repository): the run trains on the
    tasks it kept (``--curriculum from:``) instead of probing again, which alone would take most of the budget.
    When the folder is missing, the demo probes ``train_candidates`` tasks itself."""
    train_candidates: int = 32
    """Easy debug tasks probed by the learnable curriculum when there is no committed probe."""
    train_bug_types: str = "keyword_typo,eq_null,wrong_table"
    """Bug types of the training candidates: the easy ones the embedded model sometimes fixes."""
    curriculum_k: int = 4
    """Base-model samples per candidate in the curriculum probe."""
    max_steps: int = 8
    """GRPO steps, all of them on any machine (no wall-clock cap: a slower machine takes longer and gets the same
    table); results/runs/demo/stages.json records each stage's seconds and the peak memory."""
    per_device_train_batch_size: int = 2
    """Completions per micro-batch; with ``gradient_accumulation_steps`` 4 each step still sees 8 completions (one
    GRPO group). The backward pass holds every layer's activations for the micro-batch's ~1.2k-token sequences
    (no gradient checkpointing on CPU), so memory scales with this number: batch 4 x 2 peaked at 12.88 GB, over
    Colab's 12.7 GB CPU runtime."""
    gradient_accumulation_steps: int = 4
    """Micro-batches per optimiser step."""
    eval_split: str = "heldout"
    """Held-out split for evaluation: the shape-novel heldout_ood and heldout_external (unseen databases, no gold
    query of a train task's shape; training.task_draws.HELDOUT)."""
    eval_n: int = 60
    """Held-out tasks evaluated (the same tasks for every policy). Too few to detect a small gain: the powered
    comparison is ``python -m training.evaluate`` on 200+ tasks (see the README)."""
    eval_difficulty: str = "easy"
    """Difficulty of the held-out tasks; empty for all."""
    eval_bug_types: str = "keyword_typo,eq_null,wrong_table"
    """Bug types of the held-out tasks: the kinds trained on, on databases and queries never trained on."""
    max_new_tokens: int = 192
    """Completion budget, as in training (Args.max_completion_length)."""
    smoke: bool = False
    """Seconds-long stages on a tiny local model (CI)."""


SMOKE = DemoConfig(train_candidates=2, curriculum_k=2, max_steps=2, eval_n=4, max_new_tokens=96, eval_difficulty="",
                   eval_bug_types="", smoke=True)


def _stage(title: str) -> None:
    print(f"\n== {title} ==", file=sys.stderr, flush=True)


def run(config: DemoConfig = DemoConfig()) -> list[tuple[str, Path]]:
    """Run every stage; returns ``[(label, results JSON path)]`` for the table."""
    from training.evaluate import evaluate, write_comparison
    from training.grpo import Args, train

    started = time.time()
    marks: list[tuple[str, float]] = []

    def stage(title: str) -> None:
        marks.append((title, time.time()))
        _stage(title)

    stage("1/5 task data")
    if not builtin_task_files():
        from env_server.tasks.build import main as build_main
        from env_server.tasks.registry import data_dir

        build_main(data_dir())
    else:
        print("built-in task files present", file=sys.stderr)

    model = config.model

    stage("2/5 GRPO + LoRA on learnable debug tasks")
    probe = REPO / config.curriculum_from if config.curriculum_from else None
    if config.smoke:
        curriculum = "none"
    elif probe is not None and (probe / "config.json").exists():
        curriculum = f"from:{probe}"
        print(f"curriculum: the tasks the committed probe {config.curriculum_from} kept", file=sys.stderr)
    else:
        curriculum = "learnable"
    args = Args(model=model, difficulty="easy", bug_types=config.train_bug_types, n_tasks=config.train_candidates,
                curriculum=curriculum, curriculum_k=config.curriculum_k,
                max_steps=config.max_steps, run_id="demo", max_completion_length=config.max_new_tokens,
                per_device_train_batch_size=config.per_device_train_batch_size,
                gradient_accumulation_steps=config.gradient_accumulation_steps, progress=not config.smoke)
    if config.smoke:  # a tiny model primed on these tasks' answers, so that the smoke steps have a gradient
        from env_server.tasks.registry import TaskRegistry, load_tasks
        from training.grpo import select_tasks
        from training.smoke_model import primed_tiny_model_dir

        args.num_generations, args.per_device_train_batch_size, args.lora_r, args.lora_alpha = 2, 4, 4, 8
        args.gradient_accumulation_steps = 1
        tasks = select_tasks(args, TaskRegistry(load_tasks()))
        args.model = model = str(primed_tiny_model_dir(tasks))
    run_dir = train(args, command="python -m training.demo" + (" --smoke" if config.smoke else ""))

    stage("3/5 held-out evaluation: base, trained, calibrators")
    from training.grpo import sampling_config

    sampling = sampling_config(args, temperature=0.0)  # greedy, with training's length, top_p, top_k, fence stop
    common = dict(split=config.eval_split, n=config.eval_n, difficulty=config.eval_difficulty or None,
                  bug_types=config.eval_bug_types, sampling=sampling, fresh=True, progress=not config.smoke)
    paths = {
        "echo_broken": evaluate("echo_broken", name="demo_echo_broken", **common),
        "base": evaluate("hf", model=model, name="demo_base", **common),
        "trained": evaluate("hf", model=model, adapter=str(run_dir / "adapter"), name="demo_trained",
                            train_seed=args.seed, **common),
        "oracle": evaluate("oracle", name="demo_oracle", **common),
    }
    comparison = write_comparison(paths["base"], [paths["trained"]], name="compare_demo_base_vs_demo_trained")

    stage("4/5 charts")
    import presentation_graphs

    presentation_graphs.render(results_dir(), results_dir() / "figures")

    finished = time.time()
    _write_stages(run_dir, marks, finished, config)
    _stage(f"5/5 results (all stages: {finished - started:.0f} s)")
    rows = [("training run", run_dir / "metrics.json"), *paths.items(), ("trained - base", comparison)]
    print_table(rows)
    return [(label, Path(path)) for label, path in rows]


def _write_stages(run_dir: Path, marks: list[tuple[str, float]], finished: float, config: DemoConfig) -> None:
    """``run_dir/stages.json``: the wall-clock seconds of every stage and in all, with provenance."""
    from dataclasses import asdict

    from env_server.core.provenance import peak_rss_gb, provenance, write_results

    ends = [t for _, t in marks[1:]] + [finished]
    payload = {
        "provenance": provenance(model=config.model, split=config.eval_split, seeds=[0], config=asdict(config)),
        "summary": {"total_seconds": round(finished - marks[0][1], 1), "peak_rss_gb": peak_rss_gb()},
        "stages": [{"stage": title, "seconds": round(end - start, 1)} for (title, start), end in zip(marks, ends)],
    }
    write_results(run_dir / "stages.json", payload)


def print_table(rows: list[tuple[str, Path]]) -> None:
    """The results, read back from their JSON files, one row per file."""
    print(f"{'':<15} {'success (95% CI)':<24} {'mean reward (95% CI)':<26} file")
    for label, path in rows:
        payload = json.loads(Path(path).read_text())
        summary = payload.get("summary", {})
        if "success_rate" in summary:
            s, r = summary["success_rate"], summary["mean_reward"]
            print(f"{label:<15} {s['mean']:.3f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]{'':<6} "
                  f"{r['mean']:.3f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]{'':<8} {path}")
        elif "success_delta" in summary:
            s, r = summary["success_delta"], summary["reward_delta"]
            print(f"{label:<15} {s['mean']:+.3f} [{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}]{'':<4} "
                  f"{r['mean']:+.3f} [{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]{'':<6} {path}")
            print(f"{'':<15} exact McNemar p = {summary['p_value']:.3g} on {summary['n_tasks']} paired tasks")
        else:  # the training run's metrics.json
            rew = payload["reward"]
            print(f"{label:<15} reward {rew['reward_first']:.3f} -> {rew['reward_last']:.3f} over "
                  f"{payload['steps']} steps ({payload['n_train_tasks']} tasks){'':<2} {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, seconds per stage (CI)")
    parser.add_argument("--max-steps", type=int, default=None, help="GRPO steps (default 8)")
    parser.add_argument("--eval-n", type=int, default=None, help="held-out tasks (default 60)")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke or os.environ.get("DATAOPS_SMOKE") == "1" else DemoConfig()
    overrides = {k: v for k, v in (("max_steps", args.max_steps), ("eval_n", args.eval_n)) if v is not None}
    if overrides:
        from dataclasses import replace

        config = replace(config, **overrides)
    run(config)


if __name__ == "__main__":
    main()
