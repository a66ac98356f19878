"""Several arms in one comparison: base, controls (few-shot, rule fixer, SFT, ...) and GRPO seeds, one JSON.

    python -m training.evaluate --arms results/eval/base.json results/eval/few_shot.json \\
        results/eval/grpo-s0.json results/eval/grpo-s1.json [--arm-label base few_shot grpo grpo] [--name NAME]

writes ``results/eval/arms_<NAME>.json``. Each file is one evaluation; its arm is its ``--arm-label``, else its
kind: ``provenance.config.policy_kind`` when the evaluation recorded one, else derived (policy ``hf`` without
an adapter = ``base``, with one = its training run's method, ``grpo`` if it recorded none; any other policy = its
name). Files of one arm are its seeds (several GRPO training seeds are one arm). Per arm: the success rate (each task's seeds averaged) with the
task-bootstrap CI and the cluster-bootstrap CI (template x bug type clusters, ``training.cluster_stats``), the
per-seed rates, and the paired delta against the base arm and against the best control (the non-base,
non-GRPO, non-calibrator arm with the highest success rate), each with the task-level exact McNemar / sign test
and the cluster permutation test (``training.evaluate.compare``). All files must share one ``split_sha256``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from env_server.core.provenance import command_line, provenance, results_dir, write_results
from training.cluster_stats import cluster_bootstrap_ci, seed_spread, task_clusters
from training.evaluate import bootstrap_ci, compare, per_task_means
from training.policies import policy_kind

BASE, GRPO = "base", "grpo"
CALIBRATORS = ("oracle", "echo_broken", "random_valid")
"""Scripted calibrators bound the scale; they are never the best control."""
CLUSTERING = "template_bug"


def arm_kind(payload: dict[str, Any]) -> str:
    """An evaluation's arm kind: its recorded ``policy_kind``, else derived as ``training.policies.policy_kind``
    does (``hf`` without an adapter: ``base``; with one: its run's recorded method, ``grpo`` if none; any other
    policy: its name).

    >>> arm_kind({"provenance": {"config": {"policy": "hf", "adapter": None}}})
    'base'
    >>> arm_kind({"provenance": {"config": {"policy": "hf", "adapter": "runs/x/adapter"}}})
    'grpo'
    >>> arm_kind({"provenance": {"config": {"policy": "hf", "policy_kind": "few_shot"}}})
    'few_shot'
    """
    config = payload.get("provenance", {}).get("config", {})
    if config.get("policy_kind"):
        return str(config["policy_kind"])
    policy = config.get("policy") or config.get("policy_details", {}).get("policy")
    if not policy:
        return str(payload.get("name") or "unknown")
    return policy_kind(policy, config.get("adapter"))


def split_of(files: Sequence[tuple[Path, dict[str, Any]]]) -> str:
    """The one ``split_sha256`` all files share; ``SystemExit`` naming each file's hash otherwise."""
    hashes = {str(path): payload.get("provenance", {}).get("split_sha256") for path, payload in files}
    if len(set(hashes.values())) != 1 or None in hashes.values():
        listing = "; ".join(f"{path}: {sha}" for path, sha in hashes.items())
        raise SystemExit(f"the arms were not evaluated on one task set (split_sha256 differs or is missing): {listing}. "
                         "Evaluate every arm with the same --split, --n, --difficulty and --bug-types")
    return next(iter(hashes.values()))


def group_arms(files: Sequence[tuple[Path, dict[str, Any]]], labels: Sequence[str] | None = None) -> dict[str, dict]:
    """``{label: {"kind", "paths", "payloads"}}`` in the order labels first appear; files of one label are seeds."""
    if labels is not None and len(labels) != len(files):
        raise SystemExit(f"--arm-label gives {len(labels)} labels for {len(files)} files; give one per file")
    arms: dict[str, dict[str, Any]] = {}
    for i, (path, payload) in enumerate(files):
        if "per_task" not in payload:
            raise SystemExit(f"{path} is not an evaluation file (no per_task records)")
        kind = arm_kind(payload)
        label = labels[i] if labels is not None else kind
        arm = arms.setdefault(label, {"kind": kind, "paths": [], "payloads": []})
        arm["paths"].append(str(path))
        arm["payloads"].append(payload)
    return arms


def _task_success(payloads: Sequence[dict[str, Any]], common: Sequence[str]) -> dict[str, float]:
    """Per task, success averaged over the arm's seed files (each file's own seeds averaged first)."""
    means = [per_task_means(p["per_task"]) for p in payloads]
    return {i: float(np.mean([m[i]["success"] for m in means])) for i in common}


def arm_rate(payloads: Sequence[dict[str, Any]], common: Sequence[str], clusters: dict[str, str]) -> dict[str, Any]:
    """An arm's success rate on ``common`` tasks with its task and cluster bootstrap CIs and per-seed spread."""
    success = _task_success(payloads, common)
    per_seed = [float(np.mean(list(_task_success([p], common).values()))) for p in payloads]
    values = list(success.values())
    return {"success": round(float(np.mean(values)), 6), "task_ci95": list(bootstrap_ci(values)),
            "cluster_ci95": cluster_bootstrap_ci(success, clusters), "seeds": seed_spread(per_seed)}


def paired(reference: dict[str, Any], arm: dict[str, Any]) -> dict[str, Any]:
    """``arm - reference`` through :func:`training.evaluate.compare`: the delta with its task and cluster CIs, the
    task-level exact McNemar / sign test p and the cluster permutation p."""
    summary = compare(reference["payloads"][0], arm["payloads"])
    block = summary["cluster"].get(CLUSTERING, {})
    return {"delta": summary["success_delta"]["mean"], "task_ci95": summary["success_delta"]["ci95"],
            "mcnemar_p": summary["p_value"], "test": summary["test"],
            "cluster_ci95": block.get("ci95"), "cluster_permutation_p": block.get("permutation_p"),
            "cluster_sign_test_p": block.get("sign_test_p"),
            "per_b_seed_mcnemar_p": [s["mcnemar_p"] for s in summary["per_b_seed"]]}


def best_control(rates: dict[str, dict[str, Any]], kinds: dict[str, str], base: str) -> str | None:
    """The highest-success arm that is neither the base, a GRPO arm nor a calibrator (ties: first given)."""
    controls = [label for label in rates if label != base and kinds[label] not in (BASE, GRPO, *CALIBRATORS)]
    return max(controls, key=lambda label: rates[label]["success"], default=None)


def compare_arms(paths: Sequence[Path], labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The arms table of ``paths`` (see the module docstring) as a dict: ``split_sha256``, ``n_tasks``, the
    ``base`` and ``best_control`` labels, and per arm its kind, files, rates, and deltas vs base and best control."""
    files = [(Path(p), json.loads(Path(p).read_text())) for p in paths]
    sha = split_of(files)
    arms = group_arms(files, labels)
    if len(arms) < 2:
        raise SystemExit("--arms needs at least two arms (files of one label are seeds of one arm)")
    ids = [set(per_task_means(p["per_task"])) for arm in arms.values() for p in arm["payloads"]]
    common = sorted(set.intersection(*ids))
    if not common:
        raise SystemExit("the arms share no task")
    base = next((label for label, arm in arms.items() if arm["kind"] == BASE), next(iter(arms)))
    found = task_clusters(arms[base]["payloads"][0], CLUSTERING, common)
    clusters = found["clusters"]
    rates = {label: arm_rate(arm["payloads"], common, clusters) for label, arm in arms.items()}
    kinds = {label: arm["kind"] for label, arm in arms.items()}
    control = best_control(rates, kinds, base)
    table = {}
    for label, arm in arms.items():
        table[label] = {"kind": arm["kind"], "files": arm["paths"], "n_seeds": len(arm["payloads"]), **rates[label],
                        "vs_base": None if label == base else paired(arms[base], arm),
                        "vs_best_control": None if control in (None, label) else paired(arms[control], arm)}
    return {"split_sha256": sha, "n_tasks": len(common), "n_clusters": len(set(clusters.values())),
            "clustering": CLUSTERING, "task_source": found["task_source"], "base": base, "best_control": control, "arms": table,
            "ci_method": "task CI: percentile bootstrap over tasks; cluster CI: percentile bootstrap over template x "
                         "bug type clusters (task-weighted); each task's seeds averaged first"}


def write_arms(paths: Sequence[Path], labels: Sequence[str] | None = None, name: str | None = None,
               out_dir: Path | None = None, command: str | None = None) -> Path:
    """:func:`compare_arms` into ``arms_<name>.json`` (name default: the first file's stem); returns its path."""
    summary = compare_arms(paths, labels)
    name = name or Path(paths[0]).stem
    first = json.loads(Path(paths[0]).read_text())["provenance"]
    payload = {"provenance": provenance(command=command or command_line(), split=first.get("split"),
                                        split_sha256=summary["split_sha256"],
                                        config={"files": [str(p) for p in paths], "labels": list(labels or [])}),
               "name": f"arms_{name}", "summary": summary}
    return write_results((out_dir or results_dir() / "eval") / f"arms_{name}.json", payload)
