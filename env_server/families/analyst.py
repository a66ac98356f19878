"""The analyst family: answer a business question by querying the database.

Generation, per database: :func:`~env_server.tasks.questions.synthesise_questions` writes typed
questions (int, float at the precision the question states, string, set) with their gold SQL; a
question is kept only when :meth:`~env_server.grading.grader.Grader.task_problems` finds nothing
wrong (the gold result is non-empty, has the answer type's shape, and depends on the data: it
changes across the variants).
The gold answer is always the gold SQL's result on the task database, computed by the grader.

Splits follow :mod:`env_server.tasks.splits`; ``OOD_TEMPLATES`` never appear in ``train``.

Plus the three questions of the "SQL Data Analyst" seed design (split ``fixed``) over the SaaS shop
(``ecommerce``, seed 0). That design used ``DATE('now')``; here "now" is frozen at the domain's
reference date, 2024-12-31, and the goal says so.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence

from env_server.families.family import READ_ACTIONS, Family, ReadmeTable
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks import splits
from env_server.core.domains import get_domain
from env_server.tasks.quality import formulation_problem, result_problem
from env_server.tasks.questions import QUESTION_TEMPLATES, synthesise_questions
from env_server.tasks.rejections import Rejections
from env_server.tasks.spec import DbSpec, Task

OOD_TEMPLATES: tuple[str, ...] = ("busiest_month", "categories_above_average", "count_above_average")
"""Templates held out of train (heldout_ood only)."""
QUESTIONS_PER_DATABASE = 6
MAX_STEPS = 10


def tasks_for_db(
    grader: Grader,
    split: str,
    db: DbSpec,
    name: str,
    templates: Sequence[str],
    nouns: Mapping[str, str] | None = None,
    rng_key: str | None = None,
    per_database: int = QUESTIONS_PER_DATABASE,
    rejected: Rejections | None = None,
    strict: bool = False,
) -> Iterator[Task]:
    """Valid analyst tasks on ``db`` for ``split``; ids start with ``analyst-<name>-``. A candidate that
    cannot be a task is skipped, its reason counted in ``rejected``. ``strict`` applies the quality rules
    (:mod:`env_server.tasks.quality`)."""
    rejected = Rejections() if rejected is None else rejected
    rng = random.Random(rng_key or f"analyst|{split}|{name}")
    questions = grader.databases.inspect(db, lambda conn, schema: synthesise_questions(
        conn, schema, rng, nouns or {}, templates=list(templates), strict=strict))
    rng.shuffle(questions)
    kept: dict[str, int] = {}
    for q in questions:
        if sum(kept.values()) >= per_database:
            break
        n = kept.get(q.template, 0)
        task = Task(
            task_id=f"analyst-{name}-{q.template}" + (f"-{n + 1}" if n else ""),
            family="analyst",
            split=split,
            difficulty=splits.difficulty(q.level),
            db=db,
            question=q.question,
            gold_sql=q.gold_sql,
            answer_type=q.answer_type,
            tolerance=q.tolerance,
            max_steps=MAX_STEPS,
            tags=[f"template:{q.template}"],
        )
        problems = grader.task_problems(task)
        if not problems and strict:
            rows = grader.reference(task).rows
            degenerate = result_problem(q.gold_sql, rows, q.question)
            if not degenerate and q.alternative:
                degenerate = grader.databases.inspect(db, lambda conn, _: formulation_problem(conn, rows, q.alternative))
            problems = [degenerate] if degenerate else []
        if problems:
            rejected.add(problems[0])
            continue
        kept[q.template] = n + 1
        yield task


def generate_split(split: str, n: int | None = None, grader: Grader | None = None, progress: bool = True,
                   exclude: splits.TrainIndex | None = None) -> list[Task]:
    """``n`` valid analyst tasks for ``split`` (default ``FAMILY_SPLIT_SIZES``), deterministically."""
    grader = grader or make_grader()
    plan = splits.slots(split, QUESTION_TEMPLATES, OOD_TEMPLATES)

    def tasks_for(slot: splits.Slot, seed: int) -> Iterator[Task]:
        return tasks_for_db(
            grader, split, DbSpec(domain=slot.domain, seed=seed), f"{slot.domain}-s{seed}", slot.kinds,
            get_domain(slot.domain).nouns, rng_key=f"analyst|{split}|{slot.domain}|{seed}",
        )

    return splits.fill("analyst", split, n or splits.FAMILY_SPLIT_SIZES[split], plan, tasks_for, progress, exclude)


NOW = "2024-12-31"


def fixed_tasks() -> list[Task]:
    """The three "SQL Data Analyst" questions, with "now" frozen at 2024-12-31."""
    shop = DbSpec(domain="ecommerce", seed=0)
    specs = [
        dict(
            task_id="analyst-fixed-signups_last_30_days",
            difficulty="easy",
            question=(
                f"Today is {NOW}. How many users signed up in the last 30 days, that is with a signup date after "
                "2024-12-01? Answer with a whole number."
            ),
            gold_sql=f"SELECT COUNT(*) FROM users WHERE signup_date > DATE('{NOW}', '-30 days')",
            answer_type="int",
        ),
        dict(
            task_id="analyst-fixed-top_category_q3",
            difficulty="medium",
            question=(
                "Which product category brought the most revenue in Q3 2024 (orders dated 2024-07-01 to 2024-09-30)? "
                "Revenue is quantity times unit price of the order lines, completed orders only. Answer with the "
                "category name."
            ),
            gold_sql=(
                "SELECT p.category FROM order_items AS oi JOIN orders AS o ON o.id = oi.order_id "
                "JOIN products AS p ON p.id = oi.product_id WHERE o.status = 'completed' "
                "AND o.order_date BETWEEN '2024-07-01' AND '2024-09-30' GROUP BY p.category "
                "ORDER BY SUM(oi.quantity * oi.unit_price) DESC LIMIT 1"
            ),
            answer_type="string",
        ),
        dict(
            task_id="analyst-fixed-churned_after_three_orders",
            difficulty="hard",
            question=(
                f"Today is {NOW}. A user has churned when their last order (of any status) is more than 90 days old, "
                "i.e. on or before 2024-10-02. List the emails of the churned users who had exactly 3 completed "
                "orders, one per line."
            ),
            gold_sql=(
                "SELECT u.email FROM users AS u JOIN orders AS o ON o.user_id = u.id GROUP BY u.id, u.email "
                f"HAVING SUM(o.status = 'completed') = 3 AND MAX(o.order_date) <= DATE('{NOW}', '-90 days')"
            ),
            answer_type="set",
        ),
    ]
    return [
        Task(family="analyst", split="fixed", db=shop, max_steps=MAX_STEPS, tags=["fixed", "seed:sql-data-analyst"], **s)
        for s in specs
    ]


def _statement(task: Task) -> str:
    return f"Answer this business question from the data: {task.question} The database is SQLite and read-only."


def _byo(grader: Grader, split: str, db: DbSpec, name: str, rng_key: str, rejected: Rejections) -> Iterator[Task]:
    return tasks_for_db(grader, split, db, name, QUESTION_TEMPLATES, rng_key=rng_key, rejected=rejected,
                        strict=True)


FAMILY = Family(
    name="analyst",
    rank=2,
    actions=READ_ACTIONS + ("submit_answer",),
    submits="answer",
    statement=_statement,
    tool_instructions="Query it with run_query, then give only the answer with submit_answer.",
    required_fields=("gold_sql", "answer_type"),
    single_turn_system=(
        "You are an expert data analyst working on SQLite databases. Read the question and the schema; in this "
        "reply you cannot run tools or queries. Reply with only the final answer inside <answer>...</answer>: a "
        "number, a name, or for several values a comma-separated list. Do not write anything after the answer tag."
    ),
    generate_split=generate_split,
    fixed_tasks=fixed_tasks,
    byo_tasks=_byo,
    readme_tables=(ReadmeTable("tasks per question template", lambda t: t.tag_values("template")),),
)
