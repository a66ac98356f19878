"""``python -m env_server build-data``: generate every task file and ``data/README.md``, deterministically.

Writes ``data/tasks/<family>_<split>.jsonl`` and a README whose count tables are computed from
the files just written. Running it twice gives byte-identical files (a test checks this against
the committed data).
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Iterable

from env_server.grading import Grader
from env_server.tasks import debug
from env_server.tasks.spec import SPLITS, Task, save_jsonl

REBUILD_COMMAND = "python -m env_server build-data"


def build(out_dir: Path, splits: Iterable[str] = SPLITS, progress: bool = True, sizes: dict[str, int] | None = None) -> dict[str, list[Task]]:
    """Generate tasks for ``splits`` into ``out_dir/tasks`` and write ``out_dir/README.md``."""
    grader = Grader()
    files: dict[str, list[Task]] = {}
    fixed = debug.fixed_tasks()
    for task in fixed:
        problems = grader.task_problems(task)
        if problems:
            raise RuntimeError(f"fixed task {task.task_id} is invalid: {'; '.join(problems)}")
    files["debug_fixed"] = fixed
    for split in splits:
        n = (sizes or {}).get(split)
        files[f"debug_{split}"] = debug.generate_split(split, n=n, grader=grader, progress=progress)
    tasks_dir = out_dir / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    for name, tasks in files.items():
        save_jsonl(tasks, tasks_dir / f"{name}.jsonl")
    (out_dir / "README.md").write_text(readme(files), encoding="utf-8")
    return files


def _cross_table(title: str, by_split: dict[str, list[Task]], key) -> list[str]:
    """A table with one row per value of ``key`` and one column per split."""
    splits = list(by_split)
    counts = {split: Counter(v for t in tasks for v in key(t)) for split, tasks in by_split.items()}
    values = sorted({v for c in counts.values() for v in c})
    lines = [f"## {title}", "", "| | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for value in values:
        lines.append(f"| {value} | " + " | ".join(f"{counts[s][value]:,}" if counts[s][value] else "" for s in splits) + " |")
    return lines + [""]


def readme(files: dict[str, list[Task]]) -> str:
    """The data README, with every count computed from ``files``."""
    everything = [t for tasks in files.values() for t in tasks]
    by_split: dict[str, list[Task]] = {}
    for task in everything:
        by_split.setdefault(task.split, []).append(task)
    lines = [
        "# data/",
        "",
        "Generated task sets. Do not edit by hand: rebuild with",
        "",
        f"    {REBUILD_COMMAND}",
        "",
        "The build is deterministic; `tests/test_build_data.py` rebuilds and compares with these files.",
        "Each line of a `tasks/*.jsonl` file is one task spec (see `env_server/tasks/spec.py`). Every count",
        "below is computed by the build from the files it wrote.",
        "",
        "## Files",
        "",
        "| file | family | split | tasks |",
        "|---|---|---|---:|",
    ]
    for name, tasks in files.items():
        lines.append(f"| `tasks/{name}.jsonl` | {tasks[0].family} | {tasks[0].split} | {len(tasks):,} |")
    lines += [f"| **total** | | | **{len(everything):,}** |", ""]
    lines += _cross_table("Tasks per family", by_split, lambda t: [t.family])
    lines += _cross_table("Tasks per domain", by_split, lambda t: [t.db.domain or "custom"])
    lines += _cross_table("Tasks per difficulty", by_split, lambda t: [t.difficulty])
    lines += _cross_table("Tasks per bug type (a multi-bug task counts once per bug)", by_split, lambda t: t.bug_types)
    lines += _cross_table(
        "Tasks per gold-query template",
        by_split,
        lambda t: [tag.split(":", 1)[1] for tag in t.tags if tag.startswith("template:")],
    )
    return "\n".join(lines).rstrip() + "\n"


def main(out_dir: Path, progress: bool = True) -> None:
    started = time.perf_counter()
    files = build(out_dir, progress=progress)
    total = sum(len(t) for t in files.values())
    print(f"wrote {total:,} tasks in {len(files)} files to {out_dir / 'tasks'} in {time.perf_counter() - started:.1f}s")
    for name, tasks in files.items():
        print(f"  {name}: {len(tasks):,}")
