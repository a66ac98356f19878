"""Results JSON -> ``results/figures/*.png``: every chart the project publishes, and nothing else.

    python presentation_graphs.py [--results results] [--out results/figures] [--only NAME ...]

* It reads only ``results/**/*.json`` and the training runs' ``log_history.jsonl`` (each figure names its input files) and prints which figure
  came from which file. Every training run and every paired comparison (``eval/compare_*.json``) it finds gets
  its own figure: no run or file name is written in this code.
* It is deterministic: a fixed style, no timestamps, no software version in the PNG metadata, so
  the same JSON gives byte-identical PNGs. Each PNG carries what it plots (:func:`plotted`: texts, bars,
  lines) as a text chunk, so a committed chart can be checked against its committed JSON
  (``tests/test_presentation_graphs.py`` redraws every committed chart and compares both).
* Bench figures are drawn as the median over the bench's interleaved rounds with a spread bar from the
  rounds' min to their max (the ``rounds`` block each bench writes).
* It holds no scores: every plotted number is read from a results file. A figure whose input is
  missing is skipped with a message, never drawn from invented numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "svg.hashsalt": "dataops-gym",
}
COLOURS = ("#3b6fb6", "#e07b39", "#5a9e5a", "#b94a48", "#7d5ba6", "#999999")


@dataclass(frozen=True)
class Figure:
    name: str
    inputs: tuple[str, ...]
    """Paths relative to the results folder."""
    draw: Callable[[dict[str, dict]], plt.Figure]
    caption: str
    each: str | None = None
    """``"run"``: inputs are relative to each ``runs/<run_id>/`` folder, one PNG per run, named
    ``<name>_<run_id>.png``. ``"compare"``: the one input is each ``eval/compare_*.json`` that has a
    ``headline`` (written by ``training.evaluate --compare``), one PNG per file, named after it. ``"arms"``: the
    same for each ``eval/arms_*.json`` (written by ``training.evaluate --arms``)."""


def _bars(ax, labels: list[str], series: dict[str, list[float]], ylabel: str, fmt: str = "{:.2f}",
          spreads: dict[str, list[tuple[float, float]]] | None = None) -> None:
    """Grouped bars with their values written on top; ``spreads[name][i]`` = (low, high) draws a spread bar
    (min..max over a bench's rounds) on bar ``i`` of series ``name``."""
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        spread = (spreads or {}).get(name)
        yerr = None
        if spread is not None:
            yerr = [[v - lo for v, (lo, _) in zip(values, spread)], [hi - v for v, (_, hi) in zip(values, spread)]]
        bars = ax.bar(xs, values, width=width, label=name, color=COLOURS[i % len(COLOURS)], yerr=yerr,
                      capsize=3 if yerr else 0, error_kw={"elinewidth": 1, "ecolor": "#333333"})
        tops = [hi for _, hi in spread] if spread is not None else values
        for bar, value, top in zip(bars, values, tops):
            ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, top),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8)


def _rounds(result: dict, name: str, value: float | None = None) -> tuple[float, tuple[float, float], int]:
    """A bench figure as (median, (min, max), rounds) from its results JSON's ``rounds`` block. A results file
    written before benches kept their rounds has none: its headline ``value`` (or ``summary[name]``) is drawn
    with no spread, as 1 round."""
    stats = result.get("rounds", {}).get(name)
    if stats is None:
        value = result["summary"][name] if value is None else value
        return value, (value, value), 1
    return stats["median"], (stats["min"], stats["max"]), len(stats["values"])


def _n_rounds(n: int) -> str:
    return f"{n} round{'s' if n != 1 else ''}"


def _median_bars(ax, labels: list[str], figures: dict[str, list[tuple[dict, str]]], ylabel: str,
                 fmt: str = "{:.2f}") -> int:
    """Bars of bench medians with min..max spread bars: ``figures[series] = [(results JSON, figure name)]``, one
    per label. Returns the fewest rounds behind any bar."""
    series, spreads, fewest = {}, {}, None
    for name, refs in figures.items():
        got = [_rounds(result, figure) for result, figure in refs]
        series[name] = [median for median, _, _ in got]
        spreads[name] = [spread for _, spread, _ in got]
        fewest = min([n for _, _, n in got] + ([fewest] if fewest is not None else []))
    _bars(ax, labels, series, ylabel, fmt=fmt, spreads=spreads)
    return fewest or 0


def draw_reviewer_path(data: dict[str, dict]) -> plt.Figure:
    result = data["eval/reviewer_path.json"]
    rows = result["summary"]["by_policy_review"]
    labels = [f"{r['policy']}\n{'+ review' if r['review'] else 'no review'}" for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    _bars(axes[0], labels, {"risky attempted": [r["risky_attempted"] for r in rows],
                            "risky executed": [r["risky_executed"] for r in rows],
                            "blocked": [r["blocked"] for r in rows]}, "actions", fmt="{:.0f}")
    axes[0].set_title("Risky SQL: attempted, executed, blocked")
    _bars(axes[1], labels, {"success rate": [r["success_rate"] for r in rows]}, "success rate")
    axes[1].set_title("Final success rate")
    by_group: dict[str, list[float]] = {label: [] for label in labels}
    for record in result["per_task"]:
        label = f"{record['policy']}\n{'+ review' if record['review'] else 'no review'}"
        by_group[label].append(record["reward"])
    axes[2].boxplot([by_group[label] for label in labels], tick_labels=labels, showmeans=True)
    axes[2].set_title("Episode reward distribution")
    axes[2].set_ylabel("episode reward")
    n = rows[0]["episodes"] if rows else 0
    fig.suptitle(f"Reviewer-guarded path ({n} {result['provenance']['split']} tasks per group)")
    fig.tight_layout()
    return fig


def draw_reviewer_bench(data: dict[str, dict]) -> plt.Figure:
    result = data["bench/reviewer.json"]
    summary = result["summary"]
    names = [name for name in ("ours", "naive") if name in summary]
    labels = {"ours": "ours (sqlglot, schema-aware)", "naive": "seed design's keyword rules"}
    cases = sum(summary[names[0]]["confusion"].values())
    metrics = ("precision", "recall", "accuracy")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    _bars(axes[0], list(metrics), {labels[n]: [summary[n][m] for m in metrics] for n in names}, "value (block = positive)")
    axes[0].set_ylim(0, 1.2)
    axes[0].set_title(f"Blocking risky SQL: {cases} labelled cases")
    rounds = _median_bars(axes[1], [labels[n].split(" (")[0] for n in names], {
        q: [(_latency(result, n, q), f"{n}.{q}_latency_ms") for n in names] for q in ("median", "p99")
    }, "ms per review (median of rounds; bars min..max)", fmt="{:.3f}")
    axes[1].set_title(f"Review latency ({_n_rounds(rounds)})")
    fig.tight_layout()
    return fig


def _latency(result: dict, reviewer: str, q: str) -> dict:
    """The reviewer bench's JSON, seen by :func:`_rounds`: its rounds, and the headline latency as a fallback."""
    return {"rounds": result.get("rounds", {}),
            "summary": {f"{reviewer}.{q}_latency_ms": result["summary"][reviewer][f"{q}_latency_ms"]}}


def draw_bench_ratios(data: dict[str, dict]) -> plt.Figure:
    core, http = data["bench/core.json"], data["bench/http.json"]
    kinds = ("gold", "rewrite", "wrong", "erroring")
    labels = ["grading,\nall", *(f"grading,\n{kind}" for kind in kinds), "/grade HTTP\nvs in-process"]
    refs = [(core, "grading_over_floor"), *((core, f"grading_over_floor_{kind}_only") for kind in kinds),
            (http, "http_over_in_process_time")]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.8))
    rounds = _median_bars(axes[0], labels, {"time ratio": refs},
                          "× the floor (median of per-round ratios)")
    axes[0].axhline(1, color="black", linewidth=0.8)
    axes[0].set_title(f"Cost / floor (raw sqlite3; in-process grading), {_n_rounds(rounds)}, bars min..max",
                      fontsize=10)
    sessions = ["64", "256"]
    rounds = _median_bars(axes[1], sessions, {
        f"{q} paced": [(http, f"step_{q}_ms_{n}_sessions") for n in sessions] for q in ("p50", "p99")
    }, "ms per /step (median of rounds)", fmt="{:.1f}")
    axes[1].set_xlabel("concurrent sessions (each steps every 0.5–1.5 s)")
    axes[1].set_yscale("log")
    axes[1].set_title(f"Step latency over HTTP, {_n_rounds(rounds)}, bars min..max", fontsize=10)
    fig.tight_layout()
    return fig


def draw_demo_scripted(data: dict[str, dict]) -> plt.Figure:
    rows = data["eval/demo_scripted.json"]["summary"]["by_policy_split"]
    splits = sorted({r["split"] for r in rows})
    policies = sorted({r["policy"] for r in rows})
    lookup = {(r["policy"], r["split"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    _bars(axes[0], splits, {p: [lookup[(p, s)]["success_rate"] for s in splits] for p in policies}, "success rate")
    axes[0].set_title("Scripted calibrators: success")
    _bars(axes[1], splits, {p: [lookup[(p, s)]["mean_reward"] for s in splits] for p in policies}, "mean episode reward")
    axes[1].set_title("Scripted calibrators: reward")
    fig.tight_layout()
    return fig


def _curve(history: list[dict]) -> dict[str, list]:
    """TRL's logged steps (those with a reward) as series keyed by metric name."""
    logged = [h for h in history if "reward" in h]
    keys = {k for h in logged for k in h}
    return {k: [h.get(k) for h in logged] for k in keys}


def draw_training(data: dict[str, dict]) -> plt.Figure:
    metrics, config = data["metrics.json"], data["config.json"]
    curve = _curve(data["log_history.jsonl"])
    prov = config["provenance"]
    steps = curve["step"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, curve["reward"], color=COLOURS[0], label="total reward (mean over completions)")
    if "rewards/execution_reward/mean" in curve:
        axes[0].plot(steps, curve["rewards/execution_reward/mean"], color=COLOURS[1], label="execution_reward")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("reward")
    axes[0].set_title("Training reward")
    axes[0].legend(frameon=False, fontsize=8)
    if "execution/success_rate" in curve:
        axes[1].plot(steps, curve["execution/success_rate"], color=COLOURS[2])
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("fraction of completions")
    axes[1].set_title("Completions that solve their task")
    second = "kl" if "kl" in curve else "loss"
    axes[2].plot(steps, curve[second], color=COLOURS[3])
    axes[2].set_xlabel("step")
    axes[2].set_ylabel(second)
    axes[2].set_title(f"GRPO {second}")
    fig.suptitle(f"{metrics['run_id']}: {prov['model']}, {metrics['n_train_tasks']} tasks, {metrics['steps']} steps, "
                 f"seed {prov['seeds'][0]}", fontsize=10)
    fig.tight_layout()
    return fig


def _ci_bars(ax, labels: list[str], stats: list[dict], ylabel: str) -> None:
    means = [s["mean"] for s in stats]
    errors = [[m - s["ci95"][0] for m, s in zip(means, stats)], [s["ci95"][1] - m for m, s in zip(means, stats)]]
    bars = ax.bar(range(len(labels)), means, yerr=errors, capsize=4,
                  color=[COLOURS[i % len(COLOURS)] for i in range(len(labels))])
    for bar, mean, stat in zip(bars, means, stats):
        ax.annotate(f"{mean:.3f}\n[{stat['ci95'][0]:.3f}, {stat['ci95'][1]:.3f}]",
                    (bar.get_x() + bar.get_width() / 2, stat["ci95"][1]), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel(ylabel)


def _compare_title(payload: dict) -> str:
    h = payload["headline"]
    seeds = f"{h['train_seeds']} training seed{'s' if h['train_seeds'] != 1 else ''}"
    title = (f"{payload['a']['name']} vs {payload['b'][0]['name']} on {h['n']} paired tasks "
             f"({payload['provenance'].get('split')}), {seeds}: delta {h['delta']:+.3f} "
             f"[{h['ci95'][0]:+.3f}, {h['ci95'][1]:+.3f}], p = {h['p_value']:.3g} ({h['test'].split(' (')[0]})")
    if h.get("cluster_ci95") and h["cluster_ci95"][0] is not None:
        block = payload["summary"]["cluster"]["template_bug"]
        title += (f"\nby cluster ({block['n_clusters']} template × bug type clusters, gain in "
                  f"{block['clusters_with_gain']}, loss in {block['clusters_with_loss']}): "
                  f"[{h['cluster_ci95'][0]:+.3f}, {h['cluster_ci95'][1]:+.3f}], p = {h['cluster_p_value']:.3g} "
                  f"(cluster permutation test)")
    return title


def draw_compare(data: dict[str, dict]) -> plt.Figure:
    """One paired comparison (a ``compare_*.json``): both success rates with CIs, the delta per bug type, and
    the format-valid rates."""
    payload = data["compare.json"]
    summary = payload["summary"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 2, 1]})
    labels = ["A: " + str(payload["a"]["name"]), "B: " + str(payload["b"][0]["name"])
              + (f" (+{len(payload['b']) - 1} seeds)" if len(payload["b"]) > 1 else "")]
    _ci_bars(axes[0], labels, [summary["rate_a"], summary["rate_b"]], "success rate (95% CI)")
    axes[0].tick_params(axis="x", labelsize=7)
    axes[0].set_title("Held-out success")
    groups = summary.get("by_bug_type") or summary.get("by_family") or {}
    names = sorted(groups)
    deltas = [groups[g]["success_delta"] for g in names]
    ys = range(len(names))
    means = [d["mean"] for d in deltas]
    axes[1].barh(list(ys), means, xerr=[[m - d["ci95"][0] for m, d in zip(means, deltas)],
                                         [d["ci95"][1] - m for m, d in zip(means, deltas)]],
                 color=[COLOURS[1] if m >= 0 else COLOURS[0] for m in means], capsize=3)
    holm = summary.get("by_bug_type_holm") if summary.get("by_bug_type") else None
    axes[1].set_yticks(list(ys), [f"{g} (n={groups[g]['n_tasks']}, p={groups[g]['success_test']['p_value']:.2g})"
                                  + (f"\nHolm p={holm[g]['p_holm']:.2g}" if holm else "") for g in names], fontsize=7)
    axes[1].axvline(0, color="black", linewidth=0.8)
    axes[1].set_xlabel("success delta B - A (paired bootstrap 95% CI)")
    axes[1].set_title("Delta by " + ("bug type" if summary.get("by_bug_type") else "family"))
    fmt = [summary.get("format_valid_a")] + list(summary.get("format_valid_b") or [])
    if all(f is not None for f in fmt):
        _ci_bars(axes[2], ["A"] + [f"B{i + 1}" for i in range(len(fmt) - 1)], fmt, "format-valid rate (95% CI)")
    axes[2].set_title("One well-formed answer block")
    fig.suptitle(_compare_title(payload), fontsize=9)
    fig.tight_layout()
    return fig


def _interval(stat: dict, mean: float, key: str) -> tuple[float, float]:
    """(below, above) ``mean`` of the interval ``stat[key]``; (0, 0) where it has no bounds."""
    lo, hi = stat.get(key) or (None, None)
    return (0.0, 0.0) if lo is None else (mean - lo, hi - mean)


def _two_intervals(ax, xs: list[float], means: list[float], stats: list[dict], horizontal: bool = False) -> list:
    """The cluster CI (thick, capped) at ``xs`` and the task CI (thin, just beside it) of each of ``stats``;
    returns the two error-bar containers for a legend."""
    handles = []
    for key, shift, width, cap, colour in (("cluster_ci95", 0.0, 2.4, 5, "#222222"), ("task_ci95", 0.12, 1.0, 2, "#888888")):
        err = [_interval(s, m, key) for s, m in zip(stats, means)]
        spread = [[e[0] for e in err], [e[1] for e in err]]
        at = [x + shift for x in xs]
        kwargs = {"xerr": spread} if horizontal else {"yerr": spread}
        handles.append(ax.errorbar(means if horizontal else at, at if horizontal else means, fmt="none",
                                   elinewidth=width, capsize=cap, ecolor=colour, **kwargs))
    return handles


def _seed_dots(ax, x: float, values: list[float]):
    """An arm's per-seed success rates as dots spread evenly across its bar."""
    offsets = [0.0] if len(values) == 1 else [-0.25 + 0.5 * i / (len(values) - 1) for i in range(len(values))]
    return ax.plot([x + o for o in offsets], values, "o", color="#111111", markersize=4, linestyle="none")[0]


def _arm_label(label: str, arm: dict) -> str:
    seeds = f"{arm['n_seeds']} seed{'s' if arm['n_seeds'] != 1 else ''}"
    return f"{label}\n{seeds}" if arm["kind"] == label else f"{label}\n{arm['kind']}, {seeds}"


def draw_arms(data: dict[str, dict]) -> plt.Figure:
    """Several arms (an ``arms_*.json``): each arm's success rate with its cluster-bootstrap CI (thick) and
    task-bootstrap CI (thin), GRPO and other multi-seed arms' seeds as dots; then each arm's paired delta vs the
    base arm with the same two CIs and both p-values."""
    summary = data["arms.json"]["summary"]
    arms = summary["arms"]
    labels = list(arms)
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    rates = [arms[a]["success"] for a in labels]
    axes[0].bar(range(len(labels)), rates, width=0.6, color=[COLOURS[i % len(COLOURS)] for i in range(len(labels))])
    handles = _two_intervals(axes[0], list(range(len(labels))), rates, [arms[a] for a in labels])
    names = ["cluster 95% CI (template × bug type)", "task 95% CI"]
    for x, label in enumerate(labels):
        arm = arms[label]
        if arm["kind"] == "grpo" or arm["n_seeds"] > 1:
            dots = _seed_dots(axes[0], x, arm["seeds"]["per_seed"])
            if "training seed" not in names:
                handles.append(dots)
                names.append("training seed")
        top = max(v for v in (arm["success"], *(arm.get("cluster_ci95") or []), *arm["task_ci95"]) if v is not None)
        axes[0].annotate(f"{arm['success']:.3f}", (x, top), ha="center", va="bottom", fontsize=8, xytext=(0, 3),
                         textcoords="offset points")
    axes[0].set_xticks(range(len(labels)), [_arm_label(a, arms[a]) for a in labels], fontsize=8)
    axes[0].set_ylabel("success rate")
    axes[0].set_title("Success per arm")
    axes[0].legend(handles, names, frameon=False, fontsize=8)
    others = [a for a in labels if arms[a]["vs_base"]]
    deltas = [arms[a]["vs_base"] for a in others]
    means = [d["delta"] for d in deltas]
    axes[1].barh(range(len(others)), means, height=0.5,
                 color=[COLOURS[1] if m >= 0 else COLOURS[0] for m in means])
    _two_intervals(axes[1], list(range(len(others))), means, deltas, horizontal=True)
    axes[1].set_yticks(range(len(others)), [f"{a}\ntask p={d['mcnemar_p']:.2g}, cluster p={d['cluster_permutation_p']:.2g}"
                                            if d["cluster_permutation_p"] is not None else f"{a}\ntask p={d['mcnemar_p']:.2g}"
                                            for a, d in zip(others, deltas)], fontsize=8)
    axes[1].set_ylim(-0.6, len(others) - 0.4)
    axes[1].axvline(0, color="black", linewidth=0.8)
    axes[1].set_xlabel(f"success delta vs {summary['base']} (cluster CI thick, task CI thin)")
    axes[1].set_title(f"Paired delta vs {summary['base']}")
    control = summary.get("best_control")
    note = f"; best control: {control}" if control else ""
    fig.suptitle(f"{len(labels)} arms on {summary['n_tasks']} paired tasks in {summary['n_clusters']} template × bug "
                 f"type clusters{note}", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES: tuple[Figure, ...] = (
    Figure("reviewer_path", ("eval/reviewer_path.json",), draw_reviewer_path,
           "careless vs careful scripted policies with and without the reviewer"),
    Figure("reviewer_bench", ("bench/reviewer.json",), draw_reviewer_bench,
           "our reviewer vs the seed design's keyword rules on the labelled corpus"),
    Figure("bench_ratios", ("bench/core.json", "bench/http.json"), draw_bench_ratios,
           "grading and HTTP cost as ratios to floors measured in the same runs; step latency; medians of "
           "interleaved rounds, bars min..max"),
    Figure("demo_scripted", ("eval/demo_scripted.json",), draw_demo_scripted,
           "oracle / echo_broken / explorer calibrators per split"),
    Figure("compare", ("compare.json",), draw_compare,
           "a paired base-vs-trained comparison: rates, delta by bug type with p-values, format-valid rates",
           each="compare"),
    Figure("arms", ("arms.json",), draw_arms,
           "several arms (base, controls, GRPO seeds): success with cluster and task CIs, seeds as dots, deltas vs base",
           each="arms"),
    Figure("training", ("metrics.json", "config.json", "log_history.jsonl"), draw_training,
           "GRPO training reward, task success and loss (or KL) per step", each="run"),
)


PLOTTED_KEY = "DataOps plotted data"
"""The PNG text chunk holding :func:`plotted` of the figure, so a committed chart can be checked against what
its committed JSON draws today without comparing pixels across matplotlib versions."""


def _num(value) -> float | None:
    value = float(value)
    if value != value:  # NaN (an empty error bar) as null
        return None
    return float(f"{round(value, 9):.6g}") + 0.0  # layout arithmetic's 1e-17 and -0.0 as 0.0


def plotted(fig: plt.Figure) -> list[dict]:
    """What ``fig`` shows, per axes, independent of how a matplotlib version renders it: titles and labels,
    categorical tick labels, every text written on the plot, bar rectangles, and line and error-bar data."""
    axes = []
    for ax in fig.axes:
        entry = {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                 "xscale": ax.get_xscale(), "yscale": ax.get_yscale(),
                 "texts": [t.get_text() for t in ax.texts],
                 "bars": [[_num(v) for v in (r.get_x(), r.get_y(), r.get_width(), r.get_height())]
                          for r in ax.patches if hasattr(r, "get_height")],
                 "lines": [[[_num(v) for v in xy] for xy in line.get_xydata()] for line in ax.get_lines()],
                 "segments": [[[[_num(v) for v in xy] for xy in seg] for seg in c.get_segments()]
                              for c in ax.collections if hasattr(c, "get_segments")]}
        for axis in ("x", "y"):
            if isinstance(getattr(ax, f"{axis}axis").get_major_locator(), FixedLocator):  # categories we set
                entry[f"{axis}ticklabels"] = [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")()]
        legend = ax.get_legend()
        if legend is not None:
            entry["legend"] = [t.get_text() for t in legend.get_texts()]
        axes.append(entry)
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return [{"suptitle": suptitle}, *axes]


def _load(path: Path):
    """A results file: JSON, or JSON lines (TRL's log history) as a list."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


EACH_FILE: dict[str, tuple[str, str, Callable[[dict], bool]]] = {
    "compare": ("compare_*.json", "compare_<A>_vs_<B>.json", lambda payload: "headline" in payload),
    "arms": ("arms_*.json", "arms_<name>.json", lambda payload: "arms" in payload.get("summary", {})),
}
"""Figures drawn once per results file: (glob in ``eval/``, the name a skip message shows, which files count)."""


def _supervised(run: Path) -> bool:
    """Whether ``run`` is an SFT control (``metrics.json`` says ``"method": "sft"``): it logs a loss, no reward,
    so it has no GRPO training chart."""
    metrics = run / "metrics.json"
    return metrics.exists() and json.loads(metrics.read_text()).get("method") == "sft"


def _jobs(results: Path, figure: Figure) -> list[tuple[str, Path, list[Path]]]:
    """``(png stem, base folder, input paths)`` for each picture ``figure`` makes."""
    if figure.each is None:
        return [(figure.name, results, [results / p for p in figure.inputs])]
    if figure.each in EACH_FILE:
        pattern, placeholder, wanted = EACH_FILE[figure.each]
        found = [p for p in sorted((results / "eval").glob(pattern)) if wanted(_load(p))]
        if not found:
            return [(figure.name, results / "eval", [results / "eval" / placeholder])]
        return [(p.stem, p.parent, [p]) for p in found]
    runs = sorted(p for p in (results / "runs").glob("*") if p.is_dir() and not _supervised(p))
    if not runs:
        return [(figure.name, results / "runs" / "<run_id>", [results / "runs" / "<run_id>" / p for p in figure.inputs])]
    return [(f"{figure.name}_{run.name}", run, [run / p for p in figure.inputs]) for run in runs]


def render(results: Path, out: Path, only: set[str] | None = None) -> list[tuple[str, list[str]]]:
    """Draw every figure whose inputs exist; returns ``[(png path, [input paths])]``."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(STYLE):
        for figure in FIGURES:
            if only and figure.name not in only:
                continue
            for stem, _, paths in _jobs(results, figure):
                missing = [str(p) for p in paths if not p.is_file()]
                if missing:
                    print(f"skip {stem}.png: missing {', '.join(missing)}")
                    continue
                data = {rel: _load(p) for rel, p in zip(figure.inputs, paths)}
                fig = figure.draw(data)
                target = out / f"{stem}.png"
                fig.savefig(target, metadata={"Software": None, PLOTTED_KEY: json.dumps(plotted(fig), sort_keys=True)})
                plt.close(fig)
                written.append((str(target), [str(p) for p in paths]))
                print(f"{target} <- {', '.join(str(p) for p in paths)}  ({figure.caption})")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "results", help="results folder to read")
    parser.add_argument("--out", type=Path, default=None, help="where PNGs go (default: RESULTS/figures)")
    parser.add_argument("--only", nargs="*", default=None, help="figure names to draw")
    args = parser.parse_args(argv)
    render(args.results, args.out or args.results / "figures", set(args.only) if args.only else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
