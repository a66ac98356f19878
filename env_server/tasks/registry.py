"""The task registry: find task files, load them, filter by split, family and difficulty, look up by id."""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from env_server.core.data_paths import DATA_DIR_ENV, data_dir  # noqa: F401 - re-exported
from env_server.tasks.spec import Task, load_jsonl


class UnknownTaskError(KeyError):
    """No task has this id. Its message suggests close ids."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown task_id"


def builtin_task_files() -> list[Path]:
    return sorted((data_dir() / "tasks").glob("*.jsonl"))


def load_tasks(
    path: str | Path | Sequence[str | Path] | None = None,
    split: str | None = None,
    family: str | None = None,
    difficulty: str | None = None,
) -> list[Task]:
    """Load tasks from ``path`` (a JSONL file, a folder of them, or a list), or the built-in data.

    Filters keep tasks whose ``split``, ``family`` and ``difficulty`` equal the given values.
    Raises ``FileNotFoundError`` with the rebuild command when the built-in data is missing.
    """
    if path is None:
        files = builtin_task_files()
        if not files:
            raise FileNotFoundError(
                f"no task files in {data_dir() / 'tasks'}; build them with `python -m env_server build-data`"
            )
    else:
        files = []
        for item in [path] if isinstance(path, (str, Path)) else list(path):
            item = Path(item)
            files.extend(sorted(item.glob("*.jsonl")) if item.is_dir() else [item])
    tasks: list[Task] = []
    for file in files:
        tasks.extend(load_jsonl(file))
    return filter_tasks(tasks, split=split, family=family, difficulty=difficulty)


def filter_tasks(
    tasks: Iterable[Task], split: str | None = None, family: str | None = None, difficulty: str | None = None
) -> list[Task]:
    return [
        t
        for t in tasks
        if (split is None or t.split == split)
        and (family is None or t.family == family)
        and (difficulty is None or t.difficulty == difficulty)
    ]


class TaskRegistry:
    """An immutable set of tasks indexed by id. Duplicate ids are an error."""

    def __init__(self, tasks: Iterable[Task]):
        self._tasks: tuple[Task, ...] = tuple(tasks)
        index: dict[str, Task] = {}
        for task in self._tasks:
            if task.task_id in index:
                raise ValueError(f"duplicate task_id {task.task_id!r}")
            index[task.task_id] = task
        self._index = index

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self):
        return iter(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._index

    def get(self, task_id: str) -> Task:
        """The task with ``task_id``; :class:`UnknownTaskError` (a KeyError) suggests close ids."""
        try:
            return self._index[task_id]
        except KeyError:
            close = difflib.get_close_matches(str(task_id), self._index.keys(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownTaskError(f"unknown task_id {task_id!r}{hint}") from None

    def filter(self, split: str | None = None, family: str | None = None, difficulty: str | None = None) -> list[Task]:
        return filter_tasks(self._tasks, split=split, family=family, difficulty=difficulty)
