"""The ``heldout_external`` split: every family on databases from outside the project.

The broker, car_dealership, derm_treatment and ewallet databases of defog-data
(``data/external/defog-data``, Apache-2.0) are referenced by path and transpiled from
PostgreSQL to SQLite with sqlglot when first built (:mod:`env_server.ingest.transpile`); nothing of them is
copied into ``data/`` except the glossary lines, which become documents of the corpus
(:func:`env_server.tasks.external.glossary_docs`), each with its provenance.

* grounded: the glossary's metrics (ADV, ATH, ATP, profit, TTV, APM, ...) bound to entities
  of each database, kept only where the naive reading gives a different answer (derm_treatment has
  none: its glossary formulas need `day0_*` columns its published tables lack; its glossary lines
  are still documents);
* debug, analyst, repair: the bring-your-own-database generators (:mod:`env_server.tasks.byo`).

A family with its own generator for these databases (``Family.external_tasks``) uses it; the others use
their ``byo_tasks``.
"""
from __future__ import annotations

from collections.abc import Sequence

from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks import byo
from env_server.tasks.external import DEFOG_DBS, defog_dir
from env_server.tasks.spec import DbSpec, Task

SPLIT = "heldout_external"
PER_FAMILY_PER_DB = 40


def database(name: str) -> DbSpec:
    """The defog-data database ``name`` as a task database (a PostgreSQL dump, by absolute path)."""
    return DbSpec(sql_path=str((defog_dir() / name / f"{name}.sql").resolve()), dialect="postgres")


def generate(
    families: Sequence[str] | None = None,
    grader: Grader | None = None,
    progress: bool = True,
) -> dict[str, list[Task]]:
    """``heldout_external`` tasks per family (deterministic); ``families`` defaults to every family of the
    grader's registry that can make tasks there."""
    grader = grader or make_grader()
    registry = grader.families
    if families is None:
        families = [f.name for f in registry.values() if f.external_tasks or f.byo_tasks]
    out: dict[str, list[Task]] = {family: [] for family in families}
    own = [f for f in families if registry.get(f).external_tasks]
    byo_families = [f for f in families if f not in own and f in byo.byo_families()]
    for name in DEFOG_DBS:
        db = database(name)
        generated = byo.tasks_for_database(db, name, byo_families, PER_FAMILY_PER_DB, SPLIT, grader, progress)
        for family, tasks in generated.items():
            out[family].extend(tasks)
        for family in own:
            out[family].extend(registry.get(family).external_tasks(grader, SPLIT, db, name))
    return out
