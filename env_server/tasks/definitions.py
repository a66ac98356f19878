"""The business-documents corpus and the grounded metrics of the seven generated domains, read from ``data/``.

The data lives in files, not here: ``data/docs/<id>.md`` (one Markdown document each, the format of
:mod:`env_server.core.docs`; the ``external-*`` glossary documents there are written by the build from
defog-data and are not part of ``DOCS``) and ``data/metrics.toml`` (one ``[[metric]]`` table each, in
the order tasks are drawn). This module holds what is code: the parameter kinds a metric names
(``months``, ``terms``, ``values``) and the one loader, :func:`load_definitions`.

``DOCS`` is the company wiki the grounded family searches: for every generated domain
(ecommerce, hr, finance, logistics, education, healthcare, streaming) the *current* definitions
of its business terms and the policies they rely on, plus deliberate distractors that say what
they are in their own text: *superseded* older definitions, *drafts* that were never adopted,
and *near-synonyms* (current documents about a different concept with a similar name). A few
``general`` documents hold company-wide conventions.

``METRICS`` turns the current definitions into questions. Each ``Metric`` carries the gold SQL
that applies the current definition, the naive SQL a reader who skipped the documents (or
followed a superseded one) would write, the documents a correct answer cites, the distractors
about the same concept, and a ``parameters`` function that draws question bindings (months,
departments, regions, ...) from the task database.

Binding conventions: every binding maps names to strings. A value taken from the data comes with
two keys, ``<name>`` (plain text, for the question) and ``<name>_sql`` (the same value as a quoted
SQLite string literal, for the SQL templates). Months (``month``, ``YYYY-MM``) and terms (``term``,
``YYYY-SP|SU|FA``) are validated against a strict pattern and quoted in the templates themselves;
their human-readable forms are ``month_name`` ("March 2024") and ``term_name`` ("Fall 2024").

All dates are relative to the domains' reference date, 2024-12-31. ``DOCS`` and ``METRICS`` are
immutable: tuples of frozen dataclasses, loaded once at import.
"""
from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from env_server.core.docs import parse
from env_server.grading.answers import Precision, stated_precision
from env_server.tasks.grounding import Doc, Metric

__all__ = ["DOCS", "GENERATED_DOMAINS", "METRICS", "docs_for", "load_definitions", "metrics_for", "sql_literal"]

GENERATED_DOMAINS: tuple[str, ...] = (
    "ecommerce", "hr", "finance", "logistics", "education", "healthcare", "streaming",
)
"""The generated domains the corpus covers (``general`` documents apply to all of them)."""

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_TERM = re.compile(r"^\d{4}-(SP|SU|FA)$")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_TERM_NAMES = {"SP": "Spring", "SU": "Summer", "FA": "Fall"}


def sql_literal(value: str) -> str:
    """``value`` as a single-quoted SQLite string literal (quotes doubled, NUL refused)."""
    if "\x00" in value:
        raise ValueError("a SQL string literal cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _pick(rng: random.Random, values: list[str], limit: int) -> list[str]:
    """At most ``limit`` of the sorted ``values``: all of them, or a seeded sample kept in order."""
    values = sorted(set(values))
    if len(values) > limit:
        values = sorted(rng.sample(values, limit))
    return values


@dataclass(frozen=True)
class _Months:
    """Parameters: calendar months (``month``, ``month_name``) that ``sql`` finds in the data.

    ``sql`` returns one ``YYYY-MM`` text per row; months outside ``first``..``last`` are dropped.
    """

    sql: str
    first: str = "2024-01"
    last: str = "2024-12"
    limit: int = 12

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate month bindings, oldest first."""
        found = [str(row[0]) for row in conn.execute(self.sql) if row[0] is not None]
        months = [m for m in found if _MONTH.match(m) and self.first <= m <= self.last]
        return [
            {"month": m, "month_name": f"{_MONTH_NAMES[int(m[5:]) - 1]} {m[:4]}"}
            for m in _pick(rng, months, self.limit)
        ]


@dataclass(frozen=True)
class _Terms:
    """Parameters: academic terms (``term``, ``term_name``) that ``sql`` finds in the data."""

    sql: str
    limit: int = 8

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate term bindings, in code order."""
        terms = [str(row[0]) for row in conn.execute(self.sql) if row[0] is not None and _TERM.match(str(row[0]))]
        return [{"term": t, "term_name": f"{_TERM_NAMES[t[5:]]} {t[:4]}"} for t in _pick(rng, terms, self.limit)]


@dataclass(frozen=True)
class _Values:
    """Parameters: text values of one kind (a department, a region, ...) that ``sql`` finds in the data.

    Each binding holds ``key`` (the plain value) and ``key_sql`` (it as a quoted SQL literal).
    """

    key: str
    sql: str
    limit: int = 10

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate value bindings, in sorted order."""
        values = [str(row[0]) for row in conn.execute(self.sql) if row[0] is not None and str(row[0]).strip()]
        return [{self.key: v, f"{self.key}_sql": sql_literal(v)} for v in _pick(rng, values, self.limit)]


PARAMETER_KINDS = {"months": _Months, "terms": _Terms, "values": _Values}
"""The ``kind`` of a metric's ``parameters`` table, and the class its other keys are given to."""

SOURCE_DIR = Path(__file__).resolve().parents[2] / "data"
"""The repository's own ``data/`` (not ``$DATAOPS_DATA_DIR``: a custom data folder does not redefine the corpus)."""


def _metric(entry: dict[str, Any], origin: str) -> Metric:
    """One ``[[metric]]`` table as a :class:`Metric`; errors name the file and the metric.

    A float metric gives ``decimals = N`` (its :class:`~env_server.grading.answers.Precision`) and its
    question must say so in the words of :attr:`Precision.phrase` ("rounded to 2 decimals"): an
    answer counts within half a unit of that last decimal, so the question has to state it."""
    entry = dict(entry)
    name = f"{origin}: metric {entry.get('metric_id', '?')}"
    parameters = dict(entry.pop("parameters", {}))
    kind = parameters.pop("kind", None)
    if kind not in PARAMETER_KINDS:
        raise ValueError(f"{name}: parameters.kind must be one of {', '.join(PARAMETER_KINDS)}, not {kind!r}")
    if "tolerance" in entry:
        raise ValueError(f"{name}: give the precision the question states as 'decimals = N', not a tolerance")
    decimals = entry.pop("decimals", None)
    try:
        if decimals is not None:
            entry["tolerance"] = Precision(decimals)
        metric = Metric(**{**entry, "doc_ids": tuple(entry.get("doc_ids", ())),
                           "distractor_ids": tuple(entry.get("distractor_ids", ()))},
                        parameters=PARAMETER_KINDS[kind](**parameters))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: {exc}") from None
    if metric.answer_type == "float":
        if metric.tolerance is None:
            raise ValueError(f"{name}: a float metric needs 'decimals = N', the precision its question states")
        if stated_precision(metric.question) != metric.tolerance:
            raise ValueError(f"{name}: the question must state its precision: '{metric.tolerance.phrase}'")
    elif decimals is not None:
        raise ValueError(f"{name}: 'decimals' is for float metrics only")
    return metric


def load_definitions(folder: Path = SOURCE_DIR) -> tuple[tuple[Doc, ...], tuple[Metric, ...]]:
    """The documents of the generated domains (``folder/docs``, glossaries left out) and every metric
    (``folder/metrics.toml``), checked: each metric cites and names as distractors only documents that exist."""
    docs = tuple(
        doc for doc in (parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted((folder / "docs").glob("*.md")))
        if doc.domain in GENERATED_DOMAINS or doc.domain == "general"
    )
    path = folder / "metrics.toml"
    with path.open("rb") as handle:
        metrics = tuple(_metric(entry, str(path)) for entry in tomllib.load(handle).get("metric", []))
    known = {doc.doc_id for doc in docs}
    for metric in metrics:
        unknown = [d for d in (*metric.doc_ids, *metric.distractor_ids) if d not in known]
        if unknown:
            raise ValueError(f"{path}: metric {metric.metric_id} names unknown document(s) {', '.join(unknown)}")
    return docs, metrics


DOCS, METRICS = load_definitions()
"""``DOCS``: every business document of the generated domains, plus the ``general`` ones (sorted by id).
``METRICS``: every grounded metric of the generated domains (at least three per domain), in file order."""


def docs_for(domain: str) -> list[Doc]:
    """The documents whose ``domain`` is exactly ``domain`` (``"general"`` gives the company-wide ones).

    The general documents are not repeated for each domain; a search corpus for a domain is its own
    documents plus ``docs_for("general")``. An unknown domain has no documents.
    """
    return [doc for doc in DOCS if doc.domain == domain]


def metrics_for(domain: str) -> list[Metric]:
    """The metrics that apply to databases of ``domain``."""
    return [metric for metric in METRICS if metric.domain == domain]
