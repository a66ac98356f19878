"""Which database a task runs on: :class:`DbSpec`, the one value the database layer builds from.

It lives in ``core`` because :mod:`env_server.core.databases` turns it into SQLite connections and ``core`` imports
nothing above itself; :mod:`env_server.tasks.spec` re-exports it as part of the task spec.
"""
from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DbSpec(BaseModel):
    """Which database a task runs on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str | None = Field(default=None, description="Generated domain name, e.g. 'ecommerce'.")
    seed: int | None = Field(default=None, description="Seed of the generated domain database.")
    schema_sql: str | None = Field(default=None, description="Embedded CREATE TABLE statements.")
    data_sql: str | None = Field(default=None, description="Embedded INSERT statements.")
    sqlite_path: str | None = Field(default=None, description="Path to a .sqlite file.")
    sql_path: str | None = Field(default=None, description="Path to a SQL dump (DDL + INSERTs) in `dialect`.")
    dialect: str | None = Field(default=None, description="sqlglot dialect of `sql_path`, e.g. 'postgres' (default sqlite).")
    setup_sql: tuple[str, ...] | None = Field(
        default=None, description="Trusted statements applied after building (repair corruptions); may use :salt."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DbSpec:
        generated = self.domain is not None
        embedded = self.schema_sql is not None
        on_disk = self.sqlite_path is not None
        dump = self.sql_path is not None
        if generated + embedded + on_disk + dump != 1:
            raise ValueError(
                "db must name exactly one source: {domain, seed}, {schema_sql, data_sql}, {sqlite_path} "
                "or {sql_path, dialect}"
            )
        if self.dialect is not None and not dump:
            raise ValueError("'dialect' goes with 'sql_path'")
        if generated and self.seed is None:
            raise ValueError("a generated db needs both 'domain' and 'seed'")
        if self.data_sql is not None and not embedded:
            raise ValueError("'data_sql' needs 'schema_sql'")
        return self

    @property
    def base(self) -> DbSpec:
        """The same database without ``setup_sql``."""
        return self.model_copy(update={"setup_sql": None}) if self.setup_sql else self

    @property
    def key(self) -> str:
        """A stable identity of the database contents, used for caching and variant seeds."""
        if self.setup_sql:
            digest = hashlib.sha256("\n;\n".join(self.setup_sql).encode()).hexdigest()
            return f"{self.base.key}+setup:{digest[:24]}"
        if self.domain is not None:
            return f"domain:{self.domain}:{self.seed}"
        if self.schema_sql is not None:
            digest = hashlib.sha256(f"{self.schema_sql}\n--data--\n{self.data_sql or ''}".encode()).hexdigest()
            return f"sql:{digest[:24]}"
        if self.sql_path is not None:
            return f"dump:{self.dialect or 'sqlite'}:{self.sql_path}"
        return f"file:{self.sqlite_path}"
