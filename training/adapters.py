"""Committed LoRA adapters: stored as fp16 safetensors, so an evaluated adapter is small enough to track in git.

A 135M model's rank-16 adapter over every projection holds about 4.9M parameters: 19.6 MB in fp32, 9.8 MB in
fp16. Training runs save their adapter with :func:`save_fp16`; ``python -m training.adapters DIR [DIR ...]``
converts one saved earlier. PEFT's ``PeftModel.from_pretrained`` casts fp16 adapter weights back to the base
model's fp32 on load (``autocast_adapter_dtype``), so the evaluation computes in fp32 with the committed,
fp16-rounded weights: evaluate an adapter after converting it, and the committed folder reproduces the results.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

WEIGHTS = "adapter_model.safetensors"


def name_base_model(adapter_dir: Path, base_model: str) -> None:
    """Record ``base_model`` as the adapter's ``base_model_name_or_path``: the model name the run was given (e.g.
    ``embedded:smollm2-135m-instruct``, which ``training.embedded_model.load_model`` resolves), instead of the
    absolute path of this machine's converted copy, which means nothing in a clone."""
    path = Path(adapter_dir) / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = base_model
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def to_fp16(adapter_dir: Path) -> dict[str, int]:
    """Rewrite ``adapter_dir``'s weights as fp16 in place; returns the file's size before and after."""
    import torch
    from safetensors.torch import load_file, save_file

    path = Path(adapter_dir) / WEIGHTS
    if not path.exists():
        raise SystemExit(f"{adapter_dir}: no {WEIGHTS} (expected a PEFT adapter folder, e.g. results/runs/<id>/adapter)")
    before = path.stat().st_size
    weights = load_file(path)
    converted = {name: (w.to(torch.float16) if w.is_floating_point() else w).contiguous() for name, w in weights.items()}
    save_file(converted, path, metadata={"format": "pt"})
    return {"bytes_before": before, "bytes_after": path.stat().st_size}


def save_fp16(model, tokenizer, adapter_dir: Path, base_model: str | None = None) -> None:
    """Save a PEFT ``model``'s adapter and ``tokenizer`` into ``adapter_dir``, the weights as fp16, and the base
    model under the name the run was given (:func:`name_base_model`)."""
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    to_fp16(adapter_dir)
    if base_model:
        name_base_model(adapter_dir, base_model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.adapters", description=__doc__.split("\n\n")[0])
    parser.add_argument("adapters", nargs="+", type=Path, help="adapter folders (results/runs/<id>/adapter)")
    parser.add_argument("--base-model", default=None, help="record this model name as the adapter's base model")
    args = parser.parse_args(argv)
    for folder in args.adapters:
        sizes = to_fp16(folder)
        if args.base_model:
            name_base_model(folder, args.base_model)
        print(f"{folder}: {sizes['bytes_before']:,} -> {sizes['bytes_after']:,} bytes (fp16)")


if __name__ == "__main__":
    main()
