"""How a candidate's result is compared with a gold result: the comparison every grade rests on.

Rows compare as multisets, or as sequences when order matters (except inside the gold's tie groups:
rows whose ORDER BY keys are equal may come in any order); column names are ignored, positions are
not; numbers compare with the grading tolerance and ``1 == 1.0``. :func:`canonical_row` is the one
canonical form of a row, used here, by database-state diffs (:mod:`env_server.grading.state_diff`)
and by the task-quality checks, so "the same rows" means one thing everywhere.
"""
from __future__ import annotations

import math
import secrets
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
    digest: Digest | None = None
    """Set for a result over ``max_rows_graded`` rows: it is compared by :class:`Digest` (``rows`` is then only
    the first rows, a preview)."""
    key_positions: tuple[int, ...] | None = None
    """Output columns of the ORDER BY keys (ordered tasks whose keys are output columns): what a digest of an
    ordered result hashes in order, so rows tied on their keys may come in any order."""
    row_count: int = -1
    """Rows of the result (``len(rows)`` unless it was digested)."""

    @property
    def size(self) -> int:
        return len(self.rows) if self.row_count < 0 else self.row_count


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


def reference_of(execution: Execution, ties: tuple[tuple[int, int], ...] = (), digest: Digest | None = None,
                 key_positions: tuple[int, ...] | None = None) -> Reference:
    rows = tuple(execution.rows)
    if digest is not None:  # a result too large to keep: its digest, and its first rows as a preview
        return Reference(width=len(execution.columns), rows=rows, counter=Counter(), canonical=Counter(),
                         vm_steps=execution.vm_steps, digest=digest, key_positions=key_positions,
                         row_count=digest.count)
    return Reference(
        width=len(execution.columns),
        rows=rows,
        counter=Counter(rows),
        canonical=Counter(canonical_row(r) for r in rows),
        vm_steps=execution.vm_steps,
        ties=ties,
        key_positions=key_positions,
    )


_MASK = (1 << 64) - 1
_SALTS = (secrets.randbits(62), secrets.randbits(62), secrets.randbits(62))
"""Per-process secrets mixed into every row hash: a policy cannot aim at a digest it cannot compute."""


class Digest:
    """A result of any size in bounded memory: its row count, two multiset hashes of its canonical rows (sums of
    two salted 64-bit row hashes, so any order of the same rows gives the same digest), and an order hash of
    its rows (or of their ORDER BY keys) in sequence. Two results match as multisets when counts and both sums
    agree (a chance collision needs 128 bits to agree), and in order when the order hash agrees too.

    Rows are canonical (:func:`canonical_row`: numbers to 9 significant digits, ``1 == 1.0``) before hashing,
    as small results are compared; the tolerance of small results (a value within ``rel_tol`` on the far side
    of a rounding boundary) is not applied to digested ones."""

    __slots__ = ("count", "sum1", "sum2", "order", "keys")

    def __init__(self, keys: tuple[int, ...] | None = None):
        self.count, self.sum1, self.sum2, self.order = 0, 0, 0, 0
        self.keys = keys

    def add(self, rows: Sequence[tuple]) -> None:
        a, b, c = _SALTS
        sum1, sum2, order, keys = self.sum1, self.sum2, self.order, self.keys
        for row in rows:
            canonical = canonical_row(row)
            sum1 += hash((a, canonical))
            sum2 += hash((canonical, b))
            ordered = canonical if keys is None else tuple(canonical[p] for p in keys if p < len(canonical))
            order = hash((c, order, ordered)) & _MASK
        self.sum1, self.sum2, self.order = sum1 & _MASK, sum2 & _MASK, order
        self.count += len(rows)

    def same_rows(self, other: Digest) -> bool:
        return (self.count, self.sum1, self.sum2) == (other.count, other.sum1, other.sum2)

    def matches(self, other: Digest, ordered: bool) -> bool:
        return self.same_rows(other) and (not ordered or (self.keys == other.keys and self.order == other.order))


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
                  canonical: Canonical | None = None, digest: Digest | None = None) -> bool:
    """Whether candidate ``rows`` (with ``width`` columns) equal the gold result: as multisets, or,
    when ``ordered``, position by position except within the gold's tie groups. ``canonical`` (of ``rows``)
    is filled when the comparison needs it, for :func:`row_f1` to reuse. A result too large to keep is
    compared by its ``digest`` (the candidate's) with the gold's: counts and hashes (:class:`Digest`)."""
    if digest is not None or gold.digest is not None:
        return (width == gold.width and digest is not None and gold.digest is not None
                and digest.matches(gold.digest, ordered))
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
    if tuple(rows) == gold.rows or Counter(rows) == gold.counter:  # the same order first: no hashing at all
        return True
    if (canonical or Canonical(rows)).counter == gold.canonical:
        return True
    return _rows_close(sorted(rows, key=_sort_key), sorted(gold.rows, key=_sort_key), config)


def row_f1(rows: list[tuple], width: int, gold: Reference, canonical: Canonical | None = None,
           digest: Digest | None = None) -> float:
    """Multiset F1 between candidate rows and gold rows (canonical values, order ignored). Where either result
    was digested it is 1.0 for the same rows and 0.0 otherwise (no partial credit on results that large)."""
    if digest is not None or gold.digest is not None:
        same = width == gold.width and digest is not None and gold.digest is not None and digest.same_rows(gold.digest)
        return 1.0 if same else 0.0
    if width != gold.width or not rows or not gold.rows:
        return 1.0 if not rows and not gold.rows and width == gold.width else 0.0
    overlap = sum(((canonical or Canonical(rows)).counter & gold.canonical).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(rows), overlap / len(gold.rows)
    return 2 * precision * recall / (precision + recall)
