"""SQLite sandbox: the only place agent SQL touches a database.

Threat model
------------
The agent is an untrusted text generator. It may send any string as SQL, by mistake or because
reward hacking found it. This module guarantees, for every string it is given:

Covered
  * **No escape from the episode database.** A read-only episode (debug, analyst, grounded) runs on
    a read-only connection (``mode=ro``) to one shared copy of the cached template, an in-memory
    database of SQLite's ``memdb`` VFS: no copy per episode, and no write could land even past the
    authorizer. A repair episode runs on a private in-memory clone (SQLite backup API). ``ATTACH``/``DETACH`` are
    denied by the authorizer and ``SQLITE_LIMIT_ATTACHED`` is 0, so no file can be opened;
    ``load_extension`` and other dangerous functions are denied; extension loading is never enabled.
  * **Least privilege per mode.** ``read`` allows only reads, function calls and recursive CTEs.
    ``write`` (repairs) also allows INSERT, UPDATE, DELETE, CREATE TABLE and CREATE VIEW.
    DROP, ALTER, triggers, indexes, transactions and any PRAGMA outside a small read-only
    allowlist are always denied. Every denial comes from SQLite's authorizer callback, which sees
    the compiled statement: no keyword matching on the text. (One internal action is let through
    in every mode: SQLite's update of its schema table when a table-valued function such as
    ``json_each`` is first used. User statements can never write that table: SQLite refuses
    them itself while ``writable_schema`` is off, and that pragma is always denied.)
  * **Bounded work.** A progress handler aborts a statement after a budget of virtual-machine
    steps, covering infinite recursive CTEs and cross-join bombs. An agent's exploratory statement
    also has a wall-time limit (default 1 s); a grading run has none (no wall clock decides a
    grade), only a safety net of the running thread's CPU time whose stops are reported as
    ``stopped_by == "safety_net"`` (the grader's :class:`NotGraded`). ``randomblob``/``zeroblob``
    charge the bytes they make to the step budget. ``setlimit`` caps string/blob length, SQL
    length, columns, expression depth and compound selects; ``max_page_count`` caps the
    database size a write can grow to.
  * **No lock around untrusted work.** A :class:`Template` is one ``memdb`` copy; every statement of
    :meth:`Template.execute` runs on a pooled read-only connection of its own, so statements on one
    database run in parallel.
  * **Bounded output.** SQL longer than ``max_sql_length`` is refused before compiling; rows
    returned to the agent are capped (default 50, with a ``truncated`` flag); rows fetched for
    grading are capped and exceeding the cap is an error, not a silent truncation.
  * **One statement per call.** SQLite compiles one statement and reports the unparsed tail;
    a non-empty tail is refused before anything runs.
  * **Guards installed once per mode.** A :class:`SandboxConnection` keeps its authorizer while the
    mode stays the same, so SQLite's prepared statements survive; a change of mode installs the other
    authorizer, which expires every prepared statement (a write prepared in ``write`` mode is
    authorized again, and refused, in ``read`` mode).
  * **Typed errors, never exceptions.** :func:`execute` returns an :class:`Execution` whose
    ``error_kind`` is one of ``syntax``, ``not_authorized``, ``timeout``, ``too_large`` or
    ``runtime``, with SQLite's own message. It does not raise into its caller.

Not covered
  * Memory used by a single statement's sorter or hash tables within its time budget is not
    capped separately; the wall-time budget bounds it in practice (a few hundred MB at most).
  * CPU fairness between sessions: each statement is bounded, but a client sending statements
    back to back gets as much CPU as it asks for. Rate limiting belongs to the server.
  * The cost of one VM step that works on a long string reused row after row (``LIKE``, ``instr``,
    ``upper`` on 400 KB): up to ~15 s per million steps against ~0.01 s for ordinary SQL
    (:mod:`env_server.tools.bench_step_cost`). The step budget does not bound those; the CPU safety net does.
  * Side channels such as timing; SQLite engine bugs themselves.
  * Trusted inputs: task ``schema_sql``/``data_sql`` and gold SQL are executed without the
    authorizer when templates are built, because they come from task files, not from agents.

Size: over 600 lines on purpose: the security boundary (authorizer, budgets, limits, guarded functions, templates) stays in one file so it can be reviewed as one.
"""
from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Mode = Literal["read", "write"]


class ErrorKind(str, Enum):
    """Why a statement did not run to completion."""

    SYNTAX = "syntax"
    """It did not compile: a parse error, an unknown table or column, a misused function."""
    NOT_AUTHORIZED = "not_authorized"
    """The authorizer refused an operation, or more than one statement was sent."""
    TIMEOUT = "timeout"
    """The step or wall-time budget ran out."""
    TOO_LARGE = "too_large"
    """A size cap was hit: SQL length, a string or blob, the page count, or rows for grading."""
    RUNTIME = "runtime"
    """It compiled but failed while running (constraint violation, integer overflow, ...)."""


class NotGraded(RuntimeError):
    """A grading run was stopped by the safety net (``SandboxConfig.grading_cpu_limit_s``), not by its step
    budget: the submission has no grade. Callers report it as not graded (HTTP ``status: "not_graded"``,
    reward ``None``), never as a wrong answer; its message names what fired."""


@dataclass(frozen=True)
class SandboxConfig:
    """Budgets and caps applied to every statement."""

    time_limit_s: float = 1.0
    """Wall-time budget per statement, fetching included."""
    max_vm_steps: int = 200_000_000
    """Budget of SQLite virtual-machine instructions per statement."""
    progress_interval: int = 2_000
    """VM instructions between two checks of the budgets."""
    max_sql_length: int = 20_000
    """Longest SQL text accepted, in characters."""
    max_rows_returned: int = 50
    """Rows shown to the agent; more set ``truncated``."""
    max_rows_counted: int = 10_000
    """Rows counted for ``row_count`` of an agent query; beyond it the count is a lower bound."""
    max_rows_graded: int = 10_000
    """Rows fetched when grading; a larger result is a ``too_large`` error."""
    max_value_length: int = 1_000_000
    """Longest string or blob SQLite may build, in bytes."""
    max_page_count: int = 16_384
    """Largest size a database may grow to, in pages (64 MiB at 4 KiB pages)."""
    max_columns: int = 200
    """Most columns in a table, index or result."""
    max_rows_snapshot: int = 1_000_000
    """Rows read from one table or view when a repair's database state is snapshotted for grading."""
    grading_cpu_limit_s: float = 10.0
    """Safety net of a grading run, in CPU seconds of the thread that runs it (``time.thread_time``): other
    threads and processes do not advance it, so load cannot trip it. Grades are decided by VM steps alone
    (the same on every machine); this net catches statements whose steps are expensive (large strings and
    blobs reused row after row) and a run it stops is reported as ``stopped_by == "safety_net"``, which the
    grader turns into "not graded", never into a wrong answer. Four times what a whole step budget of
    ordinary SQL takes on a 2020s core."""
    grading_progress_interval: int = 100_000
    """VM instructions between two budget checks of a grading run. Each check needs the GIL; fewer checks
    keep a grade's wall time close to its CPU time while other Python threads are busy."""
    reader_cache_kib: int = 64
    """Page cache of one read-only episode connection, in KiB. Its pages are read in place from the shared
    template (memory-mapped), so this bounds what an open read-only episode costs, whatever the database size."""
    bytes_per_step: int = 1
    """Bytes that ``randomblob``/``zeroblob`` may make per VM step charged to the budget (see :func:`harden`)."""
    max_repeat_width: int = 100_000
    """Largest width or precision ``printf``/``format`` may use (``%.*c`` repeats a character that many
    times inside one VM step, out of reach of the step budget)."""


# ---------------------------------------------------------------------------------------------
# Authorizer
# ---------------------------------------------------------------------------------------------

_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_WRITE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_VIEW,
    }
)
_TEMP_ACTIONS = frozenset(
    {sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_CREATE_TEMP_INDEX,
     sqlite3.SQLITE_CREATE_TEMP_TRIGGER}
)
_CREATES = frozenset({sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_VIEW})
_READ_ONLY_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"})
_DENIED_FUNCTIONS = frozenset(
    {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "sqlite_dbpage"}
)
_ACTION_NAMES = {
    getattr(sqlite3, name): name[len("SQLITE_"):].lower().replace("_", " ")
    for name in ["SQLITE_CREATE_INDEX", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_TEMP_INDEX", "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_TEMP_TRIGGER", "SQLITE_CREATE_TEMP_VIEW", "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_VIEW", "SQLITE_DELETE", "SQLITE_DROP_INDEX", "SQLITE_DROP_TABLE", "SQLITE_DROP_TEMP_INDEX", "SQLITE_DROP_TEMP_TABLE", "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_TEMP_VIEW", "SQLITE_DROP_TRIGGER", "SQLITE_DROP_VIEW", "SQLITE_INSERT", "SQLITE_PRAGMA", "SQLITE_READ", "SQLITE_SELECT", "SQLITE_TRANSACTION", "SQLITE_UPDATE", "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_ALTER_TABLE", "SQLITE_REINDEX", "SQLITE_ANALYZE", "SQLITE_CREATE_VTABLE", "SQLITE_DROP_VTABLE", "SQLITE_FUNCTION", "SQLITE_SAVEPOINT", "SQLITE_RECURSIVE"]
}


def _make_authorizer(mode: Mode, denials: list[str]) -> Callable[..., int]:
    """Build the authorizer for ``mode``; each refusal appends a readable reason to ``denials``."""
    allowed = _READ_ACTIONS | _WRITE_ACTIONS if mode == "write" else _READ_ACTIONS

    def authorize(action: int, arg1: Any, arg2: Any, db_name: Any, _trigger: Any) -> int:
        if action in allowed and not (db_name == "temp" and action in _CREATES):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
            # SQLite's own bookkeeping: registering a table-valued function (json_each,
            # pragma_table_info, ...) on first use. A user statement can never write the schema
            # table: SQLite refuses it itself while writable_schema is off, and that pragma is denied.
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if str(arg2).lower() in _DENIED_FUNCTIONS:
                denials.append(f"function {arg2}() is not allowed")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            if str(arg1).lower() in _READ_ONLY_PRAGMAS:
                # these pragmas only report; their argument is a table or index name, never a setting
                return sqlite3.SQLITE_OK
            denials.append(f"PRAGMA {arg1} is not allowed (allowed: {', '.join(sorted(_READ_ONLY_PRAGMAS))})")
            return sqlite3.SQLITE_DENY
        what = _ACTION_NAMES.get(action, f"operation {action}")
        target = f" on {arg1}" if isinstance(arg1, str) and action not in (sqlite3.SQLITE_TRANSACTION,) else ""
        if action in _TEMP_ACTIONS or (db_name == "temp" and action in _CREATES):
            # a TEMP object would shadow the main table of the same name for every unqualified read
            denials.append(f"{what}{target} is not allowed: TEMP objects are refused, change the main database")
        elif mode == "read" and action in _WRITE_ACTIONS:
            denials.append(f"{what}{target} is not allowed: this episode is read-only")
        else:
            denials.append(f"{what}{target} is not allowed in {mode} mode")
        return sqlite3.SQLITE_DENY

    return authorize


# ---------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Budget:
    """The running statement's budget, read by a connection's progress handler (inactive between statements)."""

    max_calls: int = 0
    deadline: float = math.inf
    """Wall-clock deadline (``perf_counter``): agent statements only."""
    cpu_deadline: float = math.inf
    """Thread CPU-time deadline (``thread_time``): the safety net of grading runs."""
    calls: int = 0
    charged: float = 0.0
    """Progress calls charged by guarded functions for the bytes they made (see :func:`_install_byte_charges`)."""
    timed_out: bool = False
    stopped_by: str | None = None
    """What stopped the statement: ``steps``, ``wall`` or ``safety_net``."""
    active: bool = False
    interval: int = 1

    def start(self, max_calls: int, deadline: float, cpu_deadline: float = math.inf) -> None:
        self.max_calls, self.deadline, self.cpu_deadline = max_calls, deadline, cpu_deadline
        self.calls = self.charged = 0
        self.timed_out, self.stopped_by, self.active = False, None, True

    def stop(self, cause: str) -> int:
        self.timed_out, self.stopped_by = True, cause
        return 1


def _make_progress(budget: _Budget) -> Callable[[], int]:
    def progress() -> int:
        if not budget.active:
            return 0
        budget.calls += 1
        if budget.calls + budget.charged > budget.max_calls:
            return budget.stop("steps")
        if budget.deadline != math.inf and time.perf_counter() > budget.deadline:
            return budget.stop("wall")
        if budget.cpu_deadline != math.inf and time.thread_time() > budget.cpu_deadline:
            return budget.stop("safety_net")
        return 0

    return progress


class SandboxConnection(sqlite3.Connection):
    """A connection the sandbox guards once per mode, not once per statement.

    :func:`execute` installs the authorizer of a mode the first time that mode runs here and keeps it while
    the mode stays the same, and installs one progress handler that reads the running statement's budget.
    Installing an authorizer expires every prepared statement (SQLite re-authorizes them on their next run),
    so re-installing it per statement would throw away SQLite's statement cache; a mode change still does,
    which is what keeps a statement prepared under ``write`` from running unchecked under ``read``. Until
    its first guarded statement the connection has no authorizer: trusted code (builds, gold repairs) runs
    on it freely."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.guard_mode: Mode | None = None
        self.guard_interval = 0
        self.denials: list[str] = []
        self.budget = _Budget()
        self.authorizer_installs = 0
        """How many times an authorizer was installed here (each one expires SQLite's prepared statements)."""

    def arm(self, mode: Mode, interval: int) -> None:
        """Make ``mode``'s authorizer and the budget's progress handler the ones installed."""
        if self.guard_mode != mode:
            self.set_authorizer(_make_authorizer(mode, self.denials))
            self.guard_mode = mode
            self.authorizer_installs += 1
        if self.guard_interval != interval:
            self.set_progress_handler(_make_progress(self.budget), interval)
            self.guard_interval = interval

    def disarm(self) -> None:
        """Remove the guards, for trusted code that must write after a guarded statement ran here."""
        self.set_authorizer(None)
        self.set_progress_handler(None, 0)
        self.guard_mode, self.guard_interval = None, 0


def connect(target: str = ":memory:", *, uri: bool = False) -> SandboxConnection:
    """A :class:`SandboxConnection` to ``target``, in autocommit mode, usable from any thread (callers
    serialise access)."""
    return sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                           factory=SandboxConnection)  # type: ignore[return-value]


def scratch(target: str = ":memory:", *, uri: bool = False, check_same_thread: bool = True) -> sqlite3.Connection:
    """A plain, unguarded connection for trusted code only (building databases, loading dumps, probing a
    planted corruption, the docs index): never hand one to agent SQL. Every connection of the package is
    opened in this module, so this is where to look for what can touch a database."""
    return sqlite3.connect(target, uri=uri, check_same_thread=check_same_thread)


def new_connection() -> SandboxConnection:
    """An empty private in-memory database, usable from any thread (callers serialise access)."""
    return connect(":memory:")


_PRINTF_SPEC = re.compile(r"%([-+ 0#!,]*)(\*|\d*)(?:\.(\*|\d*))?(l{0,2})(.)", re.DOTALL)
_LEADING_NUMBER = re.compile(r"\s*[-+]?\d+")
_GUARD_MESSAGE = "user-defined function raised exception"


def _as_int(value: object) -> int:
    """The integer SQLite's printf would take from a ``*`` argument (generously: the largest reading)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value) if math.isfinite(value) else 2**31
    if isinstance(value, str):
        try:
            number = float(value)
            return int(number) if math.isfinite(number) else 2**31
        except ValueError:
            match = _LEADING_NUMBER.match(value)
            return int(match.group()) if match else 0
    return 0


def printf_widths(fmt: object, args: tuple) -> list[int]:
    """Every width and precision a ``printf(fmt, *args)`` call would use (absolute values)."""
    if not isinstance(fmt, str):
        return []
    widths: list[int] = []
    position = 0
    for match in _PRINTF_SPEC.finditer(fmt):
        if match.group(5) == "%" and not (match.group(1) or match.group(2) or match.group(3) is not None):
            continue
        for part in (match.group(2), match.group(3)):
            if part == "*":
                widths.append(abs(_as_int(args[position])) if position < len(args) else 0)
                position += 1
            elif part:
                widths.append(int(part))
        if match.group(5) != "%":
            position += 1
    return widths


def _install_printf_guard(conn: sqlite3.Connection, config: SandboxConfig) -> None:
    """Replace ``printf``/``format`` on ``conn`` by a guard that refuses widths and precisions above
    ``max_repeat_width`` and delegates the rest to the built-in on a private helper connection.
    (``printf('%.*c', 2147483647, 'x')`` spends seconds inside one VM step, out of the budget's reach.)"""
    cap = config.max_repeat_width
    helpers: list[sqlite3.Connection] = []  # made on first use: most connections never call printf

    def guarded(fmt: object = None, *args: object) -> object:
        if any(width > cap for width in printf_widths(fmt, args)):
            raise ValueError(f"printf width or precision over {cap}")
        if not helpers:
            helper = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            helper.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, config.max_value_length)
            helpers.append(helper)
        placeholders = ", ".join("?" * (len(args) + 1))
        return helpers[0].execute(f"SELECT printf({placeholders})", (fmt, *args)).fetchone()[0]

    for name in ("printf", "format"):
        conn.create_function(name, -1, guarded, deterministic=True)


def _install_byte_charges(conn: sqlite3.Connection, config: SandboxConfig) -> None:
    """Replace ``randomblob`` and ``zeroblob`` on a :class:`SandboxConnection` by versions that charge the bytes
    they make to the running statement's step budget, one step per byte (``config.bytes_per_step``).

    Each makes up to ``max_value_length`` bytes inside one VM step; ``randomblob`` costs a few ms per MB, so a
    recursive CTE calling it on every row ran hundreds of times longer per step than ordinary SQL and its step
    budget did not bound its time. Both are non-deterministic here (never folded into one call), as SQLite's own
    ``randomblob`` is. Neither has a use in a graded answer beyond test data."""
    budget = getattr(conn, "budget", None)
    if budget is None:
        return
    cap, per_step = config.max_value_length, max(1, config.bytes_per_step)

    def charge(size: object) -> int:
        try:
            n = max(1, int(size))  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            n = 1
        if n > cap:
            raise ValueError(f"blob of {n:,} bytes over the length limit of {cap:,}")
        if budget.active:
            budget.charged += n / per_step / max(1, budget.interval)
            if budget.calls + budget.charged > budget.max_calls:
                budget.stop("steps")
                raise ValueError("step budget exhausted")
        return n

    conn.create_function("randomblob", 1, lambda size: os.urandom(charge(size)), deterministic=False)
    conn.create_function("zeroblob", 1, lambda size: bytes(charge(size) if size is not None and int(size) > 0 else 0),
                         deterministic=False)


def harden(conn: sqlite3.Connection, config: SandboxConfig) -> sqlite3.Connection:
    """Apply the size limits of ``config`` to ``conn``. Call before any agent SQL runs on it."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, config.max_value_length)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, max(config.max_sql_length * 4, 1000))
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, config.max_columns)
    conn.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 200)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 100)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 10)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)
    conn.execute(f"PRAGMA max_page_count = {int(config.max_page_count)}")
    # temp_store stays SQLite's default (files): under temp_store=MEMORY every GROUP BY and ORDER BY that builds a
    # temporary b-tree ran ~9 % slower (measured on the gold queries of 60 train tasks), and a sort too large for
    # the cache then spilled into RAM instead of unlinked temp files. TEMP objects are refused by the authorizer.
    # ON so that views may call the printf guard (an application function); the authorizer still
    # denies every dangerous function, and no other application function is ever registered.
    conn.execute("PRAGMA trusted_schema = ON")
    _install_printf_guard(conn, config)
    _install_byte_charges(conn, config)
    return conn


def clone(source: sqlite3.Connection, config: SandboxConfig) -> sqlite3.Connection:
    """A private, hardened in-memory copy of ``source`` made with the SQLite backup API."""
    dest = new_connection()
    source.backup(dest)
    return harden(dest, config)


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Execution:
    """What happened when one statement ran. ``error_kind`` is None on success."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    row_count: int = 0
    truncated: bool = False
    error: str | None = None
    error_kind: ErrorKind | None = None
    elapsed_ms: float = 0.0
    changes: int = 0
    """Rows changed by a write statement (SQLite's ``changes()``)."""
    vm_steps: int = 0
    """Virtual-machine instructions used, to the nearest progress interval below, plus the steps charged for
    bytes that guarded functions made."""
    stopped_by: str | None = None
    """For a ``timeout``: ``steps`` (the step budget: a property of the SQL), ``wall`` (an agent statement's
    time limit) or ``safety_net`` (a grading run's CPU-time net: not a property of the SQL alone)."""

    @property
    def ok(self) -> bool:
        return self.error_kind is None


_RUNTIME_MESSAGES = re.compile("integer overflow|datatype mismatch|too many levels|malformed json|constraint",
                               re.IGNORECASE)
"""SQLITE_ERROR messages of a statement that prepared and failed while running (the rest are syntax errors)."""


def _classify(exc: BaseException, denials: list[str], timed_out: bool, stopped_by: str | None = None,
              config: SandboxConfig | None = None) -> tuple[ErrorKind, str]:
    message = str(exc) or type(exc).__name__
    name = getattr(exc, "sqlite_errorname", "") or ""
    if denials or name == "SQLITE_AUTH" or message.startswith("not authorized"):
        detail = "; ".join(dict.fromkeys(denials)) or message
        return ErrorKind.NOT_AUTHORIZED, f"not authorized: {detail}"
    if "may not be modified" in message:  # SQLite's own refusal to write its schema table
        return ErrorKind.NOT_AUTHORIZED, f"not authorized: {message}"
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in message:
        return ErrorKind.NOT_AUTHORIZED, "not authorized: only one statement per call is allowed"
    if _GUARD_MESSAGE in message and not timed_out:
        return ErrorKind.TOO_LARGE, "printf()/format() with a width or precision over the limit, or a result over the length limit"
    if name == "SQLITE_INTERRUPT" or timed_out or _GUARD_MESSAGE in message and stopped_by:
        if stopped_by == "safety_net":
            net = config.grading_cpu_limit_s if config is not None else "its"
            return ErrorKind.TIMEOUT, (f"{message}: stopped by the grading safety net ({net} CPU seconds) before "
                                       "its step budget ran out")
        if stopped_by == "wall":
            return ErrorKind.TIMEOUT, f"{message}: the statement ran out of its time limit"
        if stopped_by == "steps":
            return ErrorKind.TIMEOUT, f"{message}: the statement ran out of its step budget"
        return ErrorKind.TIMEOUT, f"{message}: the statement was interrupted"
    if name in ("SQLITE_TOOBIG", "SQLITE_FULL", "SQLITE_NOMEM") or isinstance(exc, MemoryError):
        return ErrorKind.TOO_LARGE, message
    if name.startswith("SQLITE_CONSTRAINT") or name in ("SQLITE_MISMATCH", "SQLITE_RANGE"):
        return ErrorKind.RUNTIME, message
    if name == "SQLITE_ERROR":
        if _RUNTIME_MESSAGES.search(message):
            return ErrorKind.RUNTIME, message
        return ErrorKind.SYNTAX, message
    if isinstance(exc, (ValueError, UnicodeError, sqlite3.ProgrammingError)):
        # e.g. "the query contains a null character"
        return ErrorKind.SYNTAX, message
    return ErrorKind.RUNTIME, message



def _stream(cursor: sqlite3.Cursor, first: list[tuple], overflow: Callable[[list[tuple]], None]) -> int:
    """Hand ``first`` and then every remaining row of ``cursor`` to ``overflow``, a batch at a time; the row count."""
    total = len(first)
    overflow(first)
    while batch := cursor.fetchmany(_STREAM_BATCH):
        total += len(batch)
        overflow(batch)
    return total


def execute(
    conn: sqlite3.Connection,
    sql: Any,
    *,
    mode: Mode,
    config: SandboxConfig,
    purpose: Literal["agent", "grading"] = "agent",
    max_vm_steps: int | None = None,
    max_rows: int | None = None,
    cpu_limit_s: float | None = None,
    overflow: Callable[[list[tuple]], None] | None = None,
) -> Execution:
    """Run one statement of untrusted ``sql`` on ``conn`` under ``mode`` and the budgets of ``config``.

    ``purpose="agent"`` returns at most ``max_rows_returned`` rows and counts up to
    ``max_rows_counted``, under the wall-time limit ``time_limit_s``. ``purpose="grading"`` returns
    every row up to ``max_rows`` (default ``max_rows_graded``) and reports ``too_large`` beyond it;
    its budget is the step count alone (``max_vm_steps``, which may exceed the agent's), so a grade
    is the same on every machine and under any load; no wall clock applies. ``grading_cpu_limit_s`` of
    this thread's CPU time is only a safety net (``cpu_limit_s`` replaces it: references, which are
    trusted, pass ``math.inf``); a run it stops has ``stopped_by == "safety_net"``. With ``overflow``, a
    grading result over ``max_rows`` is not an error: every row is handed to ``overflow`` in batches as it is
    fetched (the grader digests them in bounded memory) and the execution keeps only the first
    ``max_rows_returned`` rows, with ``row_count`` the total and ``truncated`` set.
    ``max_vm_steps`` of an agent call tightens its budget and never loosens it. Never raises.
    """
    started = time.perf_counter()
    if not isinstance(sql, str):
        return Execution(error="SQL must be a string", error_kind=ErrorKind.SYNTAX)
    if len(sql) > config.max_sql_length:
        return Execution(
            error=f"SQL is {len(sql):,} characters; the limit is {config.max_sql_length:,}",
            error_kind=ErrorKind.TOO_LARGE,
        )
    if not sql.strip().strip(";").strip():
        return Execution(error="no SQL statement was given", error_kind=ErrorKind.SYNTAX)

    cpu_deadline = math.inf
    if purpose == "grading":
        deadline = math.inf
        limit = config.grading_cpu_limit_s if cpu_limit_s is None else cpu_limit_s
        if limit != math.inf:
            cpu_deadline = time.thread_time() + limit
        steps = config.max_vm_steps if max_vm_steps is None else max_vm_steps
        row_cap = config.max_rows_graded if max_rows is None else max_rows
        interval = config.grading_progress_interval
    else:
        deadline = started + config.time_limit_s
        steps = config.max_vm_steps if max_vm_steps is None else min(config.max_vm_steps, max_vm_steps)
        row_cap = config.max_rows_graded
        interval = config.progress_interval
    max_calls = max(1, steps // interval)
    guarded = isinstance(conn, SandboxConnection)
    if guarded:
        conn.arm(mode, interval)
        denials, budget = conn.denials, conn.budget
        denials.clear()
    else:  # a plain sqlite3 connection: guard this one statement, then leave it as it was
        denials, budget = [], _Budget()
        conn.set_authorizer(_make_authorizer(mode, denials))
        conn.set_progress_handler(_make_progress(budget), interval)
    budget.start(max_calls, deadline, cpu_deadline)
    budget.interval = interval

    result = Execution()
    try:
        before = conn.total_changes
        cursor = conn.execute(sql)
        if cursor.description is not None:
            result.columns = [d[0] for d in cursor.description]
            if purpose == "grading":
                rows = cursor.fetchmany(row_cap + 1)
                if len(rows) <= row_cap:
                    result.rows, result.row_count = rows, len(rows)
                elif overflow is None:
                    cursor.close()
                    return Execution(
                        columns=result.columns,
                        error=f"result has more than {row_cap:,} rows",
                        error_kind=ErrorKind.TOO_LARGE,
                        elapsed_ms=(time.perf_counter() - started) * 1000,
                    )
                else:  # a large result is not an error: it streams to the digest, a preview stays
                    result.row_count, result.truncated = _stream(cursor, rows, overflow), True
                    result.rows = rows[: config.max_rows_returned]
            else:
                rows = cursor.fetchmany(config.max_rows_returned + 1)
                count = len(rows)
                if count > config.max_rows_returned:
                    count += len(cursor.fetchmany(config.max_rows_counted - count))
                result.rows = rows[: config.max_rows_returned]
                result.row_count = count
                result.truncated = count > config.max_rows_returned
            cursor.close()
        result.changes = conn.total_changes - before
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        kind, message = _classify(exc, denials, budget.timed_out, budget.stopped_by, config)
        result = Execution(error=message, error_kind=kind, stopped_by=budget.stopped_by if kind is ErrorKind.TIMEOUT else None)
    finally:
        budget.active = False
        if not guarded:
            conn.set_progress_handler(None, 0)
            conn.set_authorizer(None)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    result.vm_steps = int((budget.calls + budget.charged) * interval)
    return result


# ---------------------------------------------------------------------------------------------
# Template cache
# ---------------------------------------------------------------------------------------------


_STREAM_BATCH = 10_000
"""Rows fetched at a time when a grading result overflows to a digest."""

_MMAP_BYTES = 1 << 40
"""``mmap_size`` of a reader: the whole shared database is read in place, however large."""


@dataclass
class Template:
    """A built database kept in memory, read by any number of threads at once.

    ``conn`` holds the database: a named in-memory database of SQLite's ``memdb`` VFS (``shared_name``) once
    :meth:`share` has run (the cache does it right after the build), so read-only connections open it in place
    and share its pages. ``lock`` serialises trusted use of ``conn`` itself (introspection, generators, backups).
    Statements of :meth:`execute` never take it: each runs on a read-only connection of its own from a small
    pool, so one slow statement delays another only by its share of the CPU. (A database over memdb's 1 GiB
    stays a private ``:memory:`` database; there, :meth:`execute` serialises on ``lock`` as before.)"""

    key: tuple
    conn: sqlite3.Connection
    lock: threading.Lock = field(default_factory=threading.Lock)
    info: Any = None
    """Schema introspection of ``conn``, filled on first use by the owner of the cache."""
    derived: dict = field(default_factory=dict)
    """Other facts read once from this database, which never changes after its build, keyed by their reader
    (e.g. ``state_diff``'s rowid tables and row counts, read for every repair state taken against it)."""
    shared_name: str | None = None
    """The ``memdb`` name readers open (None when the database is too large to share)."""
    pages: int = 0
    """Size of the database in pages (``page_size`` bytes each), as built."""
    page_size: int = 4096
    _idle: list = field(default_factory=list)
    """Read-only connections of :meth:`execute` not in use (at most ``pool_size`` are kept)."""
    _pool_lock: threading.Lock = field(default_factory=threading.Lock)
    pool_size: int = 8

    def share(self, config: SandboxConfig) -> None:
        """Move the database into a named ``memdb`` database that ``conn`` then holds (one copy, not two); a
        database over memdb's size limit stays private."""
        with self.lock:
            if self.shared_name is not None:
                return
            name = f"dataops-{uuid.uuid4().hex}"
            holder = connect(f"file:/{name}?vfs=memdb", uri=True)
            try:
                self.conn.backup(holder)
            except sqlite3.OperationalError:  # over memdb's size limit
                holder.close()
                return
            holder.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")  # read in place, not through a second cache
            old, self.conn, self.shared_name = self.conn, harden(holder, config), name
            old.close()

    def clone(self, config: SandboxConfig) -> sqlite3.Connection:
        """A private, writable copy (repair episodes; replays of repair scripts)."""
        if self.shared_name is None:
            with self.lock:
                return clone(self.conn, config)
        reader = self._take(config)
        try:
            return clone(reader, config)
        finally:
            self._give(reader)

    def reader(self, config: SandboxConfig) -> sqlite3.Connection:
        """A hardened read-only connection to this database, sharing its pages with every other reader:
        opening one costs the same at any database size and holds at most ``config.reader_cache_kib`` of
        cache (a private clone when the database is too large to share)."""
        if self.shared_name is None:
            with self.lock:
                return clone(self.conn, config)
        conn = connect(f"file:/{self.shared_name}?vfs=memdb&mode=ro", uri=True)
        conn.execute(f"PRAGMA cache_size = -{max(1, int(config.reader_cache_kib))}")
        conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        return harden(conn, config)

    def _take(self, config: SandboxConfig) -> sqlite3.Connection:
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
        return self.reader(config)

    def _give(self, conn: sqlite3.Connection) -> None:
        with self._pool_lock:
            if len(self._idle) < self.pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def execute(
        self,
        sql: str,
        *,
        config: SandboxConfig,
        purpose: Literal["agent", "grading"] = "grading",
        max_vm_steps: int | None = None,
        cpu_limit_s: float | None = None,
        overflow: Callable[[list[tuple]], None] | None = None,
    ) -> Execution:
        """Run read-only ``sql`` on this database (safe: the authorizer forbids writes, the connection is
        read-only), on a pooled connection of its own: concurrent statements run in parallel."""
        if self.shared_name is None:
            with self.lock:
                return execute(self.conn, sql, mode="read", config=config, purpose=purpose,
                               max_vm_steps=max_vm_steps, cpu_limit_s=cpu_limit_s, overflow=overflow)
        conn = self._take(config)
        try:
            return execute(conn, sql, mode="read", config=config, purpose=purpose, max_vm_steps=max_vm_steps,
                           cpu_limit_s=cpu_limit_s, overflow=overflow)
        finally:
            self._give(conn)


Builder = Callable[[sqlite3.Connection], None]


class TemplateCache:
    """Builds each database once and keeps the most recently used ``capacity`` of them.

    Keys are chosen by callers (see :func:`env_server.core.databases.db_key`); ``builder`` fills an
    empty connection. Thread-safe: concurrent requests for the same key build it once.
    """

    def __init__(self, config: SandboxConfig | None = None, capacity: int = 512, store: Any = None):
        self.config = config or SandboxConfig()
        self.capacity = capacity
        self.store = store
        """A :class:`~env_server.core.template_store.TemplateStore` (or None): a template found there is loaded
        instead of built, and a slow build is saved there."""
        self._templates: OrderedDict[tuple, Template] = OrderedDict()
        self._building: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def get(self, key: tuple, builder: Builder) -> Template:
        with self._lock:
            found = self._templates.get(key)
            if found is not None:
                self._templates.move_to_end(key)
                return found
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found = self._templates.get(key)
                if found is not None:
                    return found
            conn = new_connection()
            if self.store is None or not self.store.load(key, conn):
                started = time.perf_counter()
                builder(conn)
                if self.store is not None:
                    self.store.save(key, conn, time.perf_counter() - started)
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            harden(conn, self.config)
            template = Template(key=key, conn=conn, pages=pages, page_size=page_size)
            template.share(self.config)
            with self._lock:
                self._templates[key] = template
                self._building.pop(key, None)
                self.builds += 1
                while len(self._templates) > self.capacity:
                    self._templates.popitem(last=False)
            return template

    def __len__(self) -> int:
        return len(self._templates)

    def __contains__(self, key: tuple) -> bool:
        """Whether the template of ``key`` is built and in memory (nothing is built by asking)."""
        with self._lock:
            return key in self._templates
