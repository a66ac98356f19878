"""The live benchmark behind ``GET /benchmark``: reset, step and grade latency measured now, in this server
process, on up to ``n`` debug-style tasks within a time budget."""
from __future__ import annotations

import random
import statistics
import time
from typing import Any

from env_server.episode.environment import DataOpsEnv
from env_server.episode.models import DataOpsAction
from env_server.grading.grader import Grader
from env_server.tasks.registry import TaskRegistry
from env_server.tools.measure import percentile


def live_benchmark(registry: TaskRegistry, grader: Grader, n: int, budget_s: float | None = None) -> dict[str, Any]:
    """Up to ``n`` tasks, warmed then timed, within about ``budget_s``: half of it for the untimed warm-up
    (building databases), the rest for timing; ``n`` in the answer is how many were timed."""
    started_all = time.perf_counter()
    budget = float("inf") if budget_s is None else budget_s
    tasks = [t for t in registry if grader.families[t.family].submits == "query"]
    sample = random.Random(0).sample(tasks, min(len(tasks), n))
    env = DataOpsEnv(registry, grader=grader)
    warmed = []
    for task in sample:  # untimed pass: build databases and gold results first
        if warmed and time.perf_counter() - started_all > budget / 2:
            break
        env.reset(task_id=task.task_id)
        grader.grade_query(task, task.broken_sql or "")
        warmed.append(task)
    sample = warmed
    timings: dict[str, list[float]] = {"reset": [], "step": [], "grade": []}
    for task in sample:
        if timings["reset"] and time.perf_counter() - started_all > budget:
            break
        started = time.perf_counter()
        env.reset(task_id=task.task_id)
        timings["reset"].append(time.perf_counter() - started)
        started = time.perf_counter()
        env.step(DataOpsAction(action_type="run_query", sql=task.gold_sql))
        timings["step"].append(time.perf_counter() - started)
        started = time.perf_counter()
        grader.grade_query(task, task.broken_sql or "")
        timings["grade"].append(time.perf_counter() - started)
    env.close()

    def pct(values: list[float], q: float) -> float:
        return round(percentile(values, q) * 1000, 4)

    return {
        "n": len(timings["reset"]),
        "requested": n,
        "budget_s": budget_s,
        **{f"{k}_ms": {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "mean": round(statistics.fmean(v) * 1000, 4)}
           for k, v in timings.items()},
        "note": "timed after an untimed warm-up pass; grade runs the broken query on the task database and its variants",
    }
