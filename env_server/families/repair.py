"""The repair family: fix a corrupted database with write statements.

Generation, per clean database: :func:`~env_server.tasks.corruptions.plan` picks corruptions that
fit it (eight kinds: format drift, case and whitespace drift, duplicates, NULLs to impute, orphans,
a legacy table to migrate, a missing aggregate table, swapped units). Each becomes a task whose
database is the clean one plus the corruption's ``setup_sql`` (salted, so every variant is corrupted
on different rows), whose goal states the repair rule, and whose ``gold_repair_sql`` defines the
target: the gold-repaired state of each database. A task is kept only when the gold repair runs
on the task database and every variant and changes each of them.

Splits follow :mod:`env_server.tasks.splits`; ``OOD_KINDS`` never appear in ``train``. The five
fixed tasks of the "DataOps-Env" seed design are in :mod:`env_server.tasks.repair_fixed`.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from env_server.families.family import READ_ACTIONS, Family, ReadmeTable
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks import splits
from env_server.tasks.corruptions import CORRUPTION_KINDS, plan
from env_server.core.domains import get_domain
from env_server.tasks.rejections import Rejections
from env_server.tasks.repair_fixed import fixed_tasks
from env_server.tasks.spec import DbSpec, Task

OOD_KINDS: tuple[str, ...] = ("unit_swap", "missing_aggregate")
"""Corruption kinds held out of train (heldout_ood only)."""
DIFFICULTY: dict[str, str] = {
    "case_whitespace": "easy",
    "duplicates": "easy",
    "orphans": "easy",
    "null_impute": "medium",
    "format_drift": "medium",
    "unit_swap": "medium",
    "legacy_migration": "hard",
    "missing_aggregate": "hard",
}
MAX_STEPS = 15
TASKS_PER_DATABASE = 4

__all__ = ["OOD_KINDS", "fixed_tasks", "generate_split", "tasks_for_db"]


def tasks_for_db(
    grader: Grader,
    split: str,
    db: DbSpec,
    name: str,
    kinds: Sequence[str] = CORRUPTION_KINDS,
    nouns: Mapping[str, str] | None = None,
    rng_key: str | None = None,
    per_database: int = TASKS_PER_DATABASE,
    usage: Counter | None = None,
    rejected: Rejections | None = None,
    strict: bool = False,
) -> Iterator[Task]:
    """Valid repair tasks on the clean database ``db``, ids ``repair-<name>-...``; ``rejected`` and
    ``strict`` as in :func:`env_server.families.debug.tasks_for_db`. Each corruption is planned once and
    checked on a scratch copy (:func:`env_server.tasks.corruptions.plan`)."""
    rng = random.Random(rng_key or f"repair|{split}|{name}")
    rejected = Rejections() if rejected is None else rejected
    corruptions = [c for c in grader.databases.inspect(db, lambda conn, schema: plan(conn, schema, rng, nouns or {},
                                                                                    rejected, strict))
                   if c.kind in kinds]
    rng.shuffle(corruptions)
    usage = Counter() if usage is None else usage
    corruptions.sort(key=lambda c: usage[c.kind])  # least-used kinds first, so kinds spread evenly
    kept = 0
    used_kinds: set[str] = set()
    for corruption in corruptions:
        if kept >= per_database:
            break
        if corruption.kind in used_kinds:
            continue  # one task per kind and database, so kinds spread evenly
        target = corruption.target.replace(".", "_").lower()
        task = Task(
            task_id=f"repair-{name}-{corruption.kind}-{target}",
            family="repair",
            split=split,
            difficulty=DIFFICULTY.get(corruption.kind, "medium"),
            db=db.model_copy(update={"setup_sql": tuple(corruption.setup_sql)}),
            question=corruption.goal,
            corruption=corruption.kind,
            gold_repair_sql=list(corruption.gold_repair_sql),
            max_steps=MAX_STEPS,
            tags=[f"corruption:{corruption.kind}"],
        )
        problems = grader.task_problems(task)
        if problems:
            rejected.add(problems[0])
            continue
        kept += 1
        used_kinds.add(corruption.kind)
        usage[corruption.kind] += 1
        yield task


def generate_split(split: str, n: int | None = None, grader: Grader | None = None, progress: bool = True,
                   exclude: splits.TrainIndex | None = None) -> list[Task]:
    """``n`` valid repair tasks for ``split`` (default ``FAMILY_SPLIT_SIZES``), deterministically."""
    grader = grader or make_grader()
    layout = splits.slots(split, CORRUPTION_KINDS, OOD_KINDS)
    usage: Counter = Counter()

    def tasks_for(slot: splits.Slot, seed: int) -> Iterator[Task]:
        return tasks_for_db(
            grader, split, DbSpec(domain=slot.domain, seed=seed), f"{slot.domain}-s{seed}", slot.kinds,
            get_domain(slot.domain).nouns, rng_key=f"repair|{split}|{slot.domain}|{seed}", usage=usage,
        )

    return splits.fill("repair", split, n or splits.FAMILY_SPLIT_SIZES[split], layout, tasks_for, progress, exclude)


def _statement(task: Task) -> str:
    return f"This SQLite database needs repair. {task.question}"


def _byo(grader: Grader, split: str, db: DbSpec, name: str, rng_key: str, rejected: Rejections) -> Iterator[Task]:
    return tasks_for_db(grader, split, db, name, CORRUPTION_KINDS, rng_key=rng_key, rejected=rejected, strict=True,
                        per_database=len(CORRUPTION_KINDS))


FAMILY = Family(
    name="repair",
    rank=1,
    actions=READ_ACTIONS + ("execute_sql", "finish"),
    submits="script",
    statement=_statement,
    tool_instructions=(
        "Inspect it with inspect_schema, sample_rows and read-only run_query; change it with execute_sql (INSERT, "
        "UPDATE, DELETE, CREATE TABLE or VIEW; DROP and ALTER are refused); then call finish to have every table "
        "graded. Write rules, not values you read: your statements are replayed on other copies of the data."
    ),
    required_fields=("gold_repair_sql",),
    single_turn_system=(
        "You are an expert SQL engineer repairing SQLite databases. Read the task and the schema; in this reply "
        "you cannot run tools or look at the data. Reply with the write statements that repair the database "
        "(UPDATE, DELETE, INSERT, CREATE TABLE ...; DROP and ALTER are refused), in the order they must run, "
        "each ending with a semicolon, all in exactly one ```sql code block. They are run in order on this "
        "database and on other copies of the data, so write rules, not values you expect to see. "
        "End the reply with the closing fence."
    ),
    response_prefix="```sql\n",
    reviewer_writes=frozenset({"INSERT", "UPDATE", "DELETE", "CREATE TABLE", "CREATE VIEW"}),
    generate_split=generate_split,
    fixed_tasks=fixed_tasks,
    byo_tasks=_byo,
    readme_tables=(ReadmeTable("tasks per corruption", lambda t: [t.corruption or "?"]),),
)
