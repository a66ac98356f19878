"""TRL ``environment_factory`` classes: multi-turn episodes whose tools are environment actions.

TRL's ``GRPOTrainer(environment_factory=...)`` makes one instance per rollout, calls
``reset(**row)`` with the dataset row, lets the model call the instance's public methods as tools,
and scores the rollout with ``get_reward()``. Here:

* ``reset(**row)`` starts the episode of ``row["task_id"]`` and returns the task as text (goal,
  schema summary, broken query), which TRL appends to the user message.
* The tools are typed, documented public methods that map one-to-one to environment actions:
  ``run_query``, ``sample_rows``, ``execute_sql``, ``search_docs``, ``submit_query``,
  ``submit_answer``. Each family's class offers only the actions its family allows
  (``Family.actions``), built by :func:`environment_class`: :class:`DebugEnvironment`, :class:`RepairEnvironment`,
  :class:`AnalystEnvironment`, :class:`GroundedEnvironment`. :func:`environment_factories` maps
  family names to them for TRL's dict form (the dataset's ``environment`` column picks one).
* ``get_reward()`` is the episode's return as the environment computed it (outcome plus shaping
  penalties), the same number ``DataOpsEnv`` reports.

An episode runs in-process on a :class:`~env_server.episode.environment.DataOpsEnv` by default (sharing the
grader of :func:`reward_fns.backend.default_backend`), or on a server: ``DATAOPS_ENV_URL`` or
``base_url=`` selects the session HTTP client, and ``transport="ws"`` OpenEnv's WebSocket client.
Tool results are plain text; a tool never raises, it reports the problem as its result.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from env_server.episode.environment import DataOpsEnv, EnvUsageError
from env_server.episode.models import DataOpsAction, DataOpsObservation
from env_server.families import Family, default_families, family_of
from env_server.server.client import DataOpsClient, DataOpsEnvClient, pick_replica
from reward_fns.backend import ENV_URL_VAR, InProcessBackend, default_backend
from reward_fns.prompts import observation_text, result_text


class EpisodeSession(Protocol):
    """One episode at a time, wherever it runs."""

    def reset(self, task_id: str) -> DataOpsObservation: ...

    def step(self, action: DataOpsAction) -> DataOpsObservation: ...

    def close(self) -> None: ...


class LocalSession:
    """An episode on an in-process :class:`DataOpsEnv` (pass one to share a grader and its caches)."""

    def __init__(self, env: DataOpsEnv):
        self.env = env

    def reset(self, task_id: str) -> DataOpsObservation:
        return self.env.reset(task_id=task_id)

    def step(self, action: DataOpsAction) -> DataOpsObservation:
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


class _HttpSession:
    def __init__(self, base_url: str):
        self.client = DataOpsClient(base_url)

    def reset(self, task_id: str) -> DataOpsObservation:
        return self.client.reset(task_id=task_id)

    def step(self, action: DataOpsAction) -> DataOpsObservation:
        return self.client.step(action)

    def close(self) -> None:
        self.client.close()


class _WebSocketSession:
    def __init__(self, base_url: str):
        self.client = DataOpsEnvClient(base_url=base_url).sync()
        self.client.__enter__()

    def reset(self, task_id: str) -> DataOpsObservation:
        return self.client.reset(task_id=task_id).observation

    def step(self, action: DataOpsAction) -> DataOpsObservation:
        return self.client.step(action).observation

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def open_session(base_url: str | None = None, transport: str = "http") -> EpisodeSession:
    """An episode session: in-process unless ``base_url`` (or ``DATAOPS_ENV_URL``) names a server."""
    url = base_url or os.environ.get(ENV_URL_VAR, "").strip()
    if not url:
        backend = default_backend()
        if not isinstance(backend, InProcessBackend):  # pragma: no cover - default_backend is local without a URL
            raise RuntimeError("no server URL and no in-process backend")
        return LocalSession(DataOpsEnv(backend.tasks, grader=backend.grader, reward_config=backend.reward_config))
    chosen = pick_replica(url)  # one replica per session: its requests must all reach the process holding it
    if transport == "ws":
        return _WebSocketSession(chosen)
    if transport != "http":
        raise ValueError(f"transport must be 'http' or 'ws', got {transport!r}")
    return _HttpSession(chosen)


class _Episode:
    """Shared machinery of the family environments (no public methods: TRL would offer them as tools)."""

    family = ""

    def __init__(self, session: EpisodeSession | None = None, *, base_url: str | None = None, transport: str = "http"):
        self._session = session if session is not None else open_session(base_url, transport)
        self._observation: DataOpsObservation | None = None
        self._return = 0.0
        self._done = False

    def reset(self, **row: Any) -> str:
        """Start the episode of ``row['task_id']``; returns the task text appended to the user message."""
        task_id = row.get("task_id")
        if not task_id:
            raise ValueError("the dataset row has no 'task_id'; each row must name the task to play")
        observation = self._session.reset(task_id)
        if self.family and observation.family != self.family:
            raise ValueError(f"{type(self).__name__} plays {self.family} tasks; {task_id} is {observation.family}")
        self._observation, self._return, self._done = observation, 0.0, False
        return observation_text(observation)

    def get_reward(self) -> float:
        """The episode's return so far: outcome plus shaping penalties, as the environment computed it."""
        return self._return

    def _act(self, **fields: Any) -> str:
        if self._observation is None:
            return "No episode is running."
        if self._done:
            return "The episode is over; your answer was already graded."
        try:
            observation = self._session.step(DataOpsAction(**fields))
        except EnvUsageError as exc:
            return str(exc)
        self._observation = observation
        self._return = float(observation.metadata.get("episode_return", self._return))
        self._done = bool(observation.done)
        text = result_text(observation.last_result, observation.message)
        if observation.docs:
            text += "\n" + "\n".join(f"[{d.get('doc_id', d.get('id', '?'))}] {d.get('snippet', d.get('text', ''))}"
                                     for d in observation.docs)
        return text

    def __del__(self) -> None:
        try:
            self._session.close()
        except Exception:
            pass


class _Tools:
    """Every environment action as a documented tool method. A family's class takes the ones its family
    allows (:func:`environment_class`); ``inspect_schema`` is not a tool, since the reset text holds the schema."""

    def run_query(self, sql: str) -> str:
        """Run a read-only SQL query on the task database and see its first rows.

        Args:
            sql: One SQLite SELECT (or WITH ... SELECT) statement.

        Returns:
            The result as a text table, or the error.
        """
        return self._act(action_type="run_query", sql=sql)

    def sample_rows(self, table: str) -> str:
        """Show the first rows of a table.

        Args:
            table: The table name, as listed in the schema.

        Returns:
            The rows as a text table.
        """
        return self._act(action_type="sample_rows", table=table)

    def submit_query(self, sql: str) -> str:
        """Submit the corrected query. It is graded and the episode ends.

        Args:
            sql: The fixed SQLite query.

        Returns:
            Whether it is correct, and why.
        """
        return self._act(action_type="submit_query", sql=sql)

    def execute_sql(self, sql: str) -> str:
        """Run one write statement (UPDATE, DELETE, INSERT, CREATE TABLE) on the task database.

        Args:
            sql: One SQLite statement.

        Returns:
            How many rows changed, or the error.
        """
        return self._act(action_type="execute_sql", sql=sql)

    def finish(self) -> str:
        """Declare the repair done. The database state is graded and the episode ends.

        Returns:
            The grade of the final database state.
        """
        return self._act(action_type="finish")

    def submit_answer(self, answer: str, citations: list[str] | None = None) -> str:
        """Submit the final answer. It is graded and the episode ends.

        Args:
            answer: The answer: a number, a name, or a comma-separated list.
            citations: Ids of the documents the answer relies on (grounded tasks).

        Returns:
            Whether it is correct, and why.
        """
        return self._act(action_type="submit_answer", answer=answer, citations=citations)

    def search_docs(self, query: str) -> str:
        """Search the business documents (metric definitions, policies).

        Args:
            query: Words to search for, e.g. "active customer definition".

        Returns:
            Ranked snippets, each with its doc id.
        """
        return self._act(action_type="search_docs", query=query)


def environment_class(family: Family | str) -> type[_Episode]:
    """The ``environment_factory`` class of ``family``: an episode whose tools are exactly the family's
    actions (``inspect_schema`` aside). Built-in families get their named class (:class:`DebugEnvironment`, ...)."""
    family = family if isinstance(family, Family) else family_of(family)
    tools = {name: getattr(_Tools, name) for name in family.actions if name != "inspect_schema"}
    unknown = [name for name in family.actions if name != "inspect_schema" and not hasattr(_Tools, name)]
    if unknown:
        raise ValueError(f"family {family.name}: no tool for action(s) {', '.join(unknown)}")
    name = family.name.title().replace("_", "") + "Environment"
    doc = f"{family.name}: {family.tool_instructions}"
    return type(name, (_Episode,), {"family": family.name, "__doc__": doc, "__module__": __name__, **tools})


DebugEnvironment = environment_class("debug")
RepairEnvironment = environment_class("repair")
AnalystEnvironment = environment_class("analyst")
GroundedEnvironment = environment_class("grounded")

FAMILY_ENVIRONMENTS: dict[str, type[_Episode]] = {
    cls.family: cls for cls in (DebugEnvironment, RepairEnvironment, AnalystEnvironment, GroundedEnvironment)
}


def environment_factories(
    families: list[str] | tuple[str, ...] = ("debug",), *, base_url: str | None = None, transport: str = "http"
) -> dict[str, Callable[[], _Episode]]:
    """``{family: factory}`` for ``GRPOTrainer(environment_factory=...)``; rows carry ``environment=family``."""
    unknown = [f for f in families if f not in default_families()]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {', '.join(default_families())}")

    def factory_for(cls: type[_Episode]) -> Callable[[], _Episode]:
        def make() -> _Episode:
            return cls(base_url=base_url, transport=transport)

        make.__name__ = f"make_{cls.__name__}"
        return make

    return {family: factory_for(FAMILY_ENVIRONMENTS.get(family) or environment_class(family)) for family in families}


__all__ = [
    "FAMILY_ENVIRONMENTS",
    "AnalystEnvironment",
    "DebugEnvironment",
    "GroundedEnvironment",
    "LocalSession",
    "RepairEnvironment",
    "environment_class",
    "environment_factories",
    "open_session",
]
