"""The task spec: one JSON object per line, and its JSONL reader and writer.

A task names its database in one of four ways (``db``, a :class:`~env_server.core.dbspec.DbSpec`, which lives in
``core`` because the database layer builds from it; it is re-exported here):

* generated: ``{"domain": "ecommerce", "seed": 7}``;
* embedded SQL: ``{"schema_sql": "CREATE TABLE ...", "data_sql": "INSERT ..."}``;
* a file: ``{"sqlite_path": "path/to/file.sqlite"}``;
* a SQL dump in another dialect, transpiled to SQLite with sqlglot when first built:
  ``{"sql_path": "path/to/dump.sql", "dialect": "postgres"}``.

Relative paths resolve against the JSONL file. Any of them may add ``setup_sql``: trusted statements
run on the built database (and on each of its variants) before an episode sees it. Repair tasks
plant their corruption this way; a statement may use the named parameter ``:salt``, bound to a
different integer for the task database and for every variant, so that which rows are corrupted
changes from one variant to the next.

For convenience a custom task may put ``schema_sql``/``data_sql``/``sqlite_path`` at the top level;
they are moved into ``db`` when the task is read.

A ``float`` answer counts at the precision its question states. ``tolerance`` says which:
``{"decimals": 2}`` (a :class:`~env_server.grading.answers.Precision`) for a question that says
"rounded to 2 decimals", and then an answer within half a unit of the last decimal of the gold
(0.005), absolutely, is correct; every generated float task carries one. A plain number is the
legacy form, a *relative* tolerance (``0.0001`` = 0.01 %), kept so that older task files load and
grade as before; such a question should say so in its text. Why absolute: a relative 1e-4 let
"gold + 1.00" pass on a "2 decimals" question worth 75,000.
"""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from env_server.core.dbspec import DbSpec
from env_server.grading.answers import Precision

Difficulty = Literal["easy", "medium", "hard"]
SPLITS: tuple[str, ...] = ("train", "heldout_iid", "heldout_ood")


class Task(BaseModel):
    """One task. Family-specific fields are optional in the model and checked per family."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(description="Unique id, e.g. 'debug-ecommerce-s12-q03-wrong_aggregate'.")
    family: str = Field(pattern=r"^[a-z][a-z0-9_]*$",
                        description="A family of env_server.families: debug, repair, analyst, grounded, or one added there.")
    split: str = Field(default="custom", description="train, heldout_iid, heldout_ood, or custom.")
    difficulty: Difficulty = Field(default="medium", description="easy, medium or hard.")
    db: DbSpec = Field(description="The database the task runs on.")
    question: str = Field(description="What the query must return, or what must be done, in plain English.")
    max_steps: int = Field(default=12, ge=1, le=100, description="Step budget of an episode.")
    tags: list[str] = Field(default_factory=list, description="Free labels: bug types, template, origin.")
    # debug
    broken_sql: str | None = Field(default=None, description="debug: the query to fix.")
    gold_sql: str | None = Field(default=None, description="debug/analyst/grounded: the reference query.")
    order_matters: bool = Field(default=False, description="Whether row order is part of the answer.")
    bug_types: list[str] = Field(default_factory=list, description="debug: the injected bug types.")
    # repair
    corruption: str | None = Field(default=None, description="repair: the kind of corruption planted.")
    gold_repair_sql: list[str] | None = Field(
        default=None, description="repair: statements that repair the database, in order (a string is split)."
    )
    # analyst / grounded
    answer_type: Literal["int", "float", "string", "set"] | None = Field(default=None, description="Typed answer.")
    tolerance: Precision | float | None = Field(
        default=None,
        description='float answers: {"decimals": 2} when the question says "rounded to 2 decimals" (an answer '
                    "within half a unit of the last decimal counts), or a legacy relative error such as 0.0001.",
    )
    doc_ids: list[str] = Field(default_factory=list, description="grounded: documents a correct answer cites.")
    docs_domain: str | None = Field(
        default=None, description="grounded: the corpus section search_docs looks in (default: the db's domain)."
    )

    def tag_values(self, prefix: str) -> list[str]:
        """The values of this task's ``<prefix>:<value>`` tags (e.g. ``template``, ``metric``)."""
        return [tag.split(":", 1)[1] for tag in self.tags if tag.startswith(prefix + ":")]

    @model_validator(mode="before")
    @classmethod
    def _lift_db_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "db" not in data:
            lifted = {k: data[k] for k in ("schema_sql", "data_sql", "sqlite_path") if k in data}
            if lifted:
                data = {k: v for k, v in data.items() if k not in lifted}
                data["db"] = lifted
        return data

    @field_validator("tolerance")
    @classmethod
    def _finite_tolerance(cls, value: Any) -> Any:
        if isinstance(value, float) and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"a relative tolerance must be a finite number >= 0, got {value!r}")
        return value

    @field_validator("gold_repair_sql", mode="before")
    @classmethod
    def _split_statements(cls, value: Any) -> Any:
        return split_statements(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _family_fields(self) -> Task:
        from env_server.families import default_families

        family = default_families().get(self.family)
        missing = family.missing_fields(self) if family is not None else []
        if missing:
            raise ValueError(f"a {self.family} task needs {', '.join(missing)}"
                             + (": the documents a correct answer cites" if missing == ["doc_ids"] else ""))
        return self


def split_statements(sql: str) -> list[str]:
    """Split a script into its statements with SQLite's own notion of a complete statement.

    >>> split_statements("DELETE FROM t WHERE a = ';'; UPDATE t SET b = 1;")
    ["DELETE FROM t WHERE a = ';';", 'UPDATE t SET b = 1;']
    """
    statements: list[str] = []
    current = ""
    pieces = sql.split(";")
    for i, piece in enumerate(pieces):
        current += piece
        if i < len(pieces) - 1:
            current += ";"
            if sqlite3.complete_statement(current):  # the ';' ends a statement (not inside a string)
                if current.strip().strip(";").strip():
                    statements.append(current.strip())
                current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


def load_jsonl(path: str | Path) -> list[Task]:
    """Read tasks from a JSONL file. Errors name the file and line and say what to fix."""
    from env_server.families import default_families

    path = Path(path)
    families = default_families()
    tasks: list[Task] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if isinstance(data, dict):
                holder = data.get("db") if isinstance(data.get("db"), dict) else data
                for field_name in ("sqlite_path", "sql_path"):
                    if isinstance(holder.get(field_name), str) and not Path(holder[field_name]).is_absolute():
                        holder[field_name] = str((path.parent / holder[field_name]).resolve())
            try:
                task = Task.model_validate(data)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or 'task'}: {err['msg']}" for err in exc.errors()
                )
                raise ValueError(f"{path}:{number}: invalid task ({problems})") from None
            if task.family not in families:
                raise ValueError(f"{path}:{number}: invalid task (family: {task.family!r} is not a family; "
                                 f"choose from {', '.join(families)})")
            tasks.append(task)
    return tasks


def dump_task(task: Task) -> str:
    """One task as one deterministic JSON line."""
    return json.dumps(task.model_dump(mode="json", exclude_defaults=True, exclude={"db"}) | {
        "db": task.db.model_dump(exclude_none=True)
    }, ensure_ascii=False, sort_keys=True)


def relative_to(task: Task, folder: str | Path) -> Task:
    """``task`` with its database file path (``sqlite_path`` or ``sql_path``) relative to ``folder``,
    as :func:`load_jsonl` resolves it, so a task file can move with its database."""
    import os

    changes = {}
    for name in ("sqlite_path", "sql_path"):
        value = getattr(task.db, name)
        if value is not None and Path(value).is_absolute():
            changes[name] = Path(os.path.relpath(value, Path(folder).resolve())).as_posix()
    return task.model_copy(update={"db": task.db.model_copy(update=changes)}) if changes else task


def save_jsonl(tasks: Iterable[Task], path: str | Path) -> int:
    """Write tasks to ``path`` (one line each, deterministic), with database paths relative to its
    folder. Returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for task in tasks:
            handle.write(dump_task(relative_to(task, path.parent)) + "\n")
            count += 1
    return count
