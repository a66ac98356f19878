"""Request guards for the env server (ASGI middleware), applied before any route sees a request.

:class:`BodyGuard` (HTTP): a path or query string that is not UTF-8 once percent-decoded, or a non-ASCII
``X-Session-Id``/``X-Client-Token``/``Authorization`` header, is a 400; the size limit counts the bytes
actually read, chunked bodies included (413); a body that is not valid UTF-8 is a 400; ``NaN``/``Infinity`` and lone UTF-16 surrogates (``"\\udc80"``,
valid JSON that no UTF-8 encoder can write back) in a JSON body are a 422, since Python's JSON parser
would otherwise accept them and let them reach the grader, a database or a response.

:class:`WebSocketGuard` (``/ws`` and any WebSocket route): every message is held to the same byte limit
(the connection is closed with code 1009 and a reason), a message with invalid text or numbers is
answered with an error message and not delivered, and a client may keep at most ``per_client``
connections open (further ones are closed at once with code 1013, "try again later"; an invalid path,
query string or header, with 1007).
"""
from __future__ import annotations

import json
from typing import Callable
from urllib.parse import unquote_to_bytes

from env_server.episode.models import lone_surrogate


class BodyGuard:
    """ASGI middleware: refuses a request whose path, query string or identifying headers are not valid text
    (400), reads a request body whole, refusing it (413) once the bytes actually received exceed ``limit``
    (Content-Length or chunked), and refuses invalid text or ``NaN``/``Infinity`` in it (400/422)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = target_problem(scope)
        if problem is not None:
            return await _send_json(send, 400, {"detail": problem, "code": "invalid_text"})
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = {"detail": f"request body over {self.limit:,} bytes; send smaller batches"}
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _send_json(send, 413, too_large)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _send_json(send, 413, too_large)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = body_problem(body)
        if problem is not None:
            return await _send_json(send, problem[0], {"detail": problem[1], "code": "invalid_text"})
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


IDENTIFYING_HEADERS = (b"x-session-id", b"x-client-token", b"authorization")
"""Headers the server reads as text: they must be printable ASCII."""


def target_problem(scope) -> str | None:
    """Why a request's path, query string or identifying headers are not valid text (after percent-decoding
    the path and query must be UTF-8), or None."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    for what, raw in (("path", raw_path), ("query string", scope.get("query_string") or b"")):
        try:
            unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"the {what} is not valid UTF-8 once percent-decoded (byte {exc.start}); percent-encode UTF-8 text"
    for name, value in scope.get("headers") or ():
        if name.lower() in IDENTIFYING_HEADERS and not all(32 <= b < 127 for b in value):
            return f"the {name.decode('latin-1')} header must be printable ASCII"
    return None


def body_problem(body: bytes) -> tuple[int, str] | None:
    """Why ``body`` must be refused before any route reads it, as ``(status, message)``, or None: not
    UTF-8 (400), NaN/Infinity or a lone surrogate in its JSON (422). Bodies that are not JSON are left to
    the route."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, (f"the body is not valid UTF-8 (byte {exc.start}: {body[exc.start:exc.start + 4]!r}); "
                     "send UTF-8 text")
    if (b"NaN" in body or b"Infinity" in body) and _has_non_finite(body):
        return 422, "NaN and Infinity are not valid JSON numbers; send finite numbers"
    if b"\\u" in body and _escaped_surrogate(body):
        try:
            where = lone_surrogate(json.loads(body), "")
        except ValueError:
            return None  # not JSON: the route says so
        if where is not None:
            return 422, (f"{where or 'body'}: a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair) is "
                         "not valid text; send valid Unicode")
    return None


def _escaped_surrogate(body: bytes) -> bool:
    """Whether the body spells a ``\\uD800``-``\\uDFFF`` escape at all (cheap pre-check)."""
    lowered = body.lower()
    return any(f"\\ud{c}".encode() in lowered for c in "89abcdef")


def _has_non_finite(body: bytes) -> bool:
    def refuse(constant: str):
        raise ValueError(constant)

    try:
        json.loads(body, parse_constant=refuse)
    except ValueError as exc:
        return str(exc) in ("NaN", "Infinity", "-Infinity")
    return False


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class WebSocketGuard:
    """ASGI middleware for WebSocket routes: per-message byte limit (close 1009), invalid text or numbers
    answered with an error message (not delivered), and at most ``per_client`` open connections per client
    (``client_of(scope)``; close 1013). HTTP requests pass through untouched."""

    def __init__(self, app, limit: int, per_client: int, client_of: Callable[[dict], str]):
        self.app, self.limit, self.per_client, self.client_of = app, limit, per_client, client_of
        self.open: dict[str, int] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        client = self.client_of(scope)
        refusal = None
        if target_problem(scope) is not None:
            refusal = (1007, "the path, query string or a header is not valid text (UTF-8, ASCII headers)")
        elif self.open.get(client, 0) >= self.per_client:
            refusal = (1013, f"at most {self.per_client} WebSocket sessions per client; close one")
        if refusal is not None:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": refusal[0], "reason": refusal[1]})
            return None
        self.open[client] = self.open.get(client, 0) + 1
        closed = False

        async def guarded_send(message):
            if closed:  # we closed the connection; the app learns of it on its next receive
                return None
            return await send(message)

        async def guarded_receive():
            nonlocal closed
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                text, data = message.get("text"), message.get("bytes")
                size = len(text.encode("utf-8", "surrogatepass")) if text is not None else len(data or b"")
                if size > self.limit:
                    closed = True
                    await send({"type": "websocket.close", "code": 1009,
                                "reason": f"message over {self.limit:,} bytes (the HTTP body limit)"})
                    return {"type": "websocket.disconnect", "code": 1009}
                raw = text.encode("utf-8", "surrogatepass") if text is not None else data or b""
                problem = body_problem(raw)
                if problem is None:
                    return message
                await send({"type": "websocket.send", "text": json.dumps(
                    {"type": "error", "data": {"message": problem[1], "code": "VALIDATION_ERROR"}})})

        try:
            return await self.app(scope, guarded_receive, guarded_send)
        finally:
            left = self.open[client] - 1
            if left:
                self.open[client] = left
            else:
                del self.open[client]
