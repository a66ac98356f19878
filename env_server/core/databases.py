"""Task databases: build each one once (main and variants), then hand out read-only views or private clones.

``Databases`` is the one object that turns a task's ``db`` spec into SQLite connections. It owns a
:class:`~env_server.core.sandbox.TemplateCache`; share one instance between environments and graders
that should share built databases. Variant ``k`` (``k >= 1``) is the main database perturbed by
:func:`env_server.core.variants.perturb` with a seed derived from the database identity and ``k``.

A spec with ``setup_sql`` (a repair task's corruption) is built from its base database: variant
``k`` of the base, then the setup statements with ``:salt`` bound to :func:`salt` of ``k``. So the
corruption lands on different rows of every variant, and a repair that hard-codes what it saw on
the task database does not carry over.

Variants of read-only tasks also store their rows in a seeded shuffled physical order
(:func:`env_server.core.variants.shuffle_rows`), so a query that leans on scan order (a dropped
tiebreaker) fails there. The bases of repair tasks use the unshuffled variant, since repairs may
address rows by ``rowid``.

A file database is identified by a hash of its contents (computed once per path, size and
modification time), so variant seeds, and with them every grade, are the same on every clone.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from env_server.core.sandbox import SandboxConfig, Template, TemplateCache, scratch
from env_server.core.template_store import TemplateStore, default_folder
from env_server.core.schema import SchemaInfo, introspect
from env_server.core.variants import perturb, shuffle_rows, variant_seed
from env_server.core.domains import get_domain, populate
from env_server.core.dbspec import DbSpec

_T = TypeVar("_T")


class Databases:
    """Cached task databases and their variants."""

    def __init__(self, config: SandboxConfig | None = None, capacity: int = 1024,
                 load_dump: Callable[[sqlite3.Connection, Path, str], None] | None = None,
                 store: TemplateStore | None | bool = True):
        self.config = config or SandboxConfig()
        self.load_dump = load_dump
        """How a SQL dump (``sql_path``) is loaded into a connection: ``load_dump(conn, path, dialect)``. A
        parameter because the loader (:func:`env_server.ingest.transpile.load_file`) sits above ``core``; the
        grader passes it."""
        if store is True:
            folder = default_folder()
            store = TemplateStore(folder) if folder is not None else None
        self.cache = TemplateCache(self.config, capacity=capacity, store=store or None)
        """Built templates in memory; slow builds also go to disk (``store``: a :class:`TemplateStore`, True for
        the default folder, None or False for none), where other processes and restarts find them."""
        self._digests: dict[tuple[str, int, int], str] = {}
        self._identities: dict[DbSpec, str] = {}
        """Identities of specs that name no file (they cannot change); file specs are stat-ed every time."""
        self._paths: dict[DbSpec, Path] = {}
        self._digest_lock = threading.Lock()

    def identity(self, db: DbSpec) -> str:
        """What the contents of ``db`` depend on: its spec, or a hash of a file's contents (read once
        per path, size and modification time; after that a stat). Memoised per spec: a spec without a file
        costs one dict lookup (its key hashes the setup statements and embedded SQL, which took up to 19 ms per
        call for a database of 837 KiB of SQL); one with a file, a dict lookup and a ``stat``."""
        known = self._identities.get(db)
        if known is not None:
            return known
        identity = self._identity(db)
        if not _on_disk(db):
            self._identities[db] = identity
        return identity

    def _identity(self, db: DbSpec) -> str:
        if db.setup_sql:
            return f"{self.identity(db.base)}+{db.key.rsplit('+', 1)[1]}"
        if db.sqlite_path is not None or db.sql_path is not None:
            path = self._paths.get(db)
            if path is None:
                path = self._paths[db] = Path(str(db.sqlite_path or db.sql_path)).resolve()
            try:
                stat = path.stat()
            except OSError:
                raise FileNotFoundError(f"task database file not found: {path}") from None
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            with self._digest_lock:
                digest = self._digests.get(key)
            if digest is None:
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
                except OSError:
                    raise FileNotFoundError(f"task database file not readable: {path}") from None
                with self._digest_lock:
                    self._digests[key] = digest
            return f"file:{digest}"
        return db.key

    def template(self, db: DbSpec, variant: int = 0, *, shuffled: bool = True) -> Template:
        """The cached template of ``db`` (``variant=0``) or of its variant ``variant``. Variants of a
        database without ``setup_sql`` store rows in a shuffled order unless ``shuffled=False``."""
        identity = self.identity(db)
        if db.setup_sql:
            base = db.base

            def build_setup(conn: sqlite3.Connection) -> None:
                source = self.template(base, variant, shuffled=False)
                with source.lock:
                    source.conn.backup(conn)
                apply_setup(conn, db.setup_sql or (), salt(identity, variant))

            return self.cache.get((identity, variant), build_setup)
        if variant == 0:
            return self.cache.get((identity, 0), lambda conn: _build_main(db, conn, self.load_dump))

        def build_variant(conn: sqlite3.Connection) -> None:
            main = self.template(db, 0)
            with main.lock:
                main.conn.backup(conn)
            perturb(conn, variant_seed(identity, variant))
            if shuffled:
                shuffle_rows(conn, variant_seed(f"{identity}|order", variant))

        return self.cache.get((identity, variant, "shuffled" if shuffled else "stable"), build_variant)

    def keys(self, db: DbSpec, variants: int) -> list[tuple]:
        """The cache keys of the main database of ``db`` and of its variants ``1..variants`` (as graded)."""
        identity = self.identity(db)
        if db.setup_sql:
            return [(identity, v) for v in range(variants + 1)]
        return [(identity, 0)] + [(identity, v, "shuffled") for v in range(1, variants + 1)]

    def built(self, db: DbSpec, variants: int) -> bool:
        """Whether the main database of ``db`` and its ``variants`` are all built and in memory."""
        return all(key in self.cache for key in self.keys(db, variants))

    def schema(self, db: DbSpec) -> SchemaInfo:
        """Tables, columns and keys of the main database of ``db`` (introspected once)."""
        template = self.template(db, 0)
        if template.info is None:
            with template.lock:
                if template.info is None:
                    template.info = introspect(template.conn)
        return template.info

    def inspect(self, db: DbSpec, read: Callable[[sqlite3.Connection, SchemaInfo], _T]) -> _T:
        """``read(conn, schema)`` on the main database of ``db`` under its lock: how task generators read the
        trusted template (``conn`` is the template itself; ``read`` must not write)."""
        schema = self.schema(db)
        template = self.template(db, 0)
        with template.lock:
            return read(template.conn, schema)

    def clone(self, db: DbSpec) -> sqlite3.Connection:
        """A private, hardened in-memory copy of the main database of ``db``."""
        return self.template(db, 0).clone(self.config)

    def reader(self, db: DbSpec) -> sqlite3.Connection:
        """A hardened read-only connection to the main database of ``db`` that shares its pages with every
        other reader (what read-only episodes use: no copy, a small constant of memory each)."""
        return self.template(db, 0).reader(self.config)


def _build_main(db: DbSpec, conn: sqlite3.Connection,
                load_dump: Callable[[sqlite3.Connection, Path, str], None] | None = None) -> None:
    """Fill an empty connection with the database ``db`` describes (trusted task input)."""
    if db.domain is not None:
        populate(conn, get_domain(db.domain), int(db.seed or 0))
    elif db.schema_sql is not None:
        conn.executescript(db.schema_sql)
        if db.data_sql:
            conn.executescript(db.data_sql)
        conn.commit()
    elif db.sql_path is not None:
        path = Path(db.sql_path)
        if not path.is_file():
            raise FileNotFoundError(f"task database dump not found: {path}")
        if load_dump is None:
            raise ValueError(f"task database {path} is a SQL dump and these Databases have no dump loader: "
                             "Databases(load_dump=env_server.ingest.transpile.load_file)")
        load_dump(conn, path, db.dialect or "sqlite")
    else:
        path = Path(str(db.sqlite_path))
        if not path.is_file():
            raise FileNotFoundError(f"task database file not found: {path}")
        source = scratch(f"file:{path}?mode=ro", uri=True)
        try:
            source.backup(conn)
        finally:
            source.close()


def _on_disk(db: DbSpec) -> bool:
    """Whether ``db`` (or its base) is read from a file, whose contents may change between calls."""
    return db.sqlite_path is not None or db.sql_path is not None


def salt(identity: str, variant: int) -> int:
    """The ``:salt`` bound in ``setup_sql`` for ``variant`` of the database ``identity``."""
    return variant_seed(f"{identity}|salt", variant) % 1_000_003


def run_trusted(
    conn: sqlite3.Connection, statements: Iterable[str], params: Mapping[str, object] | None = None, what: str = "setup"
) -> None:
    """Run trusted statements (task setup, gold repairs) with named ``params``; a failure names the statement."""
    for number, statement in enumerate(statements, start=1):
        try:
            conn.execute(statement, dict(params or {}))
        except sqlite3.Error as exc:
            raise ValueError(f"{what} statement {number} failed ({exc}): {statement[:200]}") from None
    conn.commit()


def apply_setup(conn: sqlite3.Connection, statements: Iterable[str], salt_value: int) -> None:
    """Run a database's ``setup_sql`` with ``:salt`` bound to ``salt_value``."""
    run_trusted(conn, statements, {"salt": salt_value})


__all__ = ["Databases", "apply_setup", "run_trusted", "salt"]
