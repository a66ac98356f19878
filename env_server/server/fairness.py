"""Fair sharing of one env server between clients: who a request comes from, and per-client quotas.

A *client* is its network address (``scope["client"]``: the TCP peer, or the address uvicorn's proxy
headers name when the peer is a trusted proxy, ``--forwarded-allow-ips``), or, where the server is
configured with client tokens (``ServerConfig.client_tokens``, ``DATAOPS_CLIENT_TOKENS``), the token a
request presents in ``Authorization: Bearer <token>`` or ``X-Client-Token: <token>``. A token the server
does not know is ignored (the address counts), so made-up tokens cannot multiply one client's quota.

Quotas keyed by client (:class:`InFlightQuota` here; live sessions in ``sessions.py``; repair clones in
``DataOpsEnv``) keep one client from locking the others out: a client over its quota gets 429 with
``Retry-After`` and a message, while other clients are served.
"""
from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from typing import Any, Iterator

CLIENT_TOKEN_HEADER = "X-Client-Token"


def token_key(token: str) -> str:
    """The key of a configured token: a short digest, so that quota messages and stats never show it."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def client_key(scope: Mapping[str, Any], tokens: Iterable[str] = ()) -> str:
    """Who an ASGI request (HTTP or WebSocket) comes from: ``token:<digest>`` for a configured token it
    presents, else ``addr:<host>`` (``addr:unknown`` without a peer address)."""
    known = frozenset(tokens)
    if known:
        for name, value in scope.get("headers") or ():
            name = name.lower()
            if name == b"x-client-token":
                presented = value.decode("latin-1").strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].decode("latin-1").strip()
            else:
                continue
            if presented in known:
                return token_key(presented)
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


def is_loopback(scope: Mapping[str, Any]) -> bool:
    """Whether the request's client address is a loopback address (127.0.0.0/8, ::1)."""
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class QuotaExceeded(Exception):
    """A client is over one of its quotas: HTTP ``status`` (429 or 503), ``Retry-After`` seconds, a code."""

    def __init__(self, message: str, *, status: int = 429, retry_after_s: int = 1, code: str = "client_quota"):
        super().__init__(message)
        self.status, self.retry_after_s, self.code = status, max(1, int(retry_after_s)), code


class InFlightQuota:
    """At most ``per_client`` requests of one kind in flight per client (thread- and asyncio-safe)."""

    def __init__(self, per_client: int, what: str, retry_after_s: int = 1):
        if per_client < 1:
            raise ValueError("per_client must be >= 1")
        self.per_client, self.what, self.retry_after_s = per_client, what, retry_after_s
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """One request of ``client`` in flight, or :class:`QuotaExceeded` (429) when it has ``per_client``."""
        with self._lock:
            held = self._counts.get(client, 0)
            if held >= self.per_client:
                raise QuotaExceeded(
                    f"this client already has {held} {self.what} request(s) in flight (at most {self.per_client} per "
                    f"client, so that one client cannot hold every worker); wait for an answer before sending more, "
                    f"or retry after {self.retry_after_s} s",
                    retry_after_s=self.retry_after_s, code="inflight_quota",
                )
            self._counts[client] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._counts[client] - 1
                if left:
                    self._counts[client] = left
                else:
                    del self._counts[client]

    def in_flight(self) -> int:
        with self._lock:
            return sum(self._counts.values())
