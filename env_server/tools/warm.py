"""``python -m env_server warm``: build the databases, variants and gold results of tasks ahead of time.

Each database that takes a while to build is saved to the template store on disk
(:mod:`env_server.core.template_store`), so every later process on the machine (a server, a trainer's reward
functions, an evaluation) loads it in seconds instead of building it. Tasks are the built-in ones plus
``--tasks`` files, filtered by ``--task-id``, ``--split`` and ``--family``.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from tqdm import tqdm

from env_server.families import make_grader
from env_server.grading.grader import GraderError
from env_server.tasks.registry import load_tasks


def warm(task_paths: Sequence[str] = (), task_ids: Sequence[str] = (), split: str | None = None,
         family: str | None = None, progress: bool = True) -> dict:
    """Warm the chosen tasks; a summary: tasks, distinct databases, seconds, templates loaded from and saved to
    the store, and the tasks that could not be warmed (with why)."""
    tasks = load_tasks() + (load_tasks(list(task_paths)) if task_paths else [])
    chosen = [t for t in tasks if (not task_ids or t.task_id in task_ids) and (split is None or t.split == split)
              and (family is None or t.family == family)]
    missing = sorted(set(task_ids) - {t.task_id for t in chosen})
    if missing:
        raise SystemExit(f"unknown task id(s): {', '.join(missing[:10])}")
    grader = make_grader()
    store = grader.databases.cache.store
    if store is not None:
        store.min_build_s = 0.0  # store everything this command builds
    started, failed = time.perf_counter(), {}
    for task in tqdm(chosen, desc="warm", unit="task", disable=not progress):
        try:
            grader.warm(task)
        except (GraderError, FileNotFoundError, ValueError) as exc:
            failed[task.task_id] = str(exc)[:300]
    return {
        "tasks": len(chosen), "databases": len({grader.databases.identity(t.db) for t in chosen if t.task_id not in failed}),
        "seconds": round(time.perf_counter() - started, 2),
        "store": str(store.folder) if store is not None else None,
        "loaded_from_store": store.loads if store is not None else 0,
        "saved_to_store": store.saves if store is not None else 0,
        "failed": failed,
    }
