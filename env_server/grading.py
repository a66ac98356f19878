"""The grader: the only place that decides whether a submission is correct.

The environment, the TRL reward functions and the evaluation harness all call :class:`Grader`, so
the reward an agent is trained on is the reward it is evaluated with.

Query equivalence (debug, analyst, grounded)
    The candidate runs, read-only and sandboxed, on the task database and on ``K`` seeded variants
    (:mod:`env_server.variants`). It succeeds when its result matches the gold query's result on
    every one of them. Results compare as multisets of rows, or as sequences when the task says
    order matters; column names are ignored (positions are not); numbers compare with a tolerance
    and ``1 == 1.0``. A query that hard-codes the gold rows matches the main database only, so it
    fails.

Score
    ``1.0`` on success. A failed submission scores ``partial_credit * min(row F1)`` over the
    databases it was run on, so any failure scores at most ``partial_credit`` (default 0.1): near
    misses get a small gradient, and no exploit can earn more than that.

Cost
    Grading stops at the first database that rules success out: a candidate whose result differs
    on the task database is not run on the variants. Each run gets a budget of SQLite VM steps
    relative to the gold query's own count on that database (``budget_factor`` times it, at least
    ``min_budget_steps``; the sandbox's wall-time limit still applies), so a join explosion is cut
    off early and scores 0 as a ``timeout``. Step counts do not depend on the machine or its load,
    so the same submission always gets the same grade.

A fault in the task itself (a gold query that does not run) raises :class:`GraderError`: a grader
bug must never turn into a silent 0.
"""
from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Iterable, Sequence

from env_server.databases import Databases
from env_server.models import Grade
from env_server.sandbox import ErrorKind, Execution, SandboxConfig
from env_server.tasks.spec import Task


PARTIAL_CREDIT = 0.1
"""Default ceiling of a failed submission's score; ``RewardConfig`` checks dominance against it."""


class GraderError(RuntimeError):
    """The task cannot be graded: its reference does not run. Never a property of the candidate."""


@dataclass(frozen=True)
class GradingConfig:
    """How strictly results must agree."""

    variants: int = 3
    """Seeded database variants a candidate must also match (K)."""
    rel_tol: float = 1e-6
    """Relative tolerance for numbers."""
    abs_tol: float = 1e-6
    """Absolute tolerance for numbers."""
    partial_credit: float = PARTIAL_CREDIT
    """The most a failed submission can score (times its worst row F1)."""
    budget_factor: float = 20.0
    """A candidate may use this many times the gold query's VM steps on the same database..."""
    min_budget_steps: int = 1_500_000
    """...but never fewer than this many (about 50 ms of work on a 2020s CPU)."""
    reference_cache_size: int = 100_000
    """Gold results kept in memory (one per gold query, database and variant)."""


@dataclass(frozen=True)
class Reference:
    """A gold result, pre-indexed for fast comparison."""

    width: int
    rows: tuple[tuple, ...]
    counter: Counter
    canonical: Counter
    vm_steps: int = 0
    """SQLite VM steps the gold query used on this database."""


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


def _values_close(a: object, b: object, config: GradingConfig) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=config.rel_tol, abs_tol=config.abs_tol)
    return a == b


def _rows_close(a: Iterable[tuple], b: Iterable[tuple], config: GradingConfig) -> bool:
    return all(
        len(x) == len(y) and all(_values_close(p, q, config) for p, q in zip(x, y)) for x, y in zip(a, b)
    )


def reference_of(execution: Execution) -> Reference:
    rows = tuple(execution.rows)
    return Reference(
        width=len(execution.columns),
        rows=rows,
        counter=Counter(rows),
        canonical=Counter(canonical_row(r) for r in rows),
        vm_steps=execution.vm_steps,
    )


def results_match(rows: list[tuple], width: int, gold: Reference, ordered: bool, config: GradingConfig) -> bool:
    """Whether candidate ``rows`` (with ``width`` columns) equal the gold result."""
    if width != gold.width or len(rows) != len(gold.rows):
        return False
    if ordered:
        return list(gold.rows) == rows or _rows_close(rows, gold.rows, config)
    if Counter(rows) == gold.counter:
        return True
    if Counter(canonical_row(r) for r in rows) == gold.canonical:
        return True
    return _rows_close(sorted(rows, key=_sort_key), sorted(gold.rows, key=_sort_key), config)


def row_f1(rows: list[tuple], width: int, gold: Reference) -> float:
    """Multiset F1 between candidate rows and gold rows (canonical values, order ignored)."""
    if width != gold.width or not rows or not gold.rows:
        return 1.0 if not rows and not gold.rows and width == gold.width else 0.0
    overlap = sum((Counter(canonical_row(r) for r in rows) & gold.canonical).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(rows), overlap / len(gold.rows)
    return 2 * precision * recall / (precision + recall)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Grader:
    """Grades submissions against task references. Thread-safe; share one per process."""

    def __init__(self, databases: Databases | None = None, config: GradingConfig | None = None):
        self.databases = databases or Databases()
        self.config = config or GradingConfig()
        self._references: OrderedDict[tuple, Reference] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def sandbox_config(self) -> SandboxConfig:
        return self.databases.config

    # -- execution ---------------------------------------------------------------------------

    def run(self, task: Task, sql: str, variant: int = 0, max_vm_steps: int | None = None) -> Execution:
        """Run read-only ``sql`` for grading on the task database (0) or one of its variants."""
        template = self.databases.template(task.db, variant)
        return template.execute(sql, config=self.sandbox_config, purpose="grading", max_vm_steps=max_vm_steps)

    def budget_steps(self, reference: Reference) -> int:
        """The VM steps a candidate may use on the database ``reference`` was computed on."""
        return max(self.config.min_budget_steps, int(self.config.budget_factor * reference.vm_steps))

    def reference(self, task: Task, variant: int = 0) -> Reference:
        """The gold result of ``task`` on database ``variant``, cached by what it depends on: the gold
        SQL and the database (so tasks that share both, e.g. one gold query with several bugs, share it)."""
        if not task.gold_sql:
            raise GraderError(f"task {task.task_id} has no gold_sql")
        key = (task.gold_sql, self.databases.identity(task.db), variant)
        with self._lock:
            found = self._references.get(key)
            if found is not None:
                self._references.move_to_end(key)
                return found
        execution = self.run(task, task.gold_sql, variant)
        if not execution.ok:
            raise GraderError(
                f"gold SQL of task {task.task_id} fails on database variant {variant}: "
                f"{execution.error_kind.value if execution.error_kind else ''}: {execution.error}"
            )
        reference = reference_of(execution)
        with self._lock:
            self._references[key] = reference
            while len(self._references) > self.config.reference_cache_size:
                self._references.popitem(last=False)
        return reference

    # -- grading -----------------------------------------------------------------------------

    def grade_query(self, task: Task, sql: str) -> Grade:
        """Grade candidate ``sql`` for a query task (debug, analyst or grounded value SQL)."""
        k = self.config.variants
        f1s: list[float] = []
        passed = 0
        for variant in range(k + 1):
            gold = self.reference(task, variant)
            budget = self.budget_steps(gold)
            execution = self.run(task, sql, variant, max_vm_steps=budget)
            if not execution.ok:
                kind = execution.error_kind or ErrorKind.RUNTIME
                if variant == 0:
                    detail = execution.error
                    if kind is ErrorKind.TIMEOUT:
                        detail = (
                            f"stopped after its grading budget of {budget:,} SQLite VM steps "
                            f"({self.config.budget_factor:g}x the reference query's, at least {self.config.min_budget_steps:,})"
                        )
                    return Grade(
                        success=False,
                        score=0.0,
                        components={"executes": 0.0, "row_f1": 0.0, "variants_passed": 0.0},
                        reason=f"the query did not run ({kind.value}): {detail}",
                        error_kind=kind.value,
                    )
                f1s.append(0.0)
                continue
            width = len(execution.columns)
            match = results_match(execution.rows, width, gold, task.order_matters, self.config)
            f1 = 1.0 if match else row_f1(execution.rows, width, gold)
            f1s.append(f1)
            if variant == 0 and not match:
                reason = (
                    f"returns {_plural(width, 'column')}; the reference returns {gold.width}"
                    if width != gold.width
                    else f"result differs from the reference on the task database (row F1 {f1:.2f})"
                )
                return Grade(
                    success=False,
                    score=round(self.config.partial_credit * f1, 6),
                    components={"executes": 1.0, "row_f1": round(f1, 6), "variants_passed": 0.0},
                    reason=reason,
                )
            if variant > 0 and match:
                passed += 1
        success = passed == k
        score = 1.0 if success else round(self.config.partial_credit * min(f1s), 6)
        components = {"executes": 1.0, "row_f1": 1.0, "variants_passed": passed / k if k else 1.0}
        if success:
            reason = f"equivalent to the reference on the task database and all {k} variants"
        else:
            reason = (
                f"matches on the task database but only on {passed} of {k} variants: "
                "the query does not compute the answer from the data"
            )
        return Grade(success=success, score=score, components=components, reason=reason)

    # -- task validity -------------------------------------------------------------------------

    def task_problems(self, task: Task) -> list[str]:
        """Why ``task`` should not be kept (empty when it is valid). Checks the debug rules:
        the gold result is non-empty, it differs across variants, and the broken query errors or
        gives a different result on the task database."""
        problems: list[str] = []
        try:
            references = [self.reference(task, v) for v in range(self.config.variants + 1)]
        except GraderError as exc:
            return [str(exc)]
        main = references[0]
        if not main.rows:
            problems.append("gold result is empty")
        if all(
            results_match(list(r.rows), r.width, main, task.order_matters, self.config) for r in references[1:]
        ):
            problems.append("gold result is the same on every variant")
        if task.broken_sql is not None:
            broken = self.run(task, task.broken_sql, 0)
            if broken.ok and results_match(broken.rows, len(broken.columns), main, task.order_matters, self.config):
                problems.append("broken query gives the gold result")
        return problems
