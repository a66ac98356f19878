"""Small helpers shared by the benchmarks and the live /benchmark route: percentiles, and printing
a results file's summary and targets."""
from __future__ import annotations

import json
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ``values``."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def print_results(path: Path, root: Path | None = None) -> None:
    """Print a results JSON's summary (scalars only) and whether each target was met."""
    data = json.loads(Path(path).read_text())
    shown = Path(path).relative_to(root) if root is not None else path
    print(f"wrote {shown}")
    for name, value in data.get("summary", {}).items():
        if not isinstance(value, (dict, list)):
            print(f"  {name}: {value}")
    for name, target in data.get("targets", {}).items():
        print(f"  target {name} {target['target']}: {'met' if target['met'] else 'NOT met'}")


def upper_targets(figures: dict, bounds: dict[str, float]) -> dict[str, dict]:
    """The ``targets`` block of a results JSON for figures that must stay at or below their bound."""
    return {name: {"target": f"<= {value}", "value": figures[name], "met": figures[name] <= value}
            for name, value in bounds.items()}
