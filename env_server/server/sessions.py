"""HTTP sessions: one ``DataOpsEnv`` per ``X-Session-Id``, with a cap and an idle TTL.

* ``create()`` refuses a new session with :class:`CapacityError` when ``cap`` sessions are live,
  after first evicting sessions idle for longer than ``ttl_s``.
* ``use(session_id)`` serialises requests on one session and marks it in flight; a session with a
  request in flight is never evicted, however long the request takes.
* An evicted session is remembered (bounded), so its next request gets a 404 that says it
  expired rather than a bare "unknown session".
"""
from __future__ import annotations

import asyncio
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
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionStore:
    """Live sessions of one server process. Thread-safe and asyncio-safe."""

    def __init__(
        self,
        factory: Callable[[], DataOpsEnv],
        cap: int = 512,
        ttl_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if cap < 1 or ttl_s <= 0:
            raise ValueError("session cap must be >= 1 and ttl_s > 0")
        self.factory, self.cap, self.ttl_s, self.clock = factory, cap, ttl_s, clock
        self._sessions: dict[str, Session] = {}
        self._evicted: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self) -> Session:
        """A new session with a fresh environment, or :class:`CapacityError`."""
        self.reap()
        with self._lock:
            if len(self._sessions) >= self.cap:
                raise CapacityError(
                    f"session cap reached ({self.cap} live sessions); close one with DELETE /session, wait for "
                    f"idle sessions to expire ({self.ttl_s:g} s), or raise the cap (--session-cap)"
                )
            now = self.clock()
            session = Session(id=uuid.uuid4().hex, env=self.factory(), created_at=now, last_used=now)
            self._sessions[session.id] = session
        return session

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
                "ttl_s": self.ttl_s,
                "in_flight": sum(s.in_flight for s in self._sessions.values()),
            }
