"""``Family``: everything that makes a task family what it is, in one frozen value.

A family says which actions an episode allows, the goal an agent reads, what a one-shot submission is
(a query, a script of write statements, or an answer, with or without citations) and so how it is
graded and read out of a completion, the single-turn system prompt, and how its tasks are generated.
The environment, the grader's one-shot entry, the server, the reward functions, the prompts and the
data build ask the family (:func:`env_server.families.family_of`) instead of comparing family names.

Each family lives in its own module of this package, with its generator, and exports it as
``FAMILY``; the registry (:mod:`env_server.families`) finds them there. A family grades through the
grader's three entries (:meth:`~env_server.grading.grader.Grader.grade_query`, ``grade_repair`` and
``grade_answer``): the grader stays the only place that decides correctness.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from env_server.episode.models import Grade
    from env_server.grading.grader import Grader
    from env_server.tasks.spec import Task

READ_ACTIONS: tuple[str, ...] = ("inspect_schema", "sample_rows", "run_query")
"""The actions every family allows: look at the schema and the data, read-only."""

Submits = Literal["query", "script", "answer"]


@dataclass(frozen=True)
class ReadmeTable:
    """One table of the data README (``data/README.md``): the family's tasks of each split counted by ``key``."""

    title: str
    """What is counted, e.g. ``tasks per bug type``; the README heads it ``<family>: <title>``."""
    key: Callable[["Task"], list[str]]
    """The values a task counts under (a task may count under several)."""
    note: str = ""
    """A sentence printed under the heading."""


@dataclass(frozen=True)
class Family:
    """One task family. Only ``name`` .. ``single_turn_system`` are required; the rest default to a
    read-only family without generator."""

    name: str
    """The family's name: the ``family`` of its tasks and the prefix of their ids (``<name>-...``)."""
    actions: tuple[str, ...]
    """The actions an episode allows (the read actions plus the family's own)."""
    submits: Submits
    """What a one-shot submission is: ``query`` (one SELECT, graded by query equivalence), ``script``
    (write statements, replayed and graded on the final database state) or ``answer`` (a typed value)."""
    statement: Callable[["Task"], str]
    """What a task asks for, without how to use the tools (the single-turn prompt's goal)."""
    tool_instructions: str
    """The goal's sentence on the environment's tools (left out of single-turn prompts)."""
    required_fields: tuple[str, ...]
    """The :class:`~env_server.tasks.spec.Task` fields a task of this family must fill."""
    single_turn_system: str
    """The system prompt of a one-completion answer: the output format the reward functions read."""
    rank: int = 100
    """Position in listings, builds and tables (built-ins 0..3, in the order they were introduced)."""
    cites: bool = False
    """Answers come with citations of the docs corpus, and episodes may ``search_docs``."""
    response_prefix: str | None = None
    """The start of the reply a single-turn prompt writes for the model (e.g. an opening ```sql fence)."""
    shows_broken_sql: bool = False
    """The observation shows the task's ``broken_sql``."""
    reviewer_writes: frozenset[str] = frozenset()
    """Statements besides reads the reviewer lets this family run (e.g. ``UPDATE``)."""
    generate_split: Callable[..., list["Task"]] | None = None
    """``(split, n=None, grader=None, progress=True) -> tasks`` on the built-in domains, deterministic."""
    fixed_tasks: Callable[[], list["Task"]] | None = None
    """Hand-written seed tasks (the ``<name>_fixed.jsonl`` file), each checked to score 1.0 when built."""
    byo_tasks: Callable[..., Iterator["Task"]] | None = None
    """``(grader, split, db, name, rng_key, rejected) -> tasks`` on a user's own database (None: not offered)."""
    external_tasks: Callable[..., list["Task"]] | None = None
    """``(grader, split, db, name) -> tasks`` on one database of the ``heldout_external`` split, for a family whose
    tasks there come from its own generator instead of ``byo_tasks`` (grounded: the glossary's metrics)."""
    readme_tables: tuple[ReadmeTable, ...] = ()
    """The family's own tables in the data README."""

    @property
    def writes(self) -> bool:
        """Episodes change their database: a private writable copy, a live schema, ``execute_sql``."""
        return self.submits == "script"

    @property
    def needs(self) -> Literal["sql", "answer"]:
        """The submission field a one-shot grade needs (``POST /grade``)."""
        return "answer" if self.submits == "answer" else "sql"

    def goal(self, task: "Task") -> str:
        """The instructions an agent reads for ``task``: the statement, then how to use the tools."""
        return f"{self.statement(task)} {self.tool_instructions}"

    def grade(self, grader: "Grader", task: "Task", sql: str | None = None, answer: Any = None,
              citations: list[str] | None = None) -> "Grade":
        """The grade of a one-shot submission in this family's terms, by the grader."""
        if self.submits == "query":
            return grader.grade_query(task, sql or "")
        if self.submits == "script":
            from env_server.tasks.spec import split_statements

            return grader.grade_repair(task, split_statements(sql or ""))
        return grader.grade_answer(task, answer, citations)  # the grader reads citations only where the family cites

    def missing_fields(self, task: "Task") -> list[str]:
        """The required fields ``task`` leaves empty."""
        return [name for name in self.required_fields if getattr(task, name, None) in (None, "", [], ())]
