"""The session store: cap, idle TTL, in-flight protection, and clear messages for lost sessions.
Time is injected (a settable clock), so TTL behaviour is exact and the test takes no wall time."""
from __future__ import annotations

import asyncio

import pytest

from env_server.episode.environment import DataOpsEnv
from env_server.server.sessions import CapacityError, SessionStore, UnknownSessionError
from env_server.tasks.registry import TaskRegistry, load_tasks

REGISTRY = TaskRegistry(load_tasks(split="fixed"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(cap: int = 2, ttl: float = 60.0) -> tuple[SessionStore, Clock]:
    clock = Clock()
    return SessionStore(lambda: DataOpsEnv(REGISTRY), cap=cap, ttl_s=ttl, clock=clock), clock


def test_cap_refuses_new_sessions_until_one_closes():
    store, _ = _store(cap=2)
    first = store.create()
    store.create()
    with pytest.raises(CapacityError, match="session cap reached") as refused:
        store.create()
    assert refused.value.status == 503 and refused.value.code == "session_capacity"
    store.close(first.id)
    store.create()
    assert len(store) == 2


def test_idle_sessions_expire_and_say_so():
    store, clock = _store(ttl=60)
    session = store.create()
    clock.now += 61
    assert store.reap() == [session.id]
    with pytest.raises(UnknownSessionError, match="expired after 60 s idle") as lost:
        asyncio.run(_use(store, session.id))
    assert lost.value.code == "session_unknown"
    with pytest.raises(UnknownSessionError, match="unknown session"):
        asyncio.run(_use(store, "never-existed"))


def test_cap_reaps_idle_sessions_before_refusing():
    store, clock = _store(cap=1, ttl=60)
    store.create()
    clock.now += 61
    assert store.create() is not None


def test_a_session_with_a_request_in_flight_is_never_evicted():
    store, clock = _store(ttl=60)
    session = store.create()

    async def long_request() -> list[str]:
        async with store.use(session.id):
            clock.now += 3600  # the request takes an hour
            return store.reap()

    assert asyncio.run(long_request()) == []
    clock.now += 30  # used just now: its idle time restarts when the request ends
    assert store.reap() == []
    assert store.stats()["live"] == 1


async def _use(store: SessionStore, session_id: str) -> None:
    async with store.use(session_id):
        pass
