"""The Markdown table of an A/B of the benches: ``<side>_<core|families>_<round>.json`` files written by
``python -m env_server bench`` and ``bench --families`` from two checkouts run in turn on one machine
(for example ``results/bench/refactor_ab``: ``base`` = af83f11, before the architecture refactor;
``main`` = after it). Each row gives every round's ratio (grading time over the raw ``sqlite3`` floor
measured in the same run; lower is better) and the medians.

    python scripts/bench_ab_table.py results/bench/refactor_ab
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

CORE_KEYS = ("grading_over_floor", "grading_over_floor_gold_only")


def rows(folder: Path) -> dict[str, dict[str, list[float]]]:
    """``{row: {side: [ratio per round, in round order]}}``."""
    out: dict[str, dict[str, list[float]]] = {}
    for path in sorted(folder.glob("*_*_*.json"), key=lambda p: (p.stem.split("_")[1], int(p.stem.split("_")[2]))):
        side, kind, _ = path.stem.split("_")
        summary = json.loads(path.read_text())["summary"]
        if kind == "core":
            figures = {f"core {key}": summary[key] for key in CORE_KEYS}
        else:
            figures = {f"{family} grading_over_floor": row["grading_over_floor"] for family, row in summary.items()}
        for name, value in figures.items():
            out.setdefault(name, {}).setdefault(side, []).append(value)
    return out


def table(folder: Path, a: str = "base", b: str = "main") -> str:
    lines = [f"| ratio | {a} per round | {b} per round | {a} median | {b} median |", "|---|---|---|---:|---:|"]
    for name, sides in rows(folder).items():
        left, right = sides.get(a, []), sides.get(b, [])
        lines.append(f"| {name} | {' / '.join(map(str, left))} | {' / '.join(map(str, right))} | "
                     f"{statistics.median(left):.3f} | {statistics.median(right):.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1] if len(sys.argv) > 1 else "results/bench/refactor_ab")))
