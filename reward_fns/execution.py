"""GRPO reward functions with TRL's signature: ``fn(prompts, completions, **kwargs) -> list[float | None]``.

* :data:`execution_reward`: the environment's reward for submitting the completion's SQL. It is the
  same number ``DataOpsEnv`` reports for ``submit_query`` and ``POST /grade`` returns, because it is
  computed by the same grader and the same ``compose()``; the grader runs the SQL on the task database
  and its K seeded variants.
* :func:`format_reward`: 1.0 for exactly one well-formed answer block (a ```` ```sql ```` fence or a
  ``<sql>`` tag holding one statement that parses), else 0.0. Shaping only: weight it low.
* :data:`safety_reward`: the reviewer's penalty (``-RewardConfig.safety``) when it would block the
  completion's SQL, else 0.0.

``task_id`` arrives as a dataset column (TRL passes every extra column as a keyword argument).
Completions may be strings or chat messages; :mod:`reward_fns.parsing` extracts the SQL. Grading
runs in-process by default, or over HTTP when ``DATAOPS_ENV_URL`` is set (:mod:`reward_fns.backend`).
When TRL passes ``log_extra`` / ``log_metric``, the functions log the extracted SQL, the grader's
reason and their component means.

The functions are picklable: :class:`ExecutionReward` and :class:`SafetyReward` are small classes
with a ``__name__``, and pickling drops their (lazily rebuilt) backend unless one was given.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from reward_fns.backend import GradeOutcome, GradingBackend, default_backend
from reward_fns.parsing import Extraction, extract_sql

LogExtra = Callable[[str, list], None]
LogMetric = Callable[[str, float], None]


def _task_ids(name: str, completions: Sequence[Any], task_id: Any) -> list[str | None]:
    if task_id is None:
        raise ValueError(f"{name} needs a 'task_id' dataset column (one task id per prompt)")
    ids = [task_id] * len(completions) if isinstance(task_id, str) else list(task_id)
    if len(ids) != len(completions):
        raise ValueError(f"{name}: {len(ids)} task ids for {len(completions)} completions")
    return ids


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class _CompletionReward:
    """Shared call shape: task ids checked against the completions, SQL extracted from each. The
    backend is the one given, or :func:`default_backend` resolved on each use (not pickled)."""

    __name__ = "reward"

    def __init__(self, backend: GradingBackend | None = None):
        self._given = backend

    @property
    def backend(self) -> GradingBackend:
        return self._given if self._given is not None else default_backend()

    def __getstate__(self) -> dict[str, Any]:
        return {"_given": self._given}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._given = state["_given"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self._given!r})"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        task_id: Sequence[str | None] | str | None = None,
        log_extra: LogExtra | None = None,
        log_metric: LogMetric | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        completions = list(completions or [])
        ids = _task_ids(self.__name__, completions, task_id)
        return self.score(ids, [extract_sql(c) for c in completions], log_extra, log_metric)

    def score(self, ids: list[str | None], extractions: list[Extraction], log_extra: LogExtra | None,
              log_metric: LogMetric | None) -> list[float | None]:
        raise NotImplementedError


class ExecutionReward(_CompletionReward):
    """The grader's reward for the SQL in each completion.

    The last answer block is the submission (see :func:`reward_fns.parsing.extract_sql`). A
    completion with no SQL is graded as an empty submission, which scores 0.0. ``None`` (not
    applicable) is returned for rows whose ``task_id`` is None.

    >>> execution_reward(
    ...     prompts=["Fix the query."] * 2,
    ...     completions=[
    ...         # the gold fix: runs, and matches the reference on the task DB and all 3 variants
    ...         "```sql\\nSELECT name, email, signup_date FROM users WHERE plan = 'pro' "
    ...         "AND signup_date >= '2024-01-01' ORDER BY signup_date, id\\n```",
    ...         # the broken query echoed back: a syntax error scores 0
    ...         "<sql>SELECT name FROM users WHER plan = 'pro'</sql>",
    ...     ],
    ...     task_id=["debug-fixed-syntax_fix"] * 2,
    ... )
    [1.0, 0.0]
    """

    __name__ = "execution_reward"

    def outcomes(self, completions: Sequence[Any], task_ids: Sequence[str]) -> list[tuple[str, GradeOutcome]]:
        """The submitted SQL and the grader's outcome for each completion: what this reward is made of
        (the curriculum probe and evaluation read success and reasons from it)."""
        sqls = [extract_sql(c).sql or "" for c in completions]
        return list(zip(sqls, self.backend.grade(list(zip(task_ids, sqls))))) if sqls else []

    def score(self, ids, extractions, log_extra, log_metric):
        todo = [(i, tid, ex.sql or "") for i, (tid, ex) in enumerate(zip(ids, extractions)) if tid is not None]
        started = time.perf_counter()
        outcomes = self.backend.grade([(tid, sql) for _, tid, sql in todo]) if todo else []
        elapsed = time.perf_counter() - started
        rewards: list[float | None] = [None] * len(extractions)
        reasons = [""] * len(extractions)
        successes: list[float] = []
        for (i, _, _), outcome in zip(todo, outcomes):
            rewards[i] = outcome.reward
            reasons[i] = outcome.grade["reason"]
            successes.append(float(outcome.grade["success"]))
        if log_extra is not None:
            log_extra("sql", [ex.sql or "" for ex in extractions])
            log_extra("grade_reason", reasons)
        if log_metric is not None:
            log_metric("execution/success_rate", _mean(successes))
            log_metric("execution/sql_found_rate", _mean([float(ex.sql is not None) for ex in extractions]))
            log_metric("execution/grade_seconds", elapsed)
        return rewards


class SafetyReward(_CompletionReward):
    """The reviewer's penalty for the SQL in each completion: ``-RewardConfig.safety`` when it would
    be blocked (a write in a read-only family, DROP, ATTACH, ...), else 0.0. No SQL, or SQL that does
    not parse (already worth 0 to :data:`execution_reward`), carries no penalty.

    >>> safety_reward(
    ...     completions=[
    ...         "```sql\\nDROP TABLE users\\n```",       # schema change: blocked, penalised
    ...         "```sql\\nSELECT COUNT(*) FROM users\\n```",  # a read: allowed
    ...     ],
    ...     task_id=["debug-fixed-syntax_fix"] * 2,
    ... )
    [-0.1, 0.0]
    """

    __name__ = "safety_reward"

    def score(self, ids, extractions, log_extra, log_metric):
        # Only SQL that parses is reviewed: the reviewer fails closed on unparseable text (right for the guarded
        # path), but penalising garbage here would teach a policy that writing no SQL is safer than trying.
        todo = [(i, tid, ex.sql) for i, (tid, ex) in enumerate(zip(ids, extractions)) if tid is not None and ex.ok]
        outcomes = self.backend.review([(tid, sql) for _, tid, sql in todo]) if todo else []
        rewards: list[float | None] = [None if tid is None else 0.0 for tid in ids]
        verdicts = ["" for _ in extractions]
        for (i, _, _), outcome in zip(todo, outcomes):
            rewards[i] = outcome.penalty
            verdicts[i] = outcome.verdict
        if log_extra is not None:
            log_extra("review_verdict", verdicts)
        if log_metric is not None:
            log_metric("safety/blocked_rate", _mean([float(v == "block") for v in verdicts]))
        return rewards


def _well_formed_block(extraction: Extraction) -> bool:
    return extraction.ok and extraction.blocks == 1 and extraction.source in ("fence", "sql_tag")


def format_reward(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] | None = None,
    log_metric: LogMetric | None = None,
    **kwargs: Any,
) -> list[float]:
    """1.0 when the completion holds exactly one answer block with one statement that parses, else 0.0.

    >>> format_reward(completions=[
    ...     "```sql\\nSELECT 1\\n```",                      # one fenced statement
    ...     "<sql>SELECT 1</sql> or <sql>SELECT 2</sql>",    # two blocks: ambiguous
    ...     "SELECT 1",                                      # bare SQL, no block
    ...     "```sql\\nSELEC 1\\n```",                       # one block that does not parse
    ... ])
    [1.0, 0.0, 0.0, 0.0]
    """
    scores = [1.0 if _well_formed_block(extract_sql(c)) else 0.0 for c in completions or []]
    if log_metric is not None:
        log_metric("format/well_formed_rate", _mean(scores))
    return scores


execution_reward = ExecutionReward()
"""The default :class:`ExecutionReward`: grades on :func:`reward_fns.backend.default_backend`."""

safety_reward = SafetyReward()
"""The default :class:`SafetyReward`: reviews on :func:`reward_fns.backend.default_backend`."""

__all__ = ["ExecutionReward", "SafetyReward", "execution_reward", "format_reward", "safety_reward"]
