"""TRL environment_factory wrappers (reward_fns/environments.py): tools, episodes and rewards,
in-process, over session HTTP and over OpenEnv's WebSocket."""
from __future__ import annotations

import inspect

import pytest

from env_server.families import family_of
from reward_fns.environments import (
    FAMILY_ENVIRONMENTS,
    DebugEnvironment,
    GroundedEnvironment,
    RepairEnvironment,
    environment_factories,
    open_session,
)

TASK = "debug-fixed-syntax_fix"
GOLD = ("SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
        "ORDER BY signup_date, id")


def tools(cls) -> set[str]:
    """What TRL offers as tools: public functions on the class, minus reset and get_reward."""
    return {name for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
            if not name.startswith("_") and name not in ("reset", "get_reward")}


def test_each_family_offers_only_its_actions():
    for family, cls in FAMILY_ENVIRONMENTS.items():
        allowed = set(family_of(family).actions) - {"inspect_schema"}  # the schema is in the reset text
        assert tools(cls) == allowed, family
    assert "execute_sql" not in tools(DebugEnvironment)
    assert tools(RepairEnvironment) >= {"execute_sql", "finish"}
    assert "search_docs" in tools(GroundedEnvironment)


def test_tools_are_typed_and_documented_for_tool_calling():
    from transformers.utils import get_json_schema

    for cls in FAMILY_ENVIRONMENTS.values():
        for name in tools(cls):
            schema = get_json_schema(getattr(cls, name))  # raises when a type hint or an arg doc is missing
            assert schema["function"]["description"]


def test_debug_episode_in_process():
    env = DebugEnvironment()
    text = env.reset(task_id=TASK, prompt="ignored", family="debug")
    assert "WHER plan" in text and "users(" in text  # broken query and schema summary
    assert env.get_reward() == 0.0
    out = env.run_query("SELECT COUNT(*) FROM users")
    assert "rows)" in out or "COUNT" in out
    assert "Error (syntax)" in env.run_query("SELEC 1")
    assert "unknown table 'no_such_table'" in env.sample_rows("no_such_table")  # reported, not raised
    assert "Correct" in env.submit_query(GOLD)
    # outcome 1.0 minus the invalid sample_rows action's penalty: the env's own shaped return
    assert env.get_reward() == pytest.approx(0.95)
    assert "episode is over" in env.submit_query(GOLD)


def test_wrong_submission_and_no_submission():
    env = DebugEnvironment()
    env.reset(task_id=TASK)
    env.submit_query("SELECT name FROM users")
    assert 0.0 <= env.get_reward() <= 0.1
    env.reset(task_id=TASK)  # instances are pooled and reset between rollouts
    assert env.get_reward() == 0.0


def test_reset_errors_are_clear():
    env = DebugEnvironment()
    with pytest.raises(ValueError, match="task_id"):
        env.reset(prompt="x")
    with pytest.raises(KeyError):
        env.reset(task_id="no-such-task")


def test_factories():
    factories = environment_factories(("debug",))
    assert set(factories) == {"debug"}
    assert isinstance(factories["debug"](), DebugEnvironment)
    with pytest.raises(ValueError, match="unknown families"):
        environment_factories(("poetry",))
    with pytest.raises(ValueError, match="transport"):
        open_session("http://127.0.0.1:1", transport="carrier-pigeon")


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_remote_episode_matches_in_process(live_server, transport):
    def play(env) -> tuple[float, str]:
        env.reset(task_id=TASK)
        env.run_query("SELECT plan, COUNT(*) FROM users GROUP BY plan")
        verdict = env.submit_query(GOLD)
        return env.get_reward(), verdict

    local = play(DebugEnvironment())
    remote = play(DebugEnvironment(base_url=live_server, transport=transport))
    assert remote == local
    assert local[0] == 1.0
