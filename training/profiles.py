"""Named starting points for ``python -m training.grpo --profile NAME``: one flag picks a model and the sizes
that fit its hardware. Flags given with ``--profile`` override its values.

* ``cpu``: the embedded SmolLM2-135M-Instruct on CPU (the plain defaults, what ``make demo`` trains).
* ``gpu-embedded``: the same model on one GPU with bigger groups and more steps; no network needed, so it runs
  on an offline GPU machine (``scripts/gpu_embedded.sh``).
* ``gpu-qwen0.5b`` / ``gpu-qwen1.5b``: ``Qwen/Qwen2.5-0.5B-Instruct`` / ``-1.5B-Instruct`` from the Hugging Face
  Hub with LoRA (a T4 fits the 0.5B; an A100 or H100 either).
* ``gpu-qwen1.5b-vllm``: the 1.5B with vLLM generation in colocate mode (``pip install vllm``; see
  ``requirements-gpu.txt`` for the version TRL accepts).

:func:`estimate_minutes` gives the rough wall time a notebook shows before starting; it is arithmetic on the
profile's sizes and an assumed generation throughput, not a measurement.
"""
from __future__ import annotations

import dataclasses
from typing import Any

GPU_COMMON: dict[str, Any] = {
    "curriculum": "learnable", "difficulty": "easy", "n_tasks": 256, "curriculum_k": 8,
    "num_generations": 8, "per_device_train_batch_size": 32, "gradient_accumulation_steps": 1,
    "logging_steps": 5,
}

PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {},
    "gpu-embedded": {**GPU_COMMON, "max_steps": 150, "learning_rate": 1e-4},
    "gpu-qwen0.5b": {**GPU_COMMON, "model": "Qwen/Qwen2.5-0.5B-Instruct", "max_steps": 200, "learning_rate": 5e-5,
                     "temperature": 1.0, "curriculum_temperature": 1.0},
    "gpu-qwen1.5b": {**GPU_COMMON, "model": "Qwen/Qwen2.5-1.5B-Instruct", "max_steps": 200, "learning_rate": 3e-5,
                     "temperature": 1.0, "curriculum_temperature": 1.0},
    "gpu-qwen1.5b-vllm": {**GPU_COMMON, "model": "Qwen/Qwen2.5-1.5B-Instruct", "max_steps": 300,
                          "learning_rate": 3e-5, "temperature": 1.0, "curriculum_temperature": 1.0, "use_vllm": True},
}
"""Profile name -> the Args fields it sets."""

ASSUMED_COMPLETIONS_PER_MINUTE: dict[str, float] = {"cpu": 25, "T4": 400, "A100": 1500, "H100": 2500}
"""Assumed generation throughput (completions of ~60 tokens per minute, 135M-1.5B models, HF generate) used by
:func:`estimate_minutes`; generation dominates a GRPO step at these sizes."""


def profile_args(name: str):
    """The :class:`~training.grpo.Args` of profile ``name`` (``ValueError`` naming the profiles otherwise)."""
    from training.grpo import Args

    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}")
    return dataclasses.replace(Args(), **PROFILES[name])


def estimate_minutes(name: str, hardware: str) -> float:
    """Rough wall time of profile ``name`` on ``hardware`` (a key of :data:`ASSUMED_COMPLETIONS_PER_MINUTE`):
    curriculum probe plus training completions over the assumed throughput, x1.5 for the optimiser steps.

    >>> round(estimate_minutes("gpu-qwen0.5b", "T4"))
    32
    """
    args = profile_args(name)
    probe = args.n_tasks * args.curriculum_k if args.curriculum == "learnable" else 0
    training = args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
    return 1.5 * (probe + training) / ASSUMED_COMPLETIONS_PER_MINUTE[hardware]
