"""The grader's verdict on one submission (:class:`Grade`), and the names of the ways a statement can fail.

In ``grading`` because the grader makes it; :mod:`env_server.episode.models` re-exports both as part of the
episode's observation and metadata.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ErrorKindName = Literal["syntax", "not_authorized", "timeout", "too_large", "runtime", "invalid_action", "blocked"]
"""Why a result has no rows: the sandbox's error kinds, plus ``invalid_action`` and ``blocked`` (the reviewer)."""


class Grade(BaseModel):
    """The grader's verdict on one submission."""

    model_config = ConfigDict(extra="forbid")

    success: bool = Field(description="Equivalent to the reference on the task database and every variant.")
    score: float = Field(description="1.0 on success; otherwise partial credit below the success floor.")
    components: dict[str, float] = Field(
        default_factory=dict, description="executes, row_f1 (main database), variants_passed (fraction)."
    )
    reason: str = Field(description="Why, in one human-readable sentence.")
    error_kind: ErrorKindName | None = Field(default=None, description="Set when the submission failed to run.")
