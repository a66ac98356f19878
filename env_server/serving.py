"""Run the env server inside the current process, on a background thread (tests, notebooks, Colab).

``serve_in_thread(app)`` binds a free loopback port, starts uvicorn on a daemon thread, waits until
it accepts requests, and returns the base URL and a ``stop()`` function. For a standalone server
use ``python -m env_server serve``.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable

import uvicorn


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 20.0) -> tuple[str, Callable[[], None]]:
    """Start ``app`` on ``host:port`` (0 = a free port); returns ``(base_url, stop)``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"env-server-{port}")
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"env server did not start on {host}:{port} within {timeout_s:g} s")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://{host}:{port}", stop
