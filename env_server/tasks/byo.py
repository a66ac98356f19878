"""Bring your own database: generate debug, analyst and repair tasks for a database the generators
have never seen.

``python -m env_server build-data --from-sqlite PATH`` (or ``--from-sql PATH --dialect postgres``)
profiles the database (column classes, the foreign-key graph), then runs the same generators as
the built-in families on it: gold queries and injected bugs (debug), typed business questions
(analyst) and planted corruptions with their repair rule (repair). Every task is validated by the
grader exactly as the built-in ones are. The tasks reference the database by path (relative to
the output file), so nothing is copied; serve them with ``python -m env_server serve --tasks OUT``.
A database with only a handful of rows per table gets no repair task: a corruption needs rows to
hide in, and the summary says so.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from env_server.core.databases import Databases
from env_server.families import default_families
from env_server.families import make_grader
from env_server.ingest.transpile import load_file
from env_server.grading.grader import Grader
from env_server.tasks.gold_queries import PROFILE_ROWS
from env_server.tasks.rejections import Rejections
from env_server.tasks.splits import take
from env_server.tasks.spec import DbSpec, Task, save_jsonl

BYO_FAMILIES: tuple[str, ...] = ("debug", "analyst", "repair")
"""The default families of a build, in the order its file lists them (every family with ``byo_tasks``
may be asked for: :func:`byo_families`)."""
PER_FAMILY = 40
BUILD_CACHE = 16
"""Databases (the user's, its variants, corrupted candidates) and repair snapshots a build keeps at once."""
MAX_ROUNDS = 12
"""Generation rounds (each with a fresh seed) tried per family before settling for fewer tasks."""


def slug(text: str) -> str:
    """A task-id-safe name: lower case, letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "db"


def byo_families() -> tuple[str, ...]:
    """The families that can generate tasks on a user's own database (those with a ``byo_tasks`` hook)."""
    return tuple(name for name, family in default_families().items() if family.byo_tasks is not None)


def _round(grader: Grader, family: str, split: str, db: DbSpec, name: str, r: int,
           rejected: Rejections) -> Iterator[Task]:
    hook = grader.families[family].byo_tasks
    if hook is None:
        raise ValueError(f"family {family!r} cannot generate tasks for your own database; choose from "
                         f"{', '.join(byo_families())}")
    return hook(grader, split, db, f"{name}-r{r}", rng_key=f"{family}|{split}|{name}|round{r}", rejected=rejected)


def tasks_for_database(
    db: DbSpec,
    name: str,
    families: Sequence[str] = BYO_FAMILIES,
    per_family: int = PER_FAMILY,
    split: str = "custom",
    grader: Grader | None = None,
    progress: bool = True,
    rejected: dict[str, Rejections] | None = None,
) -> dict[str, list[Task]]:
    """Up to ``per_family`` valid tasks per family on ``db``, deterministically. Candidates that cannot be
    tasks are skipped; ``rejected`` (when given) receives each family's reasons."""
    grader = grader or make_grader()
    rejected = {} if rejected is None else rejected
    grader.databases.schema(db)  # build it once now: a broken file fails here, with its own message
    out: dict[str, list[Task]] = {}
    for family in families:
        tasks: list[Task] = []
        seen: set[str] = set()
        bar = tqdm(total=per_family, desc=f"{family}/{name}", unit="task", disable=not progress, leave=False)
        why = rejected.setdefault(family, Rejections())

        def admit(task: Task) -> bool:
            key = task.gold_sql or "\n".join(task.gold_repair_sql or [])
            key += "|" + (task.broken_sql or "") + "|" + task.question
            if key in seen:
                why.add("a later round drew a task already made (the database offers no more distinct ones)")
                return False
            seen.add(key)
            return True

        take(tasks, per_family, (_round(grader, family, split, db, name, r, why) for r in range(MAX_ROUNDS)), admit,
             bar)
        bar.close()
        out[family] = tasks
    return out


def dump_summary(path: Path, dialect: str | None) -> list[str]:
    """What reading a PostgreSQL dump kept and dropped, for the build's summary: the plain-SQL reader's summary,
    or one line for a ``pg_dump -Fc`` archive (binary: PostgreSQL's own pg_restore read it). Nothing for SQLite.

    >>> import tempfile
    >>> archive = Path(tempfile.mkdtemp()) / "shop.dump"
    >>> _ = archive.write_bytes(b"PGDMP\\x01\\x0e\\x00\\xff\\xfe")
    >>> dump_summary(archive, "postgres")
    ["a pg_dump custom-format archive, restored by PostgreSQL's pg_restore"]
    """
    if dialect not in ("postgres", "postgresql"):
        return []
    from env_server.ingest import pg_dump, pg_restore

    if pg_restore.is_custom_format(path):
        return ["a pg_dump custom-format archive, restored by PostgreSQL's pg_restore"]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ["not UTF-8 text: no summary of what the dump reader kept"]
    return pg_dump.prepare(text).summary()


def main(
    path: Path,
    dialect: str | None,
    out: Path | None,
    name: str | None = None,
    families: Sequence[str] = BYO_FAMILIES,
    per_family: int = PER_FAMILY,
    progress: bool = True,
) -> Path:
    """Generate tasks for the database at ``path`` and write them to ``out`` (JSONL)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SystemExit(f"no such file: {path}")
    name = slug(name or path.stem)
    db = DbSpec(sqlite_path=str(path)) if dialect is None else DbSpec(sql_path=str(path), dialect=dialect)
    out = Path(out or f"{name}.tasks.jsonl")
    started = time.perf_counter()
    rejected: dict[str, Rejections] = {}
    # a repair candidate is a corrupted copy of the database (with its variants and repaired snapshots), checked
    # once: keep few at once, or a build holds hundreds of copies of the user's database in memory
    grader = make_grader(databases=Databases(capacity=BUILD_CACHE, load_dump=load_file), target_cache=2 * BUILD_CACHE)
    try:
        by_family = tasks_for_database(db, name, families, per_family, grader=grader, progress=progress,
                                       rejected=rejected)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"cannot generate tasks for {path}: {exc}") from None
    tasks = [t for family in families for t in by_family[family]]
    if not tasks:
        raise SystemExit(f"no valid task could be generated for {path}: does it have tables with data?")
    save_jsonl(tasks, out)
    print(f"wrote {len(tasks)} tasks for {path.name} to {out} in {time.perf_counter() - started:.1f}s")
    large = [t for t in grader.databases.schema(db).tables if t.row_count > PROFILE_ROWS]
    for table in large:
        stride = -(-table.row_count // PROFILE_ROWS)
        print(f"  profiled {table.name} ({table.row_count:,} rows) from 1 row in {stride} (rowid divisible by {stride}) "
              f"(tables over {PROFILE_ROWS:,} rows are sampled; literals come from the sample)")
    for line in dump_summary(path, dialect):
        print(f"  {line}")
    for family in families:
        hint = ""
        if not by_family[family]:
            hint = (" (its tables have too few rows to plant a corruption in)" if grader.families[family].writes
                    else " (nothing in its schema fits the generators)")
        print(f"  {family}: {len(by_family[family])}{hint}")
        if rejected.get(family):
            short = f"short of {per_family}; " if len(by_family[family]) < per_family else ""
            print(f"    {short}candidates rejected, most common reasons first:")
            for line in rejected[family].lines(8):
                print(f"      {line}")
    print(f"serve them with: python -m env_server serve --tasks {out}")
    return out
