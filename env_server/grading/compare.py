"""How a candidate's result is compared with a gold result: the comparison every grade rests on.

Rows compare as multisets, or as sequences when order matters (except inside the gold's tie groups:
rows whose ORDER BY keys are equal may come in any order); column names are ignored, positions are
not; numbers compare with the grading tolerance and ``1 == 1.0``. :func:`canonical_row` is the one
canonical form of a row, used here, by database-state diffs (:mod:`env_server.grading.state_diff`)
and by the task-quality checks, so "the same rows" means one thing everywhere.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from env_server.core.sandbox import Execution

if TYPE_CHECKING:
    from env_server.grading.grader import GradingConfig


@dataclass(frozen=True)
class Reference:
    """A gold result, pre-indexed for fast comparison."""

    width: int
    rows: tuple[tuple, ...]
    counter: Counter
    canonical: Counter
    vm_steps: int = 0
    """SQLite VM steps the gold query used on this database."""
    ties: tuple[tuple[int, int], ...] = ()
    """``(start, end)`` of each run of rows whose order the ORDER BY keys leave open (ordered tasks)."""


def _canonical_value(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return float(f"{number:.9g}") if math.isfinite(number) else number
    if isinstance(value, bool):
        return float(value)
    return value


def canonical_row(row: Sequence[object]) -> tuple:
    """A row with numbers rounded to 9 significant digits and ints as floats (``1 == 1.0``)."""
    return tuple(_canonical_value(v) for v in row)


def _sort_key(row: tuple) -> tuple:
    key = []
    for v in row:
        if v is None:
            key.append((0, 0.0))
        elif isinstance(v, (int, float)):
            key.append((1, float(v)))
        elif isinstance(v, str):
            key.append((2, v))
        else:
            key.append((3, bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else repr(v)))
    return tuple(key)


def _values_close(a: object, b: object, config: "GradingConfig") -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=config.rel_tol, abs_tol=config.abs_tol)
    return a == b


def _rows_close(a: Iterable[tuple], b: Iterable[tuple], config: "GradingConfig") -> bool:
    return all(
        len(x) == len(y) and all(_values_close(p, q, config) for p, q in zip(x, y)) for x, y in zip(a, b)
    )


def reference_of(execution: Execution, ties: tuple[tuple[int, int], ...] = ()) -> Reference:
    rows = tuple(execution.rows)
    return Reference(
        width=len(execution.columns),
        rows=rows,
        counter=Counter(rows),
        canonical=Counter(canonical_row(r) for r in rows),
        vm_steps=execution.vm_steps,
        ties=ties,
    )


class Canonical:
    """A candidate's rows canonicalised at most once (:func:`canonical_row`, counted), however many comparisons
    read them: :func:`results_match` and :func:`row_f1` of one database share it."""

    __slots__ = ("rows", "_counter")

    def __init__(self, rows: Sequence[tuple]):
        self.rows = rows
        self._counter: Counter | None = None

    @property
    def counter(self) -> Counter:
        if self._counter is None:
            self._counter = Counter(canonical_row(r) for r in self.rows)
        return self._counter


def _multiset_match(rows: Sequence[tuple], gold_rows: Sequence[tuple], config: "GradingConfig") -> bool:
    if Counter(rows) == Counter(gold_rows):
        return True
    if Counter(canonical_row(r) for r in rows) == Counter(canonical_row(r) for r in gold_rows):
        return True
    return _rows_close(sorted(rows, key=_sort_key), sorted(gold_rows, key=_sort_key), config)


def results_match(rows: list[tuple], width: int, gold: Reference, ordered: bool, config: "GradingConfig",
                  canonical: Canonical | None = None) -> bool:
    """Whether candidate ``rows`` (with ``width`` columns) equal the gold result: as multisets, or,
    when ``ordered``, position by position except within the gold's tie groups. ``canonical`` (of ``rows``)
    is filled when the comparison needs it, for :func:`row_f1` to reuse."""
    if width != gold.width or len(rows) != len(gold.rows):
        return False
    if ordered:
        if list(gold.rows) == rows or _rows_close(rows, gold.rows, config):
            return True
        if not gold.ties:
            return False
        position = 0
        for start, end in gold.ties:
            if not _rows_close(rows[position:start], gold.rows[position:start], config):
                return False
            if not _multiset_match(rows[start:end], gold.rows[start:end], config):
                return False
            position = end
        return _rows_close(rows[position:], gold.rows[position:], config)
    if Counter(rows) == gold.counter:
        return True
    if (canonical or Canonical(rows)).counter == gold.canonical:
        return True
    return _rows_close(sorted(rows, key=_sort_key), sorted(gold.rows, key=_sort_key), config)


def row_f1(rows: list[tuple], width: int, gold: Reference, canonical: Canonical | None = None) -> float:
    """Multiset F1 between candidate rows and gold rows (canonical values, order ignored)."""
    if width != gold.width or not rows or not gold.rows:
        return 1.0 if not rows and not gold.rows and width == gold.width else 0.0
    overlap = sum(((canonical or Canonical(rows)).counter & gold.canonical).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(rows), overlap / len(gold.rows)
    return 2 * precision * recall / (precision + recall)
