"""env_server.server.client against a real server: HTTP sessions (sync and async), batched grading over two
servers, and OpenEnv's WebSocket client, one episode and 32 concurrent ones."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from openenv.core.client_types import StepResult

from env_server.episode.models import DataOpsAction, DataOpsObservation, DataOpsState
from env_server.server.app import ServerConfig, create_app
from env_server.server.client import (
    SESSION_HEADER,
    AsyncDataOpsClient,
    DataOpsClient,
    DataOpsClientError,
    DataOpsEnvClient,
    agrade_batch,
    grade_batch,
    parse_base_urls,
)
from env_server.server.serving import serve_in_thread
from env_server.tasks.registry import load_tasks

TASK = "debug-fixed-syntax_fix"
GOLD = ("SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
        "ORDER BY signup_date, id")
PROBE = "SELECT plan, COUNT(*) FROM users GROUP BY plan"


@pytest.fixture(scope="module")
def debug_tasks():
    """Playable debug tasks with their gold SQL, spread over the whole task list."""
    tasks = load_tasks(family="debug")
    return tasks[:: max(1, len(tasks) // 64)]


@pytest.fixture(scope="module")
def second_server():
    """Another real server, counting the /grade requests it receives: (base_url, counter)."""
    app = create_app(ServerConfig(session_cap=50, session_ttl_s=600))
    counter = {"grade": 0}

    @app.middleware("http")
    async def _count(request, call_next):
        if request.url.path == "/grade":
            counter["grade"] += 1
        return await call_next(request)

    url, stop = serve_in_thread(app)
    yield url, counter
    stop()


def _assert_solved(obs: DataOpsObservation) -> None:
    assert obs.done
    assert obs.reward is not None and obs.reward >= 0.9
    assert obs.metadata["grade"]["success"]
    assert obs.metadata["terminated"] and not obs.metadata["truncated"]


# -- the sync HTTP client -------------------------------------------------------------------------


def test_sync_client_plays_an_episode(live_server):
    with DataOpsClient(live_server) as env:
        assert env.session_id is None
        obs = env.reset(task_id=TASK)
        assert isinstance(obs, DataOpsObservation)
        assert env.session_id and obs.task_id == TASK and not obs.done and obs.reward is None
        assert "WHER " in obs.broken_sql and "submit_query" in obs.allowed_actions

        obs = env.step({"action_type": "run_query", "sql": PROBE})
        assert not obs.done and obs.reward == 0.0 and obs.last_result.error is None
        assert obs.last_result.columns == ["plan", "COUNT(*)"] and obs.last_result.row_count >= 2
        assert "reward_components" in obs.metadata

        obs = env.step(DataOpsAction(action_type="submit_query", sql=GOLD))
        _assert_solved(obs)

        state = env.state()
        assert isinstance(state, DataOpsState)
        assert state.task_id == TASK and state.step_count == 2
        assert state.done and state.terminated and not state.truncated
        assert state.episode_return == pytest.approx(obs.metadata["episode_return"]) and state.episode_return >= 0.9
        assert state.grade is not None and state.grade.success

        # A new episode reuses the session.
        session = env.session_id
        obs = env.reset(task_id="debug-fixed-logic_fix")
        assert env.session_id == session and obs.task_id == "debug-fixed-logic_fix" and not obs.done
        assert env.state().step_count == 0


def test_sync_client_works_where_an_event_loop_already_runs(live_server):
    """A notebook cell, or an async framework calling a sync reward function: the blocking client runs the async
    client's code without an event loop of its own, so a running loop in this thread does not stop it."""
    async def inside_a_loop():
        asyncio.get_running_loop()
        with DataOpsClient(live_server) as env:
            env.reset(task_id=TASK)
            return env.step({"action_type": "submit_query", "sql": GOLD})

    _assert_solved(asyncio.run(inside_a_loop()))


def test_step_with_review_reports_the_review(live_server):
    with DataOpsClient(live_server) as env:
        env.reset(task_id=TASK)
        obs = env.step({"action_type": "submit_query", "sql": GOLD}, review=True)
        _assert_solved(obs)
        assert obs.metadata["review"]["verdict"] == "allow"


def test_server_errors_raise_with_the_servers_message(live_server):
    with DataOpsClient(live_server) as env:
        with pytest.raises(DataOpsClientError) as info:
            env.step({"action_type": "run_query", "sql": "SELECT 1"})
        assert info.value.status_code == 400 and SESSION_HEADER in info.value.detail

        with pytest.raises(DataOpsClientError) as info:
            env.reset(task_id="no-such-task")
        assert info.value.status_code == 404 and "no-such-task" in info.value.detail
        assert isinstance(info.value, RuntimeError) and info.value.detail in str(info.value)

        env.reset(task_id=TASK)
        env.step({"action_type": "submit_query", "sql": GOLD})
        with pytest.raises(DataOpsClientError) as info:
            env.step({"action_type": "run_query", "sql": "SELECT 1"})
        assert info.value.status_code == 409 and "episode is over" in info.value.detail

        with pytest.raises(DataOpsClientError) as info:
            env.reset(task_id=TASK, colour="blue")
        assert info.value.status_code == 422 and "colour" in info.value.detail

        with pytest.raises(DataOpsClientError) as info:
            env.tasks(limit=100_000)
        assert info.value.status_code == 422 and "limit" in info.value.detail

        with pytest.raises(DataOpsClientError) as info:
            env.grade([(TASK, GOLD), ("no-such-task", "SELECT 1")])
        assert info.value.status_code == 404 and "items[1]" in info.value.detail


def test_bad_actions_are_refused_before_sending(live_server):
    with DataOpsClient(live_server) as env:
        env.reset(task_id=TASK)
        with pytest.raises(ValueError):  # pydantic's ValidationError
            env.step({"action_type": "drop_everything"})
        with pytest.raises(TypeError):
            env.step("SELECT 1")  # type: ignore[arg-type]
        assert env.state().step_count == 0


def test_two_clients_have_independent_sessions(live_server):
    with DataOpsClient(live_server) as a, DataOpsClient(live_server) as b:
        a.reset(task_id=TASK)
        b.reset(task_id="debug-fixed-logic_fix")
        assert a.session_id and b.session_id and a.session_id != b.session_id

        a.step({"action_type": "run_query", "sql": PROBE})
        _assert_solved(a.step({"action_type": "submit_query", "sql": GOLD}))

        sa, sb = a.state(), b.state()
        assert (sa.task_id, sa.step_count, sa.done) == (TASK, 2, True)
        assert (sb.task_id, sb.step_count, sb.done) == ("debug-fixed-logic_fix", 0, False)
        assert sa.episode_id != sb.episode_id
        b.step({"action_type": "inspect_schema"})  # b's episode still runs
        assert b.state().step_count == 1


def test_close_ends_the_session_and_a_lost_session_is_replaced(live_server):
    env = DataOpsClient(live_server)
    env.reset(task_id=TASK)
    session = env.session_id
    env.close()
    assert env.session_id is None
    state = httpx.get(f"{live_server}/state", headers={SESSION_HEADER: session})
    assert state.status_code == 404

    with DataOpsClient(live_server) as env:
        env.reset(task_id=TASK)
        lost = env.session_id
        httpx.delete(f"{live_server}/session", headers={SESSION_HEADER: lost}).raise_for_status()
        with pytest.raises(DataOpsClientError) as info:
            env.state()
        assert info.value.status_code == 404 and lost in info.value.detail
        obs = env.reset(task_id=TASK)  # reset starts a fresh session instead of failing
        assert env.session_id not in (None, lost) and obs.task_id == TASK


def test_tasks_benchmark_and_health(live_server):
    with DataOpsClient(live_server) as env:
        assert env.health()["status"] == "healthy"
        page = env.tasks(family="debug", split="fixed")
        assert page["total"] == 4 and {t["task_id"] for t in page["items"]} >= {TASK}
        assert all("gold_sql" not in t for t in page["items"])
        second = env.tasks(family="debug", offset=1, limit=2)
        assert second["offset"] == 1 and len(second["items"]) == 2
        assert second["items"][0]["task_id"] == env.tasks(family="debug", limit=2)["items"][1]["task_id"]
        bench = env.benchmark(n=5)
        assert 1 <= bench["n"] <= 5 and bench["grade_ms"]["p50"] >= 0  # as many as fit its 2 s budget
        assert env.session_id is None  # none of these opens a session


# -- the async HTTP client ------------------------------------------------------------------------


def test_async_client_plays_an_episode(live_server):
    async def play():
        async with AsyncDataOpsClient(live_server) as env:
            obs = await env.reset(task_id=TASK)
            assert env.session_id and obs.task_id == TASK and not obs.done
            obs = await env.step({"action_type": "run_query", "sql": PROBE})
            assert obs.last_result.row_count >= 2 and not obs.done
            obs = await env.step(DataOpsAction(action_type="submit_query", sql=GOLD))
            _assert_solved(obs)
            state = await env.state()
            assert state.done and state.step_count == 2 and state.grade.success
            with pytest.raises(DataOpsClientError) as info:
                await env.step({"action_type": "run_query", "sql": "SELECT 1"})
            assert info.value.status_code == 409
            assert (await env.health())["status"] == "healthy"
            assert (await env.tasks(split="fixed", family="debug"))["total"] == 4
            [graded] = await env.grade([{"task_id": TASK, "sql": GOLD}])
            assert graded["grade"]["success"]
            return env.session_id

    session = asyncio.run(play())
    assert httpx.get(f"{live_server}/state", headers={SESSION_HEADER: session}).status_code == 404


def test_async_clients_run_concurrently(live_server, debug_tasks):
    async def play(task):
        async with AsyncDataOpsClient(live_server) as env:
            await env.reset(task_id=task.task_id)
            await env.step({"action_type": "run_query", "sql": task.broken_sql})
            return await env.step({"action_type": "submit_query", "sql": task.gold_sql})

    async def main():
        return await asyncio.gather(*(play(t) for t in debug_tasks[:16]))

    for obs, task in zip(asyncio.run(main()), debug_tasks[:16]):
        assert obs.task_id == task.task_id
        _assert_solved(obs)


# -- batched grading ------------------------------------------------------------------------------


def _grade_items(debug_tasks):
    items = []
    for i, task in enumerate(debug_tasks[:30]):
        items.append((task.task_id, task.gold_sql if i % 3 else task.broken_sql))
    items.append({"task_id": TASK, "sql": GOLD})
    items.append((TASK, "SELECT name FROM users"))
    items.append((TASK, "SELEC nonsense"))
    return items


def test_grade_batch_over_two_servers_matches_one_by_one(live_server, second_server, debug_tasks):
    url2, counter = second_server
    items = _grade_items(debug_tasks)
    with DataOpsClient(live_server) as env:
        expected = [env.grade([item])[0] for item in items]

    before = counter["grade"]
    results = grade_batch(items, [live_server, url2], batch_size=5)
    batches = -(-len(items) // 5)
    # odd batches went to the second server (a cold server may also get resends of items its batch budget
    # left ungraded: those go back to the server that left them)
    assert counter["grade"] - before >= batches // 2
    assert results == expected
    assert [r["task_id"] for r in results] == [i[0] if isinstance(i, tuple) else i["task_id"] for i in items]
    assert any(r["grade"]["success"] for r in results) and not all(r["grade"]["success"] for r in results)

    # The comma-separated form of DATAOPS_ENV_URL, and one big batch, give the same.
    assert grade_batch(items, f"{live_server}, {url2}/", batch_size=4, timeout=30) == expected
    assert grade_batch(items, live_server, batch_size=1000) == expected


def test_grade_batch_from_inside_an_event_loop(live_server, second_server, debug_tasks):
    items = _grade_items(debug_tasks)
    expected = grade_batch(items, live_server)

    async def main():
        from_sync = grade_batch(items, [live_server, second_server[0]], batch_size=3)  # loop already running
        from_async = await agrade_batch(items, [second_server[0], live_server], batch_size=7, max_in_flight=2)
        return from_sync, from_async

    from_sync, from_async = asyncio.run(main())
    assert from_sync == expected and from_async == expected


def test_grade_batch_edge_cases(live_server):
    assert grade_batch([], live_server) == []
    with pytest.raises(ValueError):
        parse_base_urls(" , ")
    assert parse_base_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError):
        grade_batch([(TASK, GOLD)], live_server, batch_size=0)
    with pytest.raises(ValueError):
        grade_batch([(TASK,)], live_server)
    with pytest.raises(DataOpsClientError) as info:
        grade_batch([(TASK, GOLD)] * 5 + [("no-such-task", "SELECT 1")], [live_server, live_server], batch_size=2)
    assert info.value.status_code == 404 and "no-such-task" in info.value.detail


# -- the OpenEnv WebSocket client -----------------------------------------------------------------


def test_ws_client_plays_an_episode(live_server):
    async def play():
        async with DataOpsEnvClient(base_url=live_server) as env:
            result = await env.reset(task_id=TASK)
            assert isinstance(result, StepResult) and isinstance(result.observation, DataOpsObservation)
            assert result.observation.task_id == TASK and not result.done and result.reward is None

            result = await env.step(DataOpsAction(action_type="run_query", sql=PROBE))
            assert not result.done and result.observation.last_result.row_count >= 2

            result = await env.step({"action_type": "submit_query", "sql": GOLD})
            assert result.done and result.reward >= 0.9
            assert result.metadata["grade"]["success"] and result.observation.metadata["grade"]["success"]
            _assert_solved(result.observation)

            state = await env.state()
            assert isinstance(state, DataOpsState)
            assert state.task_id == TASK and state.step_count == 2 and state.done and state.grade.success

            with pytest.raises(RuntimeError, match="episode is over"):
                await env.step({"action_type": "run_query", "sql": "SELECT 1"})
            with pytest.raises(RuntimeError, match="no-such-task"):
                await env.reset(task_id="no-such-task")

    asyncio.run(play())


def test_ws_client_sync_wrapper(live_server):
    with DataOpsEnvClient(base_url=live_server).sync() as env:
        result = env.reset(task_id=TASK)
        assert result.observation.task_id == TASK
        result = env.step(DataOpsAction(action_type="submit_query", sql=GOLD))
        assert result.done and result.reward >= 0.9 and result.metadata["grade"]["success"]
        assert env.state().done


def test_32_concurrent_ws_clients(live_server, debug_tasks):
    tasks = debug_tasks[:32]
    assert len({t.task_id for t in tasks}) == 32

    async def play(task):
        async with DataOpsEnvClient(base_url=live_server) as env:
            first = await env.reset(task_id=task.task_id)
            probe = await env.step(DataOpsAction(action_type="run_query", sql=task.broken_sql))
            final = await env.step(DataOpsAction(action_type="submit_query", sql=task.gold_sql))
            state = await env.state()
            return first, probe, final, state

    async def main():
        return await asyncio.gather(*(play(t) for t in tasks))

    for task, (first, probe, final, state) in zip(tasks, asyncio.run(main())):
        assert first.observation.task_id == task.task_id and first.observation.broken_sql == task.broken_sql
        assert not probe.done
        assert final.done and final.reward >= 0.9 and final.metadata["grade"]["success"], task.task_id
        assert state.task_id == task.task_id and state.step_count == 2 and state.done


def test_one_grade_request_grades_every_item_once():
    """A /grade request of many items comes back with every item graded, in order, and the client sends each
    item exactly once (counted by the server as it receives them)."""
    import json as jsonlib

    from env_server.server.app import create_app
    from env_server.server.client import grade_batch
    from env_server.server.serving import serve_in_thread

    app = create_app()
    received: list[int] = []

    async def counting(scope, receive, send):  # the real app, counting the /grade items it is sent
        if scope["type"] != "http" or scope["path"] != "/grade":
            return await app(scope, receive, send)
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        received.append(len(jsonlib.loads(body)["items"]))
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await app(scope, replay, send)

    url, stop = serve_in_thread(counting)
    try:
        items = [("debug-fixed-syntax_fix", f"SELECT {i}") if i % 3 else ("debug-fixed-logic_fix", "SELECT COUNT(*) FROM "
                 "users a, users b, users c") for i in range(300)]
        results = grade_batch(items, url, batch_size=300)
        assert [r["task_id"] for r in results] == [t for t, _ in items]
        assert all(r["status"] == "graded" and r["grade"] is not None for r in results)
        assert received == [300]
    finally:
        stop()


def test_a_cold_task_is_answered_warming_and_the_clients_wait_it_out(tmp_path, monkeypatch):
    """A /grade or /reset that needs a database not yet built is answered 503 warming with Retry-After (the
    build goes on); grade_batch and the session client wait and send again, and get their answer."""
    import httpx

    from env_server.server.app import ServerConfig, create_app
    from env_server.server.client import grade_batch
    from env_server.server.serving import serve_in_thread

    monkeypatch.setenv("DATAOPS_TEMPLATE_STORE", "off")
    url, stop = serve_in_thread(create_app(ServerConfig(warm_wait_s=0.0, warm_retry_after_s=1, warm_min_bytes=0)))
    try:
        cold = httpx.post(f"{url}/grade", json={"items": [{"task_id": "debug-fixed-logic_fix", "sql": "SELECT 1"}]})
        assert cold.status_code == 503 and cold.json()["code"] == "warming" and cold.headers["retry-after"] == "1"
        results = grade_batch([("debug-fixed-logic_fix", "SELECT 1"), ("debug-fixed-syntax_fix", "SELECT 2")], url)
        assert [r["status"] for r in results] == ["graded", "graded"]
        with DataOpsClient(url) as env:
            observation = env.reset(task_id="repair-fixed-dedupe_customers")
            assert observation.task_id == "repair-fixed-dedupe_customers"
    finally:
        stop()
