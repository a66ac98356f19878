"""The env server: OpenEnv's app for ``DataOpsEnv``, plus sessions, batch grading, tasks, a live
benchmark and the playground.

Built on OpenEnv's ``create_app`` (``/health``, ``/metadata``, ``/schema``, ``/mcp``, ``WS /ws`` with
concurrent sessions), so ``openenv validate --url`` and OpenEnv clients work unchanged. OpenEnv's
stateless ``/reset``, ``/step`` and ``/state`` are replaced by session-aware ones:

* ``POST /reset``: without ``X-Session-Id`` creates a session and returns its id (body and header);
  with it, starts a new episode in that session.
* ``POST /step``, ``POST /step_with_review``, ``GET /state``, ``DELETE /session``: need the header.
* ``GET /tasks``: task summaries (never the gold answers), filtered and paginated.
* ``POST /grade``: stateless and batched; what GRPO reward functions call.
* ``POST /review``: stateless and batched; the reviewer's verdict and safety penalty per item.
* ``GET /benchmark``: reset, step and grade latency measured now, on this server.
* ``GET /``: the playground page (``env_server/server/static/``).

Every client mistake is a 4xx with a message saying what to fix; a task whose database is missing
or whose reference does not run is a 503 (``code: task_unavailable``) on ``/reset`` and ``/step``
and a per-item error in ``/grade``. Bodies are capped by the bytes actually read (chunked or not),
and ``NaN``/``Infinity`` in a body are a 422. Non-finite floats in results are sent as the strings
``"Infinity"``, ``"-Infinity"`` and ``"NaN"`` (JSON has no such numbers). Every item of a ``/grade``
request is graded (its chunks run in parallel on the worker threads as fair jobs, each item within its own step
budget), so none comes back to be sent again; only what the grading safety net stopped is ``not_graded``
(``cause: "safety_net"``). A ``/review`` batch has a time budget (``not_reviewed``: send them again), and each
review is bounded by the reviewer's own budgets (the execution SQL length limit, parse work, findings).
Invalid text (a body that is not UTF-8, a lone UTF-16 surrogate in any JSON string) is refused before any
route runs (400/422), so a refused step counts no step. Every endpoint has a budget: ``GET /benchmark`` is
bounded in ``n`` and time and answers only loopback clients unless enabled (``ServerConfig.benchmark``);
WebSocket messages share the body limit (close 1009).

Fair sharing (:mod:`env_server.server.fairness`): per client (address, or a configured token) a quota of
live sessions (``sessions_per_client``, a quarter of the cap by default), of /grade, /review and /benchmark
requests in flight (``inflight_per_client``) and of private repair-database copies (``clone_mib_per_client``
of the server-wide ``clone_mib``); over a quota is a 429, over a server-wide cap a 503, both with
``Retry-After``. Configuration comes from :class:`ServerConfig` (or ``DATAOPS_*`` environment variables,
for ``uvicorn --workers``).
"""
from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from openenv.core.env_server import create_app as openenv_create_app
from openenv.core.env_server.serialization import serialize_observation
from openenv.core.env_server.types import ConcurrencyConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from env_server.episode.environment import (
    CloneBudget,
    CloneCapacityError,
    DataOpsEnv,
    EnvUsageError,
    InvalidResetError,
)
from env_server.episode.models import (
    DataOpsAction,
    DataOpsObservation,
    DataOpsState,
    Grade,
)
from env_server.core.sandbox import NotGraded
from env_server.families import make_grader
from env_server.grading.grader import Grader, GraderError
from env_server.grading.reward import RewardConfig, compose, review_penalty
from env_server.server.body_guard import BodyGuard, WebSocketGuard
from env_server.server.config import ServerConfig
from env_server.server.errors import HttpError, document_errors, jsonable
from env_server.server.fairness import FairScheduler, InFlightQuota, QuotaExceeded, client_key, is_loopback
from env_server.server.live_bench import live_benchmark
from env_server.server.sessions import SessionError, SessionStore
from env_server.server.warming import Warmer, Warming
from env_server.tasks.registry import TaskRegistry, UnknownTaskError, load_tasks
from env_server.tasks.spec import Difficulty, Task

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_HEADER = "X-Session-Id"


# -- request and response models ------------------------------------------------------------------


class ResetBody(BaseModel):
    """Start an episode: a task by id, or one drawn (with ``seed``) from the filters."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, ge=0, description="Seed for drawing the task.")
    episode_id: str | None = Field(default=None, max_length=255, description="Your own episode id.")
    task_id: str | None = Field(default=None, max_length=500, description="Play this task.")
    family: str | None = Field(default=None, max_length=50, description="Draw from this family.")
    split: str | None = Field(default=None, max_length=50, description="Draw from this split.")
    difficulty: Difficulty | None = Field(default=None, description="Draw from this difficulty.")


class StepBody(BaseModel):
    """One action, in OpenEnv's step format."""

    model_config = ConfigDict(extra="forbid")

    action: dict[str, Any] = Field(description="A DataOpsAction: {'action_type': ..., 'sql': ...}.")
    timeout_s: float | None = Field(default=None, gt=0, le=30, allow_inf_nan=False,
                                    description="Tighter time budget for this step.")
    request_id: str | None = Field(default=None, max_length=255, description="Echoed for tracing.")


class EnvResponse(BaseModel):
    """An observation in OpenEnv's wire format, plus the session it belongs to."""

    session_id: str = Field(description="Send it back as the X-Session-Id header.")
    observation: dict[str, Any] = Field(description="DataOpsObservation fields.")
    reward: float | None = Field(default=None, description="Reward of this step.")
    done: bool = Field(default=False, description="Whether the episode has ended.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="reward_components, grade, review, ...")


class GradeItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(max_length=500, description="The task the submission answers.")
    sql: str | None = Field(
        default=None, description="debug: the candidate query; repair: the write statements, in order (a script)."
    )
    answer: Any = Field(default=None, description="analyst and grounded: the answer.")
    citations: list[str] | None = Field(default=None, description="grounded: doc ids supporting the answer.")


class GradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[GradeItem] = Field(min_length=1, description="Completions to grade (at most max_grade_items).")


class GradeResult(BaseModel):
    task_id: str
    status: str = Field(default="graded", description="graded; not_graded (no grade: see cause); task_error (the "
                        "task cannot be graded: see error).")
    reward: float | None = Field(default=None, description="compose(grade).total: the reward of submitting this SQL.")
    reward_components: dict[str, float] = Field(default_factory=dict)
    grade: Grade | None = None
    error: str | None = Field(default=None, description="Why the item was not graded.")
    cause: str | None = Field(default=None, description="not_graded only: safety_net (a run of the submission was stopped by the grading safety net before its "
                              "step budget ran out: its steps are unusually expensive; it has no grade and no reward)")


class GradeResponse(BaseModel):
    results: list[GradeResult]
    elapsed_ms: float


class ReviewResult(BaseModel):
    task_id: str
    status: str = Field(default="reviewed", description="reviewed; not_reviewed (the batch's time budget ran out "
                        "before this item: send it again; verdict and penalty are then null).")
    verdict: str | None = Field(default=None, description="allow, warn or block.")
    penalty: float | None = Field(default=None, description="The reward's safety component for this action: "
                                  "-safety when blocked, else 0.")
    findings: list[dict[str, Any]] = Field(default_factory=list,
                                           description="What the reviewer found: code, severity, message.")
    error: str | None = Field(default=None, description="Why the item was not reviewed.")


class ReviewResponse(BaseModel):
    results: list[ReviewResult]
    elapsed_ms: float


class TaskSummary(BaseModel):
    task_id: str
    family: str
    split: str
    difficulty: str
    question: str
    bug_types: list[str]
    tags: list[str]
    domain: str | None


class TaskPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[TaskSummary]


def summarise(task: Task) -> TaskSummary:
    """What a task listing may show: no gold SQL, no reference answers."""
    return TaskSummary(
        task_id=task.task_id,
        family=task.family,
        split=task.split,
        difficulty=task.difficulty,
        question=task.question,
        bug_types=task.bug_types,
        tags=task.tags,
        domain=task.db.domain,
    )


# -- the app --------------------------------------------------------------------------------------


def load_registry(config: ServerConfig) -> TaskRegistry:
    tasks = load_tasks()
    if config.task_paths:
        tasks += load_tasks(list(config.task_paths))
    return TaskRegistry(tasks)


def create_app(config: ServerConfig | None = None, registry: TaskRegistry | None = None) -> FastAPI:
    """Build the server. ``registry`` overrides the tasks (built-in plus ``config.task_paths``)."""
    config = config or ServerConfig.from_env()
    registry = registry or load_registry(config)
    grader = make_grader()
    reward_config = RewardConfig()
    mib = 2**20
    clone_budget = CloneBudget(int(config.clone_mib * mib),
                               int((config.clone_mib_per_client or config.clone_mib / 4) * mib))

    def factory() -> DataOpsEnv:
        return DataOpsEnv(registry, grader=grader, reward_config=reward_config, clone_budget=clone_budget)

    app = openenv_create_app(
        factory,
        DataOpsAction,
        DataOpsObservation,
        env_name="dataops_gym",
        concurrency_config=ConcurrencyConfig(
            max_concurrent_envs=config.session_cap, session_timeout=config.session_ttl_s
        ),
        state_cls=DataOpsState,
    )
    app.title = "DataOps-Gym env server"
    app.description = __doc__
    # OpenEnv's stateless episode routes are replaced below; its task-registry routes
    # (/{env_name}/tasks, ...) answer 501 for an environment without OpenEnv's task registry, so they
    # are not mounted (GET /tasks serves tasks here).
    app.router.routes = [
        r for r in app.router.routes
        if getattr(r, "path", None) not in ("/reset", "/step", "/state", "/")
        and not str(getattr(r, "path", "")).startswith("/{env_name}")
    ]
    sessions = SessionStore(factory, cap=config.session_cap, ttl_s=config.session_ttl_s,
                            per_client=config.client_session_quota)
    grading_quota = InFlightQuota(config.inflight_per_client, "/grade, /review or /benchmark")
    benchmark_lock = asyncio.Lock()

    def client_of(scope) -> str:
        return client_key(scope, config.client_tokens)

    workers = ThreadPoolExecutor(max_workers=config.worker_threads, thread_name_prefix="dataops-env")

    def _shutdown() -> None:
        sessions.interrupt_all()  # running statements stop at their next VM step
        workers.shutdown(wait=False, cancel_futures=True)

    app.router.on_shutdown.append(_shutdown)

    async def run_in_threadpool(fn, *args, **kwargs):
        """Run blocking env/grader work off the event loop, on a small pool (fewer GIL contenders)."""
        return await asyncio.get_running_loop().run_in_executor(workers, functools.partial(fn, *args, **kwargs))

    scheduler = FairScheduler(workers, config.worker_threads)
    """Episode and grading work of clients: a free worker goes to the waiting client with the fewest running."""
    warmer = Warmer(grader, wait_s=config.warm_wait_s, retry_after_s=config.warm_retry_after_s,
                    min_bytes=config.warm_min_bytes)
    app.router.on_shutdown.append(warmer.close)

    app.state.sessions, app.state.registry, app.state.grader, app.state.config = sessions, registry, grader, config
    app.state.clone_budget = clone_budget

    # -- errors: every client mistake is a 4xx with a message -------------------------------------

    @app.exception_handler(HttpError)
    async def _http_error(_: Request, exc: HttpError) -> JSONResponse:
        payload = {"detail": exc.message} if exc.code is None else {"detail": exc.message, "code": exc.code}
        return JSONResponse(payload, status_code=exc.status)

    @app.exception_handler(SessionError)
    async def _session_error(_: Request, exc: SessionError) -> JSONResponse:
        retry = getattr(exc, "retry_after_s", None)
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=exc.status,
                            headers={"Retry-After": str(retry)} if retry is not None else None)

    @app.exception_handler(Warming)
    async def _warming(_: Request, exc: Warming) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=exc.status,
                            headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(QuotaExceeded)
    async def _quota_error(_: Request, exc: QuotaExceeded) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=exc.status,
                            headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                position = err.get("loc", ("body", "?"))[-1]
                problems.append(f"the body is not valid JSON (error at character {position})")
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(problems), "errors": jsonable(exc.errors())}, status_code=422)

    app.add_middleware(BodyGuard, limit=config.max_body_bytes)
    app.add_middleware(WebSocketGuard, limit=config.max_body_bytes, per_client=config.client_session_quota,
                       client_of=client_of)

    # -- episodes -------------------------------------------------------------------------------

    def _run_env(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            raise HttpError(422, "invalid action: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'action'}: {e['msg']}" for e in exc.errors()
            )) from None
        except EnvUsageError as exc:
            raise HttpError(409, str(exc)) from None
        except UnknownTaskError as exc:
            raise HttpError(404, str(exc)) from None
        except InvalidResetError as exc:
            raise HttpError(422, str(exc)) from None
        except CloneCapacityError as exc:
            raise QuotaExceeded(str(exc), status=429 if exc.per_owner else 503, retry_after_s=sessions.retry_after_s(),
                                code="clone_quota" if exc.per_owner else "clone_capacity") from None
        except (GraderError, FileNotFoundError) as exc:
            raise HttpError(503, f"this task cannot be played on this server (not your request): {exc}",
                            code="task_unavailable") from None

    def _one_process() -> None:
        """HTTP sessions live in this process: refuse them when requests are spread over several workers."""
        if config.workers > 1:
            n = config.workers
            raise HttpError(
                421,
                f"this server runs {n} worker processes and an HTTP session lives in one of them, so the session's "
                "next request could reach another: HTTP sessions need --workers 1. Scale with replicas instead: "
                f"`python -m env_server serve --replicas {n} --port P` starts {n} one-process servers on ports "
                f"P..P+{n - 1}; give clients every URL (DATAOPS_ENV_URL=http://HOST:P,http://HOST:P+1,...) and each "
                "session stays on the replica that created it. /grade, /review, /tasks and WebSocket sessions (/ws) "
                "work with any number of workers",
                code="sessions_need_one_process",
            )

    def _respond(session_id: str, observation: DataOpsObservation) -> JSONResponse:
        payload = {"session_id": session_id, **serialize_observation(observation)}
        payload.setdefault("metadata", {})
        return JSONResponse(payload, headers={SESSION_HEADER: session_id})

    @app.post("/reset", response_model=EnvResponse, tags=["Environment Control"])
    async def reset(
        request: Request,
        body: ResetBody = Body(default_factory=ResetBody),
        x_session_id: str | None = Header(default=None, max_length=128),
    ) -> JSONResponse:
        """Start an episode. Without X-Session-Id a new session is created; its id is returned."""
        _one_process()
        kwargs = body.model_dump(exclude_none=True)
        if body.task_id is not None and body.task_id in registry:
            await warmer.ready([registry.get(body.task_id)])  # a cold large database: 503 warming while it builds
        if x_session_id is None:
            session = sessions.create(client_of(request.scope))
            try:
                async with sessions.use(session.id) as held:
                    observation = await scheduler.run(session.owner, _run_env, held.env.reset, **kwargs)
            except BaseException:
                sessions.close(session.id).env.close()
                raise
            return _respond(session.id, observation)
        async with sessions.use(x_session_id) as held:
            observation = await scheduler.run(client_of(request.scope), _run_env, held.env.reset, **kwargs)
        return _respond(x_session_id, observation)

    async def _step(body: StepBody, session_id: str | None, review: bool, client: str) -> JSONResponse:
        _one_process()
        if session_id is None:
            raise HttpError(400, f"missing {SESSION_HEADER} header: call POST /reset first and send back its session_id")
        async with sessions.use(session_id) as held:
            if held.env.state.episode_id is None:
                raise HttpError(409, "no episode in this session yet: call POST /reset first")
            observation = await scheduler.run(
                client, _run_env, held.env.step, body.action, timeout_s=body.timeout_s, review=review
            )
        return _respond(session_id, observation)

    @app.post("/step", response_model=EnvResponse, tags=["Environment Control"])
    async def step(
        body: StepBody, request: Request, x_session_id: str | None = Header(default=None, max_length=128)
    ) -> JSONResponse:
        """Apply one action in the session's episode."""
        return await _step(body, x_session_id, review=False, client=client_of(request.scope))

    @app.post("/step_with_review", response_model=EnvResponse, tags=["Environment Control"])
    async def step_with_review(
        body: StepBody, request: Request, x_session_id: str | None = Header(default=None, max_length=128)
    ) -> JSONResponse:
        """Like /step, but the reviewer looks at the SQL first: a blocked action is not executed, the
        verdict is in metadata.review, the findings in observation.review_findings, and the episode goes on."""
        return await _step(body, x_session_id, review=True, client=client_of(request.scope))

    @app.get("/state", response_model=DataOpsState, tags=["State Management"])
    async def state(x_session_id: str | None = Header(default=None, max_length=128)) -> DataOpsState:
        """The session's episode bookkeeping."""
        _one_process()
        if x_session_id is None:
            raise HttpError(400, f"missing {SESSION_HEADER} header: /state reports one session's episode")
        async with sessions.use(x_session_id) as held:
            return held.env.state

    @app.delete("/session", tags=["Environment Control"])
    async def close_session(x_session_id: str | None = Header(default=None, max_length=128)) -> dict[str, str]:
        """End the session and free its slot."""
        _one_process()
        if x_session_id is None:
            raise HttpError(400, f"missing {SESSION_HEADER} header")
        session = sessions.close(x_session_id)  # interrupts its running statement; never blocks the loop
        async with session.lock:  # wait for an in-flight request to see the interrupt and return
            await run_in_threadpool(session.env.close)
        return {"closed": x_session_id}

    @app.get("/sessions", tags=["Health"])
    async def session_stats() -> dict[str, float | int]:
        """Live sessions, the cap, the idle TTL and requests in flight."""
        sessions.reap()
        return sessions.stats()

    # -- tasks and grading ----------------------------------------------------------------------

    @app.get("/tasks", response_model=TaskPage, tags=["Tasks"])
    async def list_tasks(
        family: str | None = Query(default=None, max_length=50),
        split: str | None = Query(default=None, max_length=50),
        difficulty: Difficulty | None = Query(default=None),
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> TaskPage:
        """Task summaries (no gold answers), filtered and paginated."""
        if family is not None and family not in grader.families:
            raise HttpError(422, f"family: unknown family {family!r}; known: {', '.join(grader.families)}")
        matching = registry.filter(split=split, family=family, difficulty=difficulty)
        items = [summarise(t) for t in matching[offset: offset + limit]]
        return TaskPage(total=len(matching), offset=offset, limit=limit, items=items)

    @app.get("/tasks/{task_id}", response_model=TaskSummary, tags=["Tasks"])
    async def get_task(task_id: str) -> TaskSummary:
        try:
            return summarise(registry.get(task_id))
        except UnknownTaskError as exc:
            raise HttpError(404, str(exc)) from None

    def _resolve(items: list[GradeItem]) -> list[Task]:
        """The task of every item; the first unknown id is a 404 before any work is done."""
        for i, item in enumerate(items):
            if item.task_id not in registry:
                raise HttpError(404, f"items[{i}].task_id: unknown task_id {item.task_id!r}")
        return [registry.get(item.task_id) for item in items]

    def _checked(items: list[GradeItem]) -> list[Task]:
        """The task of every item, each item carrying what its family submits: a 404 or 422 before any work."""
        resolved = _resolve(items)
        for i, (task, item) in enumerate(zip(resolved, items)):
            needs = grader.families[task.family].needs
            if getattr(item, needs) is None:
                raise HttpError(422, f"items[{i}].{needs} is required: task {task.task_id} is a {task.family} task")
        return resolved

    def _grade_items(pairs: list[tuple[Task, GradeItem]]) -> list[GradeResult]:
        """Grade ``pairs`` one after the other (a job of a worker thread); every item gets a result."""
        results = []
        for task, item in pairs:
            try:
                grade = grader.grade_submission(task, item.sql, item.answer, item.citations)
            except NotGraded as exc:  # the safety net stopped it: no grade, never a 0
                results.append(GradeResult(task_id=task.task_id, status="not_graded", cause="safety_net",
                                           error=str(exc)))
                continue
            except (GraderError, FileNotFoundError) as exc:
                results.append(GradeResult(task_id=task.task_id, status="task_error",
                                           error=f"this task cannot be graded on this server (not your submission): {exc}"))
                continue
            breakdown = compose(grade, reward_config)
            results.append(GradeResult(task_id=task.task_id, reward=breakdown.total,
                                       reward_components=breakdown.components, grade=grade))
        return results

    def _review_batch(items: list[GradeItem]) -> list[ReviewResult]:
        from env_server.episode.reviewer import make_reviewer

        resolved = _resolve(items)
        for i, item in enumerate(items):
            if item.sql is None:
                raise HttpError(422, f"items[{i}].sql is required: /review reviews SQL")
        reviewer = app.state.reviewer = getattr(app.state, "reviewer", None) or make_reviewer()
        deadline = time.perf_counter() + config.review_batch_budget_s
        results = []
        for i, (task, item) in enumerate(zip(resolved, items)):
            if results and time.perf_counter() > deadline:
                results.append(ReviewResult(
                    task_id=task.task_id, status="not_reviewed",
                    error=f"the batch's time budget ({config.review_batch_budget_s:g} s) ran out before this item; "
                          "send it again"))
                continue
            try:
                schema = grader.databases.schema(task.db)
            except (FileNotFoundError, ValueError) as exc:
                raise HttpError(503, f"items[{i}]: the database of task {task.task_id} is unavailable: {exc}",
                                code="task_unavailable") from None
            review = reviewer.review(item.sql, family=task.family, schema=schema).as_dict()
            penalty = review_penalty(review["verdict"], reward_config)
            results.append(ReviewResult(task_id=task.task_id, verdict=review["verdict"], penalty=penalty,
                                        findings=review["findings"]))
        return results

    async def _grade_request(body: GradeRequest, request: Request) -> dict[str, Any]:
        """/grade's body: every item graded, in chunks of ``grade_chunk_items`` run in parallel as fair jobs."""
        if len(body.items) > config.max_grade_items:
            raise HttpError(413, f"{len(body.items)} items; at most {config.max_grade_items} per request")
        pairs = list(zip(_checked(body.items), body.items))
        await warmer.ready(task for task, _ in pairs)  # a cold database: 503 warming (Retry-After) while it builds
        size = max(1, config.grade_chunk_items)
        client = client_of(request.scope)
        with grading_quota.hold(client):
            started = time.perf_counter()
            chunks = await asyncio.gather(*(scheduler.run(client, _grade_items, pairs[i: i + size])
                                            for i in range(0, len(pairs), size)))
        return {"results": [r for chunk in chunks for r in chunk],
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 3)}

    async def _run_batch(work, body: GradeRequest, request: Request) -> dict[str, Any]:
        """A batch route's body: the size cap, the client's in-flight quota, the work off the event loop, the
        elapsed time."""
        if len(body.items) > config.max_grade_items:
            raise HttpError(413, f"{len(body.items)} items; at most {config.max_grade_items} per request")
        client = client_of(request.scope)
        with grading_quota.hold(client):
            started = time.perf_counter()
            results = await scheduler.run(client, work, body.items)
        return {"results": results, "elapsed_ms": round((time.perf_counter() - started) * 1000, 3)}

    @app.post("/review", response_model=ReviewResponse, tags=["Grading"])
    async def review(body: GradeRequest, request: Request) -> ReviewResponse:
        """Review a batch of candidate queries, statelessly: verdict, findings and safety penalty per item
        (items the batch's time budget did not reach come back ``not_reviewed``: send them again)."""
        return ReviewResponse(**await _run_batch(_review_batch, body, request))

    @app.post("/grade", response_model=GradeResponse, tags=["Grading"])
    async def grade(body: GradeRequest, request: Request) -> GradeResponse:
        """Grade a batch of candidate queries, statelessly. One result per item, in order: every item is graded
        (in parallel, each with its own step budget), so nothing comes back to be sent again."""
        return GradeResponse(**await _grade_request(body, request))

    @app.get("/benchmark", tags=["Health"])
    async def benchmark(request: Request, n: int = Query(default=20, ge=5, le=config.benchmark_max_n)) -> dict[str, Any]:
        """Reset, step and grade latency (ms, p50/p99), measured now on this server with up to n of each, for
        at most ``benchmark_budget_s``. Off on a public server unless enabled (``--benchmark on``)."""
        if config.benchmark == "off" or (config.benchmark == "loopback" and not is_loopback(request.scope)):
            raise HttpError(403, "GET /benchmark is off for this client: it spends the server's CPU, so by default only "
                            "clients on a loopback address may run it; the operator enables it for everyone with "
                            "`serve --benchmark on` (DATAOPS_BENCHMARK=on)", code="benchmark_off")
        if benchmark_lock.locked():
            raise QuotaExceeded("a benchmark is running on this server; retry after it", retry_after_s=3,
                                code="benchmark_busy")
        async with benchmark_lock:
            client = client_of(request.scope)
            with grading_quota.hold(client):
                return await scheduler.run(client, live_benchmark, registry, grader, n, config.benchmark_budget_s)

    document_errors(app)

    # -- playground -----------------------------------------------------------------------------

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

        @app.get("/", include_in_schema=False)
        async def playground() -> FileResponse:
            return FileResponse(STATIC_DIR / "index.html")

    return app
