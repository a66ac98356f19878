"""Helpers shared by the benchmarks and the live /benchmark route: interleaved rounds and their statistics,
percentiles, and printing a results file's summary and targets
(``python -m env_server.tools.measure results/bench/core.json ...`` prints committed ones).

**Rounds.** A bench compares sides (ours and the raw ``sqlite3`` floor doing the same work; HTTP and
in-process; one replica and two) on a shared machine whose load changes by the second. Timing all of
side A and then all of side B lets that drift land on one side only, and ratios swing several-fold
between runs. So every bench runs its sides with :func:`interleave`: round 1 runs A then B (then C...),
round 2 runs them again in the same order, and so on for at least :data:`ROUNDS` rounds (ABAB...); where
the work comes in items (candidate queries, tasks, corpus cases), each round runs A then B on every item
in turn, so the two sides of a pair are timed milliseconds apart. Each round yields its own figures, ratios included (A's time in that round over B's time in that round).
:func:`rounds_block` stores every round's value with its median, min and max; the headline figure is
the median over rounds (:func:`medians`), so **a headline ratio is the median of the per-round ratios**,
never a ratio of medians or of bests. :func:`interleaving` records the order the sides actually ran in.
"""
from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROUNDS = 5
"""Rounds a bench runs by default; the command line refuses fewer."""

HEADLINE = ("Each headline figure is the median over interleaved rounds (sides run A, B, A, B... in the order "
            "recorded under interleaving.order; where interleaving.per names an item, each round runs that order "
            "on every item in turn); a ratio is the median of the per-round ratios. rounds.<figure> holds every "
            "round's value with its median, min and max.")
"""The sentence every bench's JSON carries about its headline figures."""


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ``values``."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class Interleaved:
    """What :func:`interleave` ran: each side's result per round, and the order the sides ran in."""

    results: dict[str, list[Any]]
    order: list[str] = field(default_factory=list)
    per: str | None = None
    """What each round interleaved the sides on (``"candidate"``: A(x1) B(x1) A(x2) B(x2)...), or None when each
    side ran once per round."""

    @property
    def rounds(self) -> int:
        return len(next(iter(self.results.values()), []))

    def round(self, i: int) -> dict[str, Any]:
        """Every side's result in round ``i``."""
        return {name: values[i] for name, values in self.results.items()}


def interleave(sides: Mapping[str, Callable[..., Any]], rounds: int = ROUNDS,
               progress: Callable[[int], None] | None = None, items: Sequence[Any] | None = None,
               per: str = "item") -> Interleaved:
    """Run every side once per round, in the mapping's order, for ``rounds`` rounds (A, B, A, B, ...).

    Each side is a callable doing one round's share of its work and returning what it measured (a time,
    a list of times, a dict of figures). With ``items``, each round runs every side on the first item, then
    every side on the second, and so on (A(x1) B(x1) A(x2) B(x2) ...), so both sides of a pair are timed
    milliseconds apart; each side is called with the item, and its result for a round is the list of its
    results per item. ``per`` names what an item is, for the record. ``progress(i)`` is called after
    round ``i``."""
    if rounds < 1:
        raise ValueError("at least one round")
    if not sides:
        raise ValueError("no sides to interleave")
    if items is not None and not items:
        raise ValueError("no items to interleave the sides on")
    done = Interleaved(results={name: [] for name in sides}, per=per if items is not None else None)
    for i in range(rounds):
        if items is None:
            for name, side in sides.items():
                done.order.append(name)
                done.results[name].append(side())
        else:
            got: dict[str, list[Any]] = {name: [] for name in sides}
            for item in items:
                for name, side in sides.items():
                    got[name].append(side(item))
            for name in sides:
                done.order.append(name)
                done.results[name].append(got[name])
        if progress is not None:
            progress(i)
    return done


def repeated(items: Sequence[Any], repeats: int) -> list[tuple[Any, int]]:
    """``(item, r)`` for each item, ``repeats`` times in a row: as :func:`interleave`'s items, every side runs on
    an item ``repeats`` times, alternating (A B A B A B), before the next item."""
    if repeats < 1:
        raise ValueError("at least one repeat")
    return [(item, r) for item in items for r in range(repeats)]


def best_per_item(values: Sequence[Any], repeats: int, key: Callable[[Any], float] = lambda v: v) -> list[float]:
    """A side's results over :func:`repeated` items (one round) -> each item's best (least) ``key``."""
    if len(values) % repeats:
        raise ValueError(f"{len(values)} results are not whole runs of {repeats} repeats")
    return [min(key(v) for v in values[i:i + repeats]) for i in range(0, len(values), repeats)]


def _round(value: float, digits: int) -> float:
    """``value`` to ``digits`` significant digits (integers and non-finite values as they are)."""
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value) or value == 0:
        return value
    return round(value, max(0, digits - 1 - int(math.floor(math.log10(abs(value))))))


def spread(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Every round's value, and their median, min and max (``digits`` significant digits)."""
    if not values:
        raise ValueError("spread of no values")
    return {"values": [_round(v, digits) for v in values], "median": _round(statistics.median(values), digits),
            "min": _round(min(values), digits), "max": _round(max(values), digits)}


def rounds_block(per_round: Sequence[Mapping[str, float]], digits: int = 4) -> dict[str, dict[str, Any]]:
    """``[{figure: value} for each round]`` -> ``{figure: spread(values over rounds)}``; every round must hold
    the same figures."""
    if not per_round:
        raise ValueError("no rounds")
    names = list(per_round[0])
    for i, figures in enumerate(per_round):
        if list(figures) != names:
            raise ValueError(f"round {i} has figures {sorted(figures)}, round 0 has {sorted(names)}")
    return {name: spread([figures[name] for figures in per_round], digits) for name in names}


def medians(block: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The headline figures of a :func:`rounds_block`: each figure's median over rounds."""
    return {name: stats["median"] for name, stats in block.items()}


def interleaving(done: Interleaved) -> dict[str, Any]:
    """The ``interleaving`` block of a results JSON: rounds, the sides of one round, the order they ran in
    (``per``: what each round interleaved them on, e.g. every candidate in turn; null: once per round)."""
    return {"rounds": done.rounds, "sides": list(done.results), "order": list(done.order), "per": done.per,
            "headline": HEADLINE}


def print_results(path: Path, root: Path | None = None, verb: str = "wrote") -> None:
    """Print a results JSON's summary (scalars only, with min..max over rounds where the JSON holds them)
    and whether each target was met."""
    data = json.loads(Path(path).read_text())
    shown = Path(path).relative_to(root) if root is not None else path
    print(f"{verb} {shown}")
    rounds = data.get("rounds", {})
    for name, value in data.get("summary", {}).items():
        if isinstance(value, (dict, list)):
            continue
        stats = rounds.get(name)
        extra = f"  [{stats['min']}..{stats['max']} over {len(stats['values'])} rounds]" if stats else ""
        print(f"  {name}: {value}{extra}")
    for name, target in data.get("targets", {}).items():
        print(f"  target {name} {target['target']}: {'met' if target['met'] else 'NOT met'}")


def upper_targets(figures: dict, bounds: dict[str, float]) -> dict[str, dict]:
    """The ``targets`` block of a results JSON for figures that must stay at or below their bound."""
    return {name: {"target": f"<= {value}", "value": figures[name], "met": figures[name] <= value}
            for name, value in bounds.items()}


if __name__ == "__main__":  # python -m env_server.tools.measure results/bench/core.json ...: print results files
    import sys

    for name in sys.argv[1:]:
        print_results(Path(name), verb="read")
