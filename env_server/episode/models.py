"""Wire types of the environment: the action, the observation, the state, query results and grades.

``DataOpsAction``, ``DataOpsObservation`` and ``DataOpsState`` subclass OpenEnv's ``Action``,
``Observation`` and ``State``, so any OpenEnv client or server understands them. Every field has
a description, so the server's ``/docs`` and ``/schema`` explain themselves.
"""
from __future__ import annotations

import math
import re
from typing import Any, Literal

from openenv.core.env_server.types import Action, Observation, State
from pydantic import BaseModel, ConfigDict, Field, model_validator

from env_server.grading.grade import ErrorKindName, Grade  # noqa: F401 - re-exported: part of the episode API

ActionType = Literal[
    "inspect_schema",
    "sample_rows",
    "run_query",
    "submit_query",
    "execute_sql",
    "finish",
    "search_docs",
    "submit_answer",
]

MAX_CELL_CHARS = 200

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(value: Any, path: str = "") -> str | None:
    """Where ``value`` (a JSON-like value: str, list, dict) holds a lone UTF-16 surrogate, e.g.
    ``items[0].sql (character 7)``; None when all its text is valid Unicode. JSON may spell one
    (``"\\udc80"``) and Python decodes it, but it cannot be encoded as UTF-8, so no database, log or
    response could carry it."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return f"{where or 'text'} (character {found.start()})"
        elif isinstance(item, dict):
            for key, sub in item.items():
                key_text = key if isinstance(key, str) else str(key)
                if _SURROGATE.search(key_text):
                    return f"{where or 'object'}: a key"
                stack.append((f"{where}.{key_text}" if where else key_text, sub))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}[{i}]", sub) for i, sub in enumerate(item))
    return None


class DataOpsAction(Action):
    """One agent action. Which ``action_type`` values a task allows depends on its family."""

    action_type: ActionType = Field(description="What to do; see the family action table in the README.")
    sql: str | None = Field(default=None, description="SQL for run_query, submit_query and execute_sql.")
    table: str | None = Field(default=None, description="Table name for sample_rows.")
    answer: Any = Field(default=None, description="The answer for submit_answer.")
    citations: list[str] | None = Field(default=None, description="Doc ids supporting submit_answer.")
    query: str | None = Field(default=None, description="Search text for search_docs.")

    @model_validator(mode="after")
    def _valid_text(self) -> "DataOpsAction":
        where = lone_surrogate({name: getattr(self, name) for name in type(self).model_fields})
        if where is not None:
            raise ValueError(f"{where}: a lone UTF-16 surrogate is not valid text; send valid Unicode (UTF-8)")
        return self


class QueryResult(BaseModel):
    """The outcome of one statement as the agent sees it."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str] = Field(default_factory=list, description="Result column names.")
    rows: list[list[Any]] = Field(
        default_factory=list,
        description='Rows, capped (see truncated). Non-finite floats are the strings "Infinity", "-Infinity", "NaN".',
    )
    row_count: int = Field(default=0, description="Rows the statement produced (a lower bound when very large).")
    truncated: bool = Field(default=False, description="True when rows holds fewer rows than row_count.")
    error: str | None = Field(default=None, description="SQLite's (or the environment's) message on failure.")
    error_kind: ErrorKindName | None = Field(default=None, description="Failure class; None on success.")
    elapsed_ms: float = Field(default=0.0, description="Execution time in milliseconds.")
    changes: int = Field(default=0, description="Rows changed by a write statement.")

    @classmethod
    def from_execution(cls, execution: Any) -> "QueryResult":
        """Convert a sandbox :class:`~env_server.core.sandbox.Execution` into JSON-safe form."""
        return cls(
            columns=list(execution.columns),
            rows=[[_cell(v) for v in row] for row in execution.rows],
            row_count=execution.row_count,
            truncated=execution.truncated,
            error=execution.error,
            error_kind=execution.error_kind.value if execution.error_kind is not None else None,
            elapsed_ms=round(execution.elapsed_ms, 3),
            changes=execution.changes,
        )

    @classmethod
    def failure(cls, message: str, kind: ErrorKindName = "invalid_action") -> "QueryResult":
        return cls(error=message, error_kind=kind)


NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _cell(value: Any) -> Any:
    """One result value in JSON-safe form: blobs as hex, long text cut, and non-finite floats (which JSON
    cannot carry) as the strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else NON_FINITE[value]
    if isinstance(value, bytes):
        text = "x'" + value[:64].hex() + "'"
        return text + ("..." if len(value) > 64 else "")
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return value[:MAX_CELL_CHARS] + f"... ({len(value)} chars)"
    return value


class DataOpsObservation(Observation):
    """What the agent sees after reset and after each step."""

    task_id: str = Field(default="", description="The task of this episode.")
    family: str = Field(default="", description="debug, repair, analyst or grounded.")
    goal: str = Field(default="", description="Instructions and the question, in plain English.")
    schema_summary: str = Field(default="", description="Tables, columns, keys and row counts.")
    broken_sql: str | None = Field(default=None, description="debug: the query to fix.")
    allowed_actions: list[str] = Field(default_factory=list, description="Action types this family accepts.")
    last_result: QueryResult | None = Field(default=None, description="Result of the last action, if any.")
    review_findings: list[dict[str, Any]] = Field(
        default_factory=list, description="Reviewer findings on the last action (reviewer-guarded path only)."
    )
    docs: list[dict[str, Any]] = Field(default_factory=list, description="grounded: doc snippets with ids.")
    steps_remaining: int = Field(default=0, description="Actions left before the episode is truncated.")
    message: str = Field(default="", description="Feedback on the last action in one sentence.")


class DataOpsState(State):
    """The episode's bookkeeping, as returned by ``GET /state``."""

    task_id: str = Field(default="", description="The task of this episode.")
    family: str = Field(default="", description="Its family.")
    split: str = Field(default="", description="Its split.")
    difficulty: str = Field(default="", description="Its difficulty.")
    max_steps: int = Field(default=0, description="Step budget.")
    done: bool = Field(default=False, description="Whether the episode has ended.")
    terminated: bool = Field(default=False, description="Ended by the task (submission or finish).")
    truncated: bool = Field(default=False, description="Ended by running out of steps.")
    episode_return: float = Field(default=0.0, description="Sum of rewards so far (equals compose().total).")
    invalid_actions: int = Field(default=0, description="Actions refused as not allowed or malformed.")
    repeated_queries: int = Field(default=0, description="Queries identical to an earlier one.")
    blocked_actions: int = Field(default=0, description="Actions the reviewer blocked (reviewer-guarded path).")
    grade: Grade | None = Field(default=None, description="The final grade once submitted.")
