"""How many paired held-out tasks a base-vs-trained comparison needs: the power of the exact McNemar test.

    python -m training.power            # writes results/eval/power.json

For a base success rate ``p_a`` and a trained rate ``p_b``, each task's two outcomes are drawn independently
(the discordant pairs then have probabilities ``p_a (1 - p_b)`` and ``(1 - p_a) p_b``; a policy whose successes
are positively correlated with the base's has fewer discordant pairs and less power than this). The power at
``n`` tasks is the share of simulated comparisons whose two-sided exact McNemar p-value
(:func:`training.evaluate.mcnemar_exact`) is below ``alpha``. Seeded: the same arguments give the same table.
"""
from __future__ import annotations

import argparse

import numpy as np

from env_server.core.provenance import (
    command_line,
    provenance,
    results_dir,
    write_results,
)
from training.evaluate import mcnemar_exact

SCENARIOS: tuple[tuple[float, float], ...] = ((0.30, 0.50), (0.30, 0.40), (0.05, 0.10), (0.05, 0.15))
SIZES: tuple[int, ...] = (28, 60, 100, 200, 400, 800)


def power(p_a: float, p_b: float, n: int, alpha: float = 0.05, trials: int = 2000, seed: int = 0) -> float:
    """Share of ``trials`` simulated paired comparisons on ``n`` tasks where exact McNemar gives p < ``alpha``.

    >>> power(0.3, 0.3, 50, trials=200) < 0.1
    True
    """
    rng = np.random.default_rng(seed)
    a = rng.random((trials, n)) < p_a
    b = rng.random((trials, n)) < p_b
    a_only, b_only = (a & ~b).sum(axis=1), (~a & b).sum(axis=1)
    return round(float(np.mean([mcnemar_exact(int(x), int(y)) < alpha for x, y in zip(a_only, b_only)])), 4)


def table(alpha: float = 0.05, trials: int = 2000, seed: int = 0) -> list[dict]:
    return [{"p_a": p_a, "p_b": p_b, "n": n, "power": power(p_a, p_b, n, alpha, trials, seed)}
            for p_a, p_b in SCENARIOS for n in SIZES]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.power", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args(argv)
    rows = table(args.alpha, args.trials)
    payload = {"provenance": provenance(command=command_line(), model=None,
                                        config={"alpha": args.alpha, "trials": args.trials, "seed": 0,
                                                "assumption": "independent outcomes per task"}),
               "summary": {"rows": rows}}
    path = write_results(results_dir() / "eval" / "power.json", payload)
    for row in rows:
        print(f"{row['p_a']:.2f} -> {row['p_b']:.2f}  n={row['n']:>4}  power {row['power']:.3f}")
    print(path)


if __name__ == "__main__":
    main()
