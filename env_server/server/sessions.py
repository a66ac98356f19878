"""HTTP sessions: one ``DataOpsEnv`` per ``X-Session-Id``, with a cap, a per-client quota and an idle TTL.

* ``create(owner)`` refuses a new session with :class:`CapacityError` (503) when ``cap`` sessions are
  live, and with :class:`QuotaError` (429) when ``owner`` (the client, see ``fairness.client_key``)
  already holds ``per_client`` of them, after first evicting sessions idle for longer than ``ttl_s``.
  Both carry ``retry_after_s``: the seconds until the first idle session that would free a slot expires.
* ``use(session_id)`` serialises requests on one session and marks it in flight; a session with a
  request in flight is never evicted, however long the request takes.
* An evicted session is remembered (bounded), so its next request gets a 404 that says it
  expired rather than a bare "unknown session".
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

from env_server.episode.environment import DataOpsEnv

_REMEMBERED_EVICTIONS = 10_000


class SessionError(Exception):
    """A session problem the client can fix; ``status`` is the HTTP status, ``code`` a stable name."""

    status = 400
    code = "session_error"


class CapacityError(SessionError):
    status = 503
    code = "session_capacity"

    def __init__(self, message: str, retry_after_s: int = 1):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaError(CapacityError):
    """One client holds its quota of live sessions; other clients still get sessions."""

    status = 429
    code = "session_quota"


class UnknownSessionError(SessionError):
    """The session does not exist (any more): an old id, an expired one, or a restarted server."""

    status = 404
    code = "session_unknown"


@dataclass
class Session:
    id: str
    env: DataOpsEnv
    created_at: float
    last_used: float
    in_flight: int = 0
    owner: str = ""
    """The client that created it (``fairness.client_key``); its sessions count against its quota."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionStore:
    """Live sessions of one server process. Thread-safe and asyncio-safe."""

    def __init__(
        self,
        factory: Callable[[], DataOpsEnv],
        cap: int = 512,
        ttl_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        per_client: int | None = None,
    ):
        if cap < 1 or ttl_s <= 0 or (per_client is not None and per_client < 1):
            raise ValueError("session cap and per_client must be >= 1 and ttl_s > 0")
        self.factory, self.cap, self.ttl_s, self.clock = factory, cap, ttl_s, clock
        self.per_client = min(per_client or cap, cap)
        """Live sessions one client (owner) may hold; the cap when not given."""
        self._sessions: dict[str, Session] = {}
        self._evicted: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, owner: str = "") -> Session:
        """A new session of ``owner`` with a fresh environment, or :class:`QuotaError` / :class:`CapacityError`."""
        self.reap()
        with self._lock:
            now = self.clock()
            if len(self._sessions) >= self.cap:
                wait = self._retry_after(self._sessions.values(), now)
                raise CapacityError(
                    f"session cap reached ({self.cap} live sessions); close one with DELETE /session, wait for "
                    f"idle sessions to expire (retry after {wait} s), or raise the cap (--session-cap)",
                    retry_after_s=wait,
                )
            mine = [s for s in self._sessions.values() if s.owner == owner]
            if len(mine) >= self.per_client:
                wait = self._retry_after(mine, now)
                raise QuotaError(
                    f"this client holds {len(mine)} live sessions, its quota (at most {self.per_client} per client, of "
                    f"{self.cap} on this server); close one with DELETE /session, reuse one (POST /reset with its "
                    f"X-Session-Id), or retry after {wait} s, when its first idle session expires "
                    "(--sessions-per-client raises the quota)", retry_after_s=wait,
                )
            session = Session(id=uuid.uuid4().hex, env=self.factory(), created_at=now, last_used=now, owner=owner)
            if hasattr(session.env, "owner"):
                session.env.owner = owner  # its repair clone is charged to the same client
            self._sessions[session.id] = session
        return session

    def _retry_after(self, sessions, now: float) -> int:
        """Whole seconds until the first of ``sessions`` with no request in flight can be evicted (the TTL
        when all are busy), at least 1."""
        idle = [s.last_used + self.ttl_s - now for s in sessions if s.in_flight == 0]
        return max(1, math.ceil(min(idle) if idle else self.ttl_s))

    def retry_after_s(self) -> int:
        """Seconds until the first idle session of this server expires: a hint for clients refused for lack
        of a resource that closing sessions frees."""
        with self._lock:
            return self._retry_after(list(self._sessions.values()), self.clock())

    def _get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                return session
            if session_id in self._evicted:
                raise UnknownSessionError(
                    f"session {session_id} expired after {self.ttl_s:g} s idle; POST /reset without X-Session-Id "
                    "to start a new one"
                )
        raise UnknownSessionError(
            f"unknown session {session_id!r}; POST /reset without X-Session-Id to create one"
        )

    @asynccontextmanager
    async def use(self, session_id: str) -> AsyncIterator[Session]:
        """Hold ``session_id`` for one request: serialised, marked in flight, never evicted meanwhile."""
        session = self._get(session_id)
        with self._lock:
            session.in_flight += 1
            session.last_used = self.clock()
        try:
            async with session.lock:
                yield session
        finally:
            with self._lock:
                session.in_flight -= 1
                session.last_used = self.clock()

    def close(self, session_id: str) -> Session:
        """End a session and free its slot: its running statement, if any, is interrupted. Returns it; the
        caller closes ``session.env`` once no request holds it (closing a connection that another thread
        is using would wait for that thread)."""
        session = self._get(session_id)
        with self._lock:
            self._sessions.pop(session.id, None)
        session.env.interrupt()
        return session

    def interrupt_all(self) -> None:
        """Interrupt the running statement of every live session (server shutdown)."""
        with self._lock:
            live = list(self._sessions.values())
        for session in live:
            session.env.interrupt()

    def reap(self) -> list[str]:
        """Evict sessions idle for longer than the TTL that have no request in flight."""
        now = self.clock()
        with self._lock:
            stale = [
                s for s in self._sessions.values() if s.in_flight == 0 and now - s.last_used > self.ttl_s
            ]
            for session in stale:
                del self._sessions[session.id]
                self._evicted[session.id] = now
            while len(self._evicted) > _REMEMBERED_EVICTIONS:
                self._evicted.popitem(last=False)
        for session in stale:
            session.env.close()
        return [s.id for s in stale]

    def stats(self) -> dict[str, float | int]:
        with self._lock:
            return {
                "live": len(self._sessions),
                "cap": self.cap,
                "per_client": self.per_client,
                "clients": len({s.owner for s in self._sessions.values()}),
                "ttl_s": self.ttl_s,
                "in_flight": sum(s.in_flight for s in self._sessions.values()),
            }
