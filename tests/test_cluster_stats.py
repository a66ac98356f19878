"""training/cluster_stats.py and training/arms.py: cluster-level tests against known answers on small synthetic
evaluations, Holm's adjustment by hand, deterministic cluster bootstrap, and the several-arms table and chart."""
from __future__ import annotations

import json
import math

import pytest

from training.arms import arm_kind, compare_arms, write_arms
from training.cluster_stats import (
    cluster_bootstrap_ci,
    cluster_of,
    cluster_permutation_test,
    cluster_sign_test,
    holm,
    seed_spread,
    template_bug,
)
from training.evaluate import compare, main, mcnemar_exact, write_comparison


def _records(solved: set[str], clusters: dict[str, tuple[str, str]], seed: int = 0) -> list[dict]:
    """Evaluation records for tasks ``clusters = {task_id: (template, bug type)}``; ``solved`` succeed."""
    return [{"task_id": t, "seed": seed, "split": "heldout_ood", "family": "debug", "difficulty": "easy",
             "bug_types": [bug], "tags": [f"template:{template}", f"bug:{bug}"],
             "gold_sql": f"SELECT a FROM {template} WHERE b = {len(t)}", "reward": float(t in solved),
             "success": t in solved, "steps": 1, "error_kind": None, "format_ok": True}
            for t, (template, bug) in sorted(clusters.items())]


def _payload(name: str, solved: set[str], clusters: dict, sha: str = "split-x", seeds: int = 1, **config) -> dict:
    records = [r for s in range(seeds) for r in _records(solved, clusters, s)]
    return {"name": name, "provenance": {"split": "heldout", "split_sha256": sha, "model": None,
                                         "config": {"policy_details": {}, **config}}, "per_task": records}


def _grid(n_clusters: int, per_cluster: int) -> dict[str, tuple[str, str]]:
    """``n_clusters`` template x bug type clusters of ``per_cluster`` tasks each."""
    return {f"c{c:02d}-t{k}": (f"tmpl{c % 4}", f"bug{c // 4}") for c in range(n_clusters) for k in range(per_cluster)}


def test_gain_in_one_cluster_convinces_mcnemar_but_not_the_cluster_tests():
    """All 9 gains in one cluster of 9 tasks, 11 more clusters unchanged: the task-level McNemar test sees 9
    discordant pairs all one way (p = 2 / 2**9), the cluster tests see one cluster out of one that moved."""
    clusters = {f"hot-{k}": ("filter", "keyword_typo") for k in range(9)} | _grid(11, 3)
    steady = {t for t in clusters if t.endswith("-t0")}  # one solved task per unchanged cluster, in A and B
    summary = compare(_payload("a", steady, clusters), _payload("b", steady | {f"hot-{k}" for k in range(9)}, clusters))
    assert summary["p_value"] == mcnemar_exact(0, 9) == float(f"{2 / 2 ** 9:.4g}") < 0.005
    block = summary["cluster"]["template_bug"]
    assert block["n_clusters"] == 12 and block["clusters_with_gain"] == 1 and block["clusters_with_loss"] == 0
    assert block["sign_test_p"] == 1.0 and block["permutation_p"] == 1.0
    assert block["per_cluster"]["filter|keyword_typo"] == {"n_tasks": 9, "mean_delta": 1.0}
    assert block["ci95"][0] == 0.0 and block["ci95"][1] > summary["success_delta"]["ci95"][1]
    assert summary["cluster"]["gold_shape"]  # computed, or says why it is unavailable


def test_uniform_gain_across_twelve_clusters_is_significant_by_cluster():
    """One gain in each of 12 clusters of 3: every cluster moves the same way. The exact cluster sign test and
    the (here exact: 2**12 flips) permutation test both give 2 / 2**12; every resample has mean 1/3."""
    clusters = _grid(12, 3)
    gains = {t for t in clusters if t.endswith("-t1")}
    summary = compare(_payload("a", set(), clusters), _payload("b", gains, clusters))
    block = summary["cluster"]["template_bug"]
    assert block["n_clusters"] == 12 and block["clusters_with_gain"] == 12
    assert block["sign_test_p"] == block["permutation_p"] == float(f"{2 / 2 ** 12:.4g}")
    assert block["ci95"] == [round(1 / 3, 6)] * 2
    assert summary["success_delta"]["ci95"][0] < 1 / 3 < summary["success_delta"]["ci95"][1]


def test_cluster_tests_directly():
    deltas = {"a": 1.0, "b": 1.0, "c": -1.0, "d": 0.0}
    clusters = {"a": "x", "b": "y", "c": "z", "d": "w"}
    assert cluster_sign_test(deltas, clusters) == {"clusters_with_gain": 2, "clusters_with_loss": 1,
                                                   "clusters_tied": 1, "p_value": 1.0}
    # 3 nonzero clusters: 8 sign flips; |sum| >= 1 in all 8 of them
    assert cluster_permutation_test(deltas, clusters) == 1.0
    assert cluster_permutation_test({"a": 0.0}, {"a": "x"}) == 1.0
    # all tasks of one cluster: no cluster-level interval
    assert cluster_bootstrap_ci({"a": 1.0, "b": 0.0}, {"a": "x", "b": "x"}) == [None, None]


def test_holm_against_a_hand_computed_example():
    # sorted: d 0.005 * 4 = 0.02; a 0.01 * 3 = 0.03; c 0.03 * 2 = 0.06; b 0.04 * 1 = 0.04 -> kept monotone: 0.06
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005}) == {"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02}
    assert holm({"a": 0.5, "b": 0.6}) == {"a": 1.0, "b": 1.0}  # capped at 1
    assert holm({"only": 0.04}) == {"only": 0.04} and holm({}) == {}


def test_compare_adjusts_bug_type_p_values_by_holm():
    clusters = _grid(8, 3)  # bug0 and bug1, 12 tasks each
    gains = {t for t in clusters if "bug0" in clusters[t][1]}
    summary = compare(_payload("a", set(), clusters), _payload("b", gains, clusters))
    raw = {bug: g["success_test"]["p_value"] for bug, g in summary["by_bug_type"].items()}
    assert raw == {"bug0": mcnemar_exact(0, 12), "bug1": 1.0}
    assert summary["by_bug_type_holm"] == {"bug0": {"p_value": raw["bug0"], "p_holm": float(f"{2 * raw['bug0']:.4g}")},
                                           "bug1": {"p_value": 1.0, "p_holm": 1.0}}


def test_cluster_bootstrap_is_deterministic_with_its_seed():
    clusters = {f"t{i}": f"c{i % 7}" for i in range(40)}
    values = {f"t{i}": float(i % 3 == 0) + 0.1 * (i % 7) for i in range(40)}
    first = cluster_bootstrap_ci(values, clusters)
    assert first == cluster_bootstrap_ci(values, clusters) == cluster_bootstrap_ci(values, clusters, seed=0)
    assert cluster_bootstrap_ci(values, clusters, seed=1) != first
    mean = sum(values.values()) / len(values)
    assert first[0] < mean < first[1]


def test_seed_spread_and_headline(tmp_path):
    clusters = _grid(6, 2)
    ids = sorted(clusters)
    paths = []
    for name, solved in (("a", set()), ("b0", set(ids[:4])), ("b1", set(ids[:8]))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_payload(name, solved, clusters)))
        paths.append(path)
    payload = json.loads(write_comparison(paths[0], paths[1:], out_dir=tmp_path, command="test").read_text())
    spread = payload["summary"]["seed_spread"]
    assert spread["per_seed"] == [round(4 / 12, 6), round(8 / 12, 6)] and spread["n_seeds"] == 2
    assert spread["sd"] == pytest.approx(math.sqrt(2) * 2 / 12, abs=1e-6)
    headline, block = payload["headline"], payload["summary"]["cluster"]["template_bug"]
    assert headline["cluster_ci95"] == block["ci95"] and headline["cluster_p_value"] == block["permutation_p"]


def test_cluster_of_reads_tags_or_looks_the_task_up():
    from env_server.tasks.registry import TaskRegistry, load_tasks

    task = next(t for t in TaskRegistry(load_tasks()) if t.tag_values("template"))
    label = template_bug(task.tags, task.bug_types)
    assert label.startswith(task.tag_values("template")[0] + "|")
    assert cluster_of(task, "template_bug") == label
    assert cluster_of({"task_id": task.task_id, "bug_types": list(task.bug_types)}, "template_bug") == label
    with pytest.raises(KeyError, match="not in the registry"):
        cluster_of({"task_id": "no-such-task", "bug_types": ["x"]}, "template_bug")
    with pytest.raises(ValueError):
        cluster_of(task, "difficulty")


def _current_payload(n: int = 6, **prov) -> dict:
    """An evaluation of ``n`` current held-out tasks whose records, like evaluate()'s, carry no tags."""
    from env_server.tasks.registry import TaskRegistry, load_tasks
    from training.task_draws import split_hash

    tasks = [t for t in TaskRegistry(load_tasks()) if t.split == "heldout_iid" and t.family == "debug"][:n]
    records = [{"task_id": t.task_id, "seed": 0, "family": t.family, "difficulty": t.difficulty,
                "bug_types": list(t.bug_types), "success": False, "reward": 0.0, "steps": 1} for t in tasks]
    return {"provenance": {"split_sha256": split_hash(tasks), **prov}, "per_task": records}, tasks


def test_clusters_come_from_the_tasks_the_evaluation_saw():
    from training.cluster_stats import UnknownTasks, eval_tasks, task_clusters

    payload, tasks = _current_payload()
    found = task_clusters(payload, "template_bug")
    assert found["task_source"] == "current task data"
    assert found["clusters"] == {t.task_id: template_bug(t.tags, t.bug_types) for t in tasks}
    # gold answers that hash otherwise: another task set under the same ids; no commit to look in
    stale = {**payload, "provenance": {"split_sha256": "0" * 64, "git_sha": "f" * 40}}
    with pytest.raises(UnknownTasks, match="neither in the current task data nor at its commit"):
        eval_tasks(stale, [t.task_id for t in tasks])
    block = compare(stale, stale)["cluster"]["template_bug"]  # compare() says why it has no cluster block
    assert list(block) == ["unavailable"] and "split_sha256 0000" in block["unavailable"]


def test_committed_evaluation_is_clustered_with_the_tasks_of_its_commit():
    """results/eval/cpu-*-heldout-easy.json were drawn before heldout_ood and heldout_external were regenerated:
    their tasks are read from the task data at the evaluation's commit (35 template x bug type clusters)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    base = json.loads((root / "results/eval/cpu-base-heldout-easy.json").read_text())
    commit = base["provenance"]["git_sha"].removesuffix("-dirty")
    if subprocess.run(["git", "-C", str(root), "cat-file", "-e", commit], capture_output=True).returncode:
        pytest.skip(f"commit {commit} is not in this clone")
    from training.cluster_stats import task_clusters

    found = task_clusters(base, "template_bug")
    assert len(found["clusters"]) == 200 and len(set(found["clusters"].values())) == 35
    assert found["task_source"] in ("current task data", f"task data at commit {commit}")


def test_gold_shape_masks_literals():
    overlap = pytest.importorskip("env_server.tasks.overlap")
    if not hasattr(overlap, "query_shape"):
        pytest.skip("env_server.tasks.overlap.query_shape is not there yet")
    one = {"task_id": "x", "gold_sql": "SELECT a FROM t WHERE b = 1"}
    assert cluster_of(one, "gold_shape") == cluster_of({**one, "gold_sql": "select A from T where b = 7"}, "gold_shape")
    assert cluster_of(one, "gold_shape") != cluster_of({**one, "gold_sql": "SELECT a FROM t"}, "gold_shape")


def _arm_files(tmp_path, sha_of=lambda name: "split-x") -> list:
    clusters = _grid(12, 3)
    ids = sorted(clusters)
    arms = [("base", set(ids[:3]), {"policy": "hf", "adapter": None}),
            ("few_shot", set(ids[:9]), {"policy": "hf", "adapter": None, "policy_kind": "few_shot"}),
            ("rule_fixer", set(ids[:6]), {"policy": "rule_fixer"}),
            ("grpo-s0", set(ids[:3]) | {t for t in ids if t.endswith("-t1")}, {"policy": "hf", "adapter": "r0/adapter"}),
            ("grpo-s1", set(ids[:3]) | {t for t in ids if t.endswith("-t2")}, {"policy": "hf", "adapter": "r1/adapter"})]
    paths = []
    for name, solved, config in arms:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_payload(name, solved, clusters, sha=sha_of(name), **config)))
        paths.append(path)
    return paths


def test_arms_table_with_controls_and_grpo_seeds(tmp_path, monkeypatch, capsys):
    paths = _arm_files(tmp_path)
    summary = compare_arms(paths)
    arms = summary["arms"]
    assert list(arms) == ["base", "few_shot", "rule_fixer", "grpo"]
    assert summary["base"] == "base" and summary["best_control"] == "few_shot"
    # 36 tasks in 12 clusters of 3; base solves cluster c00, few_shot c00-c02, rule_fixer c00-c01; each GRPO seed
    # solves c00 and one more task in each of the 11 other clusters
    assert (arms["base"]["success"], arms["few_shot"]["success"]) == (round(3 / 36, 6), 0.25)
    assert arms["grpo"]["n_seeds"] == 2 and arms["grpo"]["success"] == round(14 / 36, 6)
    assert arms["grpo"]["seeds"]["per_seed"] == [round(14 / 36, 6)] * 2 and arms["grpo"]["seeds"]["sd"] == 0.0
    assert arms["base"]["vs_base"] is None and arms["few_shot"]["vs_best_control"] is None
    vs_base = arms["grpo"]["vs_base"]
    assert vs_base["delta"] == round(11 / 36, 6)
    assert vs_base["cluster_permutation_p"] == vs_base["cluster_sign_test_p"] == float(f"{2 / 2 ** 11:.4g}")
    assert vs_base["cluster_ci95"][0] < 11 / 36 < vs_base["cluster_ci95"][1]
    assert arms["grpo"]["vs_best_control"]["delta"] == round(5 / 36, 6)
    for arm in arms.values():
        lo, hi = arm["task_ci95"]
        assert lo <= arm["success"] <= hi and len(arm["cluster_ci95"]) == 2
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path / "results"))
    main(["--arms", *map(str, paths), "--name", "unit"])
    written = tmp_path / "results" / "eval" / "arms_unit.json"
    assert str(written) in capsys.readouterr().out
    assert json.loads(written.read_text())["summary"]["arms"]["grpo"]["files"] == [str(paths[3]), str(paths[4])]


def test_arms_refuse_mismatched_split_hashes(tmp_path):
    paths = _arm_files(tmp_path, sha_of=lambda name: "other" if name == "rule_fixer" else "split-x")
    with pytest.raises(SystemExit, match="split_sha256 differs"):
        compare_arms(paths)
    with pytest.raises(SystemExit, match="one per file"):
        compare_arms(_arm_files(tmp_path)[:2], labels=["base"])


def test_arm_labels_and_kinds(tmp_path):
    paths = _arm_files(tmp_path)
    assert [arm_kind(json.loads(p.read_text())) for p in paths] == ["base", "few_shot", "rule_fixer", "grpo", "grpo"]
    summary = compare_arms(paths, labels=["base", "ctl", "ctl2", "rl-0", "rl-1"])
    assert list(summary["arms"]) == ["base", "ctl", "ctl2", "rl-0", "rl-1"]
    assert summary["best_control"] == "ctl" and summary["arms"]["rl-0"]["n_seeds"] == 1


def test_arms_chart(tmp_path):
    import presentation_graphs
    from PIL import Image

    path = write_arms(_arm_files(tmp_path), out_dir=tmp_path / "results" / "eval", name="unit", command="test")
    written = presentation_graphs.render(tmp_path / "results", tmp_path / "figures", only={"arms"})
    assert [png for png, _ in written] == [str(tmp_path / "figures" / "arms_unit.png")]
    rates, deltas = json.loads(Image.open(written[0][0]).text[presentation_graphs.PLOTTED_KEY])[1:]
    summary = json.loads(path.read_text())["summary"]
    assert [bar[3] for bar in rates["bars"]] == [arm["success"] for arm in summary["arms"].values()]
    assert rates["legend"] == ["cluster 95% CI (template × bug type)", "task 95% CI", "training seed"]
    dots = [line for line in rates["lines"] if len(line) == 2]  # the two GRPO seeds, at the grpo bar
    assert sorted(y for _, y in dots[0]) == summary["arms"]["grpo"]["seeds"]["per_seed"]
    assert [bar[2] for bar in deltas["bars"]] == [summary["arms"][a]["vs_base"]["delta"]
                                                  for a in ("few_shot", "rule_fixer", "grpo")]
