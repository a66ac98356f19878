"""The grader: the only place that decides whether a submission is correct.

The environment, the TRL reward functions and the evaluation harness all call :class:`Grader`, so
the reward an agent is trained on is the reward it is evaluated with.

Query equivalence (debug, analyst, grounded)
    The candidate runs, read-only and sandboxed, on the task database and on ``K`` seeded variants
    (:mod:`env_server.core.variants`). It succeeds when its result matches the gold query's result on
    every one of them. Results compare as multisets of rows, or as sequences when the task says
    order matters; column names are ignored (positions are not); numbers compare with a tolerance
    and ``1 == 1.0``. A query that hard-codes the gold rows matches the main database only, so it
    fails.

Score
    ``1.0`` on success. A failed submission scores ``partial_credit * min(row F1)`` over the
    databases it was run on, so any failure scores at most ``partial_credit`` (default 0.1): near
    misses get a small gradient, and no exploit can earn more than that.

Order
    When order matters, rows are compared position by position, except inside tie groups: rows
    whose ORDER BY keys are equal (or differ only by float noise within the tolerance) may come in
    any order (:mod:`env_server.core.order_keys`). Variants store rows in a shuffled physical order, so
    an answer that leans on SQLite's scan order where the question fixes a tiebreaker fails there.

Cost
    References (gold results) are computed once per (gold query, database, variant), with a step
    ceiling (``reference_max_steps``) and no wall-clock limit, and cached; a reference that fails is
    cached as a failure too, so a broken task is reported once and costs nothing after. A candidate
    gets one budget of SQLite VM steps for the whole submission, shared by the task database and its
    variants: ``budget_factor`` times the gold's own steps over the same databases, and never less
    than ``min_budget_steps`` (about a second of SQLite work), so any query a data engineer would
    accept on that table size passes. Grading stops at the first database that rules success out.
    Step counts do not depend on the machine or its load, so the same submission always gets the
    same grade; running out of budget is reported as a ``timeout``, never as a wrong answer. No wall
    clock decides a grade. Candidates run on pooled read-only connections of their own
    (:meth:`Template.execute <env_server.core.sandbox.Template.execute>`): no lock is held while one
    runs, so a slow candidate delays another only by its share of the CPU. A run whose steps are
    unusually expensive (long strings reused row after row) can be stopped by the CPU-time safety net
    (``SandboxConfig.grading_cpu_limit_s``) before its budget runs out: the grader then raises
    :class:`~env_server.core.sandbox.NotGraded` (HTTP ``not_graded``, reward ``None``), never a 0.

Answers (analyst, grounded)
    The gold answer is the gold query's result on the task database, typed (int, float with a
    tolerance, string, or a set graded by F1) by :mod:`env_server.grading.answers`, which strips
    preambles and markdown and scores 0 for a scalar answer that sprays several candidates.
    Grounded answers are graded a second time for their citations: F1 against the documents the
    current definition lives in. Success needs the right value, every required document, no
    superseded or draft document, and at least half of the citations relevant, so citing the
    whole corpus fails.

Repairs
    The agent's successful write statements are replayed, in order, on K variants of the corrupted
    database (each corrupted on different rows, :mod:`env_server.core.databases`). Every table of the
    final state, on the task database and on each variant, is compared with the gold-repaired state
    of that database (:mod:`env_server.grading.state_diff`). Success needs every table exact everywhere; a
    repair that writes values it read off the task database matches there and fails on the
    variants. Damage to tables that needed no change, and tables that should not exist, count
    against the repair like any other difference.

A fault in the task itself (a gold query that does not run) raises :class:`GraderError`: a grader
bug must never turn into a silent 0.

Size: over 600 lines on purpose: the one place that decides correctness (queries, answers, repairs, task
validity) stays in one file so it can be reviewed as one.
"""
from __future__ import annotations

import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from env_server.core.databases import Databases, run_trusted
from env_server.core.sandbox import ErrorKind, Execution, NotGraded, SandboxConfig, execute
from env_server.grading.grade import Grade
from env_server.grading.compare import (
    Canonical,
    Digest,
    Reference,
    reference_of,
    results_match,
    row_f1,
)
from env_server.grading.query_plan import nested_scan_rows
from env_server.grading.state_diff import base_snapshot, diff, snapshot

if TYPE_CHECKING:  # the grader takes its families as a parameter: grading never imports a layer above it
    from env_server.families import FamilyRegistry
    from env_server.tasks.spec import Task

PARTIAL_CREDIT = 0.1
TARGET_CACHE_SIZE = 128
"""Repair targets (start and gold-repaired states) kept in memory; each holds the rows the gold repair changed
(and any view or table without a rowid whole)."""
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
    """A candidate may use this many times the gold query's VM steps over the same databases..."""
    min_budget_steps: int = 250_000_000
    """...but never fewer than this many, over the task database and its variants together (one to two
    seconds of SQLite work on a 2020s CPU core)."""
    reference_max_steps: int = 20_000_000_000
    """Ceiling of a gold query's own run (no wall-clock limit applies to references)."""
    repair_budget_steps: int = 250_000_000
    """VM steps a repair script may use in one replay, all its statements together."""
    reference_cache_size: int = 100_000
    """Gold results kept in memory (one per gold query, database and variant)."""
    cartesian_rows: int = 50_000_000
    """A task whose gold or broken query would nest full scans over more row combinations than this (read from
    SQLite's plan, :mod:`env_server.grading.query_plan`) is rejected by :meth:`Grader.task_problems` without
    running it. The built-in domains' largest table has 1,500 rows, so no two-table product there comes near."""


def _load_dump(conn: sqlite3.Connection, path, dialect: str) -> None:
    """How the grader's databases load a SQL dump (``sql_path``): the ingest layer's transpiler, imported on first
    use (sqlglot's dialects are slow to import and most graders never see a dump)."""
    from env_server.ingest.transpile import load_file

    load_file(conn, path, dialect=dialect)


def _net_detail(execution: Execution) -> str:
    return (f"was stopped by the grading safety net after {execution.vm_steps:,} VM steps, before its step budget "
            f"ran out ({execution.error}); its steps are unusually expensive (long strings or blobs worked on row "
            "after row). Send a simpler submission; this one is not scored")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Grader:
    """Grades submissions against task references. Thread-safe; share one per process."""

    def __init__(self, databases: Databases | None = None, config: GradingConfig | None = None, docs=None,
                 target_cache: int = TARGET_CACHE_SIZE, families: FamilyRegistry | None = None):
        self.databases = databases or Databases(load_dump=_load_dump)
        self._families = families
        self.target_cache = target_cache
        """Repair targets kept (:data:`TARGET_CACHE_SIZE` by default; a task build that checks hundreds of
        candidates once each keeps few)."""
        self.config = config or GradingConfig()
        self._references: OrderedDict[tuple, Reference | GraderError] = OrderedDict()
        self._reference_sets: OrderedDict[tuple, tuple[Reference, ...] | GraderError] = OrderedDict()
        """The task database's and every variant's reference together, one lookup per graded query."""
        self._targets: OrderedDict[tuple, tuple | GraderError] = OrderedDict()
        self._lock = threading.Lock()
        self._docs = docs

    @property
    def families(self) -> FamilyRegistry:
        """The task families this grader plays (every environment and backend built on it asks these): given to
        the constructor, since grading sits below the families (``env_server.families.make_grader`` gives one the
        built-in families). Grading a query or a repair needs none; grading by family does."""
        if self._families is None:
            raise GraderError("this Grader was made without a family registry, and grading by family needs one: "
                              "Grader(families=env_server.families.default_families()) or "
                              "env_server.families.make_grader()")
        return self._families

    @property
    def docs(self):
        """The docs corpus grounded answers cite (``data/docs`` unless one was given); loaded on first use."""
        if self._docs is None:
            from env_server.core.docs import DocCorpus

            corpus = DocCorpus.load()
            with self._lock:
                if self._docs is None:
                    self._docs = corpus
        return self._docs

    @property
    def sandbox_config(self) -> SandboxConfig:
        return self.databases.config

    # -- execution ---------------------------------------------------------------------------

    def run(self, task: Task, sql: str, variant: int = 0, max_vm_steps: int | None = None,
            digest: Digest | None = None) -> Execution:
        """Run read-only ``sql`` for grading on the task database (0) or one of its variants. With ``digest``, a
        result over ``max_rows_graded`` rows is digested into it as it streams (``execution.truncated``)."""
        template = self.databases.template(task.db, variant)
        return template.execute(sql, config=self.sandbox_config, purpose="grading", max_vm_steps=max_vm_steps,
                                overflow=digest.add if digest is not None else None)

    def budget_steps(self, references: Sequence[Reference]) -> int:
        """The VM steps a candidate may use over the databases ``references`` were computed on, together."""
        gold = sum(r.vm_steps for r in references)
        return max(self.config.min_budget_steps, int(self.config.budget_factor * gold))

    def _trusted_run(self, task: Task, sql: str, variant: int, digest: Digest | None = None) -> Execution:
        template = self.databases.template(task.db, variant)
        return template.execute(sql, config=self.sandbox_config, purpose="grading",
                                max_vm_steps=self.config.reference_max_steps, cpu_limit_s=math.inf,
                                overflow=digest.add if digest is not None else None)

    def _compute_reference(self, task: Task, variant: int) -> Reference:
        from env_server.core.order_keys import keyed_query, tie_groups

        assert task.gold_sql
        keyed = keyed_query(task.gold_sql) if task.order_matters else None
        key_positions = keyed.positions if keyed is not None and not keyed.extra else None
        digest = Digest(keys=key_positions if task.order_matters else None)
        try:
            execution = self._trusted_run(task, task.gold_sql, variant, digest)
        except FileNotFoundError as exc:
            raise GraderError(f"database of task {task.task_id} is missing: {exc}") from None
        if not execution.ok:
            raise GraderError(
                f"gold SQL of task {task.task_id} fails on database variant {variant}: "
                f"{execution.error_kind.value if execution.error_kind else ''}: {execution.error}"
            )
        if execution.truncated:  # over max_rows_graded: compared by its digest (ties through key_positions)
            return reference_of(execution, digest=digest, key_positions=key_positions)
        ties: tuple[tuple[int, int], ...] = ()
        if keyed is not None and len(execution.rows) > 1:
            if keyed.extra:
                with_keys = self._trusted_run(task, keyed.sql, variant)
                width = len(execution.columns)
                rows = [tuple(r[:width]) for r in with_keys.rows] if with_keys.ok else None
                key_rows = with_keys.rows if rows == execution.rows else None
            else:
                key_rows = execution.rows
            if key_rows is not None:
                keys = [[row[p] for p in keyed.positions] for row in key_rows]
                ties = tie_groups(keys, self.config.rel_tol, self.config.abs_tol)
        return reference_of(execution, ties, key_positions=key_positions)

    def _identity(self, task: Task) -> str:
        try:
            return self.databases.identity(task.db)
        except FileNotFoundError as exc:
            raise GraderError(f"database of task {task.task_id} is missing: {exc}") from None

    def reference(self, task: Task, variant: int = 0) -> Reference:
        """The gold result of ``task`` on database ``variant``, cached by what it depends on: the gold
        SQL, the database and whether order matters (so tasks that share them, e.g. one gold query with
        several bugs, share it). A failing reference is cached too and raises the same GraderError."""
        if not task.gold_sql:
            raise GraderError(f"task {task.task_id} has no gold_sql")
        return self._reference(task, self._identity(task), variant)

    def _reference(self, task: Task, identity: str, variant: int) -> Reference:
        key = (task.gold_sql, identity, variant, task.order_matters)
        return self._cached(self._references, key, lambda: self._compute_reference(task, variant),
                            self.config.reference_cache_size)

    def _reference_set(self, task: Task, identity: str) -> tuple[Reference, ...]:
        """The references of the task database and of each of its ``variants`` variants, in that order."""
        k = self.config.variants
        key = (task.gold_sql, identity, task.order_matters, k)
        return self._cached(self._reference_sets, key,
                            lambda: tuple(self._reference(task, identity, v) for v in range(k + 1)),
                            self.config.reference_cache_size)

    def _cached(self, cache: OrderedDict, key: tuple, compute, capacity: int):
        """``cache[key]``, computed once by ``compute`` (a GraderError is cached too, and raised again)."""
        with self._lock:
            found = cache.get(key)
            if found is not None:
                cache.move_to_end(key)
        if found is None:
            try:
                found = compute()
            except GraderError as exc:
                found = exc
            with self._lock:
                cache[key] = found
                while len(cache) > capacity:
                    cache.popitem(last=False)
        if isinstance(found, GraderError):
            raise GraderError(str(found))
        return found

    # -- grading -----------------------------------------------------------------------------

    def grade_query(self, task: Task, sql: str) -> Grade:
        """Grade candidate ``sql`` for a query task (debug, analyst or grounded value SQL)."""
        return self.run_and_grade_query(task, sql)[1]

    def run_and_grade_query(self, task: Task, sql: str) -> tuple[Execution, Grade]:
        """``sql``'s run on the task database and its grade. The run is the grading run itself (every row up
        to ``max_rows_graded``), so an episode shows it instead of running the query once more."""
        k = self.config.variants
        if not task.gold_sql:
            raise GraderError(f"task {task.task_id} has no gold_sql")
        references = self._reference_set(task, self._identity(task))
        budget = self.budget_steps(references)
        remaining = budget
        f1s: list[float] = []
        failing: list[str] = []
        order_only = False
        passed = 0
        keys = references[0].key_positions if task.order_matters else None
        streamed = Digest(keys)  # filled only by a result over max_rows_graded rows
        first = execution = self.run(task, sql, 0, max_vm_steps=remaining, digest=streamed)  # always run
        for variant, gold in enumerate(references):
            if variant:
                streamed = Digest(keys)
                execution = self.run(task, sql, variant, max_vm_steps=max(remaining, 1), digest=streamed)
            remaining -= execution.vm_steps
            where = "the task database" if variant == 0 else f"variant {variant}"
            if execution.stopped_by == "safety_net":
                raise NotGraded(f"not graded: the run on {where} {_net_detail(execution)}")
            if not execution.ok:
                kind = execution.error_kind or ErrorKind.RUNTIME
                detail = execution.error
                if kind is ErrorKind.TIMEOUT:
                    gold_steps = sum(r.vm_steps for r in references)
                    detail = (
                        f"ran out of its grading budget of {budget:,} SQLite VM steps on {where} (the budget covers "
                        f"the task database and its {k} variants together: {self.config.budget_factor:g}x the "
                        f"reference query's {gold_steps:,} steps there, at least {self.config.min_budget_steps:,})"
                    )
                    return first, Grade(
                        success=False,
                        score=0.0,
                        components={"executes": 0.0 if variant == 0 else 1.0, "row_f1": 0.0, "variants_passed": 0.0},
                        reason=f"the query did not finish (timeout): {detail}",
                        error_kind=kind.value,
                    )
                if variant == 0:
                    return first, Grade(
                        success=False,
                        score=0.0,
                        components={"executes": 0.0, "row_f1": 0.0, "variants_passed": 0.0},
                        reason=f"the query did not run ({kind.value}): {detail}",
                        error_kind=kind.value,
                    )
                f1s.append(0.0)
                failing.append(f"{variant} ({kind.value})")
                continue
            width = len(execution.columns)
            canonical = Canonical(execution.rows)  # canonicalised once for both comparisons, if either needs it
            digest = streamed if execution.truncated else None
            match = results_match(execution.rows, width, gold, task.order_matters, self.config, canonical, digest)
            f1 = 1.0 if match else row_f1(execution.rows, width, gold, canonical, digest)
            f1s.append(f1)
            if variant == 0 and not match:
                reason = (
                    f"returns {_plural(width, 'column')}; the reference returns {gold.width}"
                    if width != gold.width
                    else f"result differs from the reference on the task database (row F1 {f1:.2f})"
                )
                return first, Grade(
                    success=False,
                    score=round(self.config.partial_credit * f1, 6),
                    components={"executes": 1.0, "row_f1": round(f1, 6), "variants_passed": 0.0},
                    reason=reason,
                )
            if variant > 0 and match:
                passed += 1
            elif variant > 0:
                failing.append(str(variant))
                order_only = order_only or f1 == 1.0
        success = passed == k
        score = 1.0 if success else round(self.config.partial_credit * min(f1s), 6)
        components = {"executes": 1.0, "row_f1": 1.0, "variants_passed": passed / k if k else 1.0}
        if success:
            reason = f"equivalent to the reference on the task database and all {k} variants"
        else:
            reason = (
                f"matches on the task database but only on {passed} of {k} variants (not on variant "
                f"{', '.join(failing)}): the query does not compute the answer from the data"
            )
            if order_only:
                reason = (
                    f"matches on the task database but only on {passed} of {k} variants (not on variant "
                    f"{', '.join(failing)}): the right rows in another order there; the query relies on an order "
                    "the question does not fix (e.g. it drops a tiebreaker)"
                )
        return first, Grade(success=success, score=score, components=components, reason=reason)

    def grade_submission(
        self, task: Task, sql: str | None = None, answer: object = None, citations: list[str] | None = None
    ) -> Grade:
        """The grade of a one-shot submission in the family's own terms: debug ``sql`` (a query), repair
        ``sql`` (a script of write statements, replayed in order), analyst and grounded ``answer``
        (and ``citations``), as the task's family says (:meth:`Family.grade
        <env_server.families.family.Family.grade>`). What ``POST /grade`` and the reward functions call."""
        return self.families[task.family].grade(self, task, sql=sql, answer=answer, citations=citations)

    def grade_answer(self, task: Task, answer: object, citations: list[str] | None = None) -> Grade:
        """Grade a typed ``answer`` (analyst, grounded) and, for grounded tasks, its ``citations``."""
        from env_server.grading.answers import check_answer, gold_value

        if task.answer_type is None:
            raise GraderError(f"task {task.task_id} has no answer_type")
        try:
            gold = gold_value(list(self.reference(task, 0).rows), task.answer_type)
        except ValueError as exc:
            raise GraderError(f"gold answer of task {task.task_id} is unusable: {exc}") from None
        check = check_answer(answer, gold, task.answer_type, task.tolerance)
        value_score = check.score if task.answer_type == "set" else float(check.correct)
        components = {"value": round(value_score, 6), "sprayed": float(check.sprayed)}
        if not self.families[task.family].cites:
            score = 1.0 if check.correct else round(self.config.partial_credit * value_score, 6)
            return Grade(success=check.correct, score=score, components=components, reason=check.reason)
        cited = list(dict.fromkeys(str(c).strip() for c in (citations or []) if str(c).strip()))
        required = set(task.doc_ids)
        superseded = sorted(c for c in cited if c in self.docs and self.docs.get(c).status != "current")
        relevant = sum(c in required for c in cited)
        precision = relevant / len(cited) if cited else 0.0
        recall = relevant / len(required) if required else 1.0
        f1 = 0.0 if relevant == 0 else 2 * precision * recall / (precision + recall)
        components |= {
            "citation_f1": round(f1, 6),
            "citation_precision": round(precision, 6),
            "citation_recall": round(recall, 6),
            "superseded_cited": float(len(superseded)),
        }
        problems = []
        if recall < 1:
            problems.append(f"{len(required) - relevant} of {len(required)} required document(s) not cited")
        if superseded:
            problems.append(f"cites superseded or draft document(s) {', '.join(superseded)}")
        if cited and precision < 0.5:
            problems.append(f"only {relevant} of {len(cited)} citations are relevant")
        success = check.correct and not problems
        score = 1.0 if success else round(
            self.config.partial_credit * value_score * f1 * (0.0 if superseded else 1.0), 6
        )
        reason = check.reason if not problems else f"{check.reason}; citations: {'; '.join(problems)}"
        return Grade(success=success, score=score, components=components, reason=reason)

    def repair_target(self, task: Task, variant: int = 0) -> tuple:
        """``(start, target, start_diff, gold_steps)`` of ``variant``: snapshots of the corrupted state and
        of the gold-repaired one, the table diff between them, and the VM steps the gold repair took
        (cached, failures included: each holds the changed rows only)."""
        if not task.gold_repair_sql:
            raise GraderError(f"task {task.task_id} has no gold_repair_sql")
        identity = self._identity(task)
        key = (tuple(task.gold_repair_sql), identity, variant)
        return self._cached(self._targets, key, lambda: self._compute_target(task, variant), self.target_cache)

    def _compute_target(self, task: Task, variant: int) -> tuple:
        assert task.gold_repair_sql
        try:
            template = self.databases.template(task.db, variant)
        except (FileNotFoundError, ValueError) as exc:
            raise GraderError(f"database of task {task.task_id} cannot be built: {exc}") from None
        start = base_snapshot(template, self.sandbox_config)
        conn = template.clone(self.sandbox_config)
        calls = 0

        def count() -> int:
            nonlocal calls
            calls += 1
            return 0

        interval = self.sandbox_config.progress_interval
        conn.set_progress_handler(count, interval)
        try:
            try:
                run_trusted(conn, task.gold_repair_sql, what=f"task {task.task_id}, variant {variant}: gold repair")
            except ValueError as exc:
                raise GraderError(str(exc)) from None
            conn.set_progress_handler(None, 0)
            target = snapshot(conn, self.sandbox_config, base=template)
        finally:
            conn.close()
        return (start, target, diff(start, target), calls * interval)

    def repair_budget(self, task: Task) -> int:
        """VM steps a repair script may use over all its replays together (task database and variants)."""
        gold = sum(self.repair_target(task, v)[3] for v in range(self.config.variants + 1))
        return max(self.config.repair_budget_steps, int(self.config.budget_factor * gold))

    def _replay(self, task: Task, variant: int, statements: Sequence[str], budget: int) -> tuple[object, int, bool]:
        """Replay ``statements`` on a fresh copy of ``variant``: ``(snapshot, steps used, ran out of budget)``."""
        template = self.databases.template(task.db, variant)
        conn = template.clone(self.sandbox_config)
        used = 0
        try:
            for statement in statements:
                execution = execute(conn, statement, mode="write", config=self.sandbox_config, purpose="grading",
                                    max_vm_steps=max(budget - used, 1))
                used += execution.vm_steps
                if execution.stopped_by == "safety_net":
                    where = "the task database" if variant == 0 else f"variant {variant}"
                    raise NotGraded(f"not graded: replaying the repair on {where}, a statement {_net_detail(execution)}")
                if execution.error_kind is ErrorKind.TIMEOUT:
                    return None, used, True
            return snapshot(conn, self.sandbox_config, base=template), used, False
        finally:
            conn.close()

    def grade_repair(self, task: Task, statements: Sequence[str], final: sqlite3.Connection | None = None) -> Grade:
        """Grade a repair: the write ``statements`` the agent ran successfully, in order, and (optionally)
        its final connection. Without ``final`` the statements are replayed on the task database too.
        All replays share one VM-step budget (:meth:`repair_budget`)."""
        k = self.config.variants
        targets = [self.repair_target(task, variant) for variant in range(k + 1)]
        budget = self.repair_budget(task)
        used = 0
        progresses: list[float] = []
        passed = 0
        main_diff: dict = {}
        for variant, (start, target, start_diff_v, _) in enumerate(targets):
            if variant == 0 and final is not None:
                state = snapshot(final, self.sandbox_config, base=self.databases.template(task.db, 0))
            else:
                state, steps, ran_out = self._replay(task, variant, statements, budget - used)
                used += steps
                if ran_out:
                    where = "the task database" if variant == 0 else f"variant {variant}"
                    return Grade(
                        success=False, score=0.0,
                        components={"row_f1": 0.0, "tables_exact": 0.0, "progress": 0.0, "variants_passed": 0.0,
                                    "damaged_tables": 0.0},
                        reason=(f"the repair did not finish (timeout): replaying it ran out of its grading budget of "
                                f"{budget:,} SQLite VM steps on {where} (shared by the task database and its {k} "
                                f"variants)"),
                        error_kind="timeout",
                    )
            table_diff = diff(state, target)
            needed = sum(d.distance for d in start_diff_v.values())
            remaining = sum(d.distance for d in table_diff.values())
            progress = 1.0 - remaining / needed if needed else float(remaining == 0)
            progresses.append(progress)
            if variant == 0:
                main_diff = table_diff
                start_diff = start_diff_v
                if remaining:
                    break  # success is ruled out; the variants cannot change that
            elif remaining == 0:
                passed += 1
        untouched = [name for name, d in start_diff.items() if d.exact]
        damaged = [name for name in untouched if not main_diff[name].exact]
        exact = [name for name, d in main_diff.items() if d.exact]
        components = {
            "row_f1": round(sum(d.f1 for d in main_diff.values()) / max(1, len(main_diff)), 6),
            "tables_exact": round(len(exact) / max(1, len(main_diff)), 6),
            "progress": round(progresses[0], 6),
            "variants_passed": passed / k if k else 1.0,
            "damaged_tables": float(len(damaged)),
        }
        wrong = [d.describe() for d in main_diff.values() if not d.exact]
        if wrong:
            reason = "the database differs from the repaired state: " + "; ".join(wrong[:4])
            if len(wrong) > 4:
                reason += f"; and {len(wrong) - 4} more table(s)"
            if damaged:
                reason += f" (damaged tables that needed no change: {', '.join(damaged)})"
            score = round(self.config.partial_credit * max(0.0, progresses[0]), 6)
            return Grade(success=False, score=score, components=components, reason=reason)
        if passed == k:
            return Grade(success=True, score=1.0, components=components,
                         reason=f"every table matches the repaired state on the task database and all {k} variants")
        score = round(self.config.partial_credit * max(0.0, min(progresses)), 6)
        return Grade(
            success=False, score=score, components=components,
            reason=(f"matches on the task database but only on {passed} of {k} variants: the repair writes "
                    "values specific to this database instead of applying the rule"),
        )

    def warm(self, task: Task) -> None:
        """Build everything grading ``task`` needs: its database and variants, and its references (gold results,
        or for a repair the target states). Raises GraderError for a task that cannot be graded."""
        if self.families[task.family].writes:
            for variant in range(self.config.variants + 1):
                self.repair_target(task, variant)
        elif task.gold_sql:
            for variant in range(self.config.variants + 1):
                self.reference(task, variant)
        else:
            self.databases.template(task.db, 0)

    def warmed(self, task: Task) -> bool:
        """Whether ``task``'s database and variants are built and in memory (its first grade will not build them)."""
        try:
            return self.databases.built(task.db, self.config.variants)
        except FileNotFoundError:
            return True  # nothing to build: grading reports the missing file itself

    # -- task validity -------------------------------------------------------------------------

    def task_problems(self, task: Task) -> list[str]:
        """Why ``task`` should not be kept (empty when it is valid).

        Query and answer tasks: the gold result is non-empty and differs across the variants (so it
        depends on the data), an answer task's gold has its answer type's shape, and a debug task's
        broken query errors or gives a different result on the task database. Repair tasks: the
        gold repair runs on the task database and every variant and changes each of them."""
        if self.families[task.family].writes:
            problems = []
            for variant in range(self.config.variants + 1):
                try:
                    _, _, start_diff, _ = self.repair_target(task, variant)
                except (GraderError, ValueError) as exc:
                    return [str(exc)]
                if all(d.exact for d in start_diff.values()):
                    problems.append(f"the gold repair changes nothing on variant {variant}")
            return problems
        problems: list[str] = []
        try:
            template = self.databases.template(task.db, 0)
        except FileNotFoundError as exc:
            return [f"database of task {task.task_id} is missing: {exc}"]
        for label, sql in (("gold", task.gold_sql), ("broken", task.broken_sql)):
            with template.lock:
                combinations = nested_scan_rows(template.conn, sql) if sql else 0
            if combinations > self.config.cartesian_rows:
                return [f"{label} query nests full scans over {combinations:,} row combinations (a cartesian product "
                        "or a join on no equality): not run"]
        try:
            references = [self.reference(task, v) for v in range(self.config.variants + 1)]
        except GraderError as exc:
            return [str(exc)]
        main = references[0]
        if not main.rows:
            problems.append("gold result is empty")
        if all(
            results_match(list(r.rows), r.width, main, task.order_matters, self.config, digest=r.digest)
            for r in references[1:]
        ):
            problems.append("gold result is the same on every variant")
        if task.answer_type is not None:
            from env_server.grading.answers import gold_value

            try:
                gold_value(list(main.rows), task.answer_type)
            except ValueError as exc:
                problems.append(f"gold answer unusable: {exc}")
        if task.broken_sql is not None:
            broken = self.run(task, task.broken_sql, 0)
            if broken.ok and results_match(broken.rows, len(broken.columns), main, task.order_matters, self.config):
                problems.append("broken query gives the gold result")
        return problems
