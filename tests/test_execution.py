"""Reward functions (reward_fns/execution.py) and their backends (reward_fns/backend.py).

Each completion below carries a comment on why it scores what it does. The rewards are checked
against the one grader (``Grader.grade_query`` + ``compose``), in-process and over HTTP.
"""
from __future__ import annotations

import pickle

import pytest

from env_server.grading import Grader
from env_server.reward import compose
from env_server.tasks.registry import UnknownTaskError, load_tasks
from reward_fns.backend import HttpBackend, InProcessBackend, default_backend
from reward_fns.execution import ExecutionReward, SafetyReward, execution_reward, format_reward, safety_reward

TASK = "debug-fixed-syntax_fix"
GOLD = ("SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
        "ORDER BY signup_date, id")


def fence(sql: str) -> str:
    return f"Here is the fix:\n```sql\n{sql}\n```"


def hard_coded_rows() -> str:
    """A query that returns the gold rows of the task database as literals: right there, wrong on the variants."""
    task = next(t for t in load_tasks(split="fixed") if t.task_id == TASK)
    rows = Grader().run(task, GOLD).rows
    values = " UNION ALL ".join(
        "SELECT " + ", ".join("'" + str(v).replace("'", "''") + "'" for v in row) for row in rows
    )
    return fence(values)


CASES = [
    # the gold query: runs and matches the reference on the task database and its 3 variants
    (fence(GOLD), 1.0),
    # the broken query echoed back: "WHER" is a syntax error, so nothing runs: 0
    (fence("SELECT name, email, signup_date FROM users WHER plan = 'pro'"), 0.0),
    # prose with no SQL at all: graded as an empty submission, 0
    ("I think the WHERE keyword is misspelled; fix it and the query works.", 0.0),
    # two blocks: the last one is the answer, and here it is the gold query
    ("First try:\n```sql\nSELECT 1\n```\nFinal:\n```sql\n" + GOLD + "\n```", 1.0),
    # two blocks, the last one wrong: hedging with a right first block earns nothing
    ("```sql\n" + GOLD + "\n```\nor maybe\n```sql\nSELECT name FROM users\n```", None),
    # chat-message completion (what TRL passes for conversational datasets)
    ([{"role": "assistant", "content": fence(GOLD)}], 1.0),
]


def test_rewards_follow_the_grader():
    completions = [c for c, _ in CASES]
    rewards = execution_reward(prompts=["p"] * len(CASES), completions=completions, task_id=[TASK] * len(CASES))
    for (completion, expected), reward in zip(CASES, rewards):
        if expected is not None:
            assert reward == expected, completion
    # the hedged case: wrong columns, so at most the grader's partial credit (0.1), never success
    assert 0.0 <= rewards[4] <= 0.1


def test_hard_coded_rows_fail_on_the_variants():
    # literal rows equal the answer on the task database only; the seeded variants expose them
    [reward] = execution_reward(completions=[hard_coded_rows()], task_id=[TASK])
    assert reward <= 0.1


def test_reward_equals_grader_plus_compose():
    # one grader, two callers: the reward function's number is exactly the env's reward for that SQL
    task = next(t for t in load_tasks(split="train"))
    sql = task.broken_sql
    expected = compose(Grader().grade_query(task, sql)).total
    assert execution_reward(completions=[fence(sql)], task_id=[task.task_id]) == [expected]


def test_none_task_id_is_not_applicable_and_missing_column_is_an_error():
    assert execution_reward(completions=[fence(GOLD), fence(GOLD)], task_id=[TASK, None]) == [1.0, None]
    with pytest.raises(ValueError, match="task_id"):
        execution_reward(completions=[fence(GOLD)])
    with pytest.raises(ValueError, match="2 task ids for 1"):
        execution_reward(completions=[fence(GOLD)], task_id=[TASK, TASK])
    with pytest.raises(UnknownTaskError):
        execution_reward(completions=[fence(GOLD)], task_id=["no-such-task"])


def test_logs_components_through_trl_hooks():
    extra, metrics = {}, {}
    execution_reward(completions=[fence(GOLD), "no sql"], task_id=[TASK] * 2,
                     log_extra=lambda name, values: extra.__setitem__(name, values),
                     log_metric=lambda name, value: metrics.__setitem__(name, value))
    assert extra["sql"] == [GOLD, ""]
    assert extra["grade_reason"][0].startswith("equivalent to the reference")
    assert "did not run" in extra["grade_reason"][1]
    assert metrics["execution/success_rate"] == 0.5
    assert metrics["execution/sql_found_rate"] == 0.5
    assert metrics["execution/grade_seconds"] >= 0


def test_format_reward():
    assert format_reward(completions=[
        fence(GOLD),                                   # exactly one well-formed block
        "<sql>SELECT 1</sql>",                         # a tag counts as a block
        fence(GOLD) + "\n" + fence(GOLD),              # two blocks: not exactly one
        GOLD,                                          # bare SQL: no block
        fence("SELEC name FROM users"),                # one block that does not parse
        fence("SELECT 1; SELECT 2"),                   # one block, two statements
    ]) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_safety_reward():
    assert safety_reward(completions=[
        fence("DELETE FROM users"),                    # a write in a read-only family: blocked
        fence("DROP TABLE users"),                     # a schema change: blocked
        fence(GOLD),                                   # a read: allowed
        "no SQL here",                                 # nothing to review: no penalty
        fence("SELEC garbage FROM"),                   # does not parse: worth 0 already, no extra penalty
    ], task_id=[TASK] * 5) == [-0.1, -0.1, 0.0, 0.0, 0.0]


def test_pickle_round_trip_keeps_behaviour():
    completions, ids = [fence(GOLD), "nothing"], [TASK, TASK]
    for fn in (execution_reward, safety_reward, ExecutionReward(InProcessBackend()), format_reward):
        clone = pickle.loads(pickle.dumps(fn))
        assert clone.__name__ == fn.__name__
        assert clone(completions=completions, task_id=ids) == fn(completions=completions, task_id=ids)


def test_default_backend_is_in_process_and_shared(monkeypatch):
    monkeypatch.delenv("DATAOPS_ENV_URL", raising=False)
    assert isinstance(default_backend(), InProcessBackend)
    assert default_backend() is default_backend()  # one cache for all reward functions of a process


def _varied_items() -> tuple[list, list[str]]:
    tasks = load_tasks(split="heldout_iid")[:6] + load_tasks(split="fixed")
    completions, ids = [], []
    for task in tasks:
        for sql in (task.gold_sql, task.broken_sql):
            completions.append(fence(sql))
            ids.append(task.task_id)
        completions.append("no sql")
        ids.append(task.task_id)
    completions += [hard_coded_rows(), fence("DROP TABLE users"), fence("SELECT 1; SELECT 2")]
    ids += [TASK] * 3
    return completions, ids


def test_http_and_in_process_give_identical_rewards(live_server, monkeypatch):
    completions, ids = _varied_items()
    local = ExecutionReward(InProcessBackend())(completions=completions, task_id=ids)
    remote = ExecutionReward(HttpBackend(live_server, batch_size=5))(completions=completions, task_id=ids)
    assert remote == local
    assert 1.0 in local and 0.0 in local
    assert SafetyReward(HttpBackend(live_server))(completions=completions, task_id=ids) == \
        SafetyReward(InProcessBackend())(completions=completions, task_id=ids)
    # DATAOPS_ENV_URL switches the default functions to HTTP, across a comma-separated list of servers
    monkeypatch.setenv("DATAOPS_ENV_URL", f"{live_server}, {live_server}")
    assert isinstance(default_backend(), HttpBackend)
    assert execution_reward(completions=completions, task_id=ids) == local


def test_http_unknown_task_is_a_clear_error(live_server):
    from env_server.client import DataOpsClientError

    with pytest.raises(DataOpsClientError, match="unknown task_id"):
        ExecutionReward(HttpBackend(live_server))(completions=[fence(GOLD)], task_id=["no-such-task"])
