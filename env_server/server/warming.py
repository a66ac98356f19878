"""Cold tasks answered at once: a request that needs a database not yet built starts building it and, when the
build outlasts a short wait, is answered ``503 warming`` with ``Retry-After`` instead of holding the connection.

A large task's first grade builds its database and variants (a minute for 1M rows, unless the template store
on disk has them: :mod:`env_server.core.template_store`) and its gold results. The HTTP client's timeout is
60 s, so a request that waited for that could fail while the server went on building. :class:`Warmer` builds
each cold task once, in the background, and :meth:`Warmer.ready` waits for it at most ``wait_s``; the client
(:func:`env_server.server.client.agrade_batch`) waits ``Retry-After`` seconds and sends the request again.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from env_server.grading.grader import Grader
from env_server.tasks.spec import Task


class Warming(Exception):
    """Answered as HTTP 503 with ``code: warming`` and ``Retry-After``: the task's database is being built."""

    status, code = 503, "warming"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class Warmer:
    """Builds cold tasks in the background, each once (``grader.warm``), on ``threads`` threads of its own."""

    def __init__(self, grader: Grader, wait_s: float = 2.0, retry_after_s: int = 5, threads: int = 2,
                 min_bytes: int = 16 << 20):
        self.grader, self.wait_s, self.retry_after_s = grader, wait_s, retry_after_s
        self.min_bytes = min_bytes
        """Only tasks whose database file is at least this large are warmed apart (0: every task); a small or
        generated database is built inline by the request that needs it, as fast as warming would be."""
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dataops-warm")
        self._jobs: dict[str, Future] = {}
        self._lock = threading.Lock()

    def _start(self, task: Task) -> Future:
        with self._lock:
            job = self._jobs.get(task.task_id)
            if job is None:
                job = self._jobs[task.task_id] = self._pool.submit(self._warm, task)
            return job

    def _warm(self, task: Task) -> None:
        try:
            self.grader.warm(task)
        except Exception:  # noqa: BLE001 - the request itself reports what is wrong with the task
            pass
        finally:
            with self._lock:
                self._jobs.pop(task.task_id, None)

    async def ready(self, tasks: Iterable[Task]) -> None:
        """Return when every task is warm, waiting at most ``wait_s`` for those being built; else raise
        :class:`Warming` (the builds go on)."""
        cold = {t.task_id: t for t in tasks if self._large(t) and not self.grader.warmed(t)}
        if not cold:
            return
        jobs = [asyncio.wrap_future(self._start(t)) for t in cold.values()]
        _, pending = await asyncio.wait(jobs, timeout=self.wait_s)
        if pending:
            names = ", ".join(sorted(cold)[:3]) + (f" and {len(cold) - 3} more" if len(cold) > 3 else "")
            raise Warming(f"the database of {names} is being built (its first use on this server); retry after "
                          f"{self.retry_after_s} s", self.retry_after_s)

    def _large(self, task: Task) -> bool:
        if self.min_bytes <= 0:
            return True
        path = task.db.sqlite_path or task.db.sql_path
        try:
            return path is not None and Path(str(path)).stat().st_size >= self.min_bytes
        except OSError:
            return False  # a missing file: grading reports it

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
