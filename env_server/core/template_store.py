"""Built databases on disk, by content: a cold task in a new process or after a restart loads in seconds.

Building a large database's variants takes a while (a 1M-row database: about a minute on a 2020s core, all
of it the seeded row-by-row draws of :mod:`env_server.core.variants`). A :class:`TemplateStore` keeps each
template whose build took at least ``min_build_s`` as a SQLite file named by a hash of what its contents
depend on: the template's cache key (the database identity, which for a file is a hash of its contents, and the
variant) and the source of the code that builds databases (:func:`code_version`), so a change to the generators
or the variants can never load a stale file. Every process and every restart on the machine shares the folder;
a file is written to a temporary name and renamed into place, so a reader never sees half of one.

``python -m env_server warm [TASKS...]`` builds and stores the databases of tasks ahead of time.

The folder is ``$DATAOPS_CACHE_DIR/templates`` (default ``~/.cache/dataops-gym/templates``);
``DATAOPS_TEMPLATE_STORE=off`` turns the store off.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path

from env_server.core.sandbox import scratch

CACHE_DIR_ENV = "DATAOPS_CACHE_DIR"
STORE_ENV = "DATAOPS_TEMPLATE_STORE"
_CODE = ("core/variants.py", "core/databases.py", "core/domains", "ingest/transpile.py", "ingest/pg_dump.py",
         "ingest/pg_restore.py", "ingest/encoding.py", "ingest/formats.py")
"""The sources whose code decides what a built database holds."""


@functools.cache
def code_version() -> str:
    """A hash of the sources that build databases (see :data:`_CODE`)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in _CODE:
        path = root / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(file.relative_to(root).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def default_folder() -> Path | None:
    """The store's folder from the environment, or None when ``DATAOPS_TEMPLATE_STORE=off``."""
    if os.environ.get(STORE_ENV, "").lower() in ("off", "0", "false", "no"):
        return None
    base = os.environ.get(CACHE_DIR_ENV)
    return (Path(base) if base else Path.home() / ".cache" / "dataops-gym") / "templates"


class TemplateStore:
    """Templates saved as SQLite files under ``folder``, by a hash of their cache key and :func:`code_version`."""

    def __init__(self, folder: str | Path, min_build_s: float = 1.0):
        self.folder = Path(folder)
        self.min_build_s = min_build_s
        """Builds faster than this are not stored (loading a small database is no faster than building it)."""
        self.loads = 0
        self.saves = 0

    def path(self, key: tuple) -> Path:
        name = hashlib.sha256(repr((code_version(), key)).encode()).hexdigest()[:40]
        return self.folder / f"{name}.sqlite"

    def load(self, key: tuple, conn: sqlite3.Connection) -> bool:
        """Fill the empty ``conn`` with the stored template of ``key``; False when there is none (or it is
        unreadable: then it is removed and the template is built again)."""
        path = self.path(key)
        if not path.is_file():
            return False
        try:
            source = scratch(f"file:{path}?mode=ro", uri=True)
            try:
                source.backup(conn)
            finally:
                source.close()
        except sqlite3.Error:
            path.unlink(missing_ok=True)
            return False
        self.loads += 1
        return True

    def save(self, key: tuple, conn: sqlite3.Connection, build_s: float, force: bool = False) -> Path | None:
        """Store ``conn`` as the template of ``key`` when its build took at least ``min_build_s`` (or ``force``);
        the path written, or None. A failure to write (a full or read-only disk) only skips the store."""
        if not force and build_s < self.min_build_s:
            return None
        path = self.path(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            os.close(handle)
            target = scratch(temporary)
            try:
                conn.backup(target)
            finally:
                target.close()
            os.replace(temporary, path)
        except (OSError, sqlite3.Error):
            try:
                os.unlink(temporary)  # type: ignore[possibly-undefined]
            except (OSError, NameError):
                pass
            return None
        self.saves += 1
        return path
