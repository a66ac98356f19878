"""The env server's settings: :class:`ServerConfig`, from arguments or the ``DATAOPS_*`` environment variables
that ``python -m env_server serve`` sets (so ``uvicorn --workers`` processes read the same settings)."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    """Server settings. ``from_env()`` reads the ``DATAOPS_*`` variables the CLI sets."""

    task_paths: tuple[str, ...] = ()
    """Custom task files added to the built-in tasks."""
    session_cap: int = 512
    """Live sessions allowed (HTTP sessions and WebSocket sessions each)."""
    session_ttl_s: float = 900.0
    """Idle seconds after which a session may be evicted."""
    max_body_bytes: int = 2_000_000
    """Largest request body accepted."""
    max_grade_items: int = 4096
    """Largest /grade and /review batch."""
    grade_chunk_items: int = 2
    """Items of a /grade request graded per job: a request's chunks run in parallel on the worker threads, each
    item with its own step budget, and take turns with other clients' jobs (a free worker goes to the client
    with the fewest jobs running), so a large batch never holds up another client by more than one chunk.
    Every item is graded: a /grade answer has no ``not_graded`` item left to send again (except what the
    grading safety net stopped)."""
    warm_wait_s: float = 2.0
    """Seconds a /grade (or /reset of a named task) waits for a cold task's database to be built before it is
    answered ``503 warming`` with ``Retry-After`` (the build goes on; the client sends the request again)."""
    warm_retry_after_s: int = 5
    """The ``Retry-After`` of a ``503 warming``."""
    warm_min_bytes: int = 16 << 20
    """Tasks whose database file has at least this many bytes are warmed apart (503 warming while cold); smaller
    and generated databases are built by the request that needs them. 0: every cold task."""
    worker_threads: int = 4
    """Threads that run episodes and grading off the event loop (sessions are serialised anyway)."""
    workers: int = 1
    """Worker processes serving this app (``serve --workers``). With more than one, HTTP sessions are refused
    with a message pointing to replicas: a session lives in one process and the next request may reach another."""
    review_batch_budget_s: float = 1.0
    """Seconds a /review batch may spend; items not started by then come back ``not_reviewed`` (send them
    again). One item's review is bounded by the reviewer's own budgets (SQL length, parse work, findings)."""
    sessions_per_client: int | None = None
    """Live HTTP sessions (and open WebSocket sessions) one client may hold; None: a quarter of ``session_cap``.
    A client is its address, or its token (``client_tokens``). Over it: 429 with Retry-After."""
    inflight_per_client: int = 2
    """/grade, /review and /benchmark requests one client may have in flight at once (429 with Retry-After
    beyond), so that one client cannot occupy every worker thread."""
    clone_mib: float = 2048.0
    """MiB of private repair-database copies all sessions may hold at once (a copy counts its template's
    page_count * page_size); a reset past it is a 503 with Retry-After."""
    clone_mib_per_client: float | None = None
    """MiB of those copies one client may hold (429 beyond); None: a quarter of ``clone_mib``."""
    client_tokens: tuple[str, ...] = ()
    """Tokens that identify clients (``Authorization: Bearer T`` or ``X-Client-Token: T``) for the quotas,
    e.g. many users behind one address; a request without a known token is its address."""
    benchmark: str = "loopback"
    """``GET /benchmark``: ``on`` (anyone), ``off``, or ``loopback`` (only clients on a loopback address:
    the default, so a public server does not let anyone spend its CPU on it)."""
    benchmark_max_n: int = 50
    """Largest ``n`` of ``GET /benchmark``; the run also stops after ``benchmark_budget_s``."""
    benchmark_budget_s: float = 2.0
    """Seconds one /benchmark run may measure for (it reports how many tasks it timed)."""

    def __post_init__(self) -> None:
        if self.benchmark not in ("on", "off", "loopback"):
            raise ValueError(f"benchmark must be on, off or loopback, not {self.benchmark!r}")

    @property
    def client_session_quota(self) -> int:
        """Live sessions per client: ``sessions_per_client``, or a quarter of the cap (at least 1)."""
        return max(1, min(self.sessions_per_client or self.session_cap // 4, self.session_cap))

    @classmethod
    def from_env(cls) -> "ServerConfig":
        env = os.environ.get
        paths = tuple(p for p in env("DATAOPS_TASKS", "").split(os.pathsep) if p)
        per_client = env("DATAOPS_SESSIONS_PER_CLIENT", "").strip()
        clone_per_client = env("DATAOPS_CLONE_MIB_PER_CLIENT", "").strip()
        return cls(
            task_paths=paths,
            session_cap=int(env("DATAOPS_SESSION_CAP", cls.session_cap)),
            session_ttl_s=float(env("DATAOPS_SESSION_TTL_S", cls.session_ttl_s)),
            workers=int(env("DATAOPS_WORKERS", cls.workers)),
            sessions_per_client=int(per_client) if per_client else None,
            inflight_per_client=int(env("DATAOPS_INFLIGHT_PER_CLIENT", cls.inflight_per_client)),
            clone_mib=float(env("DATAOPS_CLONE_MIB", cls.clone_mib)),
            clone_mib_per_client=float(clone_per_client) if clone_per_client else None,
            client_tokens=tuple(t.strip() for t in env("DATAOPS_CLIENT_TOKENS", "").split(",") if t.strip()),
            benchmark=env("DATAOPS_BENCHMARK", cls.benchmark).strip().lower(),
        )
