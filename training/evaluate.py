"""Evaluate a policy on a split, or compare two evaluations: results JSON with provenance and CIs.

    python -m training.evaluate --policy hf --model M [--adapter A] --split heldout_ood --families debug \\
        --seeds 3 --n 200
    python -m training.evaluate --policy oracle --split heldout_iid --n 50
    python -m training.evaluate --compare results/eval/base.json results/eval/rl.json

An evaluation writes ``results/eval/<name>.json``: ``provenance`` (git sha, command, model, adapter,
split and its hash, seeds, sampling settings, time), ``per_task`` records (reward, success, steps,
error kind, the SQL, per seed) and a ``summary``: success rate and mean reward with bootstrap 95%
CIs, overall and by family, difficulty and bug type. The bootstrap resamples tasks (each task's
seeds averaged first), with a fixed seed, so the same records give the same CIs.

Single-turn policies are graded exactly as during training (the grader's reward for the SQL their
completion holds); multi-turn policies play episodes on a ``DataOpsEnv``. Records are appended to
``<name>.partial.jsonl`` as they are made, so an interrupted evaluation resumes where it stopped.

``--compare A B`` pairs the two evaluations on their common tasks and writes
``results/eval/compare_<A>_vs_<B>.json`` with the deltas (B - A) and their CIs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from env_server.environment import DataOpsEnv
from env_server.grading import Grader
from env_server.provenance import command_line, provenance, results_dir, write_results
from env_server.reward import RewardConfig
from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import Task
from reward_fns.backend import InProcessBackend
from reward_fns.execution import ExecutionReward
from reward_fns.prompts import single_turn_prompt
from training.generation import SamplingConfig
from training.policies import POLICIES, Policy, make_policy
from training.tasks import draw_tasks, split_hash

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


# -- statistics ------------------------------------------------------------------------------------------------------


def bootstrap_ci(values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (deterministic for a given seed).

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    >>> lo, hi = bootstrap_ci([0.0, 1.0] * 50); lo < 0.5 < hi
    True
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return (round(float(lo), 6), round(float(hi), 6))


def _stats(values: list[float]) -> dict[str, Any]:
    lo, hi = bootstrap_ci(values)
    return {"mean": round(float(np.mean(values)), 6) if values else None, "ci95": [lo, hi]}


def per_task_means(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each task's records averaged over seeds: ``{task_id: {success, reward, family, ...}}``."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[record["task_id"]].append(record)
    out = {}
    for task_id, recs in sorted(grouped.items()):
        first = recs[0]
        out[task_id] = {
            "success": float(np.mean([float(r["success"]) for r in recs])),
            "reward": float(np.mean([r["reward"] for r in recs])),
            "family": first["family"], "difficulty": first["difficulty"], "bug_types": first["bug_types"],
        }
    return out


def _group_summary(tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    success = [t["success"] for t in tasks.values()]
    reward = [t["reward"] for t in tasks.values()]
    return {"n_tasks": len(tasks), "success_rate": _stats(success), "mean_reward": _stats(reward)}


def _breakdowns(tasks: dict[str, dict[str, Any]], summarise: Callable[[dict[str, dict[str, Any]]], dict]) -> dict:
    out: dict[str, dict[str, Any]] = {}
    for key in ("family", "difficulty", "bug_type"):
        groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for task_id, t in tasks.items():
            labels = t["bug_types"] if key == "bug_type" else [t[key]]
            for label in labels or ["none"]:
                groups[label][task_id] = t
        out[f"by_{key}"] = {label: summarise(group) for label, group in sorted(groups.items())}
    return out


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall and per family / difficulty / bug type: success rate and mean reward with bootstrap CIs."""
    tasks = per_task_means(records)
    steps = [r["steps"] for r in records]
    errors: dict[str, int] = defaultdict(int)
    for r in records:
        errors[r.get("error_kind") or "none"] += 1
    return {
        **_group_summary(tasks),
        "n_records": len(records),
        "mean_steps": round(float(np.mean(steps)), 4) if steps else None,
        "error_kinds": dict(sorted(errors.items())),
        **_breakdowns(tasks, _group_summary),
        "ci_method": f"percentile bootstrap over tasks ({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED}); "
                     "each task's seeds averaged first",
    }


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Paired comparison of two evaluations on their common tasks: B - A with bootstrap CIs."""
    ta, tb = per_task_means(a["per_task"]), per_task_means(b["per_task"])
    common = sorted(set(ta) & set(tb))
    if not common:
        raise SystemExit("the two evaluations share no task; evaluate both on the same split")

    def delta(ids: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"n_tasks": len(ids)}
        for metric in ("success", "reward"):
            diffs = [tb[i][metric] - ta[i][metric] for i in ids]
            out[f"{metric}_a"] = round(float(np.mean([ta[i][metric] for i in ids])), 6)
            out[f"{metric}_b"] = round(float(np.mean([tb[i][metric] for i in ids])), 6)
            out[f"{metric}_delta"] = _stats(diffs)
        return out

    paired = {i: ta[i] for i in common}
    summary = {**delta(common), **_breakdowns(paired, lambda group: delta(sorted(group)))}
    summary["ci_method"] = f"paired percentile bootstrap over tasks ({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED})"
    summary["only_in_a"], summary["only_in_b"] = len(set(ta) - set(tb)), len(set(tb) - set(ta))
    return summary


# -- running a policy ------------------------------------------------------------------------------------------------


def _record(task: Task, seed: int, reward: float, grade: dict[str, Any] | None, steps: int, sql: str,
            completion: str) -> dict[str, Any]:
    return {
        "task_id": task.task_id, "seed": seed, "split": task.split, "family": task.family,
        "difficulty": task.difficulty, "bug_types": list(task.bug_types), "reward": reward,
        "success": bool(grade and grade.get("success")), "steps": steps,
        "error_kind": (grade or {}).get("error_kind"), "reason": (grade or {}).get("reason", "no submission"),
        "sql": sql, "completion": completion[:2000],
    }


def run_single_turn(policy: Policy, tasks: list[Task], seed: int, env: DataOpsEnv, backend: InProcessBackend,
                    batch: int = 64, progress: bool = True) -> Iterable[dict[str, Any]]:
    """Completions for ``tasks``, graded as the training reward grades them; yields one record per task."""
    bar = tqdm(total=len(tasks), desc=f"{policy.name} seed {seed}", unit="task", disable=not progress)
    for start in range(0, len(tasks), batch):
        chunk = tasks[start: start + batch]
        prompts = [single_turn_prompt(env, t.task_id) for t in chunk]
        completions = policy.complete(chunk, prompts, seed)
        graded = ExecutionReward(backend).outcomes(completions, [t.task_id for t in chunk])
        for task, completion, (sql, outcome) in zip(chunk, completions, graded):
            yield _record(task, seed, outcome.reward, outcome.grade, 1, sql, completion)
        bar.update(len(chunk))
    bar.close()


def run_multi_turn(policy: Policy, tasks: list[Task], seed: int, env: DataOpsEnv,
                   progress: bool = True) -> Iterable[dict[str, Any]]:
    """Whole episodes on ``env``; yields one record per task."""
    for task in tqdm(tasks, desc=f"{policy.name} seed {seed}", unit="episode", disable=not progress):
        played = policy.play(env, task, seed)
        observation = played["observation"]
        grade = observation.metadata.get("grade")
        reward = float(observation.metadata.get("episode_return", 0.0))
        yield _record(task, seed, reward, grade, played["steps"], "", "")


def _config_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def evaluate(
    policy_name: str,
    *,
    split: str,
    families: str = "debug",
    n: int | None = 200,
    seeds: int = 1,
    model: str | None = None,
    adapter: str | None = None,
    difficulty: str | None = None,
    bug_types: str | None = None,
    sampling: SamplingConfig = SamplingConfig(),
    name: str | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
    fresh: bool = False,
    command: str | None = None,
) -> Path:
    """Evaluate one policy on ``n`` tasks of ``split`` for ``seeds`` seeds; returns the results JSON path."""
    registry = TaskRegistry(load_tasks())
    tasks = draw_tasks(registry, split, families=families, n=n, seed=0, difficulty=difficulty, bug_types=bug_types)
    name = name or "-".join(filter(None, [policy_name, Path(model).name.replace(":", "-") if model else None,
                                          "adapter" if adapter else None, split]))
    out_dir = out_dir or results_dir() / "eval"
    target, partial = out_dir / f"{name}.json", out_dir / f"{name}.partial.jsonl"
    config = {"policy": policy_name, "model": model, "adapter": adapter, "split": split, "families": families,
              "n": n, "seeds": list(range(seeds)), "difficulty": difficulty, "bug_types": bug_types,
              "sampling": sampling.__dict__, "split_sha256": split_hash(tasks)}
    key = _config_key(config)

    done: list[dict[str, Any]] = []
    if partial.exists() and not fresh:
        lines = partial.read_text().splitlines()
        header = json.loads(lines[0]) if lines else {}
        if header.get("config_key") != key:
            raise SystemExit(f"{partial} holds an interrupted evaluation with other settings; "
                             "rerun with --fresh to discard it, or use another --name")
        done = [json.loads(line) for line in lines[1:] if line.strip()]
        print(f"resuming {name}: {len(done)} records already done", file=sys.stderr)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"config_key": key, "config": config}) + "\n")
    finished = {(r["task_id"], r["seed"]) for r in done}

    grader = Grader()
    reward_config = RewardConfig()
    env = DataOpsEnv(registry, grader=grader, reward_config=reward_config)
    backend = InProcessBackend(registry, grader=grader, reward_config=reward_config)
    policy = make_policy(policy_name, model=model, adapter=adapter, sampling=sampling, progress=progress,
                         grader=grader)
    records = list(done)
    with partial.open("a") as sink:
        for seed in range(seeds):
            todo = [t for t in tasks if (t.task_id, seed) not in finished]
            if not todo:
                continue
            stream = (run_multi_turn(policy, todo, seed, env, progress) if policy.multi_turn
                      else run_single_turn(policy, todo, seed, env, backend, progress=progress))
            for record in stream:
                records.append(record)
                sink.write(json.dumps(record) + "\n")
                sink.flush()

    records.sort(key=lambda r: (r["seed"], r["task_id"]))
    payload = {
        "provenance": provenance(
            command=command or command_line(), model=model if policy_name in ("hf", "openai") else None,
            adapter=adapter, split=split, split_sha256=config["split_sha256"], seeds=config["seeds"],
            config={**config, "policy_details": policy.describe(), "reward_config": reward_config.as_dict(),
                    "grading": {"variants": grader.config.variants, "partial_credit": grader.config.partial_credit}},
        ),
        "name": name,
        "summary": summarise(records),
        "per_task": records,
    }
    write_results(target, payload)
    partial.unlink()
    return target


def write_comparison(a_path: Path, b_path: Path, out_dir: Path | None = None, command: str | None = None) -> Path:
    """Compare two evaluation files (B - A) into ``compare_<A>_vs_<B>.json``; returns its path."""
    a, b = json.loads(Path(a_path).read_text()), json.loads(Path(b_path).read_text())
    for label, payload in (("A", a), ("B", b)):
        if "per_task" not in payload:
            raise SystemExit(f"{label} is not an evaluation file (no per_task records)")
    name = f"compare_{a.get('name', Path(a_path).stem)}_vs_{b.get('name', Path(b_path).stem)}"
    same_split = a["provenance"].get("split_sha256") == b["provenance"].get("split_sha256")
    payload = {
        "provenance": provenance(command=command or command_line(), model=None, adapter=None,
                                 split=b["provenance"].get("split"), split_sha256=b["provenance"].get("split_sha256"),
                                 seeds=b["provenance"].get("seeds"),
                                 config={"a": str(a_path), "b": str(b_path), "same_split_sha256": same_split}),
        "a": {"path": str(a_path), "name": a.get("name"), "policy": a["provenance"]["config"].get("policy_details")},
        "b": {"path": str(b_path), "name": b.get("name"), "policy": b["provenance"]["config"].get("policy_details")},
        "summary": compare(a, b),
    }
    return write_results((out_dir or results_dir() / "eval") / f"{name}.json", payload)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--policy", choices=POLICIES, help="who answers")
    parser.add_argument("--model", default=None, help="hf: model id or path (default: the embedded model)")
    parser.add_argument("--adapter", default=None, help="hf: LoRA adapter folder (e.g. results/runs/<id>/adapter)")
    parser.add_argument("--split", default="heldout_iid", help="task split")
    parser.add_argument("--families", default="debug", help="comma-separated families")
    parser.add_argument("--difficulty", default=None, help="only this difficulty")
    parser.add_argument("--bug-types", default=None, help="only these comma-separated bug types")
    parser.add_argument("--n", type=int, default=200, help="tasks drawn (seeded) from the split")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..k-1 per task")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--max-new-tokens", type=int, default=SamplingConfig.max_new_tokens)
    parser.add_argument("--batch-size", type=int, default=SamplingConfig.batch_size)
    parser.add_argument("--name", default=None, help="results file name (default from policy, model, split)")
    parser.add_argument("--fresh", action="store_true", help="discard an interrupted run of the same name")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                        help="compare two evaluation files instead (B - A, paired on tasks)")
    args = parser.parse_args(argv)
    if args.compare:
        print(write_comparison(*args.compare))
        return
    if not args.policy:
        parser.error("--policy is required unless --compare is given")
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                              batch_size=args.batch_size)
    path = evaluate(args.policy, split=args.split, families=args.families, n=args.n, seeds=args.seeds,
                    model=args.model, adapter=args.adapter, difficulty=args.difficulty, bug_types=args.bug_types,
                    sampling=sampling, name=args.name, progress=not args.no_progress, fresh=args.fresh)
    summary = json.loads(path.read_text())["summary"]
    print(f"{path}: success {summary['success_rate']['mean']:.3f} {summary['success_rate']['ci95']}, "
          f"reward {summary['mean_reward']['mean']:.3f} {summary['mean_reward']['ci95']} on {summary['n_tasks']} tasks")


if __name__ == "__main__":
    main()
