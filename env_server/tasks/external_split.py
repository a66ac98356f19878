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
"""
from __future__ import annotations

from collections.abc import Sequence

from env_server.families import grounded
from env_server.grading.grader import Grader
from env_server.tasks import byo
from env_server.tasks.external import (
    DEFOG_DBS,
    defog_dir,
    domain_name,
    external_metrics,
)
from env_server.tasks.spec import DbSpec, Task

SPLIT = "heldout_external"
PER_FAMILY_PER_DB = 40
GROUNDED_BINDINGS_PER_METRIC = 12


def database(name: str) -> DbSpec:
    """The defog-data database ``name`` as a task database (a PostgreSQL dump, by absolute path)."""
    return DbSpec(sql_path=str((defog_dir() / name / f"{name}.sql").resolve()), dialect="postgres")


def generate(
    families: Sequence[str] = ("debug", "repair", "analyst", "grounded"),
    grader: Grader | None = None,
    progress: bool = True,
) -> dict[str, list[Task]]:
    """``heldout_external`` tasks per family (deterministic)."""
    grader = grader or Grader()
    out: dict[str, list[Task]] = {family: [] for family in families}
    metrics = external_metrics()
    for name in DEFOG_DBS:
        db = database(name)
        byo_families = [f for f in families if f in byo.byo_families()]
        generated = byo.tasks_for_database(db, name, byo_families, PER_FAMILY_PER_DB, SPLIT, grader, progress)
        for family, tasks in generated.items():
            out[family].extend(tasks)
        if "grounded" in families:
            mine = [m for m in metrics if m.domain == domain_name(name)]
            out["grounded"].extend(grounded.tasks_for_db(
                grader, SPLIT, db, name, mine, domain_name(name), rng_key=f"grounded|{SPLIT}|{name}",
                per_metric=GROUNDED_BINDINGS_PER_METRIC,
            ))
    return out
