"""The main job behind ``make demo``: build the data if missing, play scripted episodes, print a summary.

It plays the calibrators ``oracle``, ``echo_broken`` and ``explorer`` (:mod:`env_server.tools.scripted`)
on the fixed tasks and on seeded samples of the held-out splits, writes
``results/eval/demo_scripted.json`` with provenance, and prints a table read back from that file.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

from tqdm import tqdm

from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.episode.environment import DataOpsEnv
from env_server.grading.reward import RewardConfig
from env_server.tasks import build as build_data
from env_server.tasks.registry import builtin_task_files, data_dir, load_tasks
from env_server.tools.scripted import CALIBRATORS, play, summarise

RESULTS = REPO_ROOT / "results" / "eval" / "demo_scripted.json"


def run(per_split: int = 25, seed: int = 0, out: Path = RESULTS) -> Path:
    if not builtin_task_files():
        print(f"no task data in {data_dir()}; building it (one-off, about a minute)...")
        build_data.main(data_dir())
    tasks = load_tasks(family="debug")
    env = DataOpsEnv(tasks)
    rng = random.Random(seed)
    chosen = [t for t in tasks if t.split == "fixed"]
    for split in ("heldout_iid", "heldout_ood"):
        pool = [t for t in tasks if t.split == split]
        chosen += rng.sample(pool, min(per_split, len(pool)))
    records = []
    started = time.perf_counter()
    for task in tqdm(chosen, desc="scripted episodes", unit="task"):
        for policy in CALIBRATORS:
            records.append(play(env, task, policy, seed=seed).as_dict())
    payload = {
        "provenance": provenance(
            model=None,
            adapter=None,
            policies=list(CALIBRATORS),
            split="fixed+heldout_iid+heldout_ood",
            seeds=[seed],
            config={"per_split": per_split, "reward": RewardConfig().as_dict()},
        ),
        "summary": {
            "by_policy_split": summarise(records, by=("policy", "split")),
            "wall_s": round(time.perf_counter() - started, 2),
        },
        "per_task": records,
    }
    return write_results(out, payload)


def print_summary(path: Path) -> None:
    data = json.loads(path.read_text())
    rows = data["summary"]["by_policy_split"]
    print(f"\nScripted episodes (from {path.relative_to(REPO_ROOT)}, git {data['provenance']['git_sha'][:12]}):\n")
    print(f"{'policy':<12} {'split':<12} {'episodes':>8} {'success':>8} {'reward':>8} {'steps':>6}")
    for r in rows:
        print(
            f"{r['policy']:<12} {r['split']:<12} {r['episodes']:>8} {r['success_rate']:>8.2f} "
            f"{r['mean_reward']:>8.3f} {r['mean_steps']:>6.1f}"
        )


def main() -> None:
    path = run()
    print_summary(path)
