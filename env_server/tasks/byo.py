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

Every input ends cleanly: exit status 0 and the summary, or one line on stderr that names the file, says
what is wrong and what to do, and a non-zero status: 1 when the input cannot be used (a missing or empty
file, a directory, a compressed file, a file given to the wrong flag or with the wrong ``--dialect``, a
damaged SQLite file, SQL that does not load, a database with no tables or no rows, an ``--out`` that
cannot be written: :mod:`env_server.ingest.formats` refuses most of these before anything is built), 2 when
the command line is wrong (``env_server/__main__.py``). Nothing is written unless every task and the
summary are ready, so no failure comes after the file.
"""
from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from tqdm import tqdm

from env_server.core.databases import Databases
from env_server.core.provenance import peak_rss_gb
from env_server.core.schema import SchemaInfo
from env_server.families import default_families
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.ingest import formats
from env_server.ingest.pg_restore import PostgresUnavailable
from env_server.ingest.transpile import TranspileError, load_file
from env_server.tasks.gold_queries import PROFILE_ROWS
from env_server.tasks.overlap import task_shape
from env_server.tasks.rejections import Rejections
from env_server.tasks.splits import take
from env_server.tasks.spec import DbSpec, Task, save_jsonl

BYO_FAMILIES: tuple[str, ...] = ("debug", "analyst", "repair")
"""The default families of a build, in the order its file lists them (every family with ``byo_tasks``
may be asked for: :func:`byo_families`)."""
PER_FAMILY = 40
BUILD_CACHE = 16
"""Databases (the user's, its variants, corrupted candidates) and repair snapshots a build keeps at once."""
TARGET_CACHE = 8
"""Repair targets a build keeps: a candidate is validated once, over its task database and 3 variants (4 targets).
A target holds only the rows its gold repair changed (:mod:`env_server.grading.state_diff`); when targets were whole
snapshots, keeping 32 held 11.5 GB for a 100k-row database."""
MAX_ROUNDS = 12
"""Generation rounds (each with a fresh seed) tried per family before settling for fewer tasks."""
MAX_PER_SHAPE = 4
"""Most tasks of one family that may share a gold shape (:func:`env_server.tasks.overlap.task_shape`: the gold
query or repair script with literals masked): a debug gold carries up to four different bugs; more would make a
build of 40 a few queries asked many times."""


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


def build_grader() -> Grader:
    """The grader a build validates candidates with. A repair candidate is a corrupted copy of the database (with
    its variants and repaired snapshots), checked once: it keeps few at once (:data:`BUILD_CACHE`,
    :data:`TARGET_CACHE`), or a build holds hundreds of copies of the user's database in memory."""
    return make_grader(databases=Databases(capacity=BUILD_CACHE, load_dump=load_file), target_cache=TARGET_CACHE)


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

        shapes: Counter = Counter()

        def admit(task: Task) -> bool:
            key = task.gold_sql or "\n".join(task.gold_repair_sql or [])
            key += "|" + (task.broken_sql or "") + "|" + task.question
            if key in seen:
                why.add("a later round drew a task already made (the database offers no more distinct ones)")
                return False
            shape = task_shape(task)
            if shapes[shape] >= MAX_PER_SHAPE:
                why.add(f"shape cap: {MAX_PER_SHAPE} tasks of this family already share the gold's shape")
                return False
            seen.add(key)
            shapes[shape] += 1
            return True

        take(tasks, per_family, (_round(grader, family, split, db, name, r, why) for r in range(MAX_ROUNDS)), admit,
             bar)
        bar.close()
        out[family] = tasks
    return out


def dump_summary(path: Path, dialect: str | None) -> list[str]:
    """What reading a PostgreSQL dump kept and dropped, for the build's summary: the plain-SQL reader's summary,
    or one line for a ``pg_dump -Fc``/``-Ft`` archive (binary: PostgreSQL's own pg_restore read it). Nothing for
    SQLite. A summary is never worth failing a build for: a dump it cannot summarise gets one line saying so.

    >>> import tempfile
    >>> archive = Path(tempfile.mkdtemp()) / "shop.dump"
    >>> _ = archive.write_bytes(b"PGDMP\\x01\\x0e\\x00\\xff\\xfe")
    >>> dump_summary(archive, "postgres")
    ["a pg_dump custom-format archive, restored by PostgreSQL's pg_restore"]
    """
    if dialect not in ("postgres", "postgresql"):
        return []
    from env_server.ingest import pg_dump, pg_restore
    from env_server.ingest.encoding import read_sql_text

    archive = pg_restore.archive_format(path)
    if archive is not None:
        return [f"a pg_dump {archive}-format archive, restored by PostgreSQL's pg_restore"]
    try:
        text = read_sql_text(path)
    except TranspileError:
        return ["not UTF-8 text: no summary of what the dump reader kept"]
    try:
        return pg_dump.prepare(text).summary()
    except Exception as exc:  # noqa: BLE001 - the dump was read; only its summary failed
        return [f"no summary of what the dump reader kept ({type(exc).__name__})"]


def main(
    path: Path,
    dialect: str | None,
    out: Path | None,
    name: str | None = None,
    families: Sequence[str] = BYO_FAMILIES,
    per_family: int = PER_FAMILY,
    progress: bool = True,
) -> Path:
    """Generate tasks for the database at ``path`` (``dialect`` None: a SQLite file) and write them to ``out``
    (JSONL). An input that cannot be used raises ``SystemExit`` with one line (exit status 1) before anything is
    written; everything that can fail runs before the file is written."""
    path = Path(path).resolve()
    try:
        formats.check(path, dialect)
    except formats.InputError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    name = slug(name or path.stem)
    db = DbSpec(sqlite_path=str(path)) if dialect is None else DbSpec(sql_path=str(path), dialect=dialect)
    out = Path(out or f"{name}.tasks.jsonl")
    _check_out(out)
    started, cpu_started = time.perf_counter(), time.process_time()
    rejected: dict[str, Rejections] = {}
    grader = build_grader()
    try:
        _check_data(grader.databases.schema(db), path)
        by_family = tasks_for_database(db, name, families, per_family, grader=grader, progress=progress,
                                       rejected=rejected)
        report = _report(grader, db, path, dialect, families, per_family, by_family, rejected)
    except sqlite3.DatabaseError as exc:
        if dialect is not None:
            _fail(f"cannot generate tasks for {path}: {exc}")
        _fail(f"{path}: SQLite cannot read it ({exc}): is the file whole (not cut short, not copied while being "
              f"written)? `sqlite3 {path.name} .recover` may rescue its rows")
    except (ValueError, OSError, sqlite3.Error, PostgresUnavailable) as exc:
        reason = str(exc)
        _fail(reason if reason.startswith(str(path)) else f"cannot generate tasks for {path}: {reason}")
    tasks = [t for family in families for t in by_family[family]]
    if not tasks:
        reasons = [line for family in families if rejected.get(family) for line in rejected[family].lines(1)]
        _fail(f"no valid task could be generated for {path}: nothing in its schema and rows fits the generators"
              + (f" (most common reason: {reasons[0]})" if reasons else ""))
    try:
        save_jsonl(tasks, out)
    except OSError as exc:
        _fail(f"cannot write --out {out}: {exc.strerror or exc}")
    print(f"wrote {len(tasks)} tasks for {path.name} to {out} in {time.perf_counter() - started:.1f}s "
          f"({time.process_time() - cpu_started:.1f} CPU-s; peak memory {peak_rss_gb():.2f} GB)")
    for line in report:
        print(line)
    print(f"serve them with: python -m env_server serve --tasks {out}")
    return out


def _fail(message: str) -> NoReturn:
    """Stop the build: ``message`` on one line on stderr, exit status 1."""
    raise SystemExit(" ".join(message.split()))


def _check_out(out: Path) -> None:
    """Refuse, before any work, an ``--out`` that cannot be written: a folder, or a path under a file."""
    if out.is_dir():
        _fail(f"--out {out} is a folder: name the JSONL file to write, e.g. --out {out / 'tasks.jsonl'}")
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        _fail(f"--out {out}: {parent} is a file, not a folder: choose another path")


def _check_data(schema: SchemaInfo, path: Path) -> None:
    """Refuse a database with no table, or whose tables are all empty: every task asks about rows."""
    if not schema.tables:
        _fail(f"{path} holds no tables: tasks are questions about a database's tables and rows; pass a database "
              "with at least one table of data")
    if all(table.row_count == 0 for table in schema.tables):
        _fail(f"{path} holds {len(schema.tables)} table(s) but no rows (a schema-only dump?): tasks need data; "
              "include the rows (pg_dump without --schema-only, mysqldump without --no-data)")


def _report(grader: Grader, db: DbSpec, path: Path, dialect: str | None, families: Sequence[str], per_family: int,
            by_family: dict[str, list[Task]], rejected: dict[str, Rejections]) -> list[str]:
    """The summary printed after the ``wrote`` line, built before the file is written (so nothing fails after)."""
    lines = []
    large = [t for t in grader.databases.schema(db).tables if t.row_count > PROFILE_ROWS]
    for table in large:
        stride = -(-table.row_count // PROFILE_ROWS)
        lines.append(f"  profiled {table.name} ({table.row_count:,} rows) from 1 row in {stride} (rowid divisible by "
                     f"{stride}) (tables over {PROFILE_ROWS:,} rows are sampled; literals come from the sample)")
    lines += [f"  {line}" for line in dump_summary(path, dialect)]
    for family in families:
        hint = ""
        if not by_family[family]:
            hint = (" (its tables have too few rows to plant a corruption in)" if grader.families[family].writes
                    else " (nothing in its schema fits the generators)")
        lines.append(f"  {family}: {len(by_family[family])}{hint}")
        if rejected.get(family):
            short = f"short of {per_family}; " if len(by_family[family]) < per_family else ""
            lines.append(f"    {short}candidates rejected, most common reasons first:")
            lines += [f"      {line}" for line in rejected[family].lines(8)]
    return lines
