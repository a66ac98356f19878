"""The env server's routes over real HTTP: the seed contract with sessions, tasks, grading, errors,
the OpenEnv validation, and custom tasks added with --tasks."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from openenv.cli._validation import validate_running_environment

from env_server.server.app import ServerConfig, create_app
from env_server.server.serving import free_ports, serve_in_thread
from env_server.tasks.registry import TaskRegistry, load_tasks

GOLD = ("SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
        "ORDER BY signup_date, id")
TASK = "debug-fixed-syntax_fix"


@pytest.fixture()
def http(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


def _reset(http, **body):
    response = http.post("/reset", json=body)
    assert response.status_code == 200, response.text
    return response.json()["session_id"], response.json()


def _step(http, sid, action, route="/step"):
    return http.post(route, json={"action": action}, headers={"X-Session-Id": sid})


def test_openenv_validate_passes(live_server):
    report = validate_running_environment(live_server)
    failed = [c for c in report["criteria"] if not c["passed"]]
    assert report["passed"], failed


def test_a_fresh_client_plays_an_episode_over_plain_http(http):
    sid, first = _reset(http, task_id=TASK)
    assert first["observation"]["task_id"] == TASK and first["done"] is False
    ran = _step(http, sid, {"action_type": "run_query", "sql": "SELECT COUNT(*) FROM users"}).json()
    assert ran["observation"]["last_result"]["rows"][0][0] > 0
    done = _step(http, sid, {"action_type": "submit_query", "sql": GOLD}).json()
    assert done["done"] is True and done["reward"] >= 0.9 and done["metadata"]["grade"]["success"]
    state = http.get("/state", headers={"X-Session-Id": sid}).json()
    assert state["done"] and state["terminated"] and state["task_id"] == TASK


def test_reset_returns_the_session_id_in_a_header_too(http):
    response = http.post("/reset", json={"split": "heldout_iid", "seed": 1})
    assert response.headers["x-session-id"] == response.json()["session_id"]
    sid = response.json()["session_id"]
    again = http.post("/reset", json={"task_id": TASK}, headers={"X-Session-Id": sid})
    assert again.json()["session_id"] == sid and again.json()["observation"]["task_id"] == TASK


def test_step_with_review_blocks_a_delete_without_running_it(http):
    sid, _ = _reset(http, task_id=TASK)
    count = {"action_type": "run_query", "sql": "SELECT COUNT(*) FROM users"}
    before = _step(http, sid, count).json()["observation"]["last_result"]["rows"]
    body = _step(http, sid, {"action_type": "run_query", "sql": "DELETE FROM users"}, route="/step_with_review").json()
    assert body["metadata"]["review"]["verdict"] == "block" and body["done"] is False
    assert body["observation"]["last_result"]["error_kind"] == "blocked"
    assert any(f["code"] == "write_not_allowed" for f in body["observation"]["review_findings"])
    assert body["reward"] < 0 and body["metadata"]["reward_components"]["safety"] < 0
    assert _step(http, sid, count).json()["observation"]["last_result"]["rows"] == before  # unchanged, still playing
    allowed = _step(http, sid, {"action_type": "submit_query", "sql": GOLD}, route="/step_with_review").json()
    assert allowed["metadata"]["review"]["verdict"] == "allow" and allowed["done"] and allowed["metadata"]["grade"]["success"]


@pytest.mark.parametrize(
    "request_kwargs, status, fragment",
    [
        (dict(method="POST", url="/reset", json={"task_id": "nope"}), 404, "unknown task_id"),
        (dict(method="POST", url="/reset", json={"colour": "red"}), 422, "colour"),
        (dict(method="POST", url="/reset", json={"family": "grounded", "split": "fixed"}), 422, "no task matches"),
        (dict(method="POST", url="/reset", content=b"{not json", headers={"content-type": "application/json"}), 422,
         "not valid JSON"),
        (dict(method="POST", url="/step", json={"action": {"action_type": "run_query", "sql": "SELECT 1"}}), 400,
         "X-Session-Id"),
        (dict(method="POST", url="/step", json={"action": {"action_type": "run_query"}},
              headers={"X-Session-Id": "nope"}), 404, "unknown session"),
        (dict(method="GET", url="/state"), 400, "X-Session-Id"),
        (dict(method="POST", url="/grade", json={"items": []}), 422, "items"),
        (dict(method="POST", url="/grade", json={"items": [{"task_id": "nope", "sql": "SELECT 1"}]}), 404,
         "items[0].task_id"),
        (dict(method="POST", url="/grade", content=b"x" * 3_000_000, headers={"content-type": "application/json"}),
         413, "request body"),
        (dict(method="GET", url="/tasks?limit=100000"), 422, "limit"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(http, request_kwargs, status, fragment):
    response = http.request(**request_kwargs)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_episode_errors(http):
    sid, _ = _reset(http, task_id=TASK)
    bad = _step(http, sid, {"action_type": "dance"})
    assert bad.status_code == 422 and "action_type" in bad.json()["detail"]
    wrong_family = _step(http, sid, {"action_type": "execute_sql", "sql": "DELETE FROM users"})
    assert wrong_family.status_code == 200 and wrong_family.json()["observation"]["last_result"]["error_kind"] == "invalid_action"
    _step(http, sid, {"action_type": "submit_query", "sql": GOLD})
    after = _step(http, sid, {"action_type": "run_query", "sql": "SELECT 1"})
    assert after.status_code == 409 and "episode is over" in after.json()["detail"]


def test_tasks_are_filtered_paginated_and_never_leak_gold(http):
    page = http.get("/tasks", params={"split": "heldout_ood", "offset": 10, "limit": 7}).json()
    assert page["total"] >= 200 and len(page["items"]) == 7 and page["offset"] == 10
    assert all(t["split"] == "heldout_ood" for t in page["items"])
    assert "gold_sql" not in json.dumps(page) and "gold_sql" not in http.get(f"/tasks/{TASK}").text
    assert http.get("/tasks", params={"difficulty": "hard", "split": "fixed", "family": "debug"}).json()["total"] == 2
    for family in ("repair", "grounded"):  # no reference repair, no cited documents in a listing either
        listing = json.dumps(http.get("/tasks", params={"family": family, "limit": 50}).json())
        assert "gold_repair_sql" not in listing and "setup_sql" not in listing and "doc_ids" not in listing


def test_grade_is_batched_stateless_and_equals_the_env_reward(http):
    items = [{"task_id": TASK, "sql": GOLD}, {"task_id": TASK, "sql": "SELECT 1"}, {"task_id": TASK, "sql": "SELEC"}]
    results = http.post("/grade", json={"items": items}).json()["results"]
    assert [r["grade"]["success"] for r in results] == [True, False, False]
    assert results[0]["reward"] == 1.0 and results[2]["grade"]["error_kind"] == "syntax"
    sid, _ = _reset(http, task_id=TASK)
    env_reward = _step(http, sid, {"action_type": "submit_query", "sql": "SELECT 1"}).json()["reward"]
    assert env_reward == results[1]["reward"]


def test_live_benchmark_reports_latencies(http):
    body = http.get("/benchmark", params={"n": 5}).json()
    assert body["requested"] == 5 and 1 <= body["n"] <= 5  # fewer when the time budget runs out first
    assert all(body[k]["p50"] > 0 for k in ("reset_ms", "step_ms", "grade_ms"))


def test_session_cap_refuses_with_503_and_close_frees_a_slot():
    url, stop = serve_in_thread(create_app(ServerConfig(session_cap=2, sessions_per_client=2),
                                           registry=TaskRegistry(load_tasks(split="fixed"))))
    try:
        with httpx.Client(base_url=url) as http:
            first = http.post("/reset", json={}).json()["session_id"]
            http.post("/reset", json={})
            refused = http.post("/reset", json={})
            assert refused.status_code == 503 and "session cap" in refused.json()["detail"]
            assert refused.json()["code"] == "session_capacity"
            assert http.delete("/session", headers={"X-Session-Id": first}).status_code == 200
            assert http.post("/reset", json={}).status_code == 200
            assert http.get("/sessions").json()["live"] == 2
    finally:
        stop()


def test_serve_cli_starts_fast_and_plays_a_custom_task(tmp_path):
    custom = tmp_path / "custom.jsonl"
    custom.write_text(json.dumps({
        "task_id": "my-task", "family": "debug", "question": "every item and its price",
        "schema_sql": "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);",
        "data_sql": "INSERT INTO items(name, price) VALUES " + ",".join(f"('item{i}', {i * 1.5})" for i in range(40)) + ";",
        "broken_sql": "SELECT name, price FROM item", "gold_sql": "SELECT name, price FROM items",
    }) + "\n")
    port = free_ports()  # a port free a moment ago, not a fixed one: parallel runs do not collide
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "env_server", "serve", "--port", str(port), "--tasks", str(custom)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() - started < 10, "server did not come up"
                time.sleep(0.05)
            startup = time.monotonic() - started
            sid = http.post("/reset", json={"task_id": "my-task"}).json()["session_id"]
            ran = http.post("/step", json={"action": {"action_type": "run_query", "sql": "SELECT COUNT(*) FROM items"}},
                            headers={"X-Session-Id": sid}).json()
            assert ran["observation"]["last_result"]["rows"] == [[40]]
            done = http.post("/step", json={"action": {"action_type": "submit_query", "sql": "SELECT name, price FROM items"}},
                             headers={"X-Session-Id": sid}).json()
            assert done["done"] and done["reward"] >= 0.9
        assert startup < 3.0 * 2, f"startup took {startup:.2f}s"  # generous on a loaded CI box; bench records it
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_cli_rejects_a_bad_task_file_with_its_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x"}\n')
    result = subprocess.run([sys.executable, "-m", "env_server", "serve", "--tasks", str(bad)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0 and "bad.jsonl:1" in result.stderr


def test_review_is_batched_and_stateless(http):
    body = {"items": [{"task_id": "debug-fixed-syntax_fix", "sql": "DELETE FROM users"},
                      {"task_id": "debug-fixed-syntax_fix", "sql": "SELECT name FROM users WHERE plan = 'pro'"}]}
    response = http.post("/review", json=body)
    assert response.status_code == 200
    blocked, allowed = response.json()["results"]
    assert blocked["verdict"] == "block" and blocked["penalty"] == -0.1 and blocked["findings"]
    assert allowed["verdict"] == "allow" and allowed["penalty"] == 0.0
    missing = http.post("/review", json={"items": [{"task_id": "nope", "sql": "SELECT 1"}]})
    assert missing.status_code == 404 and "items[0].task_id" in missing.json()["detail"]
