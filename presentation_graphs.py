"""Results JSON -> ``results/figures/*.png``: every chart the project publishes, and nothing else.

    python presentation_graphs.py [--results results] [--out results/figures] [--only NAME ...]

* It reads only ``results/**/*.json`` and the training runs' ``log_history.jsonl`` (each figure names its input files) and prints which figure
  came from which file.
* It is deterministic: a fixed style, no timestamps, no software version in the PNG metadata, so
  the same JSON gives byte-identical PNGs.
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
    per_run: bool = False
    """Inputs are relative to each ``runs/<run_id>/`` folder; one PNG per run, named ``<name>_<run_id>.png``."""


def _bars(ax, labels: list[str], series: dict[str, list[float]], ylabel: str, fmt: str = "{:.2f}") -> None:
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        bars = ax.bar(xs, values, width=width, label=name, color=COLOURS[i % len(COLOURS)])
        for bar, value in zip(bars, values):
            ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8)


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
    summary = data["bench/reviewer.json"]["summary"]
    names = [name for name in ("ours", "naive") if name in summary]
    labels = {"ours": "ours (sqlglot, schema-aware)", "naive": "seed design's keyword rules"}
    cases = sum(summary[names[0]]["confusion"].values())
    metrics = ("precision", "recall", "accuracy")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    _bars(axes[0], list(metrics), {labels[n]: [summary[n][m] for m in metrics] for n in names}, "value (block = positive)")
    axes[0].set_ylim(0, 1.2)
    axes[0].set_title(f"Blocking risky SQL: {cases} labelled cases")
    _bars(axes[1], [labels[n].split(" (")[0] for n in names], {
        "median": [summary[n]["median_latency_ms"] for n in names],
        "p99": [summary[n]["p99_latency_ms"] for n in names],
    }, "ms per review", fmt="{:.3f}")
    axes[1].set_title("Review latency")
    fig.tight_layout()
    return fig


def draw_bench_ratios(data: dict[str, dict]) -> plt.Figure:
    core, http = data["bench/core.json"]["summary"], data["bench/http.json"]["summary"]
    labels = ["grading,\nall", "grading,\ngold", "grading,\nbroken", "/grade HTTP\nvs in-process"]
    values = [core["grading_over_floor"], core["grading_over_floor_gold_only"], core["grading_over_floor_broken_only"],
              http["http_over_in_process_time"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    _bars(axes[0], labels, {"time ratio": values}, "× the floor measured in the same run")
    axes[0].axhline(1, color="black", linewidth=0.8)
    axes[0].set_title("Cost / floor (raw sqlite3; in-process grading)")
    sessions = ["64", "256"]
    _bars(axes[1], sessions, {
        "p50 paced": [http["step_p50_ms_64_sessions"], http["step_p50_ms_256_sessions"]],
        "p99 paced": [http["step_p99_ms_64_sessions"], http["step_p99_ms_256_sessions"]],
    }, "ms per /step", fmt="{:.1f}")
    axes[1].set_xlabel("concurrent sessions (each steps every 0.5–1.5 s)")
    axes[1].set_yscale("log")
    axes[1].set_title("Step latency over HTTP")
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


DEMO_EVALS = ("eval/demo_echo_broken.json", "eval/demo_base.json", "eval/demo_trained.json", "eval/demo_oracle.json")


def _label(payload: dict) -> str:
    return payload.get("name", "?").removeprefix("demo_")


def _ci_bars(ax, labels: list[str], stats: list[dict], ylabel: str) -> None:
    means = [s["mean"] for s in stats]
    errors = [[m - s["ci95"][0] for m, s in zip(means, stats)], [s["ci95"][1] - m for m, s in zip(means, stats)]]
    bars = ax.bar(range(len(labels)), means, yerr=errors, capsize=4,
                  color=[COLOURS[i % len(COLOURS)] for i in range(len(labels))])
    for bar, mean, stat in zip(bars, means, stats):
        ax.annotate(f"{mean:.2f}\n[{stat['ci95'][0]:.2f}, {stat['ci95'][1]:.2f}]",
                    (bar.get_x() + bar.get_width() / 2, stat["ci95"][1]), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel(ylabel)


def draw_base_vs_rl(data: dict[str, dict]) -> plt.Figure:
    payloads = [data[p] for p in DEMO_EVALS]
    labels = [_label(p) for p in payloads]
    prov = data["eval/demo_trained.json"]["provenance"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    _ci_bars(axes[0], labels, [p["summary"]["success_rate"] for p in payloads], "success rate (95% CI)")
    axes[0].set_title("Held-out success: calibrators, base, trained")
    _ci_bars(axes[1], labels, [p["summary"]["mean_reward"] for p in payloads], "mean reward (95% CI)")
    axes[1].set_title("Held-out mean reward")
    delta = data["eval/compare_demo_base_vs_demo_trained.json"]["summary"]["success_delta"]
    fig.suptitle(f"split {prov['split']}, {payloads[0]['summary']['n_tasks']} tasks, model {prov['model']}; "
                 f"trained - base success: {delta['mean']:+.3f} [{delta['ci95'][0]:+.3f}, {delta['ci95'][1]:+.3f}]",
                 fontsize=9)
    fig.tight_layout()
    return fig


def draw_reward_shift(data: dict[str, dict]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bins = [i / 20 for i in range(-6, 21)]
    for i, rel in enumerate(("eval/demo_base.json", "eval/demo_trained.json")):
        rewards = [r["reward"] for r in data[rel]["per_task"]]
        ax.hist(rewards, bins=bins, alpha=0.6, label=f"{_label(data[rel])} (n={len(rewards)})", color=COLOURS[i])
    ax.set_xlabel("episode reward on a held-out task")
    ax.set_ylabel("tasks")
    ax.set_title("Reward distribution, base vs trained")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def draw_success_by_bug_type(data: dict[str, dict]) -> plt.Figure:
    payloads = [data[p] for p in ("eval/demo_base.json", "eval/demo_trained.json")]
    bug_types = sorted(set().union(*(p["summary"]["by_bug_type"] for p in payloads)))
    fig, ax = plt.subplots(figsize=(max(7, 0.8 * len(bug_types) + 2), 3.8))
    width = 0.4
    for i, payload in enumerate(payloads):
        groups = payload["summary"]["by_bug_type"]
        stats = [groups.get(b, {}).get("success_rate") for b in bug_types]
        xs = [x + (i - 0.5) * width for x in range(len(bug_types))]
        means = [s["mean"] if s else 0.0 for s in stats]
        errors = [[m - s["ci95"][0] if s else 0 for m, s in zip(means, stats)],
                  [s["ci95"][1] - m if s else 0 for m, s in zip(means, stats)]]
        ax.bar(xs, means, width=width, yerr=errors, capsize=3, label=_label(payload), color=COLOURS[i])
    counts = payloads[0]["summary"]["by_bug_type"]
    ax.set_xticks(range(len(bug_types)), [f"{b}\n(n={counts.get(b, {}).get('n_tasks', 0)})" for b in bug_types],
                  fontsize=7)
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title("Held-out success by bug type")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


SPLIT_EVALS = tuple(f"eval/{who}-{split}-keyword_typo.json" for split in ("heldout_iid", "heldout_ood")
                    for who in ("base", "rl30"))
SPLIT_COMPARES = tuple(f"eval/compare_base-{split}-keyword_typo_vs_rl30-{split}-keyword_typo.json"
                       for split in ("heldout_iid", "heldout_ood"))


def draw_base_vs_rl_splits(data: dict[str, dict]) -> plt.Figure:
    splits = ("heldout_iid", "heldout_ood")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, metric, title in ((axes[0], "success_rate", "success"), (axes[1], "mean_reward", "mean reward")):
        width = 0.38
        for i, who in enumerate(("base", "rl30")):
            stats = [data[f"eval/{who}-{split}-keyword_typo.json"]["summary"][metric] for split in splits]
            xs = [x + (i - 0.5) * width for x in range(len(splits))]
            means = [st["mean"] for st in stats]
            errors = [[m - st["ci95"][0] for m, st in zip(means, stats)], [st["ci95"][1] - m for m, st in zip(means, stats)]]
            ax.bar(xs, means, width=width, yerr=errors, capsize=4, color=COLOURS[i],
                   label="base" if who == "base" else "GRPO-LoRA (30 steps)")
        labels = []
        for split, compare_file in zip(splits, SPLIT_COMPARES):
            summary = data[compare_file]["summary"]
            delta = summary["success_delta" if metric == "success_rate" else "reward_delta"]
            labels.append(f"{split} (n={summary['n_tasks']})\ndelta {delta['mean']:+.3f} "
                          f"[{delta['ci95'][0]:+.2f}, {delta['ci95'][1]:+.2f}]")
        ax.set_xticks(range(len(splits)), labels, fontsize=8)
        ax.set_ylabel(f"{title} (95% CI)")
        ax.set_title(f"Held-out {title}, keyword_typo tasks")
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


FIGURES: tuple[Figure, ...] = (
    Figure("reviewer_path", ("eval/reviewer_path.json",), draw_reviewer_path,
           "careless vs careful scripted policies with and without the reviewer"),
    Figure("reviewer_bench", ("bench/reviewer.json",), draw_reviewer_bench,
           "our reviewer vs the seed design's keyword rules on the labelled corpus"),
    Figure("bench_ratios", ("bench/core.json", "bench/http.json"), draw_bench_ratios,
           "grading and HTTP cost as ratios to floors measured in the same runs; step latency"),
    Figure("demo_scripted", ("eval/demo_scripted.json",), draw_demo_scripted,
           "oracle / echo_broken / explorer calibrators per split"),
    Figure("base_vs_rl", DEMO_EVALS + ("eval/compare_demo_base_vs_demo_trained.json",), draw_base_vs_rl,
           "held-out success and reward with bootstrap CIs: echo_broken, base, trained, oracle"),
    Figure("base_vs_rl_splits", SPLIT_EVALS + SPLIT_COMPARES, draw_base_vs_rl_splits,
           "base vs the 30-step GRPO-LoRA adapter per held-out split, with paired deltas and CIs"),
    Figure("reward_shift", ("eval/demo_base.json", "eval/demo_trained.json"), draw_reward_shift,
           "distribution of held-out episode rewards, base vs trained"),
    Figure("success_by_bug_type", ("eval/demo_base.json", "eval/demo_trained.json"), draw_success_by_bug_type,
           "held-out success per injected bug type, base vs trained"),
    Figure("training", ("metrics.json", "config.json", "log_history.jsonl"), draw_training,
           "GRPO training reward, task success and loss (or KL) per step", per_run=True),
)


def _load(path: Path):
    """A results file: JSON, or JSON lines (TRL's log history) as a list."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def _jobs(results: Path, figure: Figure) -> list[tuple[str, Path, list[Path]]]:
    """``(png stem, base folder, input paths)`` for each picture ``figure`` makes."""
    if not figure.per_run:
        return [(figure.name, results, [results / p for p in figure.inputs])]
    runs = sorted(p for p in (results / "runs").glob("*") if p.is_dir())
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
                fig.savefig(target, metadata={"Software": None})
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
