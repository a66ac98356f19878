"""Where reward functions grade: in this process, or on env servers over HTTP.

Both backends answer the same two questions for a batch of ``(task_id, sql)`` items, and give the
same answers, because both end in the same code: :meth:`env_server.grading.Grader.grade_submission`
composed by :func:`env_server.reward.compose` (what ``DataOpsEnv`` reports and ``POST /grade``
returns), and the reviewer's verdict (what ``step_with_review`` and ``POST /review`` use).

* :class:`InProcessBackend` (the default): one :class:`~env_server.grading.Grader` (its built
  databases and gold results are the shared cache) and a thread pool; SQLite releases the GIL while
  it executes, so several completions grade at once.
* :class:`HttpBackend`: ``POST /grade`` and ``POST /review`` in batches, asynchronously, spread
  round-robin over one or more servers.

:func:`default_backend` picks one from the environment: ``DATAOPS_ENV_URL`` (a comma-separated list
of server URLs) selects HTTP. It is memoised per configuration, so all reward functions of a process
share one backend, and with it one cache.
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from env_server.client import grade_batch, parse_base_urls, review_batch
from env_server.grading import Grader
from env_server.reward import RewardConfig, compose, review_penalty
from env_server.tasks.registry import TaskRegistry, data_dir, load_tasks
from env_server.tasks.spec import Task

ENV_URL_VAR = "DATAOPS_ENV_URL"


@dataclass(frozen=True)
class GradeOutcome:
    """The reward of submitting one SQL string for one task, with the grade it came from."""

    task_id: str
    reward: float
    components: dict[str, float]
    grade: dict[str, Any]

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> "GradeOutcome":
        return cls(payload["task_id"], float(payload["reward"]), dict(payload["reward_components"]),
                   dict(payload["grade"]))


@dataclass(frozen=True)
class ReviewOutcome:
    """The reviewer's verdict on one SQL string for one task, and the reward penalty it carries."""

    task_id: str
    verdict: str
    penalty: float
    findings: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> "ReviewOutcome":
        return cls(payload["task_id"], payload["verdict"], float(payload["penalty"]), list(payload["findings"]))


class GradingBackend(Protocol):
    """What reward functions need from the environment."""

    def grade(self, items: Sequence[tuple[str, str]]) -> list[GradeOutcome]: ...

    def review(self, items: Sequence[tuple[str, str]]) -> list[ReviewOutcome]: ...


class InProcessBackend:
    """Grades with a :class:`Grader` in this process, on a thread pool.

    ``tasks`` is a :class:`TaskRegistry`, a list of tasks, or None for the built-in data. Pickling
    keeps the configuration and drops the pool and caches (a worker process rebuilds them lazily).
    """

    def __init__(
        self,
        tasks: TaskRegistry | Sequence[Task] | None = None,
        *,
        grader: Grader | None = None,
        reward_config: RewardConfig | None = None,
        max_workers: int | None = None,
    ):
        self._tasks = tasks if tasks is None or isinstance(tasks, TaskRegistry) else TaskRegistry(tasks)
        self._grader = grader
        self.reward_config = reward_config or RewardConfig()
        self.max_workers = max_workers or min(8, os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._reviewer = None

    @property
    def tasks(self) -> TaskRegistry:
        if self._tasks is None:
            self._tasks = TaskRegistry(load_tasks())
        return self._tasks

    @property
    def grader(self) -> Grader:
        if self._grader is None:
            self._grader = Grader()
        return self._grader

    @property
    def reviewer(self):
        if self._reviewer is None:
            from env_server.reviewer import make_reviewer

            self._reviewer = make_reviewer()
        return self._reviewer

    def _map(self, fn, items: Sequence[tuple[str, str]]) -> list:
        resolved = [(self.tasks.get(task_id), sql) for task_id, sql in items]  # unknown ids fail before any work
        if len(resolved) <= 1 or self.max_workers == 1:
            return [fn(task, sql) for task, sql in resolved]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="dataops-reward")
        return list(self._pool.map(lambda pair: fn(*pair), resolved))

    def _grade_one(self, task: Task, sql: str) -> GradeOutcome:
        grade = self.grader.grade_submission(task, sql=sql)
        breakdown = compose(grade, self.reward_config)
        return GradeOutcome(task.task_id, breakdown.total, breakdown.components, grade.model_dump())

    def _review_one(self, task: Task, sql: str) -> ReviewOutcome:
        schema = self.grader.databases.schema(task.db)
        review = self.reviewer.review(sql, family=task.family, schema=schema).as_dict()
        return ReviewOutcome(task.task_id, review["verdict"], review_penalty(review["verdict"], self.reward_config),
                             review["findings"])

    def grade(self, items: Sequence[tuple[str, str]]) -> list[GradeOutcome]:
        """Grade each ``(task_id, sql)``; raises ``UnknownTaskError`` naming an unknown task id."""
        return self._map(self._grade_one, items)

    def review(self, items: Sequence[tuple[str, str]]) -> list[ReviewOutcome]:
        """Review each ``(task_id, sql)`` against its task's family and schema."""
        return self._map(self._review_one, items)

    def __getstate__(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "reward_config": self.reward_config,
                "_tasks": self._tasks, "_grader": None, "_pool": None, "_reviewer": None}

    def __repr__(self) -> str:
        return f"InProcessBackend(max_workers={self.max_workers})"


class HttpBackend:
    """Grades on env servers: ``POST /grade`` and ``POST /review``, batched, concurrent, round-robin."""

    def __init__(self, urls: str | Sequence[str], *, batch_size: int = 64, timeout: float = 60.0,
                 max_in_flight: int = 8):
        self.urls = parse_base_urls(urls)
        self.batch_size, self.timeout, self.max_in_flight = batch_size, timeout, max_in_flight

    def grade(self, items: Sequence[tuple[str, str]]) -> list[GradeOutcome]:
        results = grade_batch(list(items), self.urls, self.batch_size, self.timeout, max_in_flight=self.max_in_flight)
        return [GradeOutcome.from_wire(r) for r in results]

    def review(self, items: Sequence[tuple[str, str]]) -> list[ReviewOutcome]:
        results = review_batch(list(items), self.urls, self.batch_size, self.timeout, max_in_flight=self.max_in_flight)
        return [ReviewOutcome.from_wire(r) for r in results]

    def __repr__(self) -> str:
        return f"HttpBackend({','.join(self.urls)!r})"


@functools.lru_cache(maxsize=8)
def _backend_for(env_url: str, data: str) -> GradingBackend:
    return HttpBackend(env_url) if env_url else InProcessBackend()


def default_backend() -> GradingBackend:
    """HTTP when ``DATAOPS_ENV_URL`` is set, else in-process; one per (URL, data folder) per process."""
    return _backend_for(os.environ.get(ENV_URL_VAR, "").strip(), str(data_dir()))
