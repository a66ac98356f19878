"""Named starting points for ``python -m training.grpo --profile NAME``: one flag picks a model and the sizes
that fit its hardware. Flags given with ``--profile`` override its values.

* ``cpu``: the embedded SmolLM2-135M-Instruct on CPU (the plain defaults, what ``make demo`` trains).
* ``gpu-embedded``: the same model on one GPU with bigger groups and more steps; no network needed, so it runs
  on an offline GPU machine (``scripts/gpu_embedded.sh``), and on a GPU too small for the Qwen profiles.
* ``gpu-qwen0.5b`` / ``gpu-qwen1.5b``: ``Qwen/Qwen2.5-0.5B-Instruct`` / ``-1.5B-Instruct`` from the Hugging Face
  Hub with LoRA (a T4 or V100 fits the 0.5B; an L4, A10G, A100 or H100 the 1.5B).
* ``gpu-qwen1.5b-vllm``: the 1.5B with vLLM generation in colocate mode (``pip install -r
  requirements-gpu.txt``: the vLLM that TRL and the pinned runtime accept).

:func:`pick_profile` chooses one from the GPU's compute capability and memory (what a notebook does);
:func:`estimate_minutes` gives the rough wall time a notebook shows before starting. The estimate is arithmetic
on the run's sizes, the model's parameter count and assumed throughputs (:data:`ASSUMED_COMPLETIONS_PER_MINUTE`,
:data:`ASSUMED_TFLOPS`), not a measurement.
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

ASSUMED_COMPLETIONS_PER_MINUTE: dict[str, float] = {
    "cpu": 25, "T4": 400, "V100": 500, "L4": 600, "A10G": 700, "A100": 1500, "H100": 2500}
"""Assumed generation throughput (completions per minute, HF ``generate`` in batches) of a model of
:data:`REFERENCE_PARAMS_B` parameters, used by :func:`estimate_minutes`. The CPU figure is measured (the committed
CPU demo run: 64 completions of the 135M model in 175 s of generation on 2 cores); the GPU figures are assumptions."""

REFERENCE_PARAMS_B: dict[str, float] = {"cpu": 0.135}
"""The model size (billions of parameters) :data:`ASSUMED_COMPLETIONS_PER_MINUTE` holds for; 0.5 where not listed."""

ASSUMED_TFLOPS: dict[str, float] = {
    "cpu": 0.08, "T4": 20, "V100": 35, "L4": 40, "A10G": 40, "A100": 100, "H100": 250}
"""Assumed sustained training throughput (TFLOP/s; about a third of the card's dense fp16/bf16 peak; the CPU
figure fits the demo run's optimisation time), used by :func:`estimate_minutes`."""

PROMPT_TOKENS = 400
"""Assumed prompt length in tokens (a single-turn debug prompt with its schema) for :func:`estimate_minutes`."""

MODEL_PARAMS_B: dict[str, float] = {"embedded:smollm2-135m-instruct": 0.135, "Qwen/Qwen2.5-0.5B-Instruct": 0.494,
                                    "Qwen/Qwen2.5-1.5B-Instruct": 1.54}
"""Parameter counts (billions) of the profiles' models; other names are read by :func:`model_params_b`."""


def profile_args(name: str):
    """The :class:`~training.grpo.Args` of profile ``name`` (``ValueError`` naming the profiles otherwise); its
    ``profile`` field says which, so the run is named after it."""
    from training.grpo import Args

    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}")
    return dataclasses.replace(Args(), profile=name, **PROFILES[name])


def pick_profile(name: str | None, capability: tuple[int, int] | None, memory_gb: float | None) -> str:
    """The profile to train with: ``name`` when it is one (checked), or for ``auto`` (or None, or "") the one that
    fits a GPU of this compute ``capability`` and ``memory_gb`` (``None`` capability: no GPU, the ``cpu`` profile).

    bf16 GPUs (capability 8.0+, see :func:`training.embedded_model.precision_for`) with 20 GB or more take the
    1.5B; a GPU with 14 GB or more (a T4 shows 14.7 GiB) the 0.5B in fp16; a smaller one the embedded 135M model.
    The vLLM profile is never picked (it needs ``pip install -r requirements-gpu.txt``): name it.

    >>> gpus = {"T4": ((7, 5), 15), "V100": ((7, 0), 16), "L4": ((8, 9), 22), "A10G": ((8, 6), 22),
    ...         "A100-40": ((8, 0), 40), "A100-80": ((8, 0), 80), "H100": ((9, 0), 80), "none": (None, None)}
    >>> {gpu: pick_profile("auto", *spec) for gpu, spec in gpus.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'T4': 'gpu-qwen0.5b', 'V100': 'gpu-qwen0.5b', 'L4': 'gpu-qwen1.5b', 'A10G': 'gpu-qwen1.5b',
     'A100-40': 'gpu-qwen1.5b', 'A100-80': 'gpu-qwen1.5b', 'H100': 'gpu-qwen1.5b', 'none': 'cpu'}
    >>> pick_profile("auto", (6, 1), 8), pick_profile("gpu-qwen0.5b", (9, 0), 80)
    ('gpu-embedded', 'gpu-qwen0.5b')
    """
    if name and name != "auto":
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; choose auto or one of {', '.join(sorted(PROFILES))}")
        if name != "cpu" and capability is None:
            raise ValueError(f"profile {name!r} needs a GPU and this machine has none; use 'cpu' or 'auto'")
        return name
    if capability is None:
        return "cpu"
    memory = memory_gb or 0.0
    if tuple(capability) >= (8, 0) and memory >= 20:
        return "gpu-qwen1.5b"
    if memory >= 14:
        return "gpu-qwen0.5b"
    return "gpu-embedded"


def hardware_key(device_name: str | None, capability: tuple[int, int] | None = None) -> str:
    """The key of :data:`ASSUMED_COMPLETIONS_PER_MINUTE` for a device (``torch.cuda.get_device_name``; None for
    CPU): found in the name, else the slowest card of that capability.

    >>> hardware_key("Tesla T4"), hardware_key("NVIDIA A100-SXM4-40GB"), hardware_key("NVIDIA H100 80GB HBM3")
    ('T4', 'A100', 'H100')
    >>> hardware_key("NVIDIA A10G"), hardware_key("NVIDIA L4"), hardware_key(None), hardware_key("Some GPU", (8, 6))
    ('A10G', 'L4', 'cpu', 'L4')
    """
    if device_name is None:
        return "cpu"
    upper = device_name.upper()
    for key, marks in (("H100", ("H100", "H200", "H800")), ("A100", ("A100", "A800")), ("A10G", ("A10G", "A10 ")),
                       ("L4", ("L4",)), ("V100", ("V100",)), ("T4", ("T4",))):
        if any(mark in upper + " " for mark in marks):
            return key
    if capability is not None and tuple(capability) >= (9, 0):
        return "H100"
    return "L4" if capability is not None and tuple(capability) >= (8, 0) else "T4"


def model_params_b(model: str) -> float | None:
    """Billions of parameters of ``model``: :data:`MODEL_PARAMS_B`, else read from its name (``...-7B...``,
    ``...-360M...``), else None.

    >>> model_params_b("Qwen/Qwen2.5-0.5B-Instruct"), model_params_b("HuggingFaceTB/SmolLM2-360M-Instruct")
    (0.494, 0.36)
    >>> model_params_b("results/tiny-model") is None
    True
    """
    import re

    if model in MODEL_PARAMS_B:
        return MODEL_PARAMS_B[model]
    found = re.findall(r"(\d+(?:\.\d+)?)([BbMm])(?![a-zA-Z])", model.rsplit("/", 1)[-1])
    if not found:
        return None
    number, unit = found[-1]
    return float(number) / (1000 if unit in "Mm" else 1)


def estimate_minutes(profile: Any, hardware: str, params_b: float | None = None) -> float:
    """Rough wall time (minutes) of a run on ``hardware`` (a key of :data:`ASSUMED_COMPLETIONS_PER_MINUTE`; see
    :func:`hardware_key`); ``profile`` is a profile name or an :class:`~training.grpo.Args`. An estimate from
    assumed throughputs, not a measurement:

    * completions = the curriculum probe's (``n_tasks x curriculum_k`` for ``learnable``, none otherwise) plus
      training's (``max_steps x per_device_train_batch_size x gradient_accumulation_steps``);
    * generation = completions / (:data:`ASSUMED_COMPLETIONS_PER_MINUTE` x sqrt(reference size / model size)),
      no faster than the reference rate for a smaller model (small models' decoding is bound by per-token
      overhead, not arithmetic);
    * optimisation = ``max_steps`` x 6 x parameters x tokens per step / :data:`ASSUMED_TFLOPS`, with tokens per
      step = completions per step x (:data:`PROMPT_TOKENS` + max_completion_length / 2);
    * ``params_b`` (billions) defaults to :func:`model_params_b` of the model, 1.0 when its name says nothing.

    The CPU demo run (8 steps of 8 completions, 135M model; 8 min measured):

    >>> from training.grpo import Args
    >>> round(estimate_minutes(Args(max_steps=8, per_device_train_batch_size=8), "cpu"), 1)
    7.9
    >>> round(estimate_minutes("gpu-qwen0.5b", "T4")), round(estimate_minutes("gpu-qwen1.5b", "H100"))
    (29, 8)
    """
    import math

    args = profile_args(profile) if isinstance(profile, str) else profile
    if hardware not in ASSUMED_COMPLETIONS_PER_MINUTE:
        raise ValueError(f"unknown hardware {hardware!r}; choose one of {', '.join(ASSUMED_COMPLETIONS_PER_MINUTE)}")
    params = params_b or model_params_b(args.model) or 1.0
    per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
    probe = args.n_tasks * args.curriculum_k if args.curriculum == "learnable" else 0
    completions = probe + args.max_steps * per_step
    reference = REFERENCE_PARAMS_B.get(hardware, 0.5)
    rate = ASSUMED_COMPLETIONS_PER_MINUTE[hardware] * min(1.0, math.sqrt(reference / params))
    tokens_per_step = per_step * (PROMPT_TOKENS + args.max_completion_length / 2)
    optimisation_s = args.max_steps * 6 * params * 1e9 * tokens_per_step / (ASSUMED_TFLOPS[hardware] * 1e12)
    return completions / rate + optimisation_s / 60
