"""One readable LoRA GRPO run against the environment's own reward.

Read top to bottom: ``Args`` (the whole configuration, one docstring per field), the task dataset,
the optional ``learnable`` curriculum, the reward functions, TRL's ``GRPOTrainer`` with a LoRA
adapter, and the run folder. Everything a run writes goes under ``results/runs/<run_id>/``:

* ``config.json``: the Args, provenance (git sha, command, model, split hash, seeds, time, machine),
  ``RewardConfig``, the curriculum's outcome and the TRL config essentials;
* ``log_history.jsonl``: TRL's logs, one JSON object per logging step;
* ``metrics.json``: reward at the start and the end, and where the wall time went (generation,
  reward computation, optimisation);
* ``adapter/``: the LoRA adapter, fp16 safetensors (``training.adapters``; the reported runs' are committed).

Run it as ``python -m training.grpo --max-steps 30`` (CPU, the embedded model), under
``accelerate launch -m training.grpo ...`` for several GPUs, or from a notebook with
``train(Args(...))``. On a machine without a GPU the CPU-safe settings (``use_cpu``, no bf16, no
gradient checkpointing) are switched on automatically.

Size: over 600 lines by design: one readable run in one file, CleanRL style (Args, curriculum, reward functions, trainer, run folder).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import inspect
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from env_server.core.provenance import peak_rss_gb, provenance, results_dir
from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.grading.reward import RewardConfig
from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import Task
from reward_fns.backend import GradingBackend, InProcessBackend
from reward_fns.execution import (
    execution_reward,
    format_reward,
    grade_outcomes,
    safety_reward,
    with_backend,
)
from reward_fns.gated import gated_reward
from reward_fns.prompts import (
    FENCE,
    MULTI_TURN_SYSTEM,
    RESPONSE_PREFIXES,
    single_turn_prompt,
)
from training.embedded_model import precision_for
from training.generation import stop_token_ids
from training.task_draws import draw_tasks, split_hash


@dataclass
class Args:
    """Configuration of one GRPO run. ``python -m training.grpo --help`` lists every field."""

    model: str = "embedded:smollm2-135m-instruct"
    """HF model id or local path; the default is the embedded SmolLM2-135M-Instruct (no network)."""
    families: str = "debug"
    """Comma-separated task families to train on."""
    split: str = "train"
    """Task split to draw training tasks from."""
    difficulty: str = ""
    """Only tasks of these comma-separated difficulties (easy, medium, hard; e.g. easy,medium); empty for all."""
    bug_types: str = ""
    """debug: only tasks with one of these comma-separated bug types (e.g. keyword_typo); empty for all."""
    n_tasks: int = 64
    """Candidate tasks drawn (seeded) from the split before the curriculum."""
    curriculum: str = "none"
    """'none' keeps every candidate; 'learnable' keeps tasks the base model solves sometimes but not always;
    'from:RUN_DIR' trains on the tasks an earlier run's curriculum kept (its config.json), without probing again."""
    curriculum_k: int = 4
    """Samples per candidate task for the 'learnable' curriculum."""
    curriculum_temperature: float = 0.5
    """Sampling temperature of the curriculum probe (should match training's)."""
    multi_turn: bool = False
    """Train multi-turn episodes through TRL's environment_factory instead of one-completion answers."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA alpha (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """LoRA dropout."""
    lora_targets: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    """Comma-separated module names LoRA adapts."""
    learning_rate: float = 1e-4
    """AdamW learning rate of the adapter (GRPOConfig learning_rate)."""
    num_generations: int = 8
    """Completions per prompt, the GRPO group (GRPOConfig num_generations)."""
    per_device_train_batch_size: int = 8
    """Completions per device per step; with gradient accumulation, a multiple of num_generations."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimiser step."""
    max_completion_length: int = 192
    """Longest completion, in tokens: comfortably longer than the longest gold fix with its fences. A run's
    metrics.json reports the clipped ratio it left (TRL's completions/clipped_ratio)."""
    mask_truncated_completions: bool = True
    """Leave completions cut off by max_completion_length out of the loss (GRPOConfig)."""
    loss_type: str = "dapo"
    """GRPOConfig loss_type: dapo (token-level, no length bias), grpo, dr_grpo, bnpo..."""
    scale_rewards: str = "batch"
    """GRPOConfig scale_rewards: batch (one std over the batch), group (per-group std: tiny reward
    differences in a group become full-size advantages) or none."""
    epsilon: float = 0.2
    """Lower clipping bound of the policy ratio (GRPOConfig epsilon)."""
    epsilon_high: float = 0.28
    """Upper clipping bound of the policy ratio (GRPOConfig epsilon_high; DAPO's clip-higher)."""
    temperature: float = 0.5
    """Sampling temperature during training (the 135M default model writes noise at 1.0 and solves almost
    nothing at 0.7)."""
    top_p: float = 1.0
    """Nucleus sampling mass during training (GRPOConfig top_p); evaluation samples with the same settings."""
    top_k: int = 0
    """Top-k during training (GRPOConfig top_k; 0 = off)."""
    beta: float = 0.0
    """KL coefficient against the reference model (0 = no reference model, TRL's default)."""
    format_weight: float = 0.1
    """Weight of format_reward (one well-formed ```sql block); shaping, kept below the outcome's margin."""
    safety_weight: float = 1.0
    """Weight of safety_reward (the reviewer's penalty for SQL it would block)."""
    gate_shaping: bool = True
    """Zero every reward of a group with no success, so shaping (partial credit, format, safety) gives no
    gradient there (reward_fns.gated); --no-gate-shaping sums the three reward functions as TRL does."""
    stop_at_fence: bool = True
    """End completions at the closing ```: the single-turn debug/repair prompt opens the fence for the model."""
    precision: str = "auto"
    """auto: bf16 on GPUs of compute capability >= 8.0 (A100, H100, L4...), fp16 mixed precision on older
    GPUs (T4, V100), fp32 on CPU; or one of bf16, fp16, fp32."""
    max_steps: int = 30
    """Optimiser steps."""
    max_train_minutes: float = 0.0
    """Stop training after this many minutes of wall time (0 = no limit); the run keeps what it learnt so far.
    Not for reported runs: another machine would train another adapter (stop by --max-steps)."""
    save_steps: int = 0
    """Save a resumable checkpoint (adapter, optimiser, scheduler and RNG states) into RUN_DIR/trainer every this
    many steps (0 = none). Started again with the same --run-id, the run resumes from its newest checkpoint and
    still ends at --max-steps: a long CPU run can be stopped and continued."""
    probe_only: bool = False
    """Stop after the curriculum: write config.json (pass rates, kept tasks) and train nothing. Runs then train on
    it with --curriculum from:RUN_DIR (every seed on the same tasks)."""
    logging_steps: int = 1
    """Log every this many steps."""
    seed: int = 0
    """Seeds task sampling, the curriculum probe, TRL and torch."""
    output_dir: str = ""
    """Where run folders go; empty means results/runs (or $DATAOPS_RESULTS_DIR/runs)."""
    run_id: str = ""
    """Name of the run folder; empty for '<profile>-<UTC time>' ('custom-<UTC time>' without a profile)."""
    profile: str = ""
    """The profile (training/profiles.py) these Args started from; set by --profile, recorded, names the run."""
    use_vllm: bool = False
    """Generate with vLLM (GPU only; colocate mode)."""
    save_adapter: bool = True
    """Save the LoRA adapter into the run folder."""
    max_tool_calling_iterations: int = 4
    """multi_turn: tool calls allowed per rollout."""
    progress: bool = True
    """Show progress bars."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further GRPOConfig fields, passed through unchanged; on the command line --grpo KEY=VALUE (repeatable)."""


# -- the command line: one flag per Args field, help from the field docstrings -------------------------------------


def _field_docs(cls: type) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            docs[node.target.id] = str(following.value.value)  # type: ignore[attr-defined]
    return docs


def grpo_overrides(items: list[str]) -> dict[str, Any]:
    """``--grpo KEY=VALUE`` items as GRPOConfig fields: each value read as a Python literal (``True``, ``0.9``,
    ``{'stop': ['x']}``), else kept as a string; a key that is not a GRPOConfig field, or that has its own flag
    (an Args field), is refused with a one-line error.

    >>> grpo_overrides(["gradient_checkpointing=True", "vllm_gpu_memory_utilization=0.5", "vllm_mode=server"])
    {'gradient_checkpointing': True, 'vllm_gpu_memory_utilization': 0.5, 'vllm_mode': 'server'}
    """
    import difflib

    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    own = {f.name for f in dataclasses.fields(Args)}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SystemExit(f"--grpo takes KEY=VALUE (a GRPOConfig field), got {item!r}")
        if key in own:
            raise SystemExit(f"--grpo {key}: set it with its own flag, --{key.replace('_', '-')}")
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            raise SystemExit(f"--grpo {key}: not a field of trl.GRPOConfig"
                             + (f" (did you mean {', '.join(close)}?)" if close else ""))
        try:
            out[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[key] = raw.strip()
    return out


def parse_args(argv: list[str] | None = None) -> Args:
    """Args from the command line (``--max-steps 30 --multi-turn``). ``--profile NAME`` starts from one of
    :data:`training.profiles.PROFILES`; flags given after it override its values. Every other GRPOConfig field is
    ``--grpo KEY=VALUE`` (:func:`grpo_overrides`)."""
    from training.profiles import PROFILES, profile_args

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--profile", default=None)
    known, _ = pre.parse_known_args(argv)
    parser = argparse.ArgumentParser(prog="python -m training.grpo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--profile", default=None, choices=sorted(PROFILES),
                        help="start from a named set of defaults (training/profiles.py); other flags override it")
    docs = _field_docs(Args)
    defaults = profile_args(known.profile) if known.profile else Args()
    parser.add_argument("--grpo", action="append", default=[], metavar="KEY=VALUE",
                        help="any other trl.GRPOConfig field, e.g. --grpo gradient_checkpointing=True --grpo "
                             "vllm_gpu_memory_utilization=0.5 (repeatable; values read as Python literals, else strings)")
    for f in dataclasses.fields(Args):
        if f.name in ("extra", "profile"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=docs.get(f.name))
        else:
            parser.add_argument(flag, type=type(default), default=default, help=docs.get(f.name))
    values = vars(parser.parse_args(argv))
    values["profile"] = values.pop("profile") or ""
    values["extra"] = {**defaults.extra, **grpo_overrides(values.pop("grpo"))}
    return Args(**values)


# -- tasks and the dataset -----------------------------------------------------------------------------------------


def select_tasks(args: Args, registry: TaskRegistry) -> list[Task]:
    """The candidate tasks: the split, families, difficulty and bug types asked for, drawn with the run's seed."""
    try:
        return draw_tasks(registry, args.split, families=args.families, n=args.n_tasks, seed=args.seed,
                          difficulty=args.difficulty or None, bug_types=args.bug_types)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def task_prompts(tasks: list[Task], env: DataOpsEnv) -> dict[str, list[dict[str, str]]]:
    """The single-turn chat prompt (system + task) of each task, from the environment's own observation."""
    return {task.task_id: single_turn_prompt(env, task.task_id) for task in tasks}


def build_dataset(tasks: list[Task], prompts: dict[str, list[dict[str, str]]], multi_turn: bool, tokenizer: Any):
    """A HF ``datasets.Dataset``: ``prompt``, ``task_id`` and ``family`` (+ ``environment``).

    A single-turn prompt is the rendered text (:func:`training.generation.prompt_text`), not the chat messages:
    TRL would render messages with a new assistant turn after the started reply ("```sql"), and the model
    would begin again. Multi-turn prompts stay messages (the environment wrapper appends to them)."""
    from datasets import Dataset

    from training.generation import prompt_text

    rows = []
    for task in tasks:
        if multi_turn:  # the environment's reset() appends the task text to the user message
            prompt = [{"role": "system", "content": MULTI_TURN_SYSTEM}, {"role": "user", "content": "Your task:"}]
            rows.append({"prompt": prompt, "task_id": task.task_id, "family": task.family, "environment": task.family})
        else:
            rows.append({"prompt": prompt_text(tokenizer, prompts[task.task_id]), "task_id": task.task_id,
                         "family": task.family})
    return Dataset.from_list(rows)


# -- the 'learnable' curriculum ------------------------------------------------------------------------------------


def reused_curriculum(run_dir: Path, registry: TaskRegistry) -> tuple[list[Task], dict]:
    """The tasks an earlier run trained on (``run_dir/config.json``'s ``task_ids``) and its curriculum record."""
    config_path = run_dir / "config.json" if run_dir.is_dir() else run_dir
    if not config_path.exists():
        raise SystemExit(f"--curriculum from:{run_dir}: no config.json there (expected results/runs/<id>)")
    record = json.loads(config_path.read_text())
    tasks = [registry.get(task_id) for task_id in record["task_ids"]]
    curriculum = {k: v for k, v in record.get("curriculum", {}).items()}
    curriculum["reused_from"] = str(config_path)
    return tasks, curriculum


def stop_at_fence(args: Args, tasks: list[Task]) -> bool:
    """Whether generation ends at the closing fence: asked for, single-turn, and every task's prompt opens one."""
    return (args.stop_at_fence and not args.multi_turn
            and all(RESPONSE_PREFIXES.get(t.family, "").startswith(FENCE) for t in tasks))


def sampling_config(args: Args, temperature: float | None = None, batch_size: int = 16):
    """The :class:`~training.generation.SamplingConfig` that samples as this run's training does."""
    from training.generation import SamplingConfig

    return SamplingConfig(max_new_tokens=args.max_completion_length,
                          temperature=args.temperature if temperature is None else temperature,
                          top_p=args.top_p, top_k=args.top_k, batch_size=batch_size,
                          stop_at_fence=args.stop_at_fence)


PROBE_CHUNK = 16
"""Candidate tasks the curriculum probe samples per generate call. Each chunk's pass rates are appended to
``RUN_DIR/probe.partial.jsonl`` when it is graded, so a stopped probe started again resumes at the first chunk it
had not finished (same chunks, same seeds: the same pass rates as a probe that ran through)."""


def _probe_header(args: Args, tasks: list[Task]) -> dict[str, Any]:
    """What a partial probe must share with this one to be resumed: the sampling and the candidates, in order."""
    return {"k": args.curriculum_k, "temperature": args.curriculum_temperature, "seed": args.seed,
            "model": args.model, "max_completion_length": args.max_completion_length, "chunk": PROBE_CHUNK,
            "top_p": args.top_p, "top_k": args.top_k, "stop_at_fence": args.stop_at_fence,
            "candidates": hashlib.sha256("\n".join(t.task_id for t in tasks).encode()).hexdigest()}


def _probe_done(partial: Path | None, header: dict[str, Any]) -> dict[str, float]:
    """Pass rates an earlier, interrupted probe with the same header left in ``partial``; {} when none."""
    if partial is None or not partial.exists():
        return {}
    lines = partial.read_text().splitlines()
    if not lines or json.loads(lines[0]) != header:
        print(f"{partial}: an interrupted probe with other settings; starting the probe again", file=sys.stderr)
        return {}
    done = {}
    for line in lines[1:]:
        if line.strip():
            done.update(json.loads(line))
    return done


def learnable_tasks(args: Args, tasks: list[Task], prompts, model, tokenizer,
                    backend: GradingBackend, partial: Path | None = None) -> tuple[list[Task], dict]:
    """Keep tasks whose base-model pass rate over ``curriculum_k`` samples is strictly between 0 and 1:
    a GRPO group with identical rewards has zero advantage and teaches nothing.

    Candidates are sampled :data:`PROBE_CHUNK` at a time (chunk ``i`` with seed ``args.seed + i``); with
    ``partial`` each chunk's rates are appended there, and chunks already there are not sampled again."""
    from training.generation import ChatGenerator

    sampling = sampling_config(args, args.curriculum_temperature, batch_size=max(args.per_device_train_batch_size, 16))
    header = _probe_header(args, tasks)
    done = _probe_done(partial, header)
    if partial is not None and not done:
        partial.write_text(json.dumps(header) + "\n")
    generator = None
    was_training = getattr(model, "training", False)
    try:
        for start in range(0, len(tasks), PROBE_CHUNK):
            chunk = tasks[start: start + PROBE_CHUNK]
            if all(t.task_id in done for t in chunk):
                continue
            if generator is None:
                model.eval()  # sample the base model as evaluation does (no dropout), then back to training mode
                generator = ChatGenerator(model, tokenizer)
            completions = generator.generate([prompts[t.task_id] for t in chunk], sampling, n=args.curriculum_k,
                                             seed=args.seed + start, progress=args.progress, desc="curriculum probe")
            rates = {}
            for task, samples in zip(chunk, completions):
                graded = grade_outcomes(samples, [task.task_id] * len(samples), backend)
                rates[task.task_id] = sum(outcome.grade["success"] for _, outcome in graded) / len(graded)
            done.update(rates)
            if partial is not None:
                with partial.open("a") as sink:
                    sink.write(json.dumps(rates) + "\n")
            print(f"curriculum probe: {min(start + PROBE_CHUNK, len(tasks))}/{len(tasks)} tasks sampled",
                  file=sys.stderr, flush=True)
    finally:
        if generator is not None:
            model.train(was_training)
    rates = {t.task_id: done[t.task_id] for t in tasks}
    kept = [t for t in tasks if 0.0 < rates[t.task_id] < 1.0]
    summary = {
        "kind": "learnable", "k": args.curriculum_k, "temperature": args.curriculum_temperature,
        "candidates": len(tasks), "kept": len(kept), "chunk": PROBE_CHUNK,
        "always_solved": sum(r == 1.0 for r in rates.values()), "never_solved": sum(r == 0.0 for r in rates.values()),
        "pass_rates": rates,
    }
    return kept, summary


# -- timing: where the wall time goes ------------------------------------------------------------------------------


class Clock:
    """Accumulates wall time per phase for one run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, phase: str, fn: Callable) -> Callable:
        def timed(*a, **kw):
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started
                self.calls[phase] = self.calls.get(phase, 0) + 1

        timed.__name__ = getattr(fn, "__name__", phase)
        return timed


class TimedReward:
    """A reward function that also charges its wall time to the run's clock (keeps ``__name__`` for TRL's logs)."""

    def __init__(self, fn: Callable, clock: Clock):
        self.timed, self.__name__ = clock.wrap("reward", fn), fn.__name__

    def __call__(self, *args, **kwargs):
        return self.timed(*args, **kwargs)


def wall_clock_limit(minutes: float):
    """A transformers ``TrainerCallback`` that ends training once ``minutes`` of wall time have passed since
    training began (checked after each optimiser step)."""
    from transformers import TrainerCallback

    class WallClockLimit(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.time() + minutes * 60

        def on_step_end(self, args, state, control, **kwargs):
            if time.time() >= self.deadline:
                control.should_training_stop = True
            return control

    return WallClockLimit()


# -- the run -------------------------------------------------------------------------------------------------------


def _default_run_id(args: Args, now: float | None = None) -> str:
    """``<profile>-<UTC time>`` (``custom-...`` without a profile): unique per start, and it says what ran.

    >>> _default_run_id(Args(profile="gpu-qwen0.5b"), now=0), _default_run_id(Args(), now=86400)
    ('gpu-qwen0.5b-19700101-000000', 'custom-19700102-000000')
    """
    return f"{args.profile or 'custom'}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}"


def vllm_generation_kwargs(args: Args, fence_stop: bool) -> dict[str, Any] | None:
    """What GRPOConfig's ``generation_kwargs`` must carry for vLLM to end completions where HF generation does.

    TRL builds vLLM's ``SamplingParams`` from its own sampling fields and ``generation_kwargs`` only; the model's
    ``generation_config`` (where :func:`prepare` puts the fence's token ids for HF generation) never reaches vLLM.
    So with ``--use-vllm`` and the fence stop, the closing fence becomes a stop string, kept in the output as HF
    generation keeps the fence token. None otherwise (HF generation would reject vLLM's ``stop``).

    >>> vllm_generation_kwargs(Args(use_vllm=True), fence_stop=True)
    {'stop': ['```'], 'include_stop_str_in_output': True}
    >>> vllm_generation_kwargs(Args(), fence_stop=True) is None
    True
    """
    if not (args.use_vllm and fence_stop):
        return None
    return {"stop": [FENCE], "include_stop_str_in_output": True}


def _grpo_config(args: Args, run_dir: Path, has_gpu: bool, reward_weights: list[float], precision: str,
                 fence_stop: bool = False):
    """The ``trl.GRPOConfig`` of a run: Args' fields, the CPU-safe or GPU precision settings, the vLLM stop
    (:func:`vllm_generation_kwargs`), then ``args.extra`` (``--grpo KEY=VALUE``) over all of it."""
    from trl import GRPOConfig

    cpu_safe = ({"bf16": precision == "bf16", "fp16": precision == "fp16"} if has_gpu
                else {"use_cpu": True, "bf16": False, "gradient_checkpointing": False})
    kwargs: dict[str, Any] = dict(
        output_dir=str(run_dir / "trainer"),
        learning_rate=args.learning_rate,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.per_device_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_completion_length=args.max_completion_length,
        mask_truncated_completions=args.mask_truncated_completions,
        loss_type=args.loss_type,
        scale_rewards=args.scale_rewards,
        epsilon=args.epsilon,
        epsilon_high=args.epsilon_high,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        beta=args.beta,
        max_steps=args.max_steps,
        logging_steps=args.logging_steps,
        seed=args.seed,
        data_seed=args.seed,
        report_to="none",
        **({"save_strategy": "steps", "save_steps": args.save_steps, "save_total_limit": 2} if args.save_steps > 0
           else {"save_strategy": "no"}),
        reward_weights=reward_weights,
        use_vllm=args.use_vllm,
        disable_tqdm=not args.progress,
        **cpu_safe,
    )
    if args.use_vllm:
        kwargs["vllm_mode"] = "colocate"
    if args.multi_turn:
        kwargs["max_tool_calling_iterations"] = args.max_tool_calling_iterations
    stop = vllm_generation_kwargs(args, fence_stop)
    extra = dict(args.extra)
    if stop is not None:
        kwargs["generation_kwargs"] = {**stop, **(extra.pop("generation_kwargs", None) or {})}
    kwargs.update(extra)
    return GRPOConfig(**kwargs)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise_history(history: list[dict[str, Any]], window: int = 5) -> dict[str, Any]:
    """Reward at the start and the end of training (means over ``window`` logged steps each)."""
    rewards = [h["reward"] for h in history if "reward" in h]
    window = max(1, min(window, len(rewards) // 2 or 1))
    first, last = _mean(rewards[:window]), _mean(rewards[-window:])
    clipped = [h["completions/clipped_ratio"] for h in history if "completions/clipped_ratio" in h]
    success = [h["execution/success_rate"] for h in history if "execution/success_rate" in h]
    return {
        "clipped_ratio_first": _mean(clipped[:window]),
        "clipped_ratio_last": _mean(clipped[-window:]),
        "clipped_ratio_mean": _mean(clipped),
        "success_rate_first": _mean(success[:window]),
        "success_rate_last": _mean(success[-window:]),
        "logged_steps": len(rewards),
        "reward_first": first,
        "reward_last": last,
        "reward_delta": None if first is None or last is None else last - first,
        "window": window,
        "reward_rose": None if first is None or last is None else last > first,
    }


@dataclass
class Run:
    """A prepared run: the trainer and what :func:`finish` needs to write the run folder."""

    args: Args
    trainer: Any
    tokenizer: Any
    run_dir: Path
    clock: Clock
    n_tasks: int
    started: float


def train(args: Args, argv: list[str] | None = None, command: str | None = None) -> Path:
    """Run GRPO with LoRA as ``args`` says; returns the run folder. ``argv`` (or ``command``) is what
    the provenance records as the command."""
    run = prepare(args, argv, command)
    if args.probe_only:
        print(f"curriculum written to {run.run_dir / 'config.json'}; --probe-only trains nothing", file=sys.stderr)
        return run.run_dir
    resume = latest_checkpoint(run.run_dir) if args.save_steps > 0 else None
    if resume is not None:
        print(f"resuming from {resume}", file=sys.stderr)
    run.trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return finish(run, resumed_from=resume)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest ``checkpoint-<step>`` folder a run with ``--save-steps`` left in ``run_dir/trainer``, or None."""
    found = [(int(p.name.split("-")[1]), p) for p in (Path(run_dir) / "trainer").glob("checkpoint-*")
             if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").exists()]
    return max(found)[1] if found else None


def prepare(args: Args, argv: list[str] | None = None, command: str | None = None) -> Run:
    """Everything before ``trainer.train()``: tasks, curriculum, rewards, the trainer, ``config.json``."""
    import torch
    from peft import LoraConfig
    from transformers import set_seed
    from trl import GRPOTrainer

    from training.embedded_model import (
        ensure_tool_chat_template,
        load_model,
        resolve_model,
    )

    started = time.time()
    set_seed(args.seed)
    has_gpu = torch.cuda.is_available()
    precision = precision_for(args.precision, has_gpu, torch.cuda.get_device_capability(0) if has_gpu else None)
    run_id = args.run_id or _default_run_id(args)
    run_dir = (Path(args.output_dir) if args.output_dir else results_dir() / "runs") / run_id
    run_dir.mkdir(parents=True, exist_ok=True)

    reward_config = RewardConfig()
    registry = TaskRegistry(load_tasks())
    grader = make_grader()
    backend = InProcessBackend(registry, grader=grader, reward_config=reward_config)
    env = DataOpsEnv(registry, grader=grader, reward_config=reward_config)

    reused = reused_curriculum(Path(args.curriculum[len("from:"):]), registry) \
        if args.curriculum.startswith("from:") else None
    candidates = reused[0] if reused else select_tasks(args, registry)
    prompts = task_prompts(candidates, env)
    model_path = resolve_model(args.model)
    model, tokenizer = load_model(model_path, dtype="bfloat16" if precision == "bf16" else "float32")
    model.train()

    curriculum: dict[str, Any] = {"kind": "none", "candidates": len(candidates), "kept": len(candidates)}
    tasks = candidates
    if args.curriculum == "learnable":
        tasks, curriculum = learnable_tasks(args, candidates, prompts, model, tokenizer, backend,
                                            partial=run_dir / "probe.partial.jsonl")
        print(f"curriculum: {curriculum['kept']} of {curriculum['candidates']} tasks are learnable "
              f"({curriculum['never_solved']} never solved, {curriculum['always_solved']} always solved "
              f"in {args.curriculum_k} samples)", file=sys.stderr)
        if not tasks:
            raise SystemExit(
                "the learnable curriculum kept no task: the base model never (or always) solves every candidate. "
                "Draw more candidates (--n-tasks), pick easier ones (--difficulty easy), or raise --curriculum-k."
            )
    elif reused:
        curriculum = reused[1]
        print(f"curriculum: the {len(tasks)} tasks kept by {curriculum['reused_from']}", file=sys.stderr)
    elif args.curriculum != "none":
        raise SystemExit(f"--curriculum must be 'none', 'learnable' or 'from:RUN_DIR', got {args.curriculum!r}")

    clock = Clock()
    if args.gate_shaping:
        reward_funcs = [TimedReward(with_backend(gated_reward, backend, format_weight=args.format_weight,
                                                 safety_weight=args.safety_weight), clock)]
        weights = [1.0]
    else:
        reward_funcs = [TimedReward(with_backend(execution_reward, backend), clock), TimedReward(format_reward, clock),
                        TimedReward(with_backend(safety_reward, backend), clock)]
        weights = [1.0, args.format_weight, args.safety_weight]
    fence_stop = stop_at_fence(args, tasks)
    if fence_stop:  # TRL reads the end-of-sequence ids from the model's generation config
        model.generation_config.eos_token_id = stop_token_ids(tokenizer, model, fence=True)
    environment_factory = None
    if args.multi_turn:
        from reward_fns.environments import FAMILY_ENVIRONMENTS, LocalSession

        ensure_tool_chat_template(tokenizer)
        families = sorted({t.family for t in tasks})

        def factory_for(cls):
            return lambda: cls(LocalSession(DataOpsEnv(registry, grader=grader, reward_config=reward_config)))

        environment_factory = {f: factory_for(FAMILY_ENVIRONMENTS[f]) for f in families}
        reward_funcs, weights = [TimedReward(format_reward, clock)], [0.0]  # the environment's get_reward is the reward

    dataset = build_dataset(tasks, prompts, args.multi_turn, tokenizer)
    peft_config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                             target_modules=[m.strip() for m in args.lora_targets.split(",") if m.strip()],
                             task_type="CAUSAL_LM")
    config = _grpo_config(args, run_dir, has_gpu, weights, precision, fence_stop=fence_stop)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=config, train_dataset=dataset,
                          processing_class=tokenizer, peft_config=peft_config,
                          environment_factory=environment_factory)
    if args.max_train_minutes > 0:
        trainer.add_callback(wall_clock_limit(args.max_train_minutes))
    # measurement only, where the time goes: the public generate() of what TRL generates with (the model, or
    # vLLM's engine with --use-vllm); TRL's own profiling reports only to external trackers
    generator = getattr(trainer, "vllm_generation", None) if args.use_vllm else trainer.model
    if generator is not None:
        generator.generate = clock.wrap("generation", generator.generate)
    trainer.train = clock.wrap("train", trainer.train)

    record = {
        "provenance": provenance(
            command=command or (("python -m training.grpo " + shlex.join(argv)).strip() if argv is not None
                                else "training.grpo.train(Args(...)) from Python; the Args are in provenance.config.args"),
            hardware=torch.cuda.get_device_name(0) if has_gpu else f"CPU ({os.cpu_count()} cores)",
            model=args.model, adapter=None, split=args.split, split_sha256=split_hash(tasks), seeds=[args.seed],
            config={"args": dataclasses.asdict(args), "reward_config": reward_config.as_dict(),
                    "grpo": {k: getattr(config, k) for k in ("learning_rate", "num_generations",
                             "per_device_train_batch_size", "gradient_accumulation_steps", "max_completion_length",
                             "temperature", "top_p", "top_k", "beta", "max_steps", "loss_type", "scale_rewards",
                             "mask_truncated_completions", "epsilon", "epsilon_high", "use_cpu", "bf16", "fp16",
                             "use_vllm", "generation_kwargs")},
                    "precision": precision, "stop_at_fence": fence_stop,
                    "reward_funcs": [f.__name__ for f in reward_funcs], "reward_weights": weights,
                    "curriculum": {k: v for k, v in curriculum.items() if k != "pass_rates"},
                    "n_train_tasks": len(tasks), "device": "cuda" if has_gpu else "cpu",
                    "model_path": str(model_path)},
        ),
        "curriculum": curriculum,
        "task_ids": [t.task_id for t in tasks],
    }
    (run_dir / "config.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (run_dir / "probe.partial.jsonl").unlink(missing_ok=True)  # the probe's rates are in config.json now
    return Run(args, trainer, tokenizer, run_dir, clock, len(tasks), started)


def finish(run: Run, resumed_from: Path | None = None) -> Path:
    """Write ``log_history.jsonl``, ``metrics.json`` and the adapter after training; returns the run folder.
    After a resumed run the log history is the whole run's (restored from the checkpoint), the timings this
    process's part only (``metrics.json`` says which checkpoint it resumed from)."""
    args, trainer, tokenizer, run_dir, clock, started = (run.args, run.trainer, run.tokenizer, run.run_dir,
                                                         run.clock, run.started)
    tasks_n = run.n_tasks
    steps_here = trainer.state.global_step - (int(resumed_from.name.split("-")[1]) if resumed_from else 0)
    history = list(trainer.state.log_history)
    with (run_dir / "log_history.jsonl").open("w") as fh:
        for entry in history:
            fh.write(json.dumps(entry, default=float) + "\n")
    train_s = clock.seconds.get("train", 0.0)
    generation_s = clock.seconds.get("generation", 0.0)
    reward_s = clock.seconds.get("reward", 0.0)
    metrics = {
        "run_id": run_dir.name,
        "steps": trainer.state.global_step,
        "n_train_tasks": tasks_n,
        "reward": summarise_history([h for h in history if "reward" in h]),
        "timing": {
            "train_seconds": round(train_s, 3),
            "generation_seconds": round(generation_s, 3),
            "reward_seconds": round(reward_s, 3),
            "optimisation_and_other_seconds": round(max(0.0, train_s - generation_s - reward_s), 3),
            "reward_share_of_step_time": round(reward_s / train_s, 5) if train_s else None,
            "reward_calls": clock.calls.get("reward", 0),
            "seconds_per_step": round(train_s / steps_here, 3) if steps_here else None,
            "note": "generation is the model's (or vLLM's) generate() as TRL calls it; reward is the "
                    "wall time inside our reward functions; the rest is the forward/backward pass, optimiser and logging",
        },
        "wall_seconds": round(time.time() - started, 3),
        "peak_rss_gb": peak_rss_gb(),
        "resumed_from": str(resumed_from) if resumed_from else None,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if args.save_adapter:
        from training.adapters import save_fp16

        save_fp16(trainer.model, tokenizer, run_dir / "adapter", base_model=args.model)
    print(json.dumps({"run_dir": str(run_dir), **metrics["reward"], **metrics["timing"]}, indent=2, default=str))
    return run_dir


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    train(parse_args(argv), argv)


if __name__ == "__main__":
    main()
