"""Statistics that respect how the evaluation tasks were made: they come in clusters, not one by one.

Held-out tasks are generated from templates, each broken by one or more bug types, so tasks of one
``template x bug type`` cluster (or one gold-query shape) succeed and fail together. A p-value that treats
200 such tasks as independent overstates the evidence when a gain sits in a few clusters. This module
gives the paired B - A analysis at the cluster level:

* :func:`cluster_of`: a task's cluster, ``by="template_bug"`` (its ``template:<name>`` tag joined with its
  bug types) or ``by="gold_shape"`` (``env_server.tasks.overlap.query_shape`` of its gold SQL);
  :func:`task_clusters` clusters an evaluation's tasks as that evaluation saw them (:func:`eval_tasks`: the
  current task data if it reproduces the evaluation's ``split_sha256``, else the task data at its commit);
* :func:`cluster_bootstrap_ci`: percentile bootstrap that resamples clusters with replacement and takes the
  task-weighted mean of the resampled clusters (``scipy.stats.bootstrap``, fixed seed);
* :func:`cluster_sign_test`: exact binomial test on clusters whose mean delta is positive vs negative;
* :func:`cluster_permutation_test`: paired sign-flip permutation test at cluster level
  (``scipy.stats.permutation_test``, ``permutation_type='samples'``), statistic the task-weighted mean delta;
* :func:`holm`: Holm's step-down adjustment of a family of p-values;
* :func:`seed_spread`: between-seed spread of success rates when B has several training seeds;
* :func:`cluster_summary`: all of the above for one clustering, the block ``compare()`` writes.

Everything is deterministic: the resampling seeds are fixed, so the same records give the same numbers.
"""
from __future__ import annotations

import subprocess
import tempfile
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

REPO_ROOT = Path(__file__).resolve().parents[1]

CLUSTERINGS = ("template_bug", "gold_shape")
BOOTSTRAP_SAMPLES = 2000
PERMUTATION_SAMPLES = 9999
"""Random sign flips; with 2**n_clusters at most this many the test enumerates every flip (exact)."""
SEED = 0
NO_TEMPLATE = "no_template"


# -- clusters --------------------------------------------------------------------------------------------------------


class UnknownTasks(KeyError):
    """An evaluation's tasks are found neither in the current task data nor at its commit."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@lru_cache(maxsize=1)
def _registry():
    from env_server.tasks.registry import TaskRegistry, load_tasks

    return TaskRegistry(load_tasks())


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _task(record_or_task: Any):
    """The registry's task for a record (a dict with ``task_id``), or the task itself."""
    if not isinstance(record_or_task, Mapping):
        return record_or_task
    if record_or_task["task_id"] not in _registry():
        raise UnknownTasks(f"task {record_or_task['task_id']!r} is not in the registry and its record carries no "
                           "tags / gold_sql to cluster it by")
    return _registry().get(record_or_task["task_id"])


@lru_cache(maxsize=4096)
def _shape(sql: str) -> str | None:
    from env_server.tasks.overlap import query_shape

    return query_shape(sql)


def template_bug(tags: Iterable[str], bug_types: Iterable[str]) -> str:
    """The ``template x bug type`` label of a task's tags and bug types.

    >>> template_bug(["template:date_range", "origin:x"], ["wrong_column"])
    'date_range|wrong_column'
    >>> template_bug([], ["b", "a"])
    'no_template|a+b'
    """
    templates = [t.split(":", 1)[1] for t in tags if t.startswith("template:")]
    return f"{'+'.join(sorted(templates)) or NO_TEMPLATE}|{'+'.join(sorted(bug_types)) or 'none'}"


def cluster_of(record_or_task: Any, by: str) -> str:
    """The cluster of an evaluation record (``per_task`` entry) or a ``Task``, ``by`` one of
    :data:`CLUSTERINGS`. A record that carries ``tags`` (template_bug) or ``gold_sql`` (gold_shape) is used as it
    is; otherwise its task is looked up in the registry by ``task_id``.

    >>> cluster_of({"task_id": "t1", "tags": ["template:top_n"], "bug_types": ["wrong_table"]}, "template_bug")
    'top_n|wrong_table'
    """
    if by not in CLUSTERINGS:
        raise ValueError(f"cluster by one of {CLUSTERINGS}, not {by!r}")
    if by == "template_bug":
        tags, bugs = _field(record_or_task, "tags"), _field(record_or_task, "bug_types")
        if tags is None or bugs is None:
            task = _task(record_or_task)
            tags, bugs = task.tags, bugs if bugs is not None else task.bug_types
        return template_bug(tags, bugs)
    sql = _field(record_or_task, "gold_sql")
    if sql is None:
        sql = _task(record_or_task).gold_sql
    if not sql:
        return "no_gold_sql"
    return _shape(sql) or "unparsed: " + " ".join(sql.split())  # sqlglot cannot parse it: a cluster of its own


@lru_cache(maxsize=4)
def tasks_at_commit(sha: str) -> dict[str, Any]:
    """``{task_id: Task}`` of the task data committed at ``sha`` (``data/tasks/*.jsonl`` read with ``git show``);
    empty when git or the commit is not there."""
    from env_server.tasks.registry import load_tasks

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, check=True).stdout

    try:
        names = git("ls-tree", "--name-only", sha, "data/tasks/").decode().split()
        with tempfile.TemporaryDirectory() as tmp:
            for name in (n for n in names if n.endswith(".jsonl")):
                (Path(tmp) / Path(name).name).write_bytes(git("show", f"{sha}:{name}"))
            return {t.task_id: t for t in load_tasks(tmp)}
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def _matches(tasks: Mapping[str, Any], ids: Sequence[str], sha256: str | None) -> bool:
    """Whether ``tasks`` holds every id, with the gold answers the evaluation's ``split_sha256`` hashed (when it
    recorded one)."""
    from training.task_draws import split_hash

    if not all(i in tasks for i in ids):
        return False
    return sha256 is None or split_hash([tasks[i] for i in ids]) == sha256


def eval_tasks(payload: Mapping[str, Any], ids: Sequence[str]) -> tuple[dict[str, Any], str]:
    """The tasks ``ids`` of an evaluation as it saw them, and where they were found: the current task data when it
    reproduces the evaluation's ``split_sha256``, else the task data at the evaluation's git commit (held-out
    splits get regenerated; a task id may be gone or name another task). ``UnknownTasks`` when neither fits."""
    prov = payload.get("provenance", {})
    sha256, commit = prov.get("split_sha256"), str(prov.get("git_sha") or "").removesuffix("-dirty")
    current = {i: _registry().get(i) for i in ids if i in _registry()}
    if _matches(current, ids, sha256):
        return current, "current task data"
    if commit and _matches(at := tasks_at_commit(commit), ids, sha256):
        return {i: at[i] for i in ids}, f"task data at commit {commit}"
    raise UnknownTasks(f"the evaluation's {len(ids)} tasks (split_sha256 {sha256}) are neither in the current task "
                       f"data nor at its commit {commit or '(none recorded)'}")


def _carries(record: Mapping[str, Any], by: str) -> bool:
    return record.get("tags") is not None if by == "template_bug" else record.get("gold_sql") is not None


def task_clusters(payload: Mapping[str, Any], by: str, task_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """``{"clusters": {task_id: cluster}, "task_source": where the tasks came from}`` for an evaluation's tasks
    (``task_ids``, default all): from the records when they carry tags / gold SQL, else from the tasks as the
    evaluation saw them (:func:`eval_tasks`). Bug types are the records'."""
    wanted = None if task_ids is None else set(task_ids)
    first: dict[str, Mapping[str, Any]] = {}
    for record in payload["per_task"]:
        if (wanted is None or record["task_id"] in wanted) and record["task_id"] not in first:
            first[record["task_id"]] = record
    if all(_carries(r, by) for r in first.values()):
        return {"clusters": {i: cluster_of(r, by) for i, r in sorted(first.items())}, "task_source": "records"}
    tasks, source = eval_tasks(payload, sorted(first))
    clusters = {i: cluster_of(tasks[i], by) if by == "gold_shape" else template_bug(tasks[i].tags, r["bug_types"])
                for i, r in sorted(first.items())}
    return {"clusters": clusters, "task_source": source}


def cluster_totals(values: Mapping[str, float], clusters: Mapping[str, str]) -> dict[str, tuple[float, int]]:
    """``{cluster: (sum of the tasks' values, number of tasks)}``, clusters sorted by name.

    >>> cluster_totals({"a": 1.0, "b": 0.0, "c": 1.0}, {"a": "x", "b": "x", "c": "y"})
    {'x': (1.0, 2), 'y': (1.0, 1)}
    """
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for task_id, value in values.items():
        totals[clusters[task_id]][0] += float(value)
        totals[clusters[task_id]][1] += 1
    return {c: (s, int(n)) for c, (s, n) in sorted(totals.items())}


def _arrays(totals: Mapping[str, tuple[float, int]]) -> tuple[np.ndarray, np.ndarray]:
    sums = np.array([s for s, _ in totals.values()], dtype=float)
    sizes = np.array([n for _, n in totals.values()], dtype=float)
    return sums, sizes


# -- tests and intervals ---------------------------------------------------------------------------------------------


def _weighted_mean(sums: np.ndarray, sizes: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(sums, axis=axis) / np.sum(sizes, axis=axis)


def cluster_bootstrap_ci(values: Mapping[str, float], clusters: Mapping[str, str], samples: int = BOOTSTRAP_SAMPLES,
                         seed: int = SEED, level: float = 0.95) -> list[float | None]:
    """Percentile bootstrap CI of the task-weighted mean of ``values`` (per task), resampling clusters with
    replacement: each resample draws as many clusters as there are, and averages all tasks of the drawn
    clusters. ``[None, None]`` with fewer than two clusters.

    >>> cluster_bootstrap_ci({"a": 1.0, "b": 1.0, "c": 1.0}, {"a": "x", "b": "y", "c": "y"})
    [1.0, 1.0]
    """
    sums, sizes = _arrays(cluster_totals(values, clusters))
    if sums.size < 2:
        return [None, None]
    if np.ptp(sums / sizes) == 0:  # every cluster has the same mean: so has every resample
        value = round(float(sums[0] / sizes[0]), 6)
        return [value, value]
    result = stats.bootstrap((sums, sizes), _weighted_mean, n_resamples=samples, paired=True, vectorized=True,
                             confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    return [round(float(result.confidence_interval.low), 6), round(float(result.confidence_interval.high), 6)]


def cluster_sign_test(deltas: Mapping[str, float], clusters: Mapping[str, str]) -> dict[str, Any]:
    """Exact two-sided binomial test at 1/2 of clusters whose mean delta is positive against those whose mean
    delta is negative (clusters with a zero mean delta dropped).

    >>> cluster_sign_test({"a": 1.0, "b": 0.0, "c": -1.0, "d": 1.0}, {"a": "x", "b": "y", "c": "z", "d": "w"})
    {'clusters_with_gain': 2, 'clusters_with_loss': 1, 'clusters_tied': 1, 'p_value': 1.0}
    """
    sums, _ = _arrays(cluster_totals(deltas, clusters))
    up, down = int(np.sum(sums > 0)), int(np.sum(sums < 0))
    p = 1.0 if up + down == 0 else float(stats.binomtest(up, up + down, 0.5).pvalue)
    return {"clusters_with_gain": up, "clusters_with_loss": down, "clusters_tied": int(sums.size - up - down),
            "p_value": float(f"{min(1.0, p):.4g}")}


def cluster_permutation_test(deltas: Mapping[str, float], clusters: Mapping[str, str],
                             samples: int = PERMUTATION_SAMPLES, seed: int = SEED) -> float:
    """Two-sided paired permutation test of the task-weighted mean delta: under the null each cluster's deltas
    are as likely to carry the opposite sign, so the null distribution flips the sign of whole clusters
    (``scipy.stats.permutation_test``, ``permutation_type='samples'`` on one sample of cluster delta sums).
    Clusters whose deltas sum to zero flip to themselves and are left out of the enumeration, so the test is
    exact when ``2 ** (clusters with a nonzero sum) <= samples``.

    >>> cluster_permutation_test({"a": 1.0, "b": 1.0, "c": 1.0}, {"a": "x", "b": "y", "c": "z"})
    0.25
    """
    sums, sizes = _arrays(cluster_totals(deltas, clusters))
    total = float(np.sum(sizes))
    sums = sums[sums != 0]
    if sums.size < 2:  # no cluster moved, or one: its two signs are equally extreme
        return 1.0
    result = stats.permutation_test((sums,), lambda s, axis=-1: np.sum(s, axis=axis) / total,
                                    permutation_type="samples", vectorized=True, n_resamples=samples,
                                    alternative="two-sided", rng=np.random.default_rng(seed))
    return float(f"{min(1.0, float(result.pvalue)):.4g}")


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment (family-wise error): the i-th smallest of m p-values times (m - i + 1), made
    non-decreasing in that order, capped at 1.

    >>> holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    {'a': 0.03, 'b': 0.06, 'c': 0.06, 'd': 0.02}
    """
    order = sorted(p_values, key=lambda k: (p_values[k], k))
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * p_values[key]))
        out[key] = float(f"{running:.4g}")
    return dict(sorted(out.items()))


def seed_spread(rates: Sequence[float]) -> dict[str, Any]:
    """Between-seed spread of per-seed success rates: mean, sample sd (None for one seed), min and max.

    >>> seed_spread([0.1, 0.2, 0.3])
    {'n_seeds': 3, 'per_seed': [0.1, 0.2, 0.3], 'mean': 0.2, 'sd': 0.1, 'min': 0.1, 'max': 0.3}
    """
    values = [float(r) for r in rates]
    return {"n_seeds": len(values), "per_seed": [round(v, 6) for v in values],
            "mean": round(float(np.mean(values)), 6) if values else None,
            "sd": round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else None,
            "min": round(min(values), 6) if values else None, "max": round(max(values), 6) if values else None}


# -- the compare() block ---------------------------------------------------------------------------------------------


def per_cluster_means(deltas: Mapping[str, float], clusters: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``{cluster: {"n_tasks", "mean_delta"}}``."""
    return {c: {"n_tasks": n, "mean_delta": round(s / n, 6)} for c, (s, n) in cluster_totals(deltas, clusters).items()}


def cluster_summary(deltas: Mapping[str, float], clusters: Mapping[str, str]) -> dict[str, Any]:
    """The paired B - A analysis of per-task ``deltas`` over one clustering: number of clusters, the
    task-weighted mean delta with its cluster-bootstrap CI, the cluster sign test, the cluster permutation test,
    and each cluster's mean delta."""
    sign = cluster_sign_test(deltas, clusters)
    return {
        "n_clusters": len(set(clusters[t] for t in deltas)),
        "delta": round(float(np.mean(list(deltas.values()))), 6) if deltas else None,
        "ci95": cluster_bootstrap_ci(deltas, clusters),
        "sign_test_p": sign["p_value"],
        "permutation_p": cluster_permutation_test(deltas, clusters),
        "clusters_with_gain": sign["clusters_with_gain"],
        "clusters_with_loss": sign["clusters_with_loss"],
        "clusters_tied": sign["clusters_tied"],
        "per_cluster": per_cluster_means(deltas, clusters),
        "method": (f"clusters resampled with replacement, task-weighted mean ({BOOTSTRAP_SAMPLES} percentile "
                   f"bootstrap resamples, seed {SEED}); exact binomial sign test on cluster mean deltas; "
                   f"cluster sign-flip permutation test ({PERMUTATION_SAMPLES} resamples or exact, seed {SEED})"),
    }


def cluster_blocks(deltas: Mapping[str, float], payload: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`cluster_summary` for every clustering in :data:`CLUSTERINGS`, the clusters of the evaluation
    ``payload``'s tasks (:func:`task_clusters`). A clustering that cannot be computed (``query_shape`` missing,
    tasks found nowhere) holds ``{"unavailable": why}``."""
    out: dict[str, Any] = {}
    for by in CLUSTERINGS:
        try:
            found = task_clusters(payload, by, deltas)
        except (ImportError, KeyError) as error:
            out[by] = {"unavailable": str(error)}
            continue
        out[by] = {**cluster_summary(deltas, found["clusters"]), "task_source": found["task_source"]}
    return out
