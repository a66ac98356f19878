"""Shared fixtures: a real env server on a free loopback port, run by uvicorn in a thread."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from env_server.app import ServerConfig, create_app


def serve_in_thread(app, host: str = "127.0.0.1"):
    """Start ``app`` with uvicorn on a free port; returns (base_url, stop)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start within 20 s")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://{host}:{port}", stop


@pytest.fixture(scope="session")
def live_server() -> str:
    """Base URL of a real server with the built-in tasks (session cap 300, TTL 600 s)."""
    url, stop = serve_in_thread(create_app(ServerConfig(session_cap=300, session_ttl_s=600)))
    yield url
    stop()
