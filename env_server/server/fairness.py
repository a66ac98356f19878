"""Fair sharing of one env server between clients: who a request comes from, and per-client quotas.

A *client* is its network address (``scope["client"]``: the TCP peer, or the address uvicorn's proxy
headers name when the peer is a trusted proxy, ``--forwarded-allow-ips``), or, where the server is
configured with client tokens (``ServerConfig.client_tokens``, ``DATAOPS_CLIENT_TOKENS``), the token a
request presents in ``Authorization: Bearer <token>`` or ``X-Client-Token: <token>``. A token the server
does not know is ignored (the address counts), so made-up tokens cannot multiply one client's quota.

Quotas keyed by client (:class:`InFlightQuota` here; live sessions in ``sessions.py``; repair clones in
``DataOpsEnv``) keep one client from locking the others out: a client over its quota gets 429 with
``Retry-After`` and a message, while other clients are served. :class:`FairScheduler` shares the worker
threads: when they are all busy, the next free one goes to the waiting client with the fewest running,
not to whoever queued first, so a client with a hundred queued steps delays another by one job, not a
hundred.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

CLIENT_TOKEN_HEADER = "X-Client-Token"


def token_key(token: str) -> str:
    """The key of a configured token: a short digest, so that quota messages and stats never show it."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def client_key(scope: Mapping[str, Any], tokens: Iterable[str] = ()) -> str:
    """Who an ASGI request (HTTP or WebSocket) comes from: ``token:<digest>`` for a configured token it
    presents, else ``addr:<host>`` (``addr:unknown`` without a peer address)."""
    known = frozenset(tokens)
    if known:
        for name, value in scope.get("headers") or ():
            name = name.lower()
            if name == b"x-client-token":
                presented = value.decode("latin-1").strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].decode("latin-1").strip()
            else:
                continue
            if presented in known:
                return token_key(presented)
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


def is_loopback(scope: Mapping[str, Any]) -> bool:
    """Whether the request's client address is a loopback address (127.0.0.0/8, ::1)."""
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class QuotaExceeded(Exception):
    """A client is over one of its quotas: HTTP ``status`` (429 or 503), ``Retry-After`` seconds, a code."""

    def __init__(self, message: str, *, status: int = 429, retry_after_s: int = 1, code: str = "client_quota"):
        super().__init__(message)
        self.status, self.retry_after_s, self.code = status, max(1, int(retry_after_s)), code


class InFlightQuota:
    """At most ``per_client`` requests of one kind in flight per client (thread- and asyncio-safe)."""

    def __init__(self, per_client: int, what: str, retry_after_s: int = 1):
        if per_client < 1:
            raise ValueError("per_client must be >= 1")
        self.per_client, self.what, self.retry_after_s = per_client, what, retry_after_s
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """One request of ``client`` in flight, or :class:`QuotaExceeded` (429) when it has ``per_client``."""
        with self._lock:
            held = self._counts.get(client, 0)
            if held >= self.per_client:
                raise QuotaExceeded(
                    f"this client already has {held} {self.what} request(s) in flight (at most {self.per_client} per "
                    f"client, so that one client cannot hold the workers); wait for an answer before sending more, "
                    f"or retry after {self.retry_after_s} s",
                    retry_after_s=self.retry_after_s, code="inflight_quota",
                )
            self._counts[client] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._counts[client] - 1
                if left:
                    self._counts[client] = left
                else:
                    del self._counts[client]

    def in_flight(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class FairScheduler:
    """Runs blocking work on ``executor`` with at most ``slots`` jobs at once; a free slot goes to the waiting
    client with the fewest jobs running (ties: the one that has waited longest). Used from one event loop."""

    def __init__(self, executor: Executor, slots: int):
        self.executor, self.slots = executor, slots
        self.per_client = max(1, slots - 1)
        """Jobs one client may run at once: all slots but one, so a client whose requests fan out into many jobs (a
        large /grade runs its items in parallel) always leaves a worker for the next client to arrive."""
        self.running: dict[str, int] = {}
        self.waiting: dict[str, deque[asyncio.Future]] = {}
        """Per client, its waiting requests in order; dict order is the order clients began waiting."""

    async def run(self, client: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        await self._acquire(client)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
        finally:
            self._release(client)

    def busy(self) -> int:
        return sum(self.running.values())

    async def _acquire(self, client: str) -> None:
        if self.busy() < self.slots and not self.waiting and self.running.get(client, 0) < self.per_client:
            self.running[client] = self.running.get(client, 0) + 1
            return
        turn = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(client, deque()).append(turn)
        self._grant()  # a free slot that only capped clients were waiting for goes to this one now
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted just as the request went away
                self._release(client)
            raise

    def _release(self, client: str) -> None:
        left = self.running[client] - 1
        if left:
            self.running[client] = left
        else:
            del self.running[client]
        self._grant()

    def _grant(self) -> None:
        while self.busy() < self.slots and self.waiting:
            eligible = [c for c in self.waiting if self.running.get(c, 0) < self.per_client]
            if not eligible:
                return
            client = min(eligible, key=lambda c: self.running.get(c, 0))  # min keeps the first of equals
            queue = self.waiting[client]
            turn = queue.popleft()
            if not queue:
                del self.waiting[client]
            else:  # to the back of the clients with as many running
                self.waiting[client] = self.waiting.pop(client)
            if turn.cancelled():
                continue
            self.running[client] = self.running.get(client, 0) + 1
            turn.set_result(None)
