"""How a task is put to a model: the system prompts and the user message, single-turn and multi-turn.

Training (``training.grpo``), evaluation (``training.evaluate``) and the multi-turn wrappers
(``reward_fns.environments``) all build prompts here, so a model is evaluated on exactly the prompt
format it was trained on. The user message is the environment's own observation (goal, schema
summary, broken query), so the prompt and the environment can never disagree about the task.
"""
from __future__ import annotations

from env_server.models import DataOpsObservation, QueryResult

SINGLE_TURN_SYSTEM = (
    "You are an expert SQL engineer working on SQLite databases. Read the task, the schema and the "
    "broken query, then reply with the corrected query in exactly one ```sql code block. "
    "Do not write anything after the code block."
)

MULTI_TURN_SYSTEM = (
    "You are an expert SQL engineer working on a live SQLite database through tools. Inspect the data "
    "with the read-only tools when it helps, then submit your final answer with the submit tool. "
    "Each tool call costs a step; the episode ends when you submit."
)

RESULT_ROWS_SHOWN = 10


def observation_text(observation: DataOpsObservation) -> str:
    """The task as the model reads it: goal, schema summary and (debug) the broken query."""
    parts = [observation.goal, "", "Schema:", observation.schema_summary]
    if observation.broken_sql:
        parts += ["", "Broken query:", "```sql", observation.broken_sql, "```"]
    return "\n".join(parts)


def single_turn_messages(observation: DataOpsObservation) -> list[dict[str, str]]:
    """Chat messages (system + user) for a one-completion answer."""
    return [
        {"role": "system", "content": SINGLE_TURN_SYSTEM},
        {"role": "user", "content": observation_text(observation)},
    ]


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

