"""env_server/server/serving.py and serving past one process: TCP_NODELAY on every accepted connection, HTTP sessions
refused (with the way out) when one server runs several workers, and real replicas where 64 pooled sessions
spread over both and none is lost."""
from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn
from uvicorn.server import ServerState

from env_server.server.app import ServerConfig, create_app
from env_server.server.client import DataOpsClient, pick_replica
from env_server.server.serving import (
    NoDelayH11Protocol,
    free_ports,
    serve_in_thread,
    start_server,
)

TASK = "debug-fixed-syntax_fix"


def test_accepted_connections_get_tcp_nodelay_even_on_a_socket_made_without_ipproto_tcp():
    """The socket uvicorn shares between workers is made with proto 0, and asyncio then leaves Nagle on."""
    async def scenario() -> int:
        config = uvicorn.Config(create_app(ServerConfig()), http=NoDelayH11Protocol, log_level="warning")
        config.load()
        state = ServerState()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's bind_socket
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: config.http_protocol_class(config=config, server_state=state,
                                                                             app_state={}),
                                          sock=listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):
            if state.connections:
                break
            await asyncio.sleep(0.01)
        [protocol] = list(state.connections)
        accepted = protocol.transport.get_extra_info("socket")
        nodelay = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        return nodelay

    assert asyncio.run(scenario()) == 1


def test_several_workers_refuse_http_sessions_with_the_way_out_and_keep_stateless_routes():
    url, stop = serve_in_thread(create_app(ServerConfig(workers=2)))
    try:
        with httpx.Client(base_url=url) as http:
            refused = http.post("/reset", json={"task_id": TASK})
            assert refused.status_code == 421 and refused.json()["code"] == "sessions_need_one_process"
            assert "--replicas 2" in refused.json()["detail"] and "DATAOPS_ENV_URL" in refused.json()["detail"]
            step = http.post("/step", json={"action": {"action_type": "inspect_schema"}}, headers={"X-Session-Id": "x"})
            assert step.status_code == 421
            graded = http.post("/grade", json={"items": [{"task_id": TASK, "sql": "SELECT 1"}]})
            assert graded.status_code == 200 and graded.json()["results"][0]["status"] == "graded"
            assert http.get("/tasks", params={"limit": 1}).status_code == 200
    finally:
        stop()


def test_pick_replica_spreads_and_pins():
    urls = "http://a:1, http://b:2,"
    assert pick_replica(urls, 0) == "http://a:1" and pick_replica(urls, 3) == "http://b:2"
    drawn = {pick_replica(urls) for _ in range(200)}
    assert drawn == {"http://a:1", "http://b:2"}
    with pytest.raises(ValueError):
        pick_replica(" , ")


def test_two_replicas_serve_64_pooled_sessions_without_losing_one():
    base = free_ports(2)
    urls = [f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"]
    proc = start_server(["--replicas", "2", "--port", str(base)], urls, timeout_s=120)
    try:
        clients = [DataOpsClient(urls, replica=i) for i in range(64)]
        for client in clients:
            client.reset(task_id=TASK)
        for _ in range(3):
            for client in clients:
                obs = client.step({"action_type": "run_query", "sql": "SELECT COUNT(*) FROM users"})
                assert obs.last_result.error is None
        assert {c.base_url for c in clients} == set(urls)
        live = [httpx.get(f"{url}/sessions").json()["live"] for url in urls]
        assert live == [32, 32]
        for client in clients:
            client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
