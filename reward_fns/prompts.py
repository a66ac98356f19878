"""How a task is put to a model: the system prompts and the user message, single-turn and multi-turn.

Training (``training.grpo``), evaluation (``training.evaluate``) and the multi-turn wrappers
(``reward_fns.environments``) all build prompts here, so a model is evaluated on exactly the prompt
format it was trained on. The user message is the environment's own observation (goal, schema
summary, broken query), so the prompt and the environment can never disagree about the task.

Single-turn prompts (one completion, no tools) have one system prompt per family
(:data:`SINGLE_TURN_SYSTEMS`) that says the output format :mod:`reward_fns.execution` reads: debug,
the corrected query in one ```sql block; repair, the write statements in one ```sql block;
analyst, ``<answer>...</answer>``; grounded, ``<answer>...</answer>`` and
``<citations>id1, id2</citations>``. A grounded model cannot search in one reply, so its user message
also lists the documents the environment's own ``search_docs`` returns for the task's question:
:func:`single_turn_prompt` resets the environment and, for grounded tasks, takes that one search
step; :func:`single_turn_messages` renders the observation it ends on.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from env_server.episode.environment import without_tool_instructions
from env_server.episode.models import DataOpsAction, DataOpsObservation, QueryResult
from env_server.families import default_families

SINGLE_TURN_SYSTEMS: Mapping[str, str] = MappingProxyType(
    {name: family.single_turn_system for name, family in default_families().items()})
"""The single-turn system prompt of each family (its ``Family.single_turn_system``): the output format the
reward functions read."""

SINGLE_TURN_SYSTEM = SINGLE_TURN_SYSTEMS["debug"]
"""The debug system prompt (also used for a family it does not know)."""

MULTI_TURN_SYSTEM = (
    "You are an expert SQL engineer working on a live SQLite database through tools. Inspect the data "
    "with the read-only tools when it helps, then submit your final answer with the submit tool. "
    "Each tool call costs a step; the episode ends when you submit."
)

RESULT_ROWS_SHOWN = 10


RESPONSE_PREFIXES: Mapping[str, str] = MappingProxyType(
    {name: family.response_prefix for name, family in default_families().items() if family.response_prefix})
"""The start of the reply a single-turn prompt writes for the model (the opening of the answer block, its
family's ``Family.response_prefix``): the model continues it, and its completion ends at the closing fence
(:data:`FENCE`). Families without one get no prefix."""

FENCE = "```"
"""The closing fence: generation stops there for a family with a response prefix."""


def observation_text(observation: DataOpsObservation, tools: bool = True) -> str:
    """The task as the model reads it: goal, schema summary and (debug) the broken query. With
    ``tools=False`` (a single-turn prompt) the goal leaves out its sentence about the tools."""
    goal = observation.goal if tools else without_tool_instructions(observation.goal, observation.family)
    parts = [goal, "", "Schema:", observation.schema_summary]
    if observation.broken_sql:
        parts += ["", "Broken query:", "```sql", observation.broken_sql, "```"]
    return "\n".join(parts)


def single_turn_system(family: str | None) -> str:
    """The single-turn system prompt for ``family`` (the debug one for a family it does not know)."""
    return SINGLE_TURN_SYSTEMS.get(family or "", SINGLE_TURN_SYSTEM)


def docs_text(hits: Sequence[dict[str, Any]]) -> str:
    """Search hits as the model reads them: one line per document, id, title, status and snippet."""
    if not hits:
        return "Documents found for the question: none."
    lines = ["Documents found for the question (id | title | status | snippet):"]
    for hit in hits:
        snippet = " ".join(str(hit.get("snippet", "")).split())
        lines.append(f"- {hit.get('doc_id')} | {hit.get('title')} | {hit.get('status')} | {snippet}")
    return "\n".join(lines)


def single_turn_messages(
    observation: DataOpsObservation, docs: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, str]]:
    """Chat messages (system + user) for a one-completion answer, the system prompt chosen by the
    observation's family.

    For a grounded task the user message ends with the search hits: ``docs`` when given, else the
    observation's own (those of a ``search_docs`` step). A grounded observation with neither (a bare
    reset observation) raises ``ValueError``: build it with :func:`single_turn_prompt`."""
    text = observation_text(observation, tools=False)
    family = default_families().get(observation.family or "")
    if family is not None and family.cites:
        if docs is None and not observation.docs:
            raise ValueError(
                f"the single-turn prompt of grounded task {observation.task_id} lists the documents search_docs "
                "finds for its question, and this observation has none: use single_turn_prompt(env, task_id), "
                "or pass docs="
            )
        text += "\n\n" + docs_text(observation.docs if docs is None else docs)
    messages = [
        {"role": "system", "content": family.single_turn_system if family is not None else SINGLE_TURN_SYSTEM},
        {"role": "user", "content": text},
    ]
    prefix = family.response_prefix if family is not None else None
    if prefix:
        messages.append({"role": "assistant", "content": prefix})
    return messages


def response_prefix(prompt: Any) -> str:
    """The reply a prompt has already started, else "": a chat prompt's last message when that is the
    assistant's; for a rendered (plain-text) prompt, the :data:`RESPONSE_PREFIXES` entry it ends with.

    >>> response_prefix([{"role": "user", "content": "Fix it."}, {"role": "assistant", "content": "```sql\\n"}])
    '```sql\\n'
    >>> response_prefix("<|im_start|>assistant\\n```sql\\n")
    '```sql\\n'
    >>> response_prefix("a plain-text prompt")
    ''
    """
    if isinstance(prompt, str):
        return next((p for p in sorted(set(RESPONSE_PREFIXES.values()), key=len, reverse=True)
                     if prompt.endswith(p)), "")
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[-1], dict) \
            and prompt[-1].get("role") == "assistant" and isinstance(prompt[-1].get("content"), str):
        return prompt[-1]["content"]
    return ""


def with_response_prefix(prompt: Any, completion: Any) -> Any:
    """``completion`` as the whole reply: the prompt's started reply (:func:`response_prefix`) put in front.

    A completion is a string or chat messages (TRL's conversational shape); the prefix goes in front of the
    first assistant message's content. With no prefix the completion is returned unchanged.

    >>> prompt = [{"role": "user", "content": "Fix it."}, {"role": "assistant", "content": "```sql\\n"}]
    >>> with_response_prefix(prompt, [{"role": "assistant", "content": "SELECT 1\\n```"}])
    [{'role': 'assistant', 'content': '```sql\\nSELECT 1\\n```'}]
    """
    prefix = response_prefix(prompt)
    if not prefix:
        return completion
    if isinstance(completion, str):
        return prefix + completion
    if isinstance(completion, dict):
        return {**completion, "content": prefix + (completion.get("content") or "")}
    if isinstance(completion, (list, tuple)):
        out, done = [], False
        for message in completion:
            if not done and isinstance(message, dict) and message.get("role", "assistant") == "assistant" \
                    and isinstance(message.get("content") or "", str):
                message, done = {**message, "content": prefix + (message.get("content") or "")}, True
            out.append(message)
        return out
    return completion


def _question(env: Any, observation: DataOpsObservation) -> str:
    """The task's question: from the environment's registry when it has one, else the goal's first part."""
    tasks = getattr(env, "tasks", None)
    if tasks is not None and hasattr(tasks, "get"):
        return tasks.get(observation.task_id).question
    return without_tool_instructions(observation.goal, observation.family)


def single_turn_prompt(env: Any, task_id: str) -> list[dict[str, str]]:
    """The single-turn chat prompt of ``task_id``, from the environment itself: its reset observation
    and, for a grounded task, one ``search_docs`` step with the task's question (the documents a
    model would find first; ``env.grader.docs.search(question, domain=..., k=5)``).

    ``env`` is a :class:`~env_server.episode.environment.DataOpsEnv` or anything with the same ``reset`` and
    ``step`` (the HTTP client); it is left mid-episode."""
    observation = env.reset(task_id=task_id)
    family = default_families().get(observation.family or "")
    if family is None or not family.cites:
        return single_turn_messages(observation)
    searched = env.step(DataOpsAction(action_type="search_docs", query=_question(env, observation)))
    return single_turn_messages(searched, docs=searched.docs)


def result_text(result: QueryResult | None, message: str = "") -> str:
    """A query result as a compact text table for a tool message (first ``RESULT_ROWS_SHOWN`` rows)."""
    lines = [message] if message else []
    if result is None:
        return "\n".join(lines) or "OK."
    if result.error:
        lines.append(f"Error ({result.error_kind}): {result.error}")
        return "\n".join(lines)
    if result.columns:
        lines.append(" | ".join(result.columns))
        for row in result.rows[:RESULT_ROWS_SHOWN]:
            lines.append(" | ".join("NULL" if v is None else str(v) for v in row))
        shown = min(len(result.rows), RESULT_ROWS_SHOWN)
        if result.row_count > shown:
            lines.append(f"... {result.row_count} rows in all, {shown} shown")
        else:
            lines.append(f"({result.row_count} rows)")
    elif result.changes:
        lines.append(f"{result.changes} rows changed.")
    return "\n".join(lines)

