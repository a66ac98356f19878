"""Clients for the DataOps-Gym env server: HTTP sessions (sync and async), batched grading, WebSocket.

* :class:`AsyncDataOpsClient` drives one HTTP session (``X-Session-Id`` is handled for you): ``reset``,
  ``step``, ``state``, plus the stateless ``tasks``, ``grade``, ``benchmark`` and ``health``.
  :class:`DataOpsClient` is its blocking form: the same code, driven over a blocking connection pool.
* :func:`grade_batch` / :func:`agrade_batch` grade many ``(task_id, sql)`` completions (or answers with
  citations, see :data:`GradeItemLike`) by sending batches concurrently to one or more servers
  (``DATAOPS_ENV_URL`` may list several, comma-separated), which is what a GRPO reward function needs.
* :class:`DataOpsEnvClient` is the OpenEnv ``EnvClient`` for the server's ``/ws`` endpoint, for code
  written against OpenEnv (async by default; ``.sync()`` for a blocking wrapper).

Every HTTP error (4xx or 5xx) raises :class:`DataOpsClientError` carrying the server's ``detail``
message, which says what to fix; network failures (refused connection, timeout) are httpx's own
exceptions (``httpx.HTTPError``). Typical use::

    with DataOpsClient("http://127.0.0.1:8000") as env:
        obs = env.reset(task_id="debug-fixed-syntax_fix")
        obs = env.step({"action_type": "run_query", "sql": "SELECT * FROM users LIMIT 3"})
        obs = env.step(DataOpsAction(action_type="submit_query", sql=fixed_sql))
        print(obs.reward, obs.done, obs.metadata["grade"]["success"])

    rewards = [r["reward"] for r in grade_batch(completions, os.environ["DATAOPS_ENV_URL"])]

A ``503 warming`` (a cold task's database is being built on the server) is waited out, by every client, for up
to ``WARMING_PATIENCE_S``. Size: over 600 lines on purpose: the four clients share one request, retry and error
path, kept in one file.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Tuple, Union

import httpx
from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from env_server.episode.models import DataOpsAction, DataOpsObservation, DataOpsState

__all__ = [
    "SESSION_HEADER",
    "AsyncDataOpsClient",
    "DataOpsClient",
    "DataOpsClientError",
    "DataOpsEnvClient",
    "GradeItemLike",
    "agrade_batch",
    "grade_batch",
    "review_batch",
    "parse_base_urls",
    "pick_replica",
]

SESSION_HEADER = "X-Session-Id"
"""The header that names an HTTP session; the clients send it for you."""
WARMING_PATIENCE_S = 1800.0  # seconds a batch waits in all for a cold task's database to be built on the server

GradeItemLike = Union[Tuple[str, str], Tuple[str, Mapping[str, Any]], Sequence[Any], Mapping[str, Any]]
"""One submission to grade: ``(task_id, sql)``, ``(task_id, {"sql"?, "answer"?, "citations"?})`` or
``{"task_id": ..., "sql"?: ..., "answer"?: ..., "citations"?: [...]}``. ``sql`` is a debug query or a
repair script; ``answer`` (any JSON value) and ``citations`` (doc ids) are for analyst and grounded
tasks. The server answers 422 when the task's family needs a field the item lacks."""

GRADE_ITEM_FIELDS = ("sql", "answer", "citations")

ActionLike = Union[DataOpsAction, Mapping[str, Any]]


class DataOpsClientError(RuntimeError):
    """The server answered with an HTTP error.

    ``status_code`` is the HTTP status and ``detail`` the server's message (what to fix). ``body`` is
    the decoded response body when it was JSON (validation errors carry an ``errors`` list there).
    """

    def __init__(self, status_code: int, detail: str, body: Any = None):
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.body = body


# -- shared request building and response parsing --------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """One HTTP request, described independently of the (sync or async) transport that sends it."""

    method: str
    path: str
    parse: Callable[[Any], Any]
    json: Any = None
    params: dict[str, Any] | None = None
    session: bool = False
    """Send ``X-Session-Id`` (when the client has one)."""
    adopt_session: bool = False
    """Take the ``session_id`` of the response as the client's session."""
    renew_lost_session: bool = False
    """If the session is unknown or expired (404), forget it and retry once without it."""


def _action_dict(action: ActionLike) -> dict[str, Any]:
    """A JSON-ready action; dicts are checked against :class:`DataOpsAction` before sending."""
    if not isinstance(action, DataOpsAction):
        if not isinstance(action, Mapping):
            raise TypeError(f"action must be a DataOpsAction or a dict, not {type(action).__name__}")
        action = DataOpsAction.model_validate(dict(action))
    return action.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def _observation_from_wire(payload: Mapping[str, Any]) -> DataOpsObservation:
    """Rebuild a :class:`DataOpsObservation` from OpenEnv's wire format.

    The wire format (``serialize_observation``) keeps ``reward`` and ``done`` beside the observation
    and ``metadata`` both inside it and beside it; fields this client does not know are ignored, so an
    older client keeps working against a newer server.
    """
    fields = dict(payload.get("observation") or {})
    known = {k: v for k, v in fields.items() if k in DataOpsObservation.model_fields}
    metadata = payload.get("metadata")
    if metadata is None:
        metadata = fields.get("metadata")
    known.update(reward=payload.get("reward"), done=bool(payload.get("done", False)), metadata=dict(metadata or {}))
    return DataOpsObservation.model_validate(known)


def _state_from_wire(payload: Mapping[str, Any]) -> DataOpsState:
    return DataOpsState.model_validate(dict(payload))


def _grade_items(items: Sequence[GradeItemLike]) -> list[dict[str, Any]]:
    """Normalise items (see :data:`GradeItemLike`) to the /grade item format; absent fields are left out."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            if "task_id" not in item:
                raise ValueError(f"items[{i}]: a dict item needs 'task_id'")
            task_id, fields = item["task_id"], {k: v for k, v in item.items() if k != "task_id"}
        elif isinstance(item, (str, bytes)) or len(item) != 2:
            raise ValueError(f"items[{i}]: expected a (task_id, sql) pair, a (task_id, dict) pair or a dict, "
                             f"got {item!r:.80}")
        else:
            task_id, submission = item
            fields = dict(submission) if isinstance(submission, Mapping) else {"sql": submission}
        if not isinstance(task_id, str):
            raise TypeError(f"items[{i}]: task_id must be a string")
        unknown = sorted(set(map(str, fields)) - set(GRADE_ITEM_FIELDS))
        if unknown:
            raise ValueError(f"items[{i}]: unknown field(s) {', '.join(unknown)}; an item may have "
                             f"{', '.join(GRADE_ITEM_FIELDS)}")
        fields = {k: v for k, v in fields.items() if v is not None}
        if not fields:
            raise ValueError(f"items[{i}]: needs 'sql' (debug, repair) or 'answer' (analyst, grounded)")
        if "sql" in fields and not isinstance(fields["sql"], str):
            raise TypeError(f"items[{i}]: sql must be a string")
        if "citations" in fields:
            citations = fields["citations"]
            if isinstance(citations, (str, bytes)) or not isinstance(citations, Sequence) or \
                    not all(isinstance(c, str) for c in citations):
                raise TypeError(f"items[{i}]: citations must be a list of doc id strings")
            fields["citations"] = list(citations)
        out.append({"task_id": task_id, **fields})
    return out


def _grade_results(expected: int) -> Callable[[Any], list[dict[str, Any]]]:
    def parse(body: Any) -> list[dict[str, Any]]:
        results = body["results"]
        if len(results) != expected:  # a server bug or a proxy mangling bodies: never misalign rewards
            raise DataOpsClientError(502, f"server returned {len(results)} results for {expected} items", body)
        return results

    return parse


def _reset_call(kwargs: dict[str, Any]) -> _Call:
    return _Call("POST", "/reset", _observation_from_wire, json={k: v for k, v in kwargs.items() if v is not None},
                 session=True, adopt_session=True, renew_lost_session=True)


def _step_call(action: ActionLike, review: bool, timeout_s: float | None, request_id: str | None) -> _Call:
    body: dict[str, Any] = {"action": _action_dict(action)}
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    if request_id is not None:
        body["request_id"] = request_id
    return _Call("POST", "/step_with_review" if review else "/step", _observation_from_wire, json=body, session=True)


def _state_call() -> _Call:
    return _Call("GET", "/state", _state_from_wire, session=True)


def _tasks_call(family: str | None, split: str | None, difficulty: str | None, offset: int, limit: int) -> _Call:
    params = {"family": family, "split": split, "difficulty": difficulty, "offset": offset, "limit": limit}
    return _Call("GET", "/tasks", dict, params={k: v for k, v in params.items() if v is not None})


def _grade_call(items: Sequence[GradeItemLike], path: str = "/grade") -> _Call:
    normalised = _grade_items(items)
    return _Call("POST", path, _grade_results(len(normalised)), json={"items": normalised})


def _benchmark_call(n: int) -> _Call:
    return _Call("GET", "/benchmark", dict, params={"n": n})


def _health_call() -> _Call:
    return _Call("GET", "/health", dict)


def _close_call() -> _Call:
    return _Call("DELETE", "/session", dict, session=True)


def _decode(response: httpx.Response) -> Any:
    """The JSON body of a successful response; :class:`DataOpsClientError` for a 4xx or 5xx."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, str):
            detail = str(detail) if detail is not None else (response.text.strip() or response.reason_phrase)
        raise DataOpsClientError(response.status_code, detail, body)
    if body is None:
        raise DataOpsClientError(response.status_code, f"expected a JSON body from {response.request.url}")
    return body


def _check_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    return timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)


# -- the HTTP clients: one implementation (async), one thin blocking wrapper -----------------------


class AsyncDataOpsClient:
    """A client for one HTTP session on the env server, for ``asyncio`` code; every method is a coroutine.

    ``base_url`` is the server (``http://host:port``), or several replicas (a list, or one comma-separated
    string): the client then plays on one of them, ``replica`` (an index) or one drawn at random, and keeps its
    session there, since a session lives on the replica that created it. ``timeout`` is in seconds per
    request; ``transport`` is an optional ``httpx.AsyncBaseTransport`` (tests, custom retries, ASGI apps).
    The first :meth:`reset` creates a server session; later calls reuse it (a session the server has
    expired is replaced transparently on the next ``reset``). :meth:`close` ends the session.
    Use ``async with`` or ``await close()``. :class:`DataOpsClient` is the blocking form of the same client.
    """

    def __init__(self, base_url: str | Sequence[str], timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, replica: int | None = None):
        self.base_url = pick_replica(base_url, replica)
        self._session_id: str | None = None
        self._http: httpx.AsyncClient | httpx.Client = self._open(_check_timeout(timeout), transport)

    def _open(self, timeout: httpx.Timeout, transport: Any) -> httpx.AsyncClient | httpx.Client:
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def _request(self, call: _Call, headers: dict[str, str]) -> httpx.Response:
        waited = 0.0
        while True:  # a cold task's database is being built (503 warming): wait Retry-After and ask again
            response = await self._once(call, headers)
            if response.status_code != 503 or b'"warming"' not in response.content or waited > WARMING_PATIENCE_S:
                return response
            pause = float(after) if (after := response.headers.get("retry-after", "")).isdigit() else 5.0
            await self._pause(pause)
            waited += pause

    async def _once(self, call: _Call, headers: dict[str, str]) -> httpx.Response:
        return await self._http.request(call.method, call.path, json=call.json, params=call.params,  # type: ignore[misc]
                                        headers=headers)

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _close_http(self) -> None:
        await self._http.aclose()  # type: ignore[union-attr]

    @property
    def session_id(self) -> str | None:
        """The server session this client plays in; None until the first ``reset``."""
        return self._session_id

    async def _send(self, call: _Call) -> Any:
        for attempt in range(2):
            headers = {SESSION_HEADER: self._session_id} if call.session and self._session_id is not None else {}
            try:
                body = _decode(await self._request(call, headers))
            except DataOpsClientError as exc:
                code = exc.body.get("code") if isinstance(exc.body, dict) else None
                if attempt == 0 and call.renew_lost_session and self._session_id is not None \
                        and code == "session_unknown":  # expired, or the server restarted: start afresh
                    self._session_id = None
                    continue
                raise
            if call.adopt_session and isinstance(body, dict) and body.get("session_id"):
                self._session_id = body["session_id"]
            return call.parse(body)
        raise AssertionError("unreachable")

    async def reset(self, **kwargs: Any) -> DataOpsObservation:
        """Start an episode: ``task_id=...``, or a task drawn with ``seed``/``family``/``split``/``difficulty``."""
        return await self._send(_reset_call(kwargs))

    async def step(self, action: ActionLike, review: bool = False, *, timeout_s: float | None = None,
                   request_id: str | None = None) -> DataOpsObservation:
        """Apply one action (a :class:`DataOpsAction` or a dict); the observation has ``reward``, ``done``
        and ``metadata`` (``reward_components``, ``grade``, ...) filled in. ``review=True`` goes through
        ``/step_with_review``; ``timeout_s`` tightens the query time budget of this step."""
        return await self._send(_step_call(action, review, timeout_s, request_id))

    async def state(self) -> DataOpsState:
        """The session's episode bookkeeping (step count, return, grade, ...)."""
        return await self._send(_state_call())

    async def tasks(self, family: str | None = None, split: str | None = None, difficulty: str | None = None,
                    offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One page of task summaries: ``{"total", "offset", "limit", "items"}`` (no gold answers)."""
        return await self._send(_tasks_call(family, split, difficulty, offset, limit))

    async def grade(self, items: Sequence[GradeItemLike]) -> list[dict[str, Any]]:
        """Grade ``(task_id, sql)`` pairs (or dicts) in one request; one result per item, in order.

        Each result has ``task_id``, ``reward``, ``reward_components`` and ``grade``. For more items
        than one request allows, use :func:`grade_batch`.
        """
        return await self._send(_grade_call(items))

    async def benchmark(self, n: int = 50) -> dict[str, Any]:
        """Reset, step and grade latency measured now on the server with ``n`` of each."""
        return await self._send(_benchmark_call(n))

    async def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer."""
        return await self._send(_health_call())

    async def close(self) -> None:
        """End the session (``DELETE /session``, best effort) and close the connection pool."""
        try:
            if self._session_id is not None and not self._http.is_closed:
                try:
                    await self._send(_close_call())
                except (DataOpsClientError, httpx.HTTPError):
                    pass  # already expired, or the server is gone: nothing left to free
        finally:
            self._session_id = None
            await self._close_http()

    async def __aenter__(self) -> "AsyncDataOpsClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, session_id={self._session_id!r})"


class _BlockingCore(AsyncDataOpsClient):
    """:class:`AsyncDataOpsClient` over a blocking ``httpx.Client``: its coroutines never suspend, so
    :func:`_drive` runs each to completion without an event loop (and so also inside a running one)."""

    def _open(self, timeout: httpx.Timeout, transport: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    async def _once(self, call: _Call, headers: dict[str, str]) -> httpx.Response:
        return self._http.request(call.method, call.path, json=call.json, params=call.params,  # type: ignore[return-value]
                                  headers=headers)

    async def _pause(self, seconds: float) -> None:
        time.sleep(seconds)  # blocking: this client's coroutines never suspend

    async def _close_http(self) -> None:
        self._http.close()  # type: ignore[union-attr]


def _drive(coroutine: Any) -> Any:
    """The value of a coroutine that never suspends (one of :class:`_BlockingCore`'s)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a blocking client call tried to wait on an event loop")


class DataOpsClient:
    """The blocking form of :class:`AsyncDataOpsClient`: the same arguments and methods, which return
    their results instead of coroutines (``transport`` is then an ``httpx.BaseTransport``). It runs the
    async client's code over a blocking connection pool, with no event loop or thread of its own, so it
    works in plain scripts and inside notebooks alike. Not thread-safe: use one client per thread (or per
    concurrent episode).
    """

    def __init__(self, base_url: str | Sequence[str], timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, replica: int | None = None):
        self._core = _BlockingCore(base_url, timeout, transport, replica)  # type: ignore[arg-type]
        self.base_url = self._core.base_url

    @property
    def session_id(self) -> str | None:
        """The server session this client plays in; None until the first ``reset``."""
        return self._core.session_id

    def reset(self, **kwargs: Any) -> DataOpsObservation:
        """See :meth:`AsyncDataOpsClient.reset`."""
        return _drive(self._core.reset(**kwargs))

    def step(self, action: ActionLike, review: bool = False, *, timeout_s: float | None = None,
             request_id: str | None = None) -> DataOpsObservation:
        """See :meth:`AsyncDataOpsClient.step`."""
        return _drive(self._core.step(action, review, timeout_s=timeout_s, request_id=request_id))

    def state(self) -> DataOpsState:
        """See :meth:`AsyncDataOpsClient.state`."""
        return _drive(self._core.state())

    def tasks(self, family: str | None = None, split: str | None = None, difficulty: str | None = None,
              offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """See :meth:`AsyncDataOpsClient.tasks`."""
        return _drive(self._core.tasks(family, split, difficulty, offset, limit))

    def grade(self, items: Sequence[GradeItemLike]) -> list[dict[str, Any]]:
        """See :meth:`AsyncDataOpsClient.grade`."""
        return _drive(self._core.grade(items))

    def benchmark(self, n: int = 50) -> dict[str, Any]:
        """See :meth:`AsyncDataOpsClient.benchmark`."""
        return _drive(self._core.benchmark(n))

    def health(self) -> dict[str, Any]:
        """See :meth:`AsyncDataOpsClient.health`."""
        return _drive(self._core.health())

    def close(self) -> None:
        """See :meth:`AsyncDataOpsClient.close`."""
        _drive(self._core.close())

    def __enter__(self) -> "DataOpsClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DataOpsClient({self.base_url!r}, session_id={self.session_id!r})"


# -- batched grading over several servers ----------------------------------------------------------


def parse_base_urls(base_urls: str | Sequence[str]) -> list[str]:
    """``"http://a:8000, http://b:8000"`` (as in ``DATAOPS_ENV_URL``) or a list, as a clean list of URLs."""
    if isinstance(base_urls, str):
        base_urls = base_urls.split(",")
    urls = [u.strip().rstrip("/") for u in base_urls if u and u.strip()]
    if not urls:
        raise ValueError("no server URL given (expected 'http://host:port[,http://host2:port...]')")
    return urls


def pick_replica(base_urls: str | Sequence[str], replica: int | None = None) -> str:
    """One URL of ``base_urls`` (a list or a comma-separated string): index ``replica`` (modulo their number),
    or one drawn at random, so that many clients spread their sessions over the replicas."""
    urls = parse_base_urls(base_urls)
    if replica is None:
        return urls[random.SystemRandom().randrange(len(urls))] if len(urls) > 1 else urls[0]
    return urls[replica % len(urls)]


async def agrade_batch(
    items: Sequence[GradeItemLike],
    base_urls: str | Sequence[str],
    batch_size: int = 64,
    timeout: float = 60.0,
    *,
    max_in_flight: int = 2,
    path: str = "/grade",
) -> list[dict[str, Any]]:
    """Grade many completions concurrently; one result per item, in the order of ``items``.

    ``items`` are split into batches of ``batch_size``; batch ``i`` goes to ``base_urls[i % n]``
    (round-robin) and at most ``max_in_flight`` batches are in flight per server (a 429 is retried after its
    Retry-After). The first failing batch raises :class:`DataOpsClientError` (the others are cancelled). ``path="/review"`` asks for
    the reviewer's verdicts instead of grades (same batching).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be >= 1")
    urls = parse_base_urls(base_urls)
    normalised = _grade_items(items)
    if not normalised:
        return []
    batches = [normalised[i: i + batch_size] for i in range(0, len(normalised), batch_size)]
    gates = {url: asyncio.Semaphore(max_in_flight) for url in urls}
    connections = len(urls) * max_in_flight
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async with httpx.AsyncClient(timeout=_check_timeout(timeout), limits=limits) as http:

        async def send(index: int, batch: list[dict[str, str]]) -> list[dict[str, Any]]:
            url = urls[index % len(urls)]
            results: list[dict[str, Any] | None] = [None] * len(batch)
            pending = list(range(len(batch)))
            while pending:  # items the server's batch budget left ungraded are sent again
                call = _grade_call([batch[i] for i in pending], path)
                async with gates[url]:
                    response = await _request_within_quota(http, call.method, url + call.path, call.json, timeout)
                answered = call.parse(_decode(response))
                again, progressed = [], False
                for i, result in zip(pending, answered):
                    status = result.get("status", "graded")
                    if status == "not_graded" and result.get("cause") == "safety_net":
                        results[i], progressed = result, True  # no grade, no reward; sent again it would stop again
                    elif status in ("not_graded", "not_reviewed"):
                        again.append(i)
                    elif status == "task_error":
                        raise DataOpsClientError(503, f"task {result.get('task_id')}: {result.get('error')}", result)
                    else:
                        results[i], progressed = result, True
                if not progressed:
                    raise DataOpsClientError(503, f"the server graded none of {len(again)} item(s): "
                                             f"{answered[0].get('error')}", answered[0])
                pending = again
            return results  # type: ignore[return-value]

        tasks = [asyncio.ensure_future(send(i, batch)) for i, batch in enumerate(batches)]
        try:
            graded = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return [result for batch in graded for result in batch]


async def _request_within_quota(http: httpx.AsyncClient, method: str, url: str, payload: Any, patience_s: float):
    """One request; a 429 (over a per-client quota, e.g. requests in flight) is retried after its ``Retry-After``
    (at most 5 s at a time) for up to ``patience_s`` seconds in all; a ``503 warming`` (the task's database is
    being built) for up to ``WARMING_PATIENCE_S``: a cold task never times out the client."""
    loop = asyncio.get_running_loop()
    deadline, warm_deadline = loop.time() + patience_s, loop.time() + WARMING_PATIENCE_S
    while True:
        response = await http.request(method, url, json=payload)
        wait = min(int(after), 5) if (after := response.headers.get("retry-after", "")).isdigit() else 1
        warming = response.status_code == 503 and b'"warming"' in response.content
        if not (response.status_code == 429 or warming) or loop.time() + wait > (warm_deadline if warming else deadline):
            return response
        await asyncio.sleep(wait)


def grade_batch(items: Sequence[GradeItemLike], base_urls: str | Sequence[str], **options: Any) -> list[dict[str, Any]]:
    """Blocking :func:`agrade_batch` (same keyword ``options``: ``batch_size``, ``timeout``,
    ``max_in_flight``, ``path``), callable from any sync code.

    Runs its own event loop; if this thread already runs one (a notebook, an async framework calling
    a sync reward function), the work runs on a short-lived worker thread instead.
    """
    def run() -> list[dict[str, Any]]:
        return asyncio.run(agrade_batch(items, base_urls, **options))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataops-grade") as pool:
        return pool.submit(run).result()


def review_batch(items: Sequence[GradeItemLike], base_urls: str | Sequence[str], **options: Any) -> list[dict[str, Any]]:
    """The reviewer's verdict and reward penalty for many ``(task_id, sql)`` items (``POST /review``),
    batched like :func:`grade_batch` (same keyword ``options`` but ``path``)."""
    return grade_batch(items, base_urls, path="/review", **options)


# -- the OpenEnv WebSocket client -----------------------------------------------------------------


class DataOpsEnvClient(EnvClient[DataOpsAction, DataOpsObservation, DataOpsState]):
    """OpenEnv's WebSocket client for the env server (``/ws``); one connection is one episode session.

    Async by default, blocking through ``.sync()``::

        async with DataOpsEnvClient(base_url="http://127.0.0.1:8000") as env:
            result = await env.reset(task_id="debug-fixed-syntax_fix")
            result = await env.step(DataOpsAction(action_type="submit_query", sql=sql))
            result.reward, result.done, result.observation.metadata["grade"]

        with DataOpsEnvClient(base_url="http://127.0.0.1:8000").sync() as env:
            result = env.reset(task_id="debug-fixed-syntax_fix")

    ``reset``/``step`` return ``StepResult[DataOpsObservation]`` and ``state`` a :class:`DataOpsState`.
    ``step`` also accepts a plain dict action. Server-side errors (unknown task, step after the end)
    surface as OpenEnv's ``RuntimeError("Server error: ...")``.
    """

    def _step_payload(self, action: ActionLike) -> dict[str, Any]:
        """The action as the JSON the server's ``step`` message expects."""
        return _action_dict(action)

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[DataOpsObservation]:
        """A ``StepResult`` whose observation carries ``reward``, ``done`` and ``metadata`` too."""
        observation = _observation_from_wire(payload)
        return StepResult(
            observation=observation,
            reward=observation.reward,
            done=observation.done,
            metadata=observation.metadata,
        )

    def _parse_state(self, payload: dict[str, Any]) -> DataOpsState:
        """The ``state`` message's data as a :class:`DataOpsState`."""
        return _state_from_wire(payload)
