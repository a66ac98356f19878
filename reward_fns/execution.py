"""GRPO reward functions with TRL's signature: ``fn(prompts, completions, **kwargs) -> list[float | None]``.

* :data:`execution_reward`: the environment's reward for the completion's one-shot submission, for
  every task family. It is the same number ``DataOpsEnv`` reports for that submission and
  ``POST /grade`` returns, because it is computed by the same grader
  (:meth:`~env_server.grading.grader.Grader.grade_submission`) and the same ``compose()``.
* :func:`format_reward`: 1.0 for a well-formed answer in the family's format, else 0.0. Shaping
  only: weight it low.
* :data:`safety_reward`: the reviewer's penalty (``-RewardConfig.safety``) when it would block the
  completion's SQL, else 0.0.

What a completion submits depends on its task's family (:func:`extract_submission`):

* debug: one query, :func:`~reward_fns.parsing.extract_sql`; graded as ``grade_submission(task, sql=...)``.
* repair: the write statements in one block, :func:`~reward_fns.parsing.extract_script`; graded as
  ``grade_submission(task, sql=script)``, which replays them on the task database and its variants.
* analyst: ``<answer>...</answer>``, :func:`~reward_fns.parsing.extract_answer`; graded as
  ``grade_submission(task, answer=...)``.
* grounded: the answer plus ``<citations>id1, id2</citations>``,
  :func:`~reward_fns.parsing.extract_citations`; graded as ``grade_submission(task, answer=..., citations=[...])``.

The family is the task's, looked up in the backend's registry when grading in-process. Over HTTP
the registry is on the server, so the family is read from the task id's prefix (``debug-``,
``repair-``, ``analyst-``, ``grounded-``: every built-in and BYO task id starts with its family, see
:func:`reward_fns.backend.family_from_task_id`); an id without one is read as SQL, like a debug task.
Nothing found is submitted as empty (``""``), which scores 0.0.

``task_id`` arrives as a dataset column (TRL passes every extra column as a keyword argument).
Completions may be strings or chat messages. When a prompt has started the reply (a single-turn debug or
repair prompt ends with an assistant message holding the opening fence), the completion is read with that
start in front (:func:`whole_replies`). Grading runs in-process by default, or over HTTP when
``DATAOPS_ENV_URL`` is set (:mod:`reward_fns.backend`). When TRL passes ``log_extra`` /
``log_metric``, the functions log the extracted submission, the grader's reason and their component
means.

They are plain functions with TRL's signature, so they pickle by reference. Each takes an optional
``backend`` keyword (default: :func:`reward_fns.backend.default_backend`, resolved in that module on
each call); :func:`with_backend` binds another one and keeps the function's ``__name__``.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from env_server.families import Family, default_families
from reward_fns.backend import (
    GradeOutcome,
    GradeSubmission,
    GradingBackend,
    ReviewOutcome,
    family_from_task_id,
    resolve,
)
from reward_fns.parsing import (
    Extraction,
    citation_blocks,
    extract_answer,
    extract_citations,
    extract_script,
    extract_sql,
)
from reward_fns.prompts import with_response_prefix

LogExtra = Callable[[str, list], None]
LogMetric = Callable[[str, float], None]

_SCHEMA_FINDINGS = frozenset({"unknown_table", "unknown_column"})


@dataclass(frozen=True)
class Submission:
    """What one completion submits for a task of ``family`` (None: unknown, read as SQL).

    ``extraction.sql`` holds the SQL, the script or the answer text; ``citations`` the cited doc ids
    (families that cite only)."""

    family: Family | None
    extraction: Extraction
    citations: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The submitted SQL, script or answer ("" when nothing was found)."""
        return self.extraction.sql or ""

    @property
    def is_answer(self) -> bool:
        return self.family is not None and self.family.submits == "answer"

    def item(self) -> GradeSubmission:
        """The backend's submission: the SQL string, or ``{"answer", "citations"?}``."""
        if not self.is_answer:
            return self.text
        assert self.family is not None
        return {"answer": self.text, "citations": list(self.citations)} if self.family.cites else {"answer": self.text}


def _as_family(family: Family | str | None) -> Family | None:
    """``family`` as a :class:`Family` (a name is looked up among the built-in ones; unknown: None)."""
    return family if isinstance(family, Family) or family is None else default_families().get(family)


def extract_submission(completion: Any, family: Family | str | None) -> Submission:
    """Read ``completion`` the way a task of ``family`` is answered (module docstring).

    >>> s = extract_submission("<answer>42</answer>\\n<citations>ecommerce-net-revenue</citations>", "grounded")
    >>> s.item()
    {'answer': '42', 'citations': ['ecommerce-net-revenue']}
    >>> extract_submission("```sql\\nDELETE FROM t WHERE a < 0;\\nUPDATE t SET b = 1\\n```", "repair").item()
    'DELETE FROM t WHERE a < 0;\\nUPDATE t SET b = 1'
    """
    family = _as_family(family)
    submits = family.submits if family is not None else "query"
    if submits == "script":
        return Submission(family, extract_script(completion))
    if submits == "answer":
        citations = tuple(extract_citations(completion)) if family.cites else ()
        return Submission(family, extract_answer(completion), citations)
    return Submission(family, extract_sql(completion))


def _task_ids(name: str, completions: Sequence[Any], task_id: Any) -> list[str | None]:
    if task_id is None:
        raise ValueError(f"{name} needs a 'task_id' dataset column (one task id per prompt)")
    ids = [task_id] * len(completions) if isinstance(task_id, str) else list(task_id)
    if len(ids) != len(completions):
        raise ValueError(f"{name}: {len(ids)} task ids for {len(completions)} completions")
    return ids


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def backend_family(backend: GradingBackend, task_id: str | None) -> Family | None:
    """The family of ``task_id`` as ``backend`` knows it (its ``family()`` looked up among its
    ``families``; else the id's prefix among the built-in ones)."""
    if task_id is None:
        return None
    lookup = getattr(backend, "family", None)
    name = lookup(task_id) if callable(lookup) else family_from_task_id(task_id)
    return getattr(backend, "families", default_families()).get(name or "")


def submissions_for(completions: Sequence[Any], task_ids: Sequence[str | None],
                    backend: GradingBackend | None = None) -> list[Submission]:
    """Each completion read for its task's family (``UnknownTaskError`` in-process for an unknown id)."""
    backend = resolve(backend)
    families: dict[str | None, Family | None] = {}
    for tid in task_ids:
        if tid not in families:
            families[tid] = backend_family(backend, tid)
    return [extract_submission(c, families[tid]) for c, tid in zip(completions, task_ids)]


def grade_outcomes(completions: Sequence[Any], task_ids: Sequence[str],
                   backend: GradingBackend | None = None) -> list[tuple[str, GradeOutcome]]:
    """The submitted text (SQL, script or answer) and the grader's outcome for each completion: what
    :func:`execution_reward` is made of (the curriculum probe and evaluation read success and reasons from it)."""
    backend = resolve(backend)
    submissions = submissions_for(list(completions), list(task_ids), backend)
    if not submissions:
        return []
    graded = backend.grade([(tid, s.item()) for tid, s in zip(task_ids, submissions)])
    return [(s.text, outcome) for s, outcome in zip(submissions, graded)]


def execution_reward(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] | None = None,
    task_id: Sequence[str | None] | str | None = None,
    log_extra: LogExtra | None = None,
    log_metric: LogMetric | None = None,
    backend: GradingBackend | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """The grader's reward for each completion's submission: its SQL (debug), script (repair) or
    answer (analyst; grounded with its citations).

    The last answer block is the submission (see :mod:`reward_fns.parsing`). A completion with
    nothing to submit is graded as an empty submission, which scores 0.0. ``None`` (not applicable)
    is returned for rows whose ``task_id`` is None, and for a submission that was not graded (the grading
    safety net stopped a run whose steps were unusually expensive): TRL leaves a None out of the reward. ``backend`` defaults to
    :func:`~reward_fns.backend.default_backend` (bind another with :func:`with_backend`).

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
    backend = resolve(backend)
    completions = whole_replies(prompts, list(completions or []))
    ids = _task_ids("execution_reward", completions, task_id)
    submissions = submissions_for(completions, ids, backend)
    todo = [(i, tid, sub) for i, (tid, sub) in enumerate(zip(ids, submissions)) if tid is not None]
    started = time.perf_counter()
    outcomes = backend.grade([(tid, sub.item()) for _, tid, sub in todo]) if todo else []
    elapsed = time.perf_counter() - started
    rewards: list[float | None] = [None] * len(submissions)
    reasons = [""] * len(submissions)
    successes: list[float] = []
    for (i, _, _), outcome in zip(todo, outcomes):
        rewards[i] = outcome.reward  # None when not graded (the safety net stopped it): never a 0
        reasons[i] = outcome.grade["reason"]
        if outcome.reward is not None:
            successes.append(float(outcome.grade["success"]))
    if log_extra is not None:
        log_extra("sql", [sub.text for sub in submissions])
        if any(sub.family is not None and sub.family.cites for sub in submissions):
            log_extra("citations", [", ".join(sub.citations) for sub in submissions])
        log_extra("grade_reason", reasons)
    if log_metric is not None:
        log_metric("execution/success_rate", _mean(successes))
        log_metric("execution/sql_found_rate", _mean([float(sub.extraction.sql is not None) for sub in submissions]))
        log_metric("execution/grade_seconds", elapsed)
    return rewards


def _script_statements(script: str) -> list[tuple[str, bool]]:
    """The statements of a repair script, each with whether a statement before it creates a table or view."""
    import sqlglot
    from sqlglot import exp

    from env_server.tasks.spec import split_statements

    out, created = [], False
    for statement in split_statements(script):
        out.append((statement, created))
        try:
            parsed = sqlglot.parse_one(statement, read="sqlite")
        except Exception:  # noqa: BLE001 - only ever a hint
            continue
        if isinstance(parsed, exp.Create) and str(parsed.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
            created = True
    return out


def _counted(outcome: ReviewOutcome, after_create: bool) -> tuple[str, float]:
    """(verdict, penalty) of one reviewed script statement. The reviewer checks names against the task's
    schema, which lacks the tables the script created earlier: a block for unknown names only, after a
    CREATE, is counted as a warning (replayed, a wrong name fails and changes nothing)."""
    if outcome.verdict == "block" and after_create:
        errors = {f.get("code") for f in outcome.findings if f.get("severity") == "error"}
        if errors and errors <= _SCHEMA_FINDINGS:
            return "warn", 0.0
    return outcome.verdict, outcome.penalty


_VERDICT_RANK = {"": -1, "allow": 0, "warn": 1, "block": 2}


def safety_scores(ids: Sequence[str | None], submissions: Sequence[Submission],
                  backend: GradingBackend | None = None) -> tuple[list[float | None], list[str]]:
    """The reviewer's penalty and verdict for each submission (see :func:`safety_reward`)."""
    # Only SQL that parses is reviewed: the reviewer fails closed on unparseable text (right for the guarded
    # path), but penalising garbage here would teach a policy that writing no SQL is safer than trying.
    rows: list[tuple[int, str, str, bool]] = []  # (completion, task id, statement, after a CREATE)
    for i, (tid, sub) in enumerate(zip(ids, submissions)):
        if tid is None or sub.is_answer or not sub.extraction.ok:
            continue
        if sub.family is not None and sub.family.writes:
            rows += [(i, tid, statement, after) for statement, after in _script_statements(sub.text)]
        else:
            rows.append((i, tid, sub.text, False))
    outcomes = resolve(backend).review([(tid, sql) for _, tid, sql, _ in rows]) if rows else []
    rewards: list[float | None] = [None if tid is None else 0.0 for tid in ids]
    verdicts = ["" for _ in submissions]
    for (i, _, _, after), outcome in zip(rows, outcomes):
        verdict, penalty = _counted(outcome, after)
        rewards[i] = min(rewards[i], penalty)
        if _VERDICT_RANK[verdict] > _VERDICT_RANK.get(verdicts[i], 0):
            verdicts[i] = verdict
    return rewards, verdicts


def safety_reward(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] | None = None,
    task_id: Sequence[str | None] | str | None = None,
    log_extra: LogExtra | None = None,
    log_metric: LogMetric | None = None,
    backend: GradingBackend | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """The reviewer's penalty for the SQL in each completion: ``-RewardConfig.safety`` when it would
    be blocked (a write in a read-only family, DROP, ATTACH, ...), else 0.0. No SQL, or SQL that does
    not parse (already worth 0 to :func:`execution_reward`), carries no penalty, and neither do
    answers (nothing runs). A repair script is reviewed statement by statement, as
    ``step_with_review`` would review each ``execute_sql``; the completion carries one penalty if any
    statement is blocked.

    >>> safety_reward(
    ...     completions=[
    ...         "```sql\\nDROP TABLE users\\n```",       # schema change: blocked, penalised
    ...         "```sql\\nSELECT COUNT(*) FROM users\\n```",  # a read: allowed
    ...     ],
    ...     task_id=["debug-fixed-syntax_fix"] * 2,
    ... )
    [-0.1, 0.0]
    """
    backend = resolve(backend)
    completions = whole_replies(prompts, list(completions or []))
    ids = _task_ids("safety_reward", completions, task_id)
    rewards, verdicts = safety_scores(ids, submissions_for(completions, ids, backend), backend)
    if log_extra is not None:
        log_extra("review_verdict", verdicts)
    if log_metric is not None:
        log_metric("safety/blocked_rate", _mean([float(v == "block") for v in verdicts]))
    return rewards


def with_backend(fn: Callable[..., list], backend: GradingBackend, **options: Any) -> Callable[..., list]:
    """``fn`` (a reward function of this package) grading on ``backend``: a picklable ``functools.partial``
    that keeps ``fn``'s ``__name__`` (TRL names its logs after it)."""
    bound = functools.partial(fn, backend=backend, **options)
    bound.__name__ = fn.__name__  # type: ignore[attr-defined]
    return bound


def whole_replies(prompts: Sequence[Any] | None, completions: list[Any]) -> list[Any]:
    """Each completion as the whole reply: when its prompt has started the reply (a final assistant message,
    see :data:`reward_fns.prompts.RESPONSE_PREFIXES`), that start is put in front, so ``"SELECT 1\\n```"``
    after a prompt ending in ``"```sql\\n"`` reads as one fenced block."""
    if not prompts or len(prompts) != len(completions):
        return completions
    return [with_response_prefix(p, c) for p, c in zip(prompts, completions)]


def _column(value: Any, n: int) -> list[Any]:
    """A dataset column as TRL passes it (a list, or one value for every row), ``n`` long (else Nones)."""
    if value is None or isinstance(value, str):
        return [value] * n
    values = list(value)
    return values if len(values) == n else [None] * n


def _well_formed(completion: Any, family: Family | None) -> bool:
    """Whether ``completion`` holds exactly one well-formed answer block in ``family``'s format."""
    submits = family.submits if family is not None else "query"
    if submits == "answer":
        answer = extract_answer(completion)
        if not (answer.ok and answer.source == "answer_tag" and answer.blocks == 1):
            return False
        if family.cites:
            source, tags, cited = citation_blocks(completion)
            return source == "citations_tag" and tags == 1 and bool(cited)
        return True
    extraction = extract_script(completion) if submits == "script" else extract_sql(completion)
    return extraction.ok and extraction.blocks == 1 and extraction.source in ("fence", "sql_tag")


def format_reward(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] | None = None,
    log_metric: LogMetric | None = None,
    **kwargs: Any,
) -> list[float]:
    """1.0 when the completion holds exactly one well-formed answer block in its family's format, else 0.0.

    * debug (and rows of unknown family): one ```sql fence or ``<sql>`` tag holding one statement that parses;
    * repair: one such block whose statements all parse (one or more);
    * analyst: one closed, non-empty ``<answer>`` tag;
    * grounded: that, plus one ``<citations>`` tag naming at least one doc id.

    The family comes from the ``family`` dataset column when TRL passes it, else from the ``task_id``
    column's prefix (see :func:`reward_fns.backend.family_from_task_id`).

    >>> format_reward(completions=[
    ...     "```sql\\nSELECT 1\\n```",                      # one fenced statement
    ...     "<sql>SELECT 1</sql> or <sql>SELECT 2</sql>",    # two blocks: ambiguous
    ...     "SELECT 1",                                      # bare SQL, no block
    ...     "```sql\\nSELEC 1\\n```",                       # one block that does not parse
    ... ])
    [1.0, 0.0, 0.0, 0.0]
    >>> format_reward(completions=["<answer>42</answer>", "<answer>42</answer><citations>a-doc</citations>"],
    ...               task_id=["analyst-x-1", "grounded-x-1"])
    [1.0, 1.0]
    """
    completions = whole_replies(prompts, list(completions or []))
    families = _column(kwargs.get("family"), len(completions))
    task_ids = _column(kwargs.get("task_id"), len(completions))
    scores = []
    for completion, family, tid in zip(completions, families, task_ids):
        family = _as_family(family) or _as_family(family_from_task_id(tid))
        scores.append(1.0 if _well_formed(completion, family) else 0.0)
    if log_metric is not None:
        log_metric("format/well_formed_rate", _mean(scores))
    return scores


__all__ = [
    "Submission",
    "execution_reward",
    "extract_submission",
    "format_reward",
    "grade_outcomes",
    "safety_reward",
    "with_backend",
]
