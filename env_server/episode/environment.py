"""``DataOpsEnv``: the OpenEnv environment, one episode state machine for every task family.

Action Space
    :class:`~env_server.episode.models.DataOpsAction` with ``action_type`` and optional ``sql``, ``table``,
    ``answer``, ``citations`` and ``query``. Each family allows a subset (its ``Family.actions``); any
    other action is answered with an error observation and an ``invalid_action`` penalty.

Observation Space
    :class:`~env_server.episode.models.DataOpsObservation`: the goal, the schema summary, the broken query
    (debug), the last result (capped rows, row count, typed error), steps remaining, a message,
    and OpenEnv's ``done``/``reward``/``metadata``.

Reward
    Sparse outcome plus capped shaping penalties, from :func:`env_server.grading.reward.compose` on the
    grade of :class:`env_server.grading.grader.Grader`. Each step's ``reward`` is the change in the
    episode's running total, so the rewards of an episode sum to its total
    (``state.episode_return``). ``metadata["reward_components"]`` holds the running components.

Families
    debug: fix ``broken_sql`` and ``submit_query`` it. repair: change the database with
    ``execute_sql`` (write mode: INSERT, UPDATE, DELETE, CREATE TABLE/VIEW; DROP and ALTER are refused
    by the sandbox and count as invalid actions), then ``finish``; the successful writes are graded
    by replaying them on the variants. analyst: ``submit_answer`` a typed answer. grounded: search
    the docs corpus with ``search_docs``, then ``submit_answer`` with ``citations``.

Episode End
    *terminated* when the agent submits (``submit_query``, ``submit_answer``, ``finish``); *truncated* when
    ``max_steps`` actions have been taken without one. Stepping after the end, or before any
    reset, raises :class:`EnvUsageError` (the server turns it into a 409).

Reviewer-guarded path
    ``step(action, review=True)`` (``POST /step_with_review``) has the reviewer
    (:mod:`env_server.episode.reviewer`) look at the action's SQL first. A *blocked* action is not
    executed: the observation carries the findings, ``metadata["review"]`` the verdict, the
    reward a ``safety`` penalty, and the episode goes on so the policy can correct itself. A
    *warned* action executes and its findings are returned with the result.
"""
from __future__ import annotations

import dataclasses
import random
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

from env_server.core.identifiers import quote_ident
from env_server.core.sandbox import Execution, NotGraded, SandboxConfig, execute
from env_server.core.schema import introspect
from env_server.episode.models import (
    DataOpsAction,
    DataOpsObservation,
    DataOpsState,
    Grade,
    QueryResult,
)
from env_server.families import (
    Family,
    UnknownFamilyError,
    default_families,
)
from env_server.families import shared_grader
from env_server.grading.grader import Grader
from env_server.grading.reward import RewardConfig, compose
from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import Task

SAMPLE_ROWS = 5
SEARCH_HITS = 5


class EnvUsageError(RuntimeError):
    """The caller used the environment out of order (step before reset, step after done)."""


class InvalidResetError(ValueError):
    """``reset()`` arguments that name nothing playable: unknown arguments, filters matching no task,
    or a family that cannot be played yet."""


class CloneCapacityError(RuntimeError):
    """No room for another private repair clone: the server-wide budget is spent (``per_owner`` False: 503),
    or this owner's share of it is (``per_owner`` True: 429). Closing sessions frees room."""

    def __init__(self, message: str, per_owner: bool):
        super().__init__(message)
        self.per_owner = per_owner


class CloneBudget:
    """Bytes of private repair clones that environments may hold at once: ``total_bytes`` in all and
    ``per_owner_bytes`` per owner (``DataOpsEnv.owner``, the server's client; owner ``""`` counts only
    towards the total). A clone is charged ``page_count * page_size`` of its template when the episode
    opens it and released when the environment is reset or closed. Thread-safe."""

    def __init__(self, total_bytes: int, per_owner_bytes: int | None = None):
        if total_bytes < 1 or (per_owner_bytes is not None and per_owner_bytes < 1):
            raise ValueError("clone budgets must be at least 1 byte")
        self.total_bytes = total_bytes
        self.per_owner_bytes = min(per_owner_bytes or total_bytes, total_bytes)
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def reserve(self, owner: str, nbytes: int) -> None:
        """Charge ``nbytes`` to ``owner``, or raise :class:`CloneCapacityError` (nothing charged)."""
        mib = 2**20
        with self._lock:
            used = sum(self._held.values())
            mine = self._held.get(owner, 0)
            if owner and mine + nbytes > self.per_owner_bytes:
                raise CloneCapacityError(
                    f"this client's repair episodes hold {mine / mib:,.1f} MiB of private database copies and this one "
                    f"needs {nbytes / mib:,.1f} MiB more; a client may hold {self.per_owner_bytes / mib:,.0f} MiB "
                    "(--clone-mib-per-client): close a repair session (DELETE /session) first", per_owner=True)
            if used + nbytes > self.total_bytes:
                raise CloneCapacityError(
                    f"the server's repair episodes hold {used / mib:,.1f} MiB of private database copies and this one "
                    f"needs {nbytes / mib:,.1f} MiB more, over the server's {self.total_bytes / mib:,.0f} MiB "
                    "(--clone-mib): retry when sessions have closed or expired", per_owner=False)
            self._held[owner] = mine + nbytes

    def release(self, owner: str, nbytes: int) -> None:
        with self._lock:
            left = self._held.get(owner, 0) - nbytes
            if left > 0:
                self._held[owner] = left
            else:
                self._held.pop(owner, None)

    def held_bytes(self) -> int:
        with self._lock:
            return sum(self._held.values())


def without_tool_instructions(goal: str, family: Family | str | None) -> str:
    """``goal`` with its family's tool sentence removed (a goal without one, or of an unknown family, is
    returned unchanged)."""
    if not isinstance(family, Family):
        family = default_families().get(family or "")
    return goal if family is None else goal.removesuffix(" " + family.tool_instructions)


def _normalise_sql(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip().lower()


class DataOpsEnv(Environment[DataOpsAction, DataOpsObservation, DataOpsState]):
    """SQL tasks on live SQLite databases: debug, repair, analyst and grounded.

    ``tasks`` may be a list of :class:`Task`, a :class:`TaskRegistry`, or None for the built-in
    data. Pass one ``grader`` to several environments to share built databases and gold results.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self,
        tasks: Sequence[Task] | TaskRegistry | None = None,
        *,
        grader: Grader | None = None,
        reward_config: RewardConfig | None = None,
        max_steps: int | None = None,
        reviewer: Any = None,
        clone_budget: CloneBudget | None = None,
    ):
        super().__init__()
        if tasks is None:
            tasks = load_tasks()
        self.tasks = tasks if isinstance(tasks, TaskRegistry) else TaskRegistry(tasks)
        if len(self.tasks) == 0:
            raise ValueError("DataOpsEnv needs at least one task")
        self.grader = grader or shared_grader()
        self.reward_config = reward_config or RewardConfig()
        if self.grader.config.partial_credit > self.reward_config.failed_score_ceiling:
            raise ValueError(
                f"GradingConfig.partial_credit={self.grader.config.partial_credit} exceeds "
                f"RewardConfig.failed_score_ceiling={self.reward_config.failed_score_ceiling}: a wrong answer could "
                "outscore a right one; raise the ceiling (and lower max_penalty) together"
            )
        self.max_steps_override = max_steps
        self._reviewer = reviewer
        self.clone_budget = clone_budget
        self.owner = ""
        """Who this environment's repair clone is charged to in ``clone_budget`` (the server sets its client)."""
        self._clone_charge: tuple[str, int] | None = None
        self._rng = random.Random()
        self._conn: sqlite3.Connection | None = None
        self._task: Task | None = None
        self._family: Family | None = None
        self._seen: set[str] = set()
        self._writes: list[str] = []
        self._docs: list[dict[str, Any]] = []
        self._state = DataOpsState()

    # -- OpenEnv API ---------------------------------------------------------------------------

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        task_id: str | None = None,
        family: str | None = None,
        split: str | None = None,
        difficulty: str | None = None,
        **kwargs: Any,
    ) -> DataOpsObservation:
        """Start an episode on ``task_id``, or on a task drawn (with ``seed``) from the filters."""
        if kwargs:
            raise InvalidResetError(f"unknown reset argument(s): {', '.join(sorted(kwargs))}")
        task = self._choose(seed, task_id, family, split, difficulty)
        try:
            self._family = self.grader.families[task.family]
        except UnknownFamilyError as exc:
            raise InvalidResetError(f"task {task.task_id}: {exc}") from None
        self.close()
        self._conn = self._open(task)
        self._task = task
        self._seen = set()
        self._writes = []
        self._docs = []
        max_steps = self.max_steps_override or task.max_steps
        self._state = DataOpsState(
            episode_id=episode_id or uuid.uuid4().hex,
            step_count=0,
            task_id=task.task_id,
            family=task.family,
            split=task.split,
            difficulty=task.difficulty,
            max_steps=max_steps,
        )
        return self._observation(message="New episode. Read the goal, then investigate.", reward=None)

    @property
    def reviewer(self):
        """The reviewer used by ``step(..., review=True)``; built on first use (static unless an LLM is configured)."""
        if self._reviewer is None:
            from env_server.episode.reviewer import make_reviewer

            self._reviewer = make_reviewer()
        return self._reviewer

    def step(
        self, action: DataOpsAction | dict, timeout_s: float | None = None, review: bool = False, **kwargs: Any
    ) -> DataOpsObservation:
        """Apply one action and return the observation, with reward and end-of-episode flags.

        With ``review=True`` the action's SQL is reviewed first and a blocked action is not run."""
        if self._task is None or self._conn is None:
            raise EnvUsageError("no episode is running: call reset() first")
        if self._state.done:
            raise EnvUsageError("the episode is over: call reset() to start another")
        if not isinstance(action, DataOpsAction):
            action = DataOpsAction.model_validate(action)
        config = self.grader.sandbox_config
        if timeout_s is not None:
            config = dataclasses.replace(config, time_limit_s=min(config.time_limit_s, float(timeout_s)))
        # The action was validated above (text included) and is reviewed before anything changes; a step that
        # raises (a task whose database is unavailable, ...) is undone, so a refused request counts no step
        # and no penalty.
        verdict = self._review(action) if review else None
        saved = (self._state.model_copy(deep=True), set(self._seen), list(self._writes), list(self._docs))
        try:
            self._state.step_count += 1
            if verdict is not None and verdict["verdict"] == "block":
                self._state.blocked_actions += 1
                reasons = "; ".join(f"{f['code']}: {f['message']}" for f in verdict["findings"]
                                    if f["severity"] == "error")
                result, message, grade = (
                    QueryResult.failure(f"blocked by the reviewer: {reasons}", kind="blocked"),
                    "Blocked by the reviewer (not executed). Read the findings, fix the SQL and try again.",
                    None,
                )
            else:
                result, message, grade = self._dispatch(action, config)
                if verdict is not None and verdict["findings"]:
                    message += " Reviewer warnings: " + "; ".join(f["message"] for f in verdict["findings"])
        except BaseException:
            self._state, self._seen, self._writes, self._docs = saved
            raise
        if grade is not None:
            self._state.grade = grade
            self._state.done = self._state.terminated = True
        elif self._state.step_count >= self._state.max_steps:
            self._state.done = self._state.truncated = True
            message += " Out of steps: the episode is truncated."
        breakdown = compose(
            self._state.grade,
            self.reward_config,
            invalid_actions=self._state.invalid_actions,
            repeated_queries=self._state.repeated_queries,
            truncated=self._state.truncated,
            blocked_actions=self._state.blocked_actions,
        )
        reward = round(breakdown.total - self._state.episode_return, 6)
        self._state.episode_return = breakdown.total
        metadata = {
            "reward_components": breakdown.components,
            "episode_return": breakdown.total,
            "grade": grade.model_dump() if grade is not None else None,
            "terminated": self._state.terminated,
            "truncated": self._state.truncated,
        }
        if verdict is not None:
            metadata["review"] = verdict
        findings = verdict["findings"] if verdict is not None else []
        return self._observation(result=result, message=message, reward=reward, metadata=metadata, findings=findings)

    @property
    def state(self) -> DataOpsState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(
            name="DataOps-Gym",
            description="SQL debug, repair, analyst and grounded-analytics tasks on live, sandboxed SQLite databases.",
            version="0.1.0",
        )

    def interrupt(self) -> None:
        """Stop the statement running on this episode's database, if any, at its next VM step.
        Safe from any thread; the episode stays usable."""
        conn = self._conn
        if conn is not None:
            try:
                conn.interrupt()
            except sqlite3.ProgrammingError:  # closed meanwhile
                pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._clone_charge is not None and self.clone_budget is not None:
            self.clone_budget.release(*self._clone_charge)
        self._clone_charge = None

    # -- internals ------------------------------------------------------------------------------

    def _open(self, task: Task) -> sqlite3.Connection:
        """The episode's database: a read-only view of the shared template for the families that only read
        (no copy: the same cost at any size), a private writable copy for repairs (refused, with the
        numbers, when the database is over the sandbox's page cap: a repair could not write to it)."""
        databases = self.grader.databases
        if not self.grader.families[task.family].writes:
            return databases.reader(task.db)
        template = databases.template(task.db, 0)
        pages, page_size = template.pages, template.page_size
        cap = self.grader.sandbox_config.max_page_count
        if pages > cap:
            raise InvalidResetError(
                f"repair task {task.task_id}: its database is {pages * page_size / 2**20:,.0f} MiB and a repair "
                f"episode works on a private copy limited to {cap * page_size / 2**20:,.0f} MiB "
                "(SandboxConfig.max_page_count); raise the cap or build repair tasks on a smaller database"
            )
        if self.clone_budget is None:
            return databases.clone(task.db)
        charge = (self.owner, pages * page_size)
        self.clone_budget.reserve(*charge)
        try:
            conn = databases.clone(task.db)
        except BaseException:
            self.clone_budget.release(*charge)
            raise
        self._clone_charge = charge
        return conn

    def _choose(self, seed, task_id, family, split, difficulty) -> Task:
        if task_id is not None:
            return self.tasks.get(task_id)
        candidates = self.tasks.filter(split=split, family=family, difficulty=difficulty)
        if not candidates:
            raise InvalidResetError(
                f"no task matches split={split!r}, family={family!r}, difficulty={difficulty!r} "
                f"among {len(self.tasks)} tasks"
            )
        rng = random.Random(seed) if seed is not None else self._rng
        return rng.choice(candidates)

    def _review(self, action: DataOpsAction) -> dict[str, Any]:
        """The reviewer's verdict on the action's SQL (actions without SQL are allowed as they are)."""
        task = self._task
        assert task is not None
        if not action.sql:
            return {"verdict": "allow", "findings": [], "source": "no SQL to review", "latency_ms": 0.0, "llm": None}
        schema = self.grader.databases.schema(task.db)
        return self.reviewer.review(action.sql, family=task.family, schema=schema).as_dict()

    def _invalid(self, message: str) -> tuple[QueryResult, str, None]:
        self._state.invalid_actions += 1
        return QueryResult.failure(message), message, None

    def _dispatch(self, action: DataOpsAction, config: SandboxConfig) -> tuple[QueryResult | None, str, Grade | None]:
        task, family = self._task, self._family
        assert task is not None and family is not None and self._conn is not None
        allowed = family.actions
        kind = action.action_type
        if kind not in allowed:
            return self._invalid(f"{kind} is not allowed for {task.family} tasks; allowed: {', '.join(allowed)}")
        if kind == "inspect_schema":
            schema = self._schema()
            rows = [
                [t.name, c.name, c.type, "PK" if c.primary_key else ("FK" if c.references else ""),
                 f"{c.references[0]}.{c.references[1]}" if c.references else None]
                for t in schema.tables
                for c in t.columns
            ]
            columns = ["table", "column", "type", "key", "references"]
            return QueryResult(columns=columns, rows=rows, row_count=len(rows)), f"{len(schema.tables)} tables.", None
        if kind == "sample_rows":
            if not action.table:
                return self._invalid("sample_rows needs 'table'")
            table = self._schema().table(action.table)
            if table is None:
                names = self._schema().table_names
                return self._invalid(f"unknown table {action.table!r}; tables: {', '.join(names)}")
            sql = f"SELECT * FROM main.{quote_ident(table.name)} LIMIT {SAMPLE_ROWS}"
            return self._run(sql, config), f"First {SAMPLE_ROWS} rows of {table.name}.", None
        if kind == "finish":
            try:
                grade = self.grader.grade_repair(task, self._writes, final=self._conn)
            except NotGraded as exc:
                return self._not_graded(exc)
            verdict = "Repaired" if grade.success else "Not repaired"
            return None, f"{verdict}: {grade.reason}.", grade
        if kind == "search_docs":
            if not action.query or not action.query.strip():
                return self._invalid("search_docs needs 'query'")
            key = "search:" + _normalise_sql(action.query)
            repeated = key in self._seen
            self._seen.add(key)
            if repeated:
                self._state.repeated_queries += 1
            domain = task.docs_domain or task.db.domain
            try:
                self._docs = self.grader.docs.search(action.query, domain=domain, k=SEARCH_HITS)
            except FileNotFoundError as exc:  # a custom data folder without a docs corpus
                return QueryResult.failure(f"no docs corpus to search: {exc}", kind="runtime"), str(exc), None
            rows = [[h["doc_id"], h["title"], h["status"], h["snippet"]] for h in self._docs]
            result = QueryResult(columns=["doc_id", "title", "status", "snippet"], rows=rows, row_count=len(rows))
            message = f"{len(rows)} document(s) found." + (" Same search as before (repeat penalty)." if repeated else "")
            return result, message, None
        if kind == "submit_answer":
            if action.answer is None or (isinstance(action.answer, str) and not action.answer.strip()):
                return self._invalid("submit_answer needs 'answer'")
            grade = self.grader.grade_answer(task, action.answer, action.citations)
            verdict = "Correct" if grade.success else "Not correct"
            return None, f"{verdict}: {grade.reason}.", grade
        if not action.sql or not action.sql.strip():
            return self._invalid(f"{kind} needs 'sql'")
        if kind == "execute_sql":
            execution = execute(self._conn, action.sql, mode="write", config=config)
            result = QueryResult.from_execution(execution)
            if execution.ok:
                self._writes.append(action.sql)
                return result, f"Statement ran ({execution.changes} row(s) changed).", None
            if execution.error_kind is not None and execution.error_kind.value == "not_authorized":
                self._state.invalid_actions += 1
                return result, "Refused by the sandbox (invalid-action penalty).", None
            return result, f"Statement failed ({result.error_kind}); nothing changed.", None
        if kind == "run_query":
            key = _normalise_sql(action.sql)
            if key in self._seen:
                self._state.repeated_queries += 1
                message = "Same query as before (repeat penalty)."
            else:
                self._seen.add(key)
                message = "Query ran."
            result = self._run(action.sql, config)
            if result.error_kind:
                message = f"Query failed ({result.error_kind})."
            return result, message, None
        # submit_query: graded once; the observation shows the grading run on the task database
        try:
            execution, grade = self.grader.run_and_grade_query(task, action.sql)
        except NotGraded as exc:
            return self._not_graded(exc)
        result = self._shown(execution, config)
        verdict = "Correct" if grade.success else "Not correct"
        return result, f"{verdict}: {grade.reason}.", grade

    @staticmethod
    def _not_graded(exc: NotGraded) -> tuple[QueryResult, str, None]:
        """A submission the grading safety net stopped: no grade and no penalty; the episode goes on."""
        message = str(exc)
        return (QueryResult.failure(message, kind="timeout"),
                f"{message[:1].upper()}{message[1:]}. The episode goes on: submit something simpler.", None)

    def _schema(self):
        """The schema the agent sees: the live database's for repairs (it changes), else the cached one."""
        task = self._task
        assert task is not None and self._conn is not None
        assert self._family is not None
        if self._family.writes:
            return introspect(self._conn)
        return self.grader.databases.schema(task.db)

    @staticmethod
    def _shown(execution: Execution, config: SandboxConfig) -> QueryResult:
        """A grading run as the agent sees a query: its first ``max_rows_returned`` rows, the count, ``truncated``."""
        shown = dataclasses.replace(execution, rows=execution.rows[: config.max_rows_returned],
                                    truncated=len(execution.rows) > config.max_rows_returned)
        return QueryResult.from_execution(shown)

    def _run(self, sql: str, config: SandboxConfig) -> QueryResult:
        assert self._conn is not None
        return QueryResult.from_execution(execute(self._conn, sql, mode="read", config=config))

    def _observation(
        self,
        *,
        message: str,
        reward: float | None,
        result: QueryResult | None = None,
        metadata: dict[str, Any] | None = None,
        findings: list[dict[str, Any]] | None = None,
    ) -> DataOpsObservation:
        task, family = self._task, self._family
        assert task is not None and family is not None
        return DataOpsObservation(
            task_id=task.task_id,
            family=task.family,
            goal=family.goal(task),
            schema_summary=self._schema().text,
            broken_sql=task.broken_sql if family.shows_broken_sql else None,
            allowed_actions=list(family.actions),
            last_result=result,
            docs=list(self._docs),
            review_findings=findings or [],
            steps_remaining=max(0, self._state.max_steps - self._state.step_count),
            message=message,
            done=self._state.done,
            reward=reward,
            metadata=metadata or {},
        )
