"""The grounded family: answer an analytics question under the business definitions of the docs
corpus, and cite them.

Generation: each :class:`~env_server.tasks.grounding.Metric` of a domain
(:mod:`env_server.tasks.definitions` for the generated domains, :mod:`env_server.tasks.external`
for the defog-data databases) is bound to parameters drawn from the task database. A binding is
kept only when

* the gold SQL (the current definition) gives a usable answer of the metric's type,
* the *naive* SQL (what someone who skipped the documents would compute) gives an answer graded
  wrong (a float one at the precision the question states, ``Metric.tolerance``): the question
  cannot be answered right without the definition, and
* the grader finds nothing wrong with the task (the answer depends on the data).

The task's ``doc_ids`` are the current documents the definition lives in; ``docs_domain`` says
which corpus section ``search_docs`` looks in.

Splits: ``train`` and ``heldout_iid`` over the train domains (seeds from 0 and from 10,000),
``heldout_ood`` over the two held-out domains, whose metrics and documents never appear in
train, and ``heldout_external`` over the defog-data databases (:mod:`env_server.tasks.external_split`).
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from env_server.families.family import READ_ACTIONS, Family, ReadmeTable
from env_server.grading.answers import check_answer, gold_value
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks import splits
from env_server.tasks.definitions import METRICS
from env_server.tasks.external import domain_name, external_metrics
from env_server.tasks.grounding import Metric
from env_server.tasks.spec import DbSpec, Task

BINDINGS_PER_METRIC = 2
"""Bindings kept per metric and database, so questions spread over many databases."""
EXTERNAL_BINDINGS_PER_METRIC = 12
"""Bindings kept per metric on an external database (few databases, so more per metric)."""
MAX_STEPS = 12


def _answer(grader: Grader, db: DbSpec, sql: str, answer_type: str) -> object | None:
    execution = grader.databases.template(db).execute(sql, config=grader.sandbox_config)
    if not execution.ok:
        return None
    try:
        return gold_value(list(execution.rows), answer_type)  # type: ignore[arg-type]
    except ValueError:
        return None


def naive_differs(grader: Grader, db: DbSpec, metric: Metric, gold: object, naive_sql: str) -> bool:
    """Whether the naive reading's answer would be graded wrong against ``gold``."""
    naive = _answer(grader, db, naive_sql, metric.answer_type)
    if naive is None:
        return True
    if metric.answer_type == "set":
        naive = sorted(naive)  # type: ignore[arg-type]
    return not check_answer(naive, gold, metric.answer_type, metric.tolerance).correct


def tasks_for_db(
    grader: Grader,
    split: str,
    db: DbSpec,
    name: str,
    metrics: Iterable[Metric],
    docs_domain: str,
    rng_key: str | None = None,
    per_metric: int = BINDINGS_PER_METRIC,
) -> Iterator[Task]:
    """Valid grounded tasks on ``db`` for ``metrics``; ids start with ``grounded-<name>-``."""
    rng = random.Random(rng_key or f"grounded|{split}|{name}")
    template = grader.databases.template(db)
    for metric in metrics:
        with template.lock:
            bindings = metric.parameters(template.conn, rng)
        kept = 0
        for index, binding in enumerate(bindings):
            if kept >= per_metric:
                break
            gold_sql = metric.gold_sql.format(**binding)
            gold = _answer(grader, db, gold_sql, metric.answer_type)
            if gold is None or not naive_differs(grader, db, metric, gold, metric.naive_sql.format(**binding)):
                continue
            task = Task(
                task_id=f"grounded-{name}-{metric.metric_id}-{index + 1}",
                family="grounded",
                split=split,
                difficulty="hard" if len(metric.doc_ids) > 1 else "medium",
                db=db,
                question=metric.question.format(**binding),
                gold_sql=gold_sql,
                answer_type=metric.answer_type,
                tolerance=metric.tolerance,
                doc_ids=list(metric.doc_ids),
                docs_domain=docs_domain,
                max_steps=MAX_STEPS,
                tags=[f"metric:{metric.metric_id}"],
            )
            if grader.task_problems(task):
                continue
            kept += 1
            yield task


def generate_split(split: str, n: int | None = None, grader: Grader | None = None, progress: bool = True,
                   exclude: splits.TrainIndex | None = None) -> list[Task]:
    """``n`` valid grounded tasks for ``split`` (default ``FAMILY_SPLIT_SIZES``), deterministically."""
    grader = grader or make_grader()
    domains = {"train": splits.TRAIN_DOMAINS, "heldout_iid": splits.TRAIN_DOMAINS, "heldout_ood": splits.OOD_DOMAINS}.get(split)
    if domains is None:
        raise ValueError(f"unknown split {split!r}; expected train, heldout_iid or heldout_ood")
    layout = [splits.Slot(d, ()) for d in domains]

    def tasks_for(slot: splits.Slot, seed: int) -> Iterator[Task]:
        metrics = [m for m in METRICS if m.domain == slot.domain]
        return tasks_for_db(
            grader, split, DbSpec(domain=slot.domain, seed=seed), f"{slot.domain}-s{seed}", metrics, slot.domain,
            rng_key=f"grounded|{split}|{slot.domain}|{seed}",
        )

    return splits.fill("grounded", split, n or splits.FAMILY_SPLIT_SIZES[split], layout, tasks_for, progress, exclude)


def _statement(task: Task) -> str:
    return task.question


def _external(grader: Grader, split: str, db: DbSpec, name: str) -> list[Task]:
    """Tasks on the defog-data database ``name``: its glossary's metrics (:mod:`env_server.tasks.external`)."""
    mine = [m for m in external_metrics() if m.domain == domain_name(name)]
    return list(tasks_for_db(grader, split, db, name, mine, domain_name(name), rng_key=f"grounded|{split}|{name}",
                             per_metric=EXTERNAL_BINDINGS_PER_METRIC))


FAMILY = Family(
    name="grounded",
    rank=3,
    actions=READ_ACTIONS + ("search_docs", "submit_answer"),
    submits="answer",
    cites=True,
    statement=_statement,
    tool_instructions=(
        "The business terms in the question are defined in the company documents: find them with search_docs and "
        "apply the current definition (not superseded or draft ones). Query the read-only SQLite database with "
        "run_query, then submit_answer with the answer and, in citations, the ids of the documents the definition "
        "comes from."
    ),
    required_fields=("gold_sql", "answer_type", "doc_ids"),
    single_turn_system=(
        "You are an expert data analyst working on SQLite databases. Read the question, the schema and the "
        "company documents found for the question; in this reply you cannot run tools or queries. Apply the "
        "current definition of each business term (not a superseded or draft one). Reply with the final answer "
        "inside <answer>...</answer> (a number, a name, or for several values a comma-separated list), then the "
        "ids of the documents the definition comes from inside <citations>id1, id2</citations>. "
        "Do not write anything after the citations tag."
    ),
    generate_split=generate_split,
    external_tasks=_external,
    readme_tables=(ReadmeTable("tasks per metric", lambda t: t.tag_values("metric")),),
)
