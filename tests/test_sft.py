"""training/sft.py: the supervised control trains a LoRA adapter with TRL's SFTTrainer on the gold answers of a
GRPO run's tasks, copying its model, LoRA settings and step count, on a tiny local model."""
from __future__ import annotations

import json

import pytest

from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.tasks.registry import TaskRegistry, load_tasks
from training.sft import SFTArgs, gold_answer, sft_rows, source_run, train_sft


@pytest.fixture(scope="module")
def registry():
    return TaskRegistry(load_tasks())


def fake_grpo_run(path, tiny_model, task_ids, max_steps=2):
    """A GRPO run folder as training.grpo writes it, reduced to what the SFT control reads."""
    path.mkdir(parents=True)
    args = {"model": tiny_model, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "lora_targets": "q_proj,v_proj",
            "learning_rate": 1e-3, "max_steps": max_steps, "max_completion_length": 32, "top_p": 1.0, "top_k": 0,
            "stop_at_fence": True, "temperature": 0.5, "seed": 0}
    (path / "config.json").write_text(json.dumps({"provenance": {"config": {"args": args}}, "task_ids": task_ids}))
    return path


def test_the_sft_rows_are_the_grpo_prompts_with_the_gold_answer(registry, tiny_model):
    from transformers import AutoTokenizer

    task = next(t for t in registry.filter(split="train", family="debug"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    [row] = sft_rows([task], DataOpsEnv(registry, grader=make_grader()), tokenizer)
    assert row["prompt"].endswith("```sql\n")  # the reply GRPO's prompts open
    assert row["completion"] == task.gold_sql.strip() + "\n```"
    assert task.broken_sql in row["prompt"]
    assert gold_answer(task) == row["completion"]


def test_sft_trains_an_adapter_with_the_grpo_runs_settings(registry, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path / "results"))
    ids = [t.task_id for t in registry.filter(split="train", family="debug")[:3]]
    source = fake_grpo_run(tmp_path / "grpo-run", tiny_model, ids)
    run_dir = train_sft(SFTArgs(from_run=str(source), batch_size=2, progress=False), argv=["--from-run", str(source)])
    assert run_dir.name == "sft-grpo-run"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["provenance"]["config"]["method"] == "sft"
    assert config["task_ids"] == ids
    args = config["provenance"]["config"]["args"]
    assert (args["lora_r"], args["max_steps"], args["model"]) == (4, 2, tiny_model)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["loss_first"] > 0
    adapter = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert adapter["base_model_name_or_path"] == tiny_model  # the name the run was given, not a cache path
    from safetensors.torch import load_file

    weights = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and any(float(w.abs().sum()) > 0 for w in lora_b)  # LoRA B starts at zero: it learnt
    import torch

    assert {w.dtype for w in weights.values()} == {torch.float16}  # committed adapters are fp16 (training.adapters)


def test_an_fp16_adapter_loads_back_as_fp32_with_the_same_rounded_weights(tiny_model, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from training.adapters import to_fp16
    from training.embedded_model import load_model

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "adapter")
    full = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    sizes = to_fp16(tmp_path / "adapter")
    assert sizes["bytes_after"] < sizes["bytes_before"]
    loaded, _ = load_model(tiny_model, adapter=str(tmp_path / "adapter"), dtype="float32")
    params = {n: p for n, p in loaded.named_parameters() if "lora_A" in n}
    assert params and all(p.dtype == torch.float32 for p in params.values())
    name, original = next((n, w) for n, w in full.items() if "lora_A" in n)
    match = next(p for n, p in params.items() if n.endswith(name.replace(".weight", ".default.weight").split("base_model.model.", 1)[1]))
    assert torch.equal(match.detach(), original.to(torch.float16).to(torch.float32))
    with pytest.raises(SystemExit, match="no adapter_model.safetensors"):
        to_fp16(tmp_path)


def test_sft_refuses_a_folder_that_is_not_a_grpo_run(tmp_path):
    with pytest.raises(SystemExit, match="no config.json"):
        source_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"provenance": {}}))
    with pytest.raises(SystemExit, match="no task_ids"):
        source_run(tmp_path)
