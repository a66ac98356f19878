"""The debug family: fix a broken query so that it returns what the question asks.

Generation, per database (a domain and a seed):

1. :func:`~env_server.tasks.gold_queries.synthesise` writes gold queries with their intent;
2. :func:`~env_server.tasks.bugs.inject` breaks each one with a bug type allowed in the split
   (sometimes two bugs on top of each other: a multi-bug task);
3. the task is kept only if :meth:`~env_server.grading.grader.Grader.task_problems` finds nothing wrong:
   the gold result is non-empty and differs across the database variants, and the broken query
   errors or gives a different result.

Splits
    ``train``: the five train domains, seeds from 0, every bug type except the held-out ones.
    ``heldout_iid``: the same domains and bug types on unseen seeds (from 10,000).
    ``heldout_ood``: seeds from 20,000; the two held-out domains (databases no train task uses) with any
    bug type, the two held-out bug types included; only gold queries whose shape no train gold has.

Plus four fixed tasks (split ``fixed``) rewriting the "SQL Debug Env" seed design's tasks in our
data: a syntax fix, a logic fix, a multi-bug query and a finance join explosion.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from env_server.families.family import READ_ACTIONS, Family, ReadmeTable
from env_server.families import make_grader
from env_server.grading.grader import Grader, GraderError
from env_server.tasks.bugs import BUG_TYPES, applicable, inject
from env_server.core.domains import get_domain
from env_server.tasks.gold_queries import GoldQuery, synthesise
from env_server.tasks.quality import formulation_problem, result_problem
from env_server.tasks.rejections import Rejections
from env_server.tasks.spec import DbSpec, Task
from env_server.tasks.splits import OOD_DOMAINS, TRAIN_DOMAINS, TrainIndex, fill

OOD_BUG_TYPES: tuple[str, ...] = ("alias_misuse", "where_vs_having")
TRAIN_BUG_TYPES: tuple[str, ...] = tuple(b for b in BUG_TYPES if b not in OOD_BUG_TYPES)
SPLIT_SIZES: dict[str, int] = {"train": 2000, "heldout_iid": 200, "heldout_ood": 200}
GOLDS_PER_DATABASE = 6
"""Gold queries used per database, so that tasks spread over many databases."""
BUGS_PER_GOLD = 2
"""Broken versions kept per gold query."""
MULTI_BUG_RATE = 0.2
"""Share of broken versions that get a second bug on top."""
MAX_GOLD_ROWS = 200
"""Longer gold results are skipped: an agent sees 50 rows at a time."""


@dataclass(frozen=True)
class Slot:
    """One domain and the bug types allowed on it in a split."""

    domain: str
    bug_types: tuple[str, ...]


def slots(split: str) -> list[Slot]:
    """The domain/bug-type combinations a split draws from, in round-robin order."""
    if split in ("train", "heldout_iid"):
        return [Slot(d, TRAIN_BUG_TYPES) for d in TRAIN_DOMAINS]
    if split == "heldout_ood":
        return [Slot(d, BUG_TYPES) for d in OOD_DOMAINS]
    raise ValueError(f"unknown split {split!r}; expected train, heldout_iid or heldout_ood")


def difficulty_of(gold: GoldQuery, silent: bool, n_bugs: int) -> str:
    """easy/medium/hard from query complexity, whether the bug is silent (no error), and bug count."""
    points = gold.level + int(silent) + 2 * (n_bugs - 1)
    return "easy" if points <= 2 else "medium" if points == 3 else "hard"


def tasks_for_database(
    grader: Grader, split: str, slot: Slot, seed: int, usage: Counter | None = None
) -> Iterator[Task]:
    """Valid debug tasks on the database ``slot.domain``/``seed``, for ``split``.

    ``usage`` counts bug types generated so far; the least used applicable type is tried first,
    so that rare bug types are not crowded out by ones that apply to every query."""
    yield from tasks_for_db(
        grader,
        split,
        DbSpec(domain=slot.domain, seed=seed),
        name=f"{slot.domain}-s{seed}",
        bug_types=slot.bug_types,
        nouns=get_domain(slot.domain).nouns,
        rng_key=f"debug|{split}|{slot.domain}|{seed}",
        usage=usage,
    )


def tasks_for_db(
    grader: Grader,
    split: str,
    db: DbSpec,
    name: str,
    bug_types: Sequence[str] = TRAIN_BUG_TYPES,
    nouns: Mapping[str, str] | None = None,
    rng_key: str | None = None,
    usage: Counter | None = None,
    golds_per_database: int = GOLDS_PER_DATABASE,
    rejected: Rejections | None = None,
    strict: bool = False,
) -> Iterator[Task]:
    """Valid debug tasks on any database ``db`` (generated or brought by the user); ids start with
    ``debug-<name>-``. A candidate that cannot be a task is skipped, its reason counted in ``rejected``. ``strict`` applies the quality rules (:mod:`env_server.tasks.quality`)."""
    usage = Counter() if usage is None else usage
    rejected = Rejections() if rejected is None else rejected
    rng = random.Random(rng_key or f"debug|{split}|{name}")
    schema = grader.databases.schema(db)
    golds = grader.databases.inspect(
        db, lambda conn, _: synthesise(conn, schema, rng, nouns or {}, rejected=rejected, strict=strict))
    rng.shuffle(golds)
    used = 0
    for gold in golds:
        if used >= golds_per_database:
            break
        base = Task(
            task_id=f"debug-{name}-{gold.template}",
            family="debug",
            split=split,
            db=db,
            question=gold.question,
            broken_sql=gold.sql,
            gold_sql=gold.sql,
            order_matters=gold.order_matters,
            tags=[f"template:{gold.template}"],
        )
        try:
            reference = grader.reference(base)
        except GraderError as exc:
            rejected.add(exc)
            continue
        if not reference.rows or len(reference.rows) > MAX_GOLD_ROWS:
            rejected.add("gold query returns no rows" if not reference.rows
                         else f"gold query returns more than {MAX_GOLD_ROWS} rows")
            continue
        degenerate = result_problem(gold.sql, reference.rows, gold.question) if strict else None
        if strict and not degenerate and gold.alternative:
            degenerate = grader.databases.inspect(
                db, lambda conn, _: formulation_problem(conn, reference.rows, gold.alternative))
        if degenerate:
            rejected.add(degenerate)
            continue
        candidates = [b for b in applicable(gold.sql, schema) if b in bug_types]
        rng.shuffle(candidates)
        candidates.sort(key=lambda b: usage[b])
        kept = 0
        for bug in candidates:
            if kept >= BUGS_PER_GOLD:
                break
            broken = inject(gold.sql, bug, schema, rng)
            if broken is None:
                continue
            bugs = [bug]
            if gold.level >= 2 and rng.random() < MULTI_BUG_RATE:
                others = [b for b in applicable(broken, schema) if b in bug_types and b != bug]
                if others:
                    second_bug = min(others, key=lambda b: (usage[b], rng.random()))
                    second = inject(broken, second_bug, schema, rng)
                    if second is not None:
                        broken, bugs = second, [bug, second_bug]
            task = _make(base, broken, bugs, grader, gold, rejected)
            if task is None:
                continue
            kept += 1
            usage.update(task.bug_types)
            yield task
        used += kept > 0


def _make(base: Task, broken: str, bugs: list[str], grader: Grader, gold: GoldQuery,
          rejected: Rejections) -> Task | None:
    silent = grader.run(base, broken).ok
    task = base.model_copy(
        update={
            "task_id": f"{base.task_id}-{'+'.join(bugs)}",
            "broken_sql": broken,
            "bug_types": bugs,
            "difficulty": difficulty_of(gold, silent, len(bugs)),
        }
    )
    problems = grader.task_problems(task)
    if problems:
        rejected.add(problems[0])
        return None
    return task


def generate_split(split: str, n: int | None = None, grader: Grader | None = None, progress: bool = True,
                   exclude: TrainIndex | None = None) -> list[Task]:
    """``n`` valid debug tasks for ``split`` (default: ``SPLIT_SIZES``), deterministically."""
    n = SPLIT_SIZES[split] if n is None else n
    grader = grader or make_grader()
    usage: Counter = Counter()
    return fill("debug", split, n, slots(split), lambda slot, seed: tasks_for_database(grader, split, slot, seed, usage),
                progress, exclude)


def fixed_tasks() -> list[Task]:
    """The four tasks of the "SQL Debug Env" seed design, rewritten on our generated data."""
    shop, hr, bank = (DbSpec(domain=d, seed=0) for d in ("ecommerce", "hr", "finance"))
    specs = [
        dict(
            task_id="debug-fixed-syntax_fix",
            difficulty="easy",
            db=shop,
            question="the name, email and signup date of users on the 'pro' plan who signed up on or after "
            "2024-01-01, ordered by signup date, then id",
            broken_sql="SELECT name, email, signup_date FROM users WHER plan = 'pro' AND signup_date >= '2024-01-01' "
            "ORDER BY signup_date, id",
            gold_sql="SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
            "ORDER BY signup_date, id",
            order_matters=True,
            bug_types=["keyword_typo"],
        ),
        dict(
            task_id="debug-fixed-logic_fix",
            difficulty="medium",
            db=hr,
            question="for each department with more than 20 employees, its name and the average salary of its "
            "employees (ignoring missing salaries), rounded to 2 decimals",
            broken_sql="SELECT d.name, ROUND(AVG(e.salary), 2) AS avg_salary FROM employees AS e JOIN departments AS d "
            "ON e.department_id = d.id GROUP BY d.id, d.name HAVING COUNT(*) >= 20",
            gold_sql="SELECT d.name, ROUND(AVG(e.salary), 2) AS avg_salary FROM employees AS e JOIN departments AS d "
            "ON e.department_id = d.id GROUP BY d.id, d.name HAVING COUNT(*) > 20",
            bug_types=["off_by_one"],
        ),
        dict(
            task_id="debug-fixed-multi_bug",
            difficulty="hard",
            db=bank,
            question="for each customer region, the number of distinct customers with purchases from 2024-01-01 on and "
            "the total amount of those purchases rounded to 2 decimals, largest total first, then by region",
            broken_sql="SELECT c.region, COUNT(c.id) AS customers, ROUND(SUM(t.amount), 2) AS spend FROM customers AS c "
            "JOIN accounts AS a ON a.customer_id = c.id JOIN transactions AS t ON t.account_id = a.id "
            "WHERE t.kind = 'purchase' AND t.tx_date > '2024-01-01' GROUP BY c.region ORDER BY spend, c.region",
            gold_sql="SELECT c.region, COUNT(DISTINCT c.id) AS customers, ROUND(SUM(t.amount), 2) AS spend "
            "FROM customers AS c JOIN accounts AS a ON a.customer_id = c.id JOIN transactions AS t "
            "ON t.account_id = a.id WHERE t.kind = 'purchase' AND t.tx_date >= '2024-01-01' GROUP BY c.region "
            "ORDER BY spend DESC, c.region",
            order_matters=True,
            bug_types=["missing_distinct", "off_by_one_date", "wrong_order"],
        ),
        dict(
            task_id="debug-fixed-join_explosion",
            difficulty="hard",
            db=bank,
            question="for each customer segment, the total amount invoiced to its customers (every invoice counted "
            "once, paid or not), rounded to 2 decimals",
            broken_sql="SELECT c.segment, ROUND(SUM(i.amount), 2) AS invoiced FROM customers AS c JOIN invoices AS i "
            "ON i.customer_id = c.id JOIN payments AS p ON p.invoice_id = i.id GROUP BY c.segment",
            gold_sql="SELECT c.segment, ROUND(SUM(i.amount), 2) AS invoiced FROM customers AS c JOIN invoices AS i "
            "ON i.customer_id = c.id GROUP BY c.segment",
            bug_types=["join_explosion"],
        ),
    ]
    return [Task(family="debug", split="fixed", tags=["fixed", "seed:sql-debug-env"], **spec) for spec in specs]


def _statement(task: Task) -> str:
    order = " Row order matters: keep the ORDER BY." if task.order_matters else " Row order does not matter."
    return (f"The SQL query below is broken. Fix it so that it returns: {task.question}.{order} "
            "The database is SQLite and read-only.")


def _byo(grader: Grader, split: str, db: DbSpec, name: str, rng_key: str, rejected: Rejections) -> Iterator[Task]:
    return tasks_for_db(grader, split, db, name, BUG_TYPES, rng_key=rng_key, rejected=rejected, strict=True)


FAMILY = Family(
    name="debug",
    rank=0,
    actions=READ_ACTIONS + ("submit_query",),
    submits="query",
    statement=_statement,
    tool_instructions=(
        "Inspect the schema and run queries to investigate, then submit the corrected query with submit_query."
    ),
    required_fields=("broken_sql", "gold_sql"),
    single_turn_system=(
        "You are an expert SQL engineer working on SQLite databases. Read the task, the schema and the "
        "broken query; in this reply you cannot run tools or queries. Reply with the corrected query, one "
        "SELECT statement, in exactly one ```sql code block, and end the reply with the closing fence. It is "
        "run on this database and on other copies of the data, and its rows must equal those of the correct "
        "query on every copy."
    ),
    response_prefix="```sql\n",
    shows_broken_sql=True,
    generate_split=generate_split,
    fixed_tasks=fixed_tasks,
    byo_tasks=_byo,
    readme_tables=(
        ReadmeTable("tasks per bug type", lambda t: t.bug_types, "A multi-bug task counts once per bug."),
        ReadmeTable("tasks per gold-query template", lambda t: t.tag_values("template")),
    ),
)
