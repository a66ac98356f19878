"""The reviewer-guarded path, measured: the same scripted policies with and without review.

``run()`` plays the ``careless`` policy (which sometimes issues destructive or cartesian SQL) and
the careful ``oracle`` on a seeded sample of held-out debug tasks, once through plain ``step`` and
once through ``step(review=True)``, and writes ``results/eval/reviewer_path.json``: per policy and
mode, how many risky actions were attempted, how many were *executed* (sent to the database, where
the sandbox is the last line of defence: it refuses writes in a read-only episode, but a cartesian
join runs until its budget), how many the reviewer blocked, the success rate and the reward
distribution. Risky actions are the ones the policy itself marks as risky, so the count does not
depend on the reviewer being measured. Notebook 03 calls it.
"""
from __future__ import annotations

import random
from pathlib import Path

from tqdm import tqdm

from env_server.core.provenance import provenance, results_dir, write_results
from env_server.episode.environment import DataOpsEnv
from env_server.grading.reward import RewardConfig
from env_server.tasks.registry import load_tasks
from env_server.tools.scripted import play, summarise

POLICIES = ("careless", "oracle")


def run(n_tasks: int = 60, seed: int = 0, split: str = "heldout_iid", out: Path | None = None) -> Path:
    """Play ``n_tasks`` sampled tasks of ``split`` with each policy, with and without review."""
    tasks = load_tasks(split=split, family="debug")
    sample = random.Random(seed).sample(tasks, min(n_tasks, len(tasks)))
    env = DataOpsEnv(sample)
    records = []
    for task in tqdm(sample, desc="reviewer path", unit="task"):
        for policy in POLICIES:
            for review in (False, True):
                records.append(play(env, task, policy, seed=seed, review=review).as_dict())
    env.close()
    reviewer = env.reviewer
    payload = {
        "provenance": provenance(
            model=None,
            adapter=None,
            policies=list(POLICIES),
            split=split,
            seeds=[seed],
            config={
                "n_tasks": len(sample),
                "reviewer": type(reviewer).__name__,
                "reward": RewardConfig().as_dict(),
            },
        ),
        "summary": {"by_policy_review": summarise(records, by=("policy", "review"))},
        "per_task": records,
    }
    return write_results(out or results_dir() / "eval" / "reviewer_path.json", payload)
