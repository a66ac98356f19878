"""Evaluate a policy on a split, or compare two evaluations: results JSON with provenance and CIs.

    python -m training.evaluate --policy hf --model M [--adapter A] --split heldout_ood --families debug \\
        --seeds 3 --n 200
    python -m training.evaluate --policy oracle --split heldout_iid --n 50
    python -m training.evaluate --run hf://me/dataops-gym-runs/gpu-qwen0.5b-20250101-120000 --difficulty easy
    python -m training.evaluate --compare results/eval/base.json results/eval/rl.json
    python -m training.evaluate --arms results/eval/base.json results/eval/few_shot.json results/eval/grpo-s*.json

An evaluation writes ``results/eval/<name>.json``: ``provenance`` (git sha, command, model, adapter,
split and its hash, seeds, sampling settings, time), ``per_task`` records (reward, success, steps,
error kind, the SQL, per seed) and a ``summary``: success rate and mean reward with bootstrap 95%
CIs, overall and by family, difficulty and bug type. The bootstrap resamples tasks (each task's
seeds averaged first), with a fixed seed, so the same records give the same CIs.

Single-turn policies are graded exactly as during training (the grader's reward for the SQL their
completion holds); multi-turn policies play episodes on a ``DataOpsEnv``. Records are appended to
``<name>.partial.jsonl`` as they are made, so an interrupted evaluation resumes where it stopped.

``--compare A B`` pairs the two evaluations on their common tasks and writes
``results/eval/compare_<A>_vs_<B>.json`` with the deltas (B - A) and their CIs, and the same delta analysed by
cluster of tasks (template x bug type, gold-query shape: ``training.cluster_stats``). ``--arms`` compares
several arms at once (``training.arms``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from env_server.core.provenance import (
    command_line,
    provenance,
    results_dir,
    write_results,
)
from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.grading.reward import RewardConfig
from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import Task
from reward_fns.backend import InProcessBackend
from reward_fns.execution import format_reward, grade_outcomes
from reward_fns.prompts import single_turn_prompt
from training.generation import SamplingConfig
from training.policies import POLICIES, Policy, make_policy, policy_kind
from training.task_draws import draw_tasks, split_hash, split_kind

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
        "format_valid_rate": format_valid_rate(records),
        "n_records": len(records),
        "mean_steps": round(float(np.mean(steps)), 4) if steps else None,
        "error_kinds": dict(sorted(errors.items())),
        **_breakdowns(tasks, _group_summary),
        "ci_method": f"percentile bootstrap over tasks ({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED}); "
                     "each task's seeds averaged first",
    }


def format_valid_rate(records: Iterable[dict[str, Any]], task_ids: Iterable[str] | None = None) -> dict | None:
    """Share of records whose completion held exactly one well-formed answer block (``format_reward``), with a
    bootstrap CI over records; None for policies that write no completions (multi-turn, scripted)."""
    wanted = None if task_ids is None else set(task_ids)
    values = [float(r["format_ok"]) for r in records
              if r.get("format_ok") is not None and (wanted is None or r["task_id"] in wanted)]
    return _stats(values) if values else None


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: tasks only A solved, tasks only B solved
    (a binomial test of ``b_only`` out of ``a_only + b_only`` at 1/2).

    >>> mcnemar_exact(0, 0), mcnemar_exact(5, 5)
    (1.0, 1.0)
    >>> round(mcnemar_exact(2, 12), 4)
    0.0129
    """
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(f"{min(1.0, 2 * tail):.4g}")  # significant figures: a tiny p stays visible, never 0.0


def sign_test(deltas: Sequence[float]) -> dict[str, Any]:
    """Exact two-sided sign test on paired per-task deltas (ties dropped). With one B seed and 0/1 successes it
    is the exact McNemar test.

    >>> sign_test([1, 1, 0, -1])
    {'b_better': 2, 'a_better': 1, 'ties': 1, 'p_value': 1.0}
    >>> sign_test([1.0] * 6 + [0.0] * 3)["p_value"]
    0.03125
    """
    up, down = sum(d > 0 for d in deltas), sum(d < 0 for d in deltas)
    return {"b_better": int(up), "a_better": int(down), "ties": int(len(deltas) - up - down),
            "p_value": mcnemar_exact(down, up)}


def _binary(tasks: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Per-task success as 0/1: solved in at least half the evaluation seeds."""
    return {task_id: t["success"] >= 0.5 for task_id, t in tasks.items()}


def compare(a: dict[str, Any], b: dict[str, Any] | Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Paired comparison of A with B on their common tasks, B - A.

    ``b`` is one evaluation or several (one per training seed). Per task, B's success is averaged over its
    seeds; the summary gives both rates, the delta with a paired bootstrap CI over tasks, an exact sign test on
    the per-task deltas (the exact McNemar test when there is one B seed), and per B seed its own exact McNemar
    test. Breakdowns by family, difficulty and bug type carry the deltas and CIs. Tasks come in clusters, so
    ``cluster`` repeats the analysis with clusters as the unit (template x bug type, and gold-query shape:
    cluster-bootstrap CI, cluster sign test, cluster permutation test); ``by_bug_type_holm`` adjusts the per-bug-type
    p-values for their number (Holm); ``seed_spread`` gives B's per-seed success rates."""
    bs = [b] if isinstance(b, dict) else list(b)
    ta = per_task_means(a["per_task"])
    tbs = [per_task_means(x["per_task"]) for x in bs]
    common = sorted(set(ta).intersection(*[set(t) for t in tbs]))
    if not common:
        raise SystemExit("the evaluations share no task; evaluate them on the same split")
    tb = {i: {**ta[i], "success": float(np.mean([t[i]["success"] for t in tbs])),
              "reward": float(np.mean([t[i]["reward"] for t in tbs]))} for i in common}

    def delta(ids: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"n_tasks": len(ids)}
        for metric in ("success", "reward"):
            diffs = [tb[i][metric] - ta[i][metric] for i in ids]
            out[f"{metric}_a"] = round(float(np.mean([ta[i][metric] for i in ids])), 6)
            out[f"{metric}_b"] = round(float(np.mean([tb[i][metric] for i in ids])), 6)
            out[f"{metric}_delta"] = _stats(diffs)
        out["success_test"] = sign_test([tb[i]["success"] - ta[i]["success"] for i in ids])
        return out

    paired = {i: ta[i] for i in common}
    summary = {**delta(common), **_breakdowns(paired, lambda group: delta(sorted(group)))}
    summary["p_value"] = summary["success_test"]["p_value"]
    summary["rate_a"] = _stats([ta[i]["success"] for i in common])
    summary["rate_b"] = _stats([tb[i]["success"] for i in common])
    summary["test"] = ("exact McNemar (two-sided) on per-task success" if len(bs) == 1 else
                       f"exact sign test (two-sided) on per-task success deltas, B averaged over {len(bs)} seeds")
    a_bin = _binary({i: ta[i] for i in common})
    per_seed = []
    for x, t in zip(bs, tbs):
        b_bin = _binary({i: t[i] for i in common})
        a_only = sum(a_bin[i] and not b_bin[i] for i in common)
        b_only = sum(b_bin[i] and not a_bin[i] for i in common)
        per_seed.append({"name": x.get("name"), "train_seed": _train_seed(x),
                         "success_b": round(float(np.mean([t[i]["success"] for i in common])), 6),
                         "a_only": a_only, "b_only": b_only, "mcnemar_p": mcnemar_exact(a_only, b_only)})
    summary["per_b_seed"] = per_seed
    summary.update(_design_stats(a, tb, ta, common, summary))
    summary["format_valid_a"] = format_valid_rate(a["per_task"], common)
    summary["format_valid_b"] = [format_valid_rate(x["per_task"], common) for x in bs]
    summary["ci_method"] = f"paired percentile bootstrap over tasks ({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED})"
    summary["only_in_a"] = len(set(ta) - set(common))
    summary["only_in_b"] = sum(len(set(t) - set(common)) for t in tbs)
    return summary


def _design_stats(a: dict[str, Any], tb: dict[str, dict[str, Any]], ta: dict[str, dict[str, Any]], common: list[str],
                  summary: dict[str, Any]) -> dict[str, Any]:
    """What respects how the tasks were made (``training.cluster_stats``): the ``cluster`` block (template x bug
    type, gold-query shape), Holm-adjusted per-bug-type p-values, and the spread of B's training seeds."""
    from training.cluster_stats import cluster_blocks, holm, seed_spread

    deltas = {i: tb[i]["success"] - ta[i]["success"] for i in common}
    raw = {bug: group["success_test"]["p_value"] for bug, group in summary["by_bug_type"].items()}
    adjusted = holm(raw)
    return {"cluster": cluster_blocks(deltas, a),
            "by_bug_type_holm": {bug: {"p_value": raw[bug], "p_holm": adjusted[bug]} for bug in raw},
            "seed_spread": seed_spread([s["success_b"] for s in summary["per_b_seed"]])}


def _train_seed(payload: dict[str, Any]) -> int | None:
    return payload.get("provenance", {}).get("config", {}).get("train_seed")


# -- running a policy ------------------------------------------------------------------------------------------------


def _record(task: Task, seed: int, reward: float | None, grade: dict[str, Any] | None, steps: int, sql: str,
            completion: str, format_ok: bool | None = None) -> dict[str, Any]:
    record = {
        "task_id": task.task_id, "seed": seed, "split": task.split, "family": task.family,
        "difficulty": task.difficulty, "bug_types": list(task.bug_types),
        # a submission the grading safety net stopped has no reward: counted as not solved, reward 0, and flagged
        "reward": 0.0 if reward is None else reward,
        "success": bool(grade and grade.get("success")), "steps": steps,
        "error_kind": (grade or {}).get("error_kind"), "reason": (grade or {}).get("reason", "no submission"),
        "sql": sql, "completion": completion[:2000], "format_ok": format_ok,
    }
    if reward is None:
        record["not_graded"] = True
    return record


def run_single_turn(policy: Policy, tasks: list[Task], seed: int, env: DataOpsEnv, backend: InProcessBackend,
                    batch: int = 64, progress: bool = True) -> Iterable[dict[str, Any]]:
    """Completions for ``tasks``, graded as the training reward grades them; yields one record per task."""
    bar = tqdm(total=len(tasks), desc=f"{policy.name} seed {seed}", unit="task", disable=not progress)
    for start in range(0, len(tasks), batch):
        chunk = tasks[start: start + batch]
        prompts = [single_turn_prompt(env, t.task_id) for t in chunk]
        completions = policy.complete(chunk, prompts, seed)
        ids = [t.task_id for t in chunk]
        graded = grade_outcomes(completions, ids, backend)
        formats = format_reward(completions=completions, task_id=ids)
        for task, completion, (sql, outcome), ok in zip(chunk, completions, graded, formats):
            yield _record(task, seed, outcome.reward, outcome.grade, 1, sql, completion, bool(ok))
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
    train_seed: int | None = None,
    shots: int = 3,
    shot_seed: int = 0,
) -> Path:
    """Evaluate one policy on ``n`` tasks of ``split`` for ``seeds`` seeds; returns the results JSON path.
    ``train_seed`` (recorded in the provenance) names the training seed of the adapter, for comparisons that
    aggregate several; ``shots`` and ``shot_seed`` are the few_shot policy's examples (how many, which). The
    provenance's ``config.policy_kind`` says what kind of policy this is (``training.policies.policy_kind``)."""
    registry = TaskRegistry(load_tasks())
    tasks = draw_tasks(registry, split, families=families, n=n, seed=0, difficulty=difficulty, bug_types=bug_types)
    if name is None:
        adapter_label = None
        if adapter:
            adapter_path = Path(adapter)
            adapter_label = adapter_path.parent.name if adapter_path.name == "adapter" else adapter_path.name
        name = "-".join(filter(None, [policy_name, Path(model).name.replace(":", "-") if model else None,
                                      adapter_label, split]))
    out_dir = out_dir or results_dir() / "eval"
    target, partial = out_dir / f"{name}.json", out_dir / f"{name}.partial.jsonl"
    config = {"policy": policy_name, "model": model, "adapter": adapter, "split": split, "families": families,
              "n": n, "seeds": list(range(seeds)), "difficulty": difficulty, "bug_types": bug_types,
              "sampling": sampling.__dict__, "split_sha256": split_hash(tasks), "train_seed": train_seed}
    if policy_name == "few_shot":
        config.update(shots=shots, shot_seed=shot_seed)
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

    grader = make_grader()
    reward_config = RewardConfig()
    env = DataOpsEnv(registry, grader=grader, reward_config=reward_config)
    backend = InProcessBackend(registry, grader=grader, reward_config=reward_config)
    policy = make_policy(policy_name, model=model, adapter=adapter, sampling=sampling, progress=progress,
                         grader=grader, registry=registry, shots=shots, shot_seed=shot_seed,
                         exclude=[t.task_id for t in tasks])
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
            command=command or command_line(), model=model if policy_name in ("hf", "few_shot", "openai") else None,
            adapter=adapter, split=split, split_sha256=config["split_sha256"], seeds=config["seeds"],
            config={**config, "policy_kind": policy_kind(policy_name, adapter),
                    "policy_details": policy.describe(), "reward_config": reward_config.as_dict(),
                    "grading": {"variants": grader.config.variants, "partial_credit": grader.config.partial_credit},
                    "split_kind": split_kind(split)},
        ),
        "name": name,
        "summary": summarise(records),
        "per_task": records,
    }
    write_results(target, payload)
    partial.unlink()
    return target


def run_settings(run: str | Path) -> dict[str, Any]:
    """What evaluating a training run needs from its ``config.json``: the model, the adapter folder, the
    training seed, the sampling settings it trained with, and the families, difficulty and bug types it trained on.
    ``run`` is a run folder or any reference :func:`training.run_store.resolve_run` takes (a Drive path,
    ``hf://<user>/<repo>/<run_id>``); ``run_dir`` is the local folder it resolved to."""
    from training.run_store import resolve_run

    run_dir = resolve_run(run)
    args = json.loads((run_dir / "config.json").read_text())["provenance"]["config"]["args"]
    return {"model": args["model"], "adapter": str(run_dir / "adapter"), "train_seed": args.get("seed"),
            "sampling": {"max_new_tokens": args["max_completion_length"], "top_p": args.get("top_p", 1.0),
                         "top_k": args.get("top_k", 0), "stop_at_fence": args.get("stop_at_fence", True)},
            "families": args.get("families", "debug"), "difficulty": args.get("difficulty") or None,
            "bug_types": args.get("bug_types") or None, "run_dir": str(run_dir)}


def write_comparison(a_path: Path, b_path: Path | Sequence[Path], out_dir: Path | None = None,
                     command: str | None = None, name: str | None = None) -> Path:
    """Compare evaluation A with B (one file, or one per training seed), B - A, into
    ``compare_<A>_vs_<B>.json``; returns its path. Raises ``SystemExit`` when a file is not an evaluation or the
    files were drawn from different task sets."""
    b_paths = [Path(b_path)] if isinstance(b_path, (str, Path)) else [Path(p) for p in b_path]
    a = json.loads(Path(a_path).read_text())
    bs = [json.loads(p.read_text()) for p in b_paths]
    for label, payload in (("A", a), *((f"B{i + 1}", x) for i, x in enumerate(bs))):
        if "per_task" not in payload:
            raise SystemExit(f"{label} is not an evaluation file (no per_task records)")
    b_name = bs[0].get("name", b_paths[0].stem) + (f"+{len(bs) - 1}seeds" if len(bs) > 1 else "")
    name = name or f"compare_{a.get('name', Path(a_path).stem)}_vs_{b_name}"
    hashes = {x["provenance"].get("split_sha256") for x in (a, *bs)}
    summary = compare(a, bs)
    payload = {
        "provenance": provenance(command=command or command_line(), model=bs[0]["provenance"].get("model"),
                                 adapter=[x["provenance"].get("adapter") for x in bs],
                                 split=bs[0]["provenance"].get("split"), split_sha256=bs[0]["provenance"].get("split_sha256"),
                                 seeds=[_train_seed(x) for x in bs],
                                 config={"a": str(a_path), "b": [str(p) for p in b_paths],
                                         "same_split_sha256": len(hashes) == 1}),
        "name": name,
        "a": {"path": str(a_path), "name": a.get("name"), "policy": a["provenance"]["config"].get("policy_details")},
        "b": [{"path": str(p), "name": x.get("name"), "policy": x["provenance"]["config"].get("policy_details"),
               "train_seed": _train_seed(x)} for p, x in zip(b_paths, bs)],
        "headline": {"n": summary["n_tasks"], "rate_a": summary["success_a"], "rate_b": summary["success_b"],
                     "delta": summary["success_delta"]["mean"], "ci95": summary["success_delta"]["ci95"],
                     "p_value": summary["p_value"], "test": summary["test"], "train_seeds": len(bs),
                     **_cluster_headline(summary)},
        "summary": summary,
    }
    return write_results((out_dir or results_dir() / "eval") / f"{name}.json", payload)


def _cluster_headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The template x bug type cluster CI and permutation p-value for a comparison's headline (None where the
    tasks could not be clustered)."""
    block = summary.get("cluster", {}).get("template_bug", {})
    return {"cluster_ci95": block.get("ci95"), "cluster_p_value": block.get("permutation_p"),
            "cluster_test": "cluster (template x bug type) sign-flip permutation test, two-sided" if "ci95" in block
            else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--policy", choices=POLICIES, help="who answers")
    parser.add_argument("--model", default=None, help="hf: model id or path (default: the embedded model)")
    parser.add_argument("--adapter", default=None, help="hf: LoRA adapter folder (e.g. results/runs/<id>/adapter)")
    parser.add_argument("--run", default=None, metavar="RUN",
                        help="hf: evaluate this training run's adapter, with its model and the sampling settings it "
                             "trained with (completion length, top_p, top_k, fence stop); RUN is a run folder "
                             "(results/runs/<id>, a Drive path) or hf://<user>/<repo>[/<run_id>] (training.run_store)")
    parser.add_argument("--base", action="store_true", help="with --run: the run's base model, without the adapter")
    parser.add_argument("--split", default="heldout", help="task split; 'heldout' = heldout_ood and "
                        "heldout_external interleaved, then heldout_iid")
    parser.add_argument("--families", default="debug", help="comma-separated families")
    parser.add_argument("--difficulty", default=None, help="only this difficulty")
    parser.add_argument("--bug-types", default=None, help="only these comma-separated bug types")
    parser.add_argument("--n", type=int, default=200, help="tasks drawn (seeded) from the split")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..k-1 per task")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=SamplingConfig.top_p)
    parser.add_argument("--top-k", type=int, default=SamplingConfig.top_k)
    parser.add_argument("--max-new-tokens", type=int, default=SamplingConfig.max_new_tokens)
    parser.add_argument("--batch-size", type=int, default=SamplingConfig.batch_size)
    parser.add_argument("--shots", type=int, default=3, help="few_shot: worked train examples before each task")
    parser.add_argument("--shot-seed", type=int, default=0, help="few_shot: the seed that chooses the examples")
    parser.add_argument("--name", default=None, help="results file name (default from policy, model, split)")
    parser.add_argument("--fresh", action="store_true", help="discard an interrupted run of the same name")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="FILE.json",
                        help="compare evaluation files instead: A then B (one B per training seed), B - A, paired "
                             "on tasks, with an exact McNemar / sign test and a paired bootstrap CI")
    parser.add_argument("--arms", nargs="+", type=Path, metavar="FILE.json",
                        help="compare several arms (base, controls, GRPO seeds) in one results/eval/arms_<name>.json: "
                             "rates with task and cluster CIs, deltas vs the base and the best control")
    parser.add_argument("--arm-label", nargs="+", default=None, metavar="LABEL",
                        help="with --arms: one label per file (files with one label are seeds of one arm); default "
                             "each file's policy kind")
    args = parser.parse_args(argv)
    if args.arms:
        from training.arms import write_arms

        print(write_arms(args.arms, args.arm_label, name=args.name))
        return
    if args.compare:
        if len(args.compare) < 2:
            parser.error("--compare needs A.json and at least one B.json")
        print(write_comparison(args.compare[0], args.compare[1:]))
        return
    train_seed, stop_at_fence = None, True
    given = set(argv if argv is not None else sys.argv[1:])
    if args.run is not None:
        settings = run_settings(args.run)
        args.policy = args.policy or "hf"
        args.model = args.model or settings["model"]
        base = args.base or args.policy == "few_shot"  # few_shot is the run's base model with examples
        args.adapter = None if base else (args.adapter or settings["adapter"])
        train_seed = None if base else settings["train_seed"]
        stop_at_fence = settings["sampling"]["stop_at_fence"]
        for flag, key in (("--max-new-tokens", "max_new_tokens"), ("--top-p", "top_p"), ("--top-k", "top_k")):
            if flag not in given:
                setattr(args, key, settings["sampling"][key])
    if not args.policy:
        parser.error("--policy is required unless --compare or --run is given")
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                              top_k=args.top_k, batch_size=args.batch_size, stop_at_fence=stop_at_fence)
    path = evaluate(args.policy, split=args.split, families=args.families, n=args.n, seeds=args.seeds,
                    model=args.model, adapter=args.adapter, difficulty=args.difficulty, bug_types=args.bug_types,
                    sampling=sampling, name=args.name, progress=not args.no_progress, fresh=args.fresh,
                    train_seed=train_seed, shots=args.shots, shot_seed=args.shot_seed)
    summary = json.loads(path.read_text())["summary"]
    print(f"{path}: success {summary['success_rate']['mean']:.3f} {summary['success_rate']['ci95']}, "
          f"reward {summary['mean_reward']['mean']:.3f} {summary['mean_reward']['ci95']} on {summary['n_tasks']} tasks")


if __name__ == "__main__":
    main()
