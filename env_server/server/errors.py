"""The env server's error contract: :class:`HttpError` (raised by routes), :class:`ErrorBody` (every 4xx and
503 answer: a message that says what to fix, a stable ``code``) and its publication in the OpenAPI spec."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every 4xx (and 503) answer: a message that says what to fix."""

    detail: str = Field(description="What went wrong and how to fix it.")
    code: str | None = Field(default=None, description="A stable name for the error, e.g. session_unknown.")
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field-level problems (422 only).")


def document_errors(app: FastAPI) -> None:
    """Publish the error contract in the OpenAPI spec: any operation may answer 4XX with ErrorBody
    (FastAPI's default 422 shape is replaced, since our handler returns a message), /reset may
    answer 503 when the session cap is reached."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = ErrorBody.model_json_schema()
        error = {"description": "Client error; `detail` says what to fix.",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
        for path, methods in spec.get("paths", {}).items():
            for method, operation in methods.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = error
                responses.setdefault("4XX", error)
                if path == "/reset":
                    responses["503"] = {**error, "description": "Session cap (or the repair-copy memory cap) reached; "
                                        "retry after Retry-After seconds."}
                if path in ("/reset", "/grade", "/review", "/benchmark"):
                    responses["429"] = {**error, "description": "This client is over a per-client quota (live sessions, "
                                        "requests in flight, repair-copy memory); retry after Retry-After seconds."}
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def jsonable(errors: list[dict]) -> list[dict]:
    return [{k: (v if isinstance(v, (str, int, float, bool, list, type(None))) else str(v)) for k, v in e.items()
             if k != "ctx"} for e in errors]
