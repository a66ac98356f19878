"""Every endpoint has a budget and invalid text is a 4xx everywhere, against a real server process
(``python -m env_server serve`` on 127.0.0.1): a lone surrogate or invalid UTF-8 in any field of any route is
refused before anything changes (the session's step count and reward stay as they were), a 2 MB /review answers
within 3 s, /benchmark is bounded and loopback-only by default, and a 5 MB WebSocket message is refused."""
from __future__ import annotations

import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from env_server.server.serving import free_ports, start_server

TASK = "debug-fixed-syntax_fix"
ANALYST = "analyst-fixed-top_category_q3"
JOIN_400 = "SELECT * FROM users u0 " + " ".join(f"JOIN users u{i} ON u{i}.id = u{i - 1}.id" for i in range(1, 400))
CROSS_20 = "SELECT * FROM users u0 " + " ".join(f"JOIN users u{i}" for i in range(1, 21))  # 21 s to parse, unbudgeted
BAD = "\\udc80"  # as JSON spells it: a lone low surrogate
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server():
    port = free_ports()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(["--port", str(port)], [url])
    yield url
    proc.terminate()
    proc.wait(20)


@pytest.fixture()
def http(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def _raw(http: httpx.Client, path: str, body: str | bytes, sid: str | None = None) -> httpx.Response:
    headers = {**JSON, **({"X-Session-Id": sid} if sid else {})}
    return http.post(path, content=body, headers=headers)


def test_a_lone_surrogate_in_any_field_of_any_route_is_a_4xx_and_counts_no_step(http):
    sid = http.post("/reset", json={"task_id": TASK}).json()["session_id"]
    before = http.get("/state", headers={"X-Session-Id": sid}).json()
    action = '{"action": {"action_type": "run_query", "sql": "SELECT 1"%s}%s}'
    cases = {
        "/reset": ['{"task_id": "%s"}' % BAD, '{"episode_id": "x%s"}' % BAD, '{"family": "%s"}' % BAD,
                   '{"split": "%s"}' % BAD, '{"%s": 1}' % BAD],
        "/step": [action % (f', "table": "{BAD}"', ""), action % ("", f', "request_id": "{BAD}"'),
                  '{"action": {"action_type": "run_query", "sql": "SELECT \'%s\'"}}' % BAD,
                  '{"action": {"action_type": "submit_answer", "answer": [{"a": "%s"}]}}' % BAD,
                  '{"action": {"action_type": "submit_answer", "answer": "x", "citations": ["%s"]}}' % BAD,
                  '{"action": {"action_type": "search_docs", "query": "%s"}}' % BAD,
                  '{"action": {"action_type": "%s"}}' % BAD],
        "/step_with_review": ['{"action": {"action_type": "run_query", "sql": "SELECT \'%s\'"}}' % BAD,
                              '{"action": {"action_type": "submit_query", "sql": "SELECT %s FROM users"}}' % BAD],
        "/grade": ['{"items": [{"task_id": "%s", "sql": "SELECT 1"}]}' % BAD,
                   '{"items": [{"task_id": "%s", "sql": "SELECT \'%s\'"}]}' % (TASK, BAD),
                   '{"items": [{"task_id": "%s", "answer": {"k": ["%s"]}}]}' % (ANALYST, BAD)],
        "/review": ['{"items": [{"task_id": "%s", "sql": "SELECT \'%s\'"}]}' % (TASK, BAD),
                    '{"items": [{"task_id": "%s", "sql": "SELECT x%s FROM users"}]}' % (TASK, BAD)],
        "/mcp": ['{"jsonrpc": "2.0", "id": 1, "method": "%s"}' % BAD],
    }
    for path, bodies in cases.items():
        for body in bodies:
            answer = _raw(http, path, body, sid)
            assert answer.status_code == 422, (path, body, answer.status_code, answer.text)
            assert "surrogate" in answer.json()["detail"] and answer.json()["code"] == "invalid_text", answer.text
    after = http.get("/state", headers={"X-Session-Id": sid}).json()
    assert after["step_count"] == before["step_count"] == 0 and after["episode_return"] == 0.0
    assert after["invalid_actions"] == 0 and after["episode_id"] == before["episode_id"]
    pair = _raw(http, "/step", '{"action": {"action_type": "run_query", "sql": "SELECT \'\\ud83d\\ude00\'"}}', sid)
    assert pair.status_code == 200 and pair.json()["observation"]["last_result"]["rows"] == [["\U0001F600"]]


def test_invalid_utf8_bodies_paths_queries_and_headers_are_a_400(http):
    sid = http.post("/reset", json={"task_id": TASK}).json()["session_id"]
    for path in ("/reset", "/step", "/step_with_review", "/grade", "/review", "/mcp"):
        answer = _raw(http, path, b'{"items": [{"task_id": "\xff\xfe"}]}', sid)
        assert answer.status_code == 400 and "not valid UTF-8" in answer.json()["detail"], (path, answer.text)
    for url in ("/tasks/%ED%B2%80", "/tasks?family=%ED%B2%80", "/tasks?split=%FF", "/health?x=%C3"):
        answer = http.get(url)
        assert answer.status_code == 400 and "UTF-8" in answer.json()["detail"], (url, answer.text)
    for name in ("X-Session-Id", "X-Client-Token", "Authorization"):
        answer = http.get("/state", headers={name: b"abc\xff"})
        assert answer.status_code == 400 and "ASCII" in answer.json()["detail"], (name, answer.text)
    state = http.get("/state", headers={"X-Session-Id": sid}).json()
    assert state["step_count"] == 0
    assert http.get("/tasks", params={"family": "débug"}).status_code == 422  # valid UTF-8, unknown family


def test_a_2mb_review_answers_within_3s(http):
    body = json.dumps({"items": [{"task_id": TASK, "sql": JOIN_400}] * 135})
    assert 1_900_000 < len(body) <= 2_000_000
    started = time.perf_counter()
    answer = _raw(http, "/review", body)
    elapsed = time.perf_counter() - started
    assert (answer.status_code == 200 and elapsed < 3.0) or answer.status_code == 413, (answer.status_code, elapsed)
    results = answer.json()["results"]
    assert len(results) == 135 and {r["status"] for r in results} <= {"reviewed", "not_reviewed"}
    assert results[0]["status"] == "reviewed" and results[0]["verdict"] == "allow"
    assert all(r["verdict"] is None and "send it again" in r["error"] for r in results if r["status"] == "not_reviewed")


def test_pathological_and_overlong_sql_is_reviewed_within_budget(http):
    started = time.perf_counter()
    answer = http.post("/review", json={"items": [{"task_id": TASK, "sql": CROSS_20}] * 1000
                                        + [{"task_id": TASK, "sql": "SELECT 1 " + " " * 20_000}]})
    assert answer.status_code == 200 and time.perf_counter() - started < 3.0
    reviewed = [r for r in answer.json()["results"] if r["status"] == "reviewed"]
    assert reviewed and all(r["verdict"] == "block" and r["findings"][0]["code"] == "sql_too_complex" for r in reviewed)
    long_sql = http.post("/review", json={"items": [{"task_id": TASK, "sql": "SELECT 1 " + " " * 20_000}]}).json()
    assert long_sql["results"][0]["findings"][0]["code"] == "sql_too_long"
    sid = http.post("/reset", json={"task_id": TASK}).json()["session_id"]
    started = time.perf_counter()
    step = http.post("/step_with_review", json={"action": {"action_type": "run_query", "sql": CROSS_20}},
                     headers={"X-Session-Id": sid})
    assert step.status_code == 200 and time.perf_counter() - started < 3.0
    assert step.json()["metadata"]["review"]["verdict"] == "block"


def test_benchmark_is_bounded_and_loopback_only_by_default(http):
    started = time.perf_counter()
    refused = http.get("/benchmark", params={"n": 500})
    assert refused.status_code == 422 and "n" in refused.json()["detail"] and time.perf_counter() - started < 3.0
    started = time.perf_counter()
    bounded = http.get("/benchmark", params={"n": 50})
    assert bounded.status_code == 200 and time.perf_counter() - started < 3.0, time.perf_counter() - started
    assert bounded.json()["requested"] == 50 and 1 <= bounded.json()["n"] <= 50
    # behind a reverse proxy on this machine (uvicorn trusts X-Forwarded-For from 127.0.0.1) the client is remote
    remote = http.get("/benchmark", params={"n": 5}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert remote.status_code == 403 and "--benchmark on" in remote.json()["detail"]


def test_websocket_messages_share_the_body_limit_and_invalid_text_is_refused(server):
    ws_url = server.replace("http://", "ws://") + "/ws"
    with connect(ws_url, max_size=None) as ws:
        ws.send('{"type": "reset", "data": {"task_id": "%s"}}' % BAD)
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "error" and "surrogate" in reply["data"]["message"]
        ws.send(json.dumps({"type": "reset", "data": {"task_id": TASK}}))  # the connection goes on
        assert json.loads(ws.recv(timeout=30))["type"] == "observation"
    started = time.perf_counter()
    with connect(ws_url, max_size=None) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"task_id": TASK, "episode_id": "x" * 5_000_000}}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009 and "2,000,000 bytes" in closed.value.rcvd.reason
    assert time.perf_counter() - started < 3.0
