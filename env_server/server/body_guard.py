"""Request-body guard for the env server (ASGI middleware): the size limit counts the bytes actually
read, chunked bodies included (413), and ``NaN``/``Infinity`` in a JSON body are refused (422), since
Python's JSON parser would otherwise accept them and let them reach the grader."""
from __future__ import annotations

import json


class BodyGuard:
    """ASGI middleware: reads a request body whole, refusing it (413) once the bytes actually received
    exceed ``limit`` (Content-Length or chunked), and refusing ``NaN``/``Infinity`` in a JSON body (422)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
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
        if (b"NaN" in body or b"Infinity" in body) and _has_non_finite(body):
            return await _send_json(send, 422, {"detail": "NaN and Infinity are not valid JSON numbers; send finite numbers"})
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


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
