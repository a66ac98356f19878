"""How the env server is served: uvicorn with TCP_NODELAY on every connection, in a thread or standalone.

``serve_in_thread(app)`` binds a free loopback port, starts uvicorn on a daemon thread, waits until
it accepts requests, and returns the base URL and a ``stop()`` function. For a standalone server
use ``python -m env_server serve``.

:class:`NoDelayH11Protocol` is uvicorn's HTTP/1.1 protocol that turns Nagle's algorithm off on each
accepted connection. asyncio does that itself only for sockets it created with ``IPPROTO_TCP``; the
listening socket uvicorn shares between ``--workers`` (and any socket passed in) is created without
it, so a small response waited for the client's delayed ACK: about 40 ms per request on a kept-alive
connection. Every server this project starts uses this protocol.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import Callable

import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY set on each accepted TCP connection."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - a socket that cannot take the option keeps Nagle
                pass
        super().connection_made(transport)


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 20.0) -> tuple[str, Callable[[], None]]:
    """Start ``app`` on ``host:port`` (0 = a free port); returns ``(base_url, stop)``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=30, http=NoDelayH11Protocol))
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


def free_ports(n: int = 1, host: str = "127.0.0.1") -> int:
    """A port P such that P..P+n-1 were free on ``host`` a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((host, 0))
            base = probe.getsockname()[1]
        if base + n > 65535:
            continue
        try:
            for i in range(1, n):
                with socket.socket() as sock:
                    sock.bind((host, base + i))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no run of {n} free ports on {host}")


def start_server(args: list[str], urls: list[str], timeout_s: float = 60.0) -> subprocess.Popen:
    """``python -m env_server serve ARGS`` as a child process, returned once every URL answers ``/health``
    (its output discarded); a server that exits or does not answer within ``timeout_s`` is a RuntimeError."""
    server = subprocess.Popen([sys.executable, "-m", "env_server", "serve", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                raise RuntimeError(f"the server did not start: serve {' '.join(args)}")
            time.sleep(0.02)
    return server
