"""Where reward functions grade: in this process, or on env servers over HTTP.

Both backends answer the same two questions for a batch of ``(task_id, submission)`` items, and give
the same answers, because both end in the same code: :meth:`env_server.grading.grader.Grader.grade_submission`
composed by :func:`env_server.grading.reward.compose` (what ``DataOpsEnv`` reports and ``POST /grade``
returns), and the reviewer's verdict (what ``step_with_review`` and ``POST /review`` use).

A submission is a ``str`` (the SQL: a debug query, or a repair script of write statements) or a small
dict ``{"sql"?, "answer"?, "citations"?}`` (analyst and grounded tasks submit an ``answer``, grounded
ones ``citations`` too, a list of doc ids). A task whose family needs a field the submission lacks is
an error on both backends (``ValueError`` in-process, 422 over HTTP). Reviews take SQL strings only.

Each backend also says which family a task id is (:meth:`InProcessBackend.family`,
:meth:`HttpBackend.family`), which decides how a completion is read: in-process from the task
registry; over HTTP from the id's prefix (:func:`family_from_task_id`), since every built-in and BYO
task id starts with its family (``debug-``, ``repair-``, ``analyst-``, ``grounded-``).

* :class:`InProcessBackend` (the default): one :class:`~env_server.grading.grader.Grader` (its built
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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

from env_server.core.sandbox import NotGraded
from env_server.families import FamilyRegistry, default_families
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.grading.reward import RewardConfig, compose, review_penalty
from env_server.server.client import grade_batch, parse_base_urls, review_batch
from env_server.tasks.registry import TaskRegistry, data_dir, load_tasks
from env_server.tasks.spec import Task

ENV_URL_VAR = "DATAOPS_ENV_URL"
SUBMISSION_FIELDS = ("sql", "answer", "citations")

GradeSubmission = Union[str, Mapping[str, Any]]
"""What one item submits: the SQL (``str``), or ``{"sql"?, "answer"?, "citations"?}``."""


def family_from_task_id(task_id: str | None) -> str | None:
    """The family a task id names by its prefix (``"repair-fixed-dedupe_customers"`` -> ``"repair"``),
    else None. Every built-in and BYO task id starts with its family and a ``-``.

    >>> family_from_task_id("grounded-ecommerce-net_revenue-1"), family_from_task_id("custom-7")
    ('grounded', None)
    """
    family = default_families().of_task_id(task_id)
    return family.name if family is not None else None


def submission_fields(submission: GradeSubmission) -> dict[str, Any]:
    """A submission as ``grade_submission`` keyword arguments (``sql``, ``answer``, ``citations``).

    >>> submission_fields("SELECT 1"), submission_fields({"answer": "42", "citations": ["a-doc"]})
    ({'sql': 'SELECT 1'}, {'answer': '42', 'citations': ['a-doc']})
    """
    if isinstance(submission, str):
        return {"sql": submission}
    if not isinstance(submission, Mapping):
        raise TypeError(f"a submission is a SQL string or a dict, not {type(submission).__name__}")
    unknown = sorted(set(map(str, submission)) - set(SUBMISSION_FIELDS))
    if unknown:
        raise ValueError(f"unknown submission field(s) {', '.join(unknown)}; expected {', '.join(SUBMISSION_FIELDS)}")
    fields = {k: v for k, v in submission.items() if v is not None}
    if "citations" in fields:
        fields["citations"] = list(fields["citations"])
    return fields


@dataclass(frozen=True)
class GradeOutcome:
    """The reward of one submission (SQL, script or answer) for one task, with the grade it came from."""

    task_id: str
    reward: float | None
    """None when the submission was not graded (the grading safety net stopped it): never turned into 0."""
    components: dict[str, float]
    grade: dict[str, Any]
    status: str = "graded"
    """``graded``, or ``not_graded`` (``grade["reason"]`` says what stopped it)."""

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> GradeOutcome:
        if payload.get("status", "graded") == "not_graded":
            return cls.not_graded(payload["task_id"], str(payload.get("error") or "not graded"))
        return cls(payload["task_id"], float(payload["reward"]), dict(payload["reward_components"]),
                   dict(payload["grade"]))

    @classmethod
    def not_graded(cls, task_id: str, reason: str) -> GradeOutcome:
        """The outcome of a submission that has no grade: reward None, success False, the reason kept."""
        return cls(task_id, None, {}, {"success": False, "score": None, "reason": reason, "error_kind": "not_graded",
                                       "components": {}}, status="not_graded")


@dataclass(frozen=True)
class ReviewOutcome:
    """The reviewer's verdict on one SQL string for one task, and the reward penalty it carries."""

    task_id: str
    verdict: str
    penalty: float
    findings: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> ReviewOutcome:
        return cls(payload["task_id"], payload["verdict"], float(payload["penalty"]), list(payload["findings"]))


class GradingBackend(Protocol):
    """What reward functions need from the environment."""

    def grade(self, items: Sequence[tuple[str, GradeSubmission]]) -> list[GradeOutcome]: ...

    def review(self, items: Sequence[tuple[str, str]]) -> list[ReviewOutcome]: ...

    def family(self, task_id: str) -> str | None:
        """The task's family, or None when it cannot be told (read the completion as SQL then)."""
        ...


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
            self._grader = make_grader()
        return self._grader

    @property
    def reviewer(self):
        if self._reviewer is None:
            from env_server.episode.reviewer import make_reviewer

            self._reviewer = make_reviewer()
        return self._reviewer

    def _map(self, fn, resolved: list[tuple[Task, Any]]) -> list:
        if len(resolved) <= 1 or self.max_workers == 1:
            return [fn(task, value) for task, value in resolved]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="dataops-reward")
        return list(self._pool.map(lambda pair: fn(*pair), resolved))

    def family(self, task_id: str) -> str:
        """The family of ``task_id`` in the registry; ``UnknownTaskError`` names an unknown id."""
        return self.tasks.get(task_id).family

    @property
    def families(self) -> FamilyRegistry:
        """The families the grader plays (a completion is read as its family submits)."""
        return self.grader.families

    def _grade_one(self, task: Task, fields: dict[str, Any]) -> GradeOutcome:
        try:
            grade = self.grader.grade_submission(task, **fields)
        except NotGraded as exc:
            return GradeOutcome.not_graded(task.task_id, str(exc))
        breakdown = compose(grade, self.reward_config)
        return GradeOutcome(task.task_id, breakdown.total, breakdown.components, grade.model_dump())

    def _review_one(self, task: Task, sql: str) -> ReviewOutcome:
        schema = self.grader.databases.schema(task.db)
        review = self.reviewer.review(sql, family=task.family, schema=schema).as_dict()
        return ReviewOutcome(task.task_id, review["verdict"], review_penalty(review["verdict"], self.reward_config),
                             review["findings"])

    def grade(self, items: Sequence[tuple[str, GradeSubmission]]) -> list[GradeOutcome]:
        """Grade each ``(task_id, submission)`` as ``POST /grade`` does. Before any work, raises
        ``UnknownTaskError`` naming an unknown task id, and ``ValueError`` (the server's 422) for a
        submission that lacks the field its task's family needs (``answer`` or ``sql``)."""
        resolved = []
        for i, (task_id, submission) in enumerate(items):
            task, fields = self.tasks.get(task_id), submission_fields(submission)
            needs = self.grader.families[task.family].needs
            if needs not in fields:
                raise ValueError(f"items[{i}].{needs} is required: task {task.task_id} is a {task.family} task")
            resolved.append((task, fields))
        return self._map(self._grade_one, resolved)

    def review(self, items: Sequence[tuple[str, str]]) -> list[ReviewOutcome]:
        """Review each ``(task_id, sql)`` against its task's family and schema."""
        return self._map(self._review_one, [(self.tasks.get(task_id), sql) for task_id, sql in items])

    def __getstate__(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "reward_config": self.reward_config,
                "_tasks": self._tasks, "_grader": None, "_pool": None, "_reviewer": None}

    def __repr__(self) -> str:
        return f"InProcessBackend(max_workers={self.max_workers})"


class HttpBackend:
    """Grades on env servers: ``POST /grade`` and ``POST /review``, batched, concurrent, round-robin."""

    def __init__(self, urls: str | Sequence[str], *, batch_size: int = 64, timeout: float = 60.0,
                 max_in_flight: int = 2):
        self.urls = parse_base_urls(urls)
        self.batch_size, self.timeout, self.max_in_flight = batch_size, timeout, max_in_flight

    def family(self, task_id: str) -> str | None:
        """The family named by the task id's prefix (the registry is on the server): see
        :func:`family_from_task_id`. None for an id without one; such a completion is read as SQL."""
        return family_from_task_id(task_id)

    @property
    def _batching(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "timeout": self.timeout, "max_in_flight": self.max_in_flight}

    def grade(self, items: Sequence[tuple[str, GradeSubmission]]) -> list[GradeOutcome]:
        wire = [{"task_id": task_id, **submission_fields(submission)} for task_id, submission in items]
        results = grade_batch(wire, self.urls, **self._batching)
        return [GradeOutcome.from_wire(r) for r in results]

    def review(self, items: Sequence[tuple[str, str]]) -> list[ReviewOutcome]:
        results = review_batch(list(items), self.urls, **self._batching)
        return [ReviewOutcome.from_wire(r) for r in results]

    def __repr__(self) -> str:
        return f"HttpBackend({','.join(self.urls)!r})"


@functools.lru_cache(maxsize=8)
def _backend_for(env_url: str, data: str) -> GradingBackend:
    return HttpBackend(env_url) if env_url else InProcessBackend()


def resolve(backend: GradingBackend | None) -> GradingBackend:
    """``backend``, or :func:`default_backend` when it is None: the one place a reward function's backend is chosen."""
    return backend if backend is not None else default_backend()


def default_backend() -> GradingBackend:
    """HTTP when ``DATAOPS_ENV_URL`` is set, else in-process; one per (URL, data folder) per process."""
    return _backend_for(os.environ.get(ENV_URL_VAR, "").strip(), str(data_dir()))
