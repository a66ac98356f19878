"""DataOpsEnv: custom tasks load and play, the OpenEnv contract, penalties, truncation, isolation."""
from __future__ import annotations

import json

import pytest
from openenv.core.env_server.interfaces import Environment

from env_server.families import make_grader
from env_server.episode.environment import DataOpsEnv, EnvUsageError
from env_server.episode.models import DataOpsAction as A
from env_server.tasks.registry import load_tasks

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), amount REAL, status TEXT);
"""
DATA = "INSERT INTO customers VALUES " + ",".join(
    f"({i}, 'Customer {i}', '{['Oslo', 'Lima', 'Pune', None][i % 4] or ''}')" for i in range(1, 41)
) + ";\nINSERT INTO orders VALUES " + ",".join(
    f"({i}, {1 + i * 7 % 45}, {round(10 + (i * 37 % 400) / 3, 2)}, '{['paid', 'open', 'void'][i % 3]}')" for i in range(1, 301)
) + ";"
GOLD = ("SELECT c.city, COUNT(*) AS n, ROUND(SUM(o.amount), 2) AS total FROM orders o JOIN customers c "
        "ON o.customer_id = c.id WHERE o.status = 'paid' GROUP BY c.city ORDER BY total DESC, c.city")
BROKEN = ("SELECT c.city, COUNT(*) AS n, ROUND(SUM(o.amount), 2) AS total FROM orders o JOIN customers c "
          "ON o.customer_id = c.id WHERE o.status = 'paid' GROUP BY c.city ORDER BY total, c.city")


@pytest.fixture()
def custom_path(tmp_path):
    path = tmp_path / "custom.jsonl"
    task = {"task_id": "custom-1", "family": "debug", "schema_sql": SCHEMA, "data_sql": DATA,
            "question": "paid order count and total per customer city, largest total first",
            "broken_sql": BROKEN, "gold_sql": GOLD, "order_matters": True}
    path.write_text(json.dumps(task) + "\n")
    return path


@pytest.fixture()
def env(custom_path):
    return DataOpsEnv(tasks=load_tasks(custom_path))


def _submit(env, sql):
    env.reset(task_id="custom-1")
    return env.step(A(action_type="submit_query", sql=sql))


def test_custom_task_gold_succeeds_with_high_reward(env):
    obs = _submit(env, GOLD)
    assert obs.done and obs.metadata["grade"]["success"] and obs.reward >= 0.9
    assert obs.metadata["terminated"] and not obs.metadata["truncated"]


def test_custom_task_broken_does_not_succeed(env):
    obs = _submit(env, BROKEN)
    assert obs.done and not obs.metadata["grade"]["success"]


def test_custom_task_literal_rows_do_not_succeed(env):
    env.reset(task_id="custom-1")
    rows = env.step(A(action_type="run_query", sql=GOLD)).last_result.rows
    literal = " UNION ALL ".join(f"SELECT {json.dumps(c)}, {n}, {t}" for c, n, t in rows).replace('"', "'")
    obs = env.step(A(action_type="submit_query", sql=literal))
    assert not obs.metadata["grade"]["success"] and obs.reward <= 0.1


def test_is_an_openenv_environment_with_concurrent_sessions(env):
    assert isinstance(env, Environment) and DataOpsEnv.SUPPORTS_CONCURRENT_SESSIONS
    obs = env.reset(task_id="custom-1")
    assert obs.task_id == "custom-1" and obs.broken_sql == BROKEN and "customers(" in obs.schema_summary
    assert obs.reward is None and not obs.done and obs.steps_remaining == env.state.max_steps
    assert "submit_query" in obs.allowed_actions and "execute_sql" not in obs.allowed_actions


def test_read_actions(env):
    env.reset(task_id="custom-1")
    schema = env.step(A(action_type="inspect_schema")).last_result
    assert ["orders", "customer_id", "INTEGER", "FK", "customers.id"] in schema.rows
    sample = env.step(A(action_type="sample_rows", table="orders")).last_result
    assert sample.columns == ["id", "customer_id", "amount", "status"] and len(sample.rows) == 5
    result = env.step(A(action_type="run_query", sql="SELECT COUNT(*) FROM orders")).last_result
    assert result.rows == [[300]] and result.error is None
    denied = env.step(A(action_type="run_query", sql="DELETE FROM orders")).last_result
    assert denied.error_kind == "not_authorized"
    assert env.step(A(action_type="run_query", sql="SELECT COUNT(*) FROM orders")).last_result.rows == [[300]]


def test_disallowed_and_malformed_actions_are_penalised_not_fatal(env):
    env.reset(task_id="custom-1")
    obs = env.step(A(action_type="execute_sql", sql="DELETE FROM orders"))
    assert obs.last_result.error_kind == "invalid_action" and obs.reward == pytest.approx(-0.05) and not obs.done
    obs = env.step(A(action_type="sample_rows", table="order"))
    assert "unknown table" in obs.message and "orders" in obs.message
    obs = env.step(A(action_type="run_query"))
    assert "needs 'sql'" in obs.message
    assert env.state.invalid_actions == 3


def test_repeated_queries_are_penalised(env):
    env.reset(task_id="custom-1")
    env.step(A(action_type="run_query", sql="SELECT 1"))
    obs = env.step(A(action_type="run_query", sql="select   1;"))
    assert env.state.repeated_queries == 1 and obs.reward == pytest.approx(-0.02)


def test_truncation_and_rewards_sum_to_the_episode_return(custom_path):
    env = DataOpsEnv(tasks=load_tasks(custom_path), max_steps=3)
    env.reset(task_id="custom-1")
    rewards = [env.step(A(action_type="finish")).reward for _ in range(3)]
    assert env.state.done and env.state.truncated and not env.state.terminated
    assert sum(rewards) == pytest.approx(env.state.episode_return)
    assert env.state.episode_return == pytest.approx(-0.05 * 3 - 0.1)


def test_step_before_reset_and_after_done_raise(env):
    with pytest.raises(EnvUsageError):
        env.step(A(action_type="inspect_schema"))
    _submit(env, GOLD)
    with pytest.raises(EnvUsageError):
        env.step(A(action_type="inspect_schema"))


def test_reset_with_a_seed_is_reproducible_and_filters_apply():
    tasks = load_tasks(split="heldout_iid")
    a, b = DataOpsEnv(tasks), DataOpsEnv(tasks)
    assert a.reset(seed=7).task_id == b.reset(seed=7).task_id
    assert a.reset(seed=3, difficulty="hard").task_id in {t.task_id for t in tasks if t.difficulty == "hard"}
    assert a.reset(seed=3, family="repair").family == "repair"
    with pytest.raises(ValueError, match="no task matches"):
        a.reset(family="grounded", difficulty="easy")
    with pytest.raises(KeyError, match="unknown task_id"):
        a.reset(task_id="nope")


def test_instances_share_no_episode_state(custom_path):
    tasks = load_tasks(custom_path)
    a, b = DataOpsEnv(tasks), DataOpsEnv(tasks)
    a.reset(task_id="custom-1")
    b.reset(task_id="custom-1")
    a.step(A(action_type="run_query", sql="SELECT 1"))
    assert a.state.step_count == 1 and b.state.step_count == 0
    assert a.state.episode_id != b.state.episode_id
    assert a._conn is not b._conn


def test_reviewed_step_blocks_without_executing_and_the_episode_goes_on(env):
    env.reset(task_id="custom-1")
    obs = env.step(A(action_type="run_query", sql="DELETE FROM orders"), review=True)
    assert obs.metadata["review"]["verdict"] == "block" and not obs.done
    assert obs.last_result.error_kind == "blocked" and obs.review_findings
    assert obs.reward == pytest.approx(-0.1) and obs.metadata["reward_components"]["safety"] == pytest.approx(-0.1)
    assert env.state.blocked_actions == 1
    assert env.step(A(action_type="run_query", sql="SELECT COUNT(*) FROM orders")).last_result.rows == [[300]]
    blocked_submit = env.step(A(action_type="submit_query", sql="SELECT * FROM orders, customers"), review=True)
    assert not blocked_submit.done and blocked_submit.metadata["grade"] is None
    done = env.step(A(action_type="submit_query", sql=GOLD), review=True)
    assert done.done and done.metadata["grade"]["success"]
    assert env.state.episode_return == pytest.approx(1.0 - 2 * 0.1)


def test_reviewed_step_runs_warned_sql_and_returns_its_findings(env):
    env.reset(task_id="custom-1")
    obs = env.step(A(action_type="run_query", sql="SELECT id FROM orders WHERE status = NULL"), review=True)
    assert obs.metadata["review"]["verdict"] == "warn" and obs.last_result.error is None
    assert [f["code"] for f in obs.review_findings] == ["eq_null"] and "Reviewer warnings" in obs.message
    assert obs.reward == 0.0


def test_read_only_episodes_share_one_database_and_cannot_write_it(custom_path):
    from env_server.core.sandbox import SandboxConfig
    from env_server.grading.grader import Grader

    grader = make_grader()
    envs = [DataOpsEnv(tasks=load_tasks(custom_path), grader=grader) for _ in range(20)]
    for e in envs:
        e.reset(task_id="custom-1")
    assert grader.databases.cache.builds == 1, "one database, however many episodes"
    # attack: even with the sandbox's authorizer out of the way, the episode's connection is read-only
    conn = envs[0]._conn
    with pytest.raises(Exception, match="readonly"):
        conn.execute("DELETE FROM orders")
    conn.close()
    other = envs[1].step(A(action_type="run_query", sql="SELECT COUNT(*) FROM orders"))
    assert other.last_result.rows == [[300]]
    # and each reader holds a small page cache, not a copy of the data
    reader = grader.databases.reader(envs[2].tasks.get("custom-1").db)
    assert reader.execute("PRAGMA cache_size").fetchone()[0] == -SandboxConfig().reader_cache_kib


def test_a_repair_database_over_the_page_cap_is_refused_with_the_numbers():
    from env_server.core.databases import Databases
    from env_server.core.sandbox import SandboxConfig
    from env_server.episode.environment import InvalidResetError
    from env_server.grading.grader import Grader

    repair = next(t for t in load_tasks() if t.family == "repair")
    env = DataOpsEnv(tasks=[repair], grader=make_grader(databases=Databases(SandboxConfig(max_page_count=2))))
    with pytest.raises(InvalidResetError, match=r"MiB and a repair episode works on a private copy limited to"):
        env.reset(task_id=repair.task_id)


def test_submit_grades_once_and_shows_the_grading_run(env):
    env.reset(task_id="custom-1")
    statements: list[str] = []
    env._conn.set_trace_callback(statements.append)
    obs = env.step(A(action_type="submit_query", sql=GOLD))
    assert obs.metadata["grade"]["success"]
    assert statements == [], "the submission was not run again on the episode's database"
    assert obs.last_result.row_count == 4 and obs.last_result.columns == ["city", "n", "total"]


def test_a_step_that_raises_counts_no_step_and_no_penalty(env, monkeypatch):
    env.reset(task_id="custom-1")
    env.step(A(action_type="run_query", sql="SELECT 1"))
    before = env.state.model_copy(deep=True)

    def unavailable(*args, **kwargs):
        raise FileNotFoundError("the task database went away")

    monkeypatch.setattr(env, "_dispatch", unavailable)
    with pytest.raises(FileNotFoundError):
        env.step(A(action_type="run_query", sql="SELECT 2"))
    with pytest.raises(ValueError, match="surrogate"):
        env.step({"action_type": "run_query", "sql": "SELECT '\udc80'"})
    assert env.state == before and env.state.step_count == 1


def test_repair_clones_are_charged_to_their_owner_and_released_on_close():
    from env_server.episode.environment import CloneBudget, CloneCapacityError

    tasks = load_tasks(split="fixed")
    repair = next(t for t in tasks if t.family == "repair")
    budget = CloneBudget(total_bytes=10**9, per_owner_bytes=1)
    mine = DataOpsEnv(tasks, clone_budget=budget)
    mine.owner = "addr:10.0.0.1"
    with pytest.raises(CloneCapacityError, match="this client") as refused:
        mine.reset(task_id=repair.task_id)
    assert refused.value.per_owner and budget.held_bytes() == 0
    shared = DataOpsEnv(tasks, clone_budget=budget)  # no owner: only the server-wide total applies
    shared.reset(task_id=repair.task_id)
    held = budget.held_bytes()
    assert held > 0
    shared.reset(task_id=repair.task_id)  # the old copy is released before the new one is charged
    assert budget.held_bytes() == held
    shared.reset(task_id=next(t.task_id for t in tasks if t.family == "debug"))
    assert budget.held_bytes() == 0
    tight = CloneBudget(total_bytes=held)
    first, second = DataOpsEnv(tasks, clone_budget=tight), DataOpsEnv(tasks, clone_budget=tight)
    first.reset(task_id=repair.task_id)
    with pytest.raises(CloneCapacityError, match="the server's") as full:
        second.reset(task_id=repair.task_id)
    assert not full.value.per_owner
    first.close()
    second.reset(task_id=repair.task_id)


def test_environments_made_without_a_grader_share_one_and_its_databases():
    """DataOpsEnv() instances in one process share one grader and template cache unless given their own: twenty
    environments on one database build it once."""
    from env_server.families import shared_grader

    tasks = [t for t in load_tasks() if t.task_id == "debug-fixed-syntax_fix"]
    envs = [DataOpsEnv(tasks=tasks) for _ in range(20)]
    assert all(env.grader is shared_grader() for env in envs)
    builds = shared_grader().databases.cache.builds
    for env in envs:
        env.reset(task_id="debug-fixed-syntax_fix")
    assert shared_grader().databases.cache.builds - builds <= 1
    own = DataOpsEnv(tasks=tasks, grader=make_grader())
    assert own.grader is not shared_grader()
    for env in envs:
        env.close()
