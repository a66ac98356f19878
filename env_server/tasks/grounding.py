"""The grounded family's building blocks: business documents (``Doc``) and metrics defined by them (``Metric``).

A ``Doc`` is one short business document of the corpus in ``data/docs/``: a metric definition, a
policy, or a note. Distractors are documents too: a *superseded* definition or a *draft* says so in
its own text and names the document that replaced it; a near-synonym is a current document about a
different concept with a similar name.

A ``Metric`` turns a current definition into questions: a question template, the gold SQL that
applies the current definition, and the *naive* SQL a reader who skipped the documents would
write. The grounded generator keeps a question only when the two give different answers.
"""
from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from env_server.core.docs import DOC_ID, Doc, DocKind, DocStatus  # noqa: F401 - re-exported
from env_server.grading.answers import Precision

AnswerType = Literal["int", "float", "string", "set"]


Parameters = Callable[[sqlite3.Connection, random.Random], list[dict[str, str]]]
"""Given the task database (trusted connection) and a seeded rng, candidate parameter bindings for
the question and SQL templates (e.g. ``[{"month": "2024-03", "month_name": "March 2024"}]``)."""


def no_parameters(conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
    """For metrics whose question takes no parameter."""
    return [{}]


@dataclass(frozen=True)
class Metric:
    """A business metric whose current definition lives in ``doc_ids``."""

    metric_id: str
    """Unique id, e.g. ``ecommerce-net-revenue``."""
    domain: str
    """The database domain it applies to (generated domain name, or ``external-<db>``)."""
    doc_ids: tuple[str, ...]
    """The current documents a correct answer must cite (the definition, plus any policy it needs)."""
    question: str
    """``str.format`` template over the parameters; uses the business term, not the definition."""
    gold_sql: str
    """``str.format`` template: the current definition as SQL; one column, one row for scalars."""
    naive_sql: str
    """``str.format`` template: what a reader who ignored the documents would compute."""
    answer_type: AnswerType
    tolerance: Precision | float | None = None
    """For float answers, the :class:`~env_server.grading.answers.Precision` the question states
    ("rounded to 2 decimals"; ``decimals = 2`` in ``data/metrics.toml``): an answer within half a
    unit of its last decimal counts. (A number is a legacy relative tolerance; no metric uses one.)"""
    parameters: Parameters = field(default=no_parameters, compare=False)
    distractor_ids: tuple[str, ...] = ()
    """Superseded, draft or near-synonym documents about the same concept (citing a superseded one costs)."""
