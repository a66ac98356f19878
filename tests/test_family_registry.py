"""Tests for env_server.families: the registry, and a toy fifth family defined here, in this file only.

The toy family ("rowcount": how many rows does a table hold?) is one ``Family`` value with its
generator. Nothing else in the package is edited for it: a registry that holds it, handed to the
grader, is enough for tasks to be generated, episodes to be played, one-shot submissions to be
graded, completions to be read and rewarded, and TRL environment classes to be built.
"""
from __future__ import annotations

import pytest

from env_server.families import make_grader
from env_server.episode.environment import DataOpsEnv, InvalidResetError
from env_server.families import (
    READ_ACTIONS,
    Family,
    FamilyRegistry,
    UnknownFamilyError,
    default_families,
    family_of,
)
from env_server.grading.grader import Grader
from env_server.tasks.spec import DbSpec, Task, load_jsonl, save_jsonl
from reward_fns.backend import InProcessBackend
from reward_fns.environments import LocalSession, environment_class
from reward_fns.execution import (
    execution_reward,
    extract_submission,
    format_reward,
    with_backend,
)

TABLES = ("users", "orders", "products")


def _rowcount_tasks(split: str, n: int | None = None, grader: Grader | None = None, progress: bool = True):
    """The toy generator: one task per table of two seeded ecommerce databases."""
    return [
        Task(task_id=f"rowcount-{split}-s{seed}-{table}", family="rowcount", split=split, difficulty="easy",
             db=DbSpec(domain="ecommerce", seed=seed), question=table,
             gold_sql=f"SELECT COUNT(*) FROM {table}", answer_type="int", max_steps=4)
        for seed in (0, 1) for table in TABLES
    ][:n]


ROWCOUNT = Family(
    name="rowcount",
    actions=READ_ACTIONS + ("submit_answer",),
    submits="answer",
    statement=lambda task: f"How many rows does the table {task.question} hold?",
    tool_instructions="Count them with run_query, then give the number with submit_answer.",
    required_fields=("gold_sql", "answer_type"),
    single_turn_system="Reply with the number of rows inside <answer>...</answer>.",
    generate_split=_rowcount_tasks,
)


@pytest.fixture(scope="module")
def world():
    families = default_families().with_family(ROWCOUNT)
    grader = make_grader(families=families)
    tasks = ROWCOUNT.generate_split("train", grader=grader)
    counts = {t.task_id: grader.run(t, t.gold_sql).rows[0][0] for t in tasks}
    return families, grader, tasks, counts


def test_the_built_in_registry_is_found_by_module_and_ordered() -> None:
    families = default_families()
    assert families.names == ("debug", "repair", "analyst", "grounded")
    assert family_of("repair").writes and not family_of("debug").writes
    assert family_of("grounded").cites and family_of("grounded").needs == "answer"
    assert families.of_task_id("repair-fixed-x").name == "repair"
    assert families.of_task_id("custom-7") is None and families.of_task_id(None) is None
    with pytest.raises(UnknownFamilyError, match="unknown family 'rowcount'; known: debug, repair, analyst, grounded"):
        family_of("rowcount")


def test_a_registry_is_immutable_and_refuses_a_second_family_of_a_name() -> None:
    extended = default_families().with_family(ROWCOUNT)
    assert extended.names[-1] == "rowcount" and "rowcount" not in default_families()
    with pytest.raises(ValueError, match="two families are named debug"):
        FamilyRegistry([family_of("debug"), family_of("debug")])


def test_the_toy_family_plays_an_episode(world) -> None:
    families, grader, tasks, counts = world
    env = DataOpsEnv(tasks, grader=grader)
    task = tasks[1]
    obs = env.reset(task_id=task.task_id)
    assert obs.allowed_actions == list(ROWCOUNT.actions) and obs.broken_sql is None
    assert obs.goal == f"How many rows does the table {task.question} hold? {ROWCOUNT.tool_instructions}"
    ran = env.step({"action_type": "run_query", "sql": f"SELECT COUNT(*) FROM {task.question}"})
    assert ran.last_result.rows == [[counts[task.task_id]]]
    refused = env.step({"action_type": "execute_sql", "sql": "DELETE FROM users"})
    assert "not allowed for rowcount tasks" in refused.message and not refused.done
    done = env.step({"action_type": "submit_answer", "answer": str(counts[task.task_id])})
    assert done.done and done.metadata["grade"]["success"]
    env.reset(task_id=task.task_id)
    wrong = env.step({"action_type": "submit_answer", "answer": str(counts[task.task_id] + 1)})
    assert wrong.done and not wrong.metadata["grade"]["success"]


def test_the_toy_family_grades_one_shot_and_rewards_completions(world) -> None:
    families, grader, tasks, counts = world
    task = tasks[0]
    assert grader.grade_submission(task, answer=counts[task.task_id]).success
    assert not grader.grade_submission(task, sql=f"SELECT COUNT(*) FROM {task.question}").success  # it needs an answer
    backend = InProcessBackend(tasks, grader=grader, max_workers=1)
    reward = with_backend(execution_reward, backend)
    right, wrong = f"<answer>{counts[task.task_id]}</answer>", "<answer>-1</answer>"
    scores = reward(completions=[right, wrong, "```sql\nSELECT 1\n```"], task_id=[task.task_id] * 3)
    assert scores[0] > 0.9 and scores[1] < 0.2 and scores[2] < 0.2
    assert extract_submission(right, ROWCOUNT).item() == {"answer": str(counts[task.task_id])}
    assert format_reward(completions=[right, "```sql\nSELECT 1\n```"], family=[ROWCOUNT, ROWCOUNT]) == [1.0, 0.0]


def test_the_toy_family_gets_a_trl_environment_class(world) -> None:
    families, grader, tasks, counts = world
    cls = environment_class(ROWCOUNT)
    tools = {name for name in dir(cls) if not name.startswith("_")} - {"reset", "get_reward", "family"}
    assert tools == {"run_query", "sample_rows", "submit_answer"}
    episode = cls(LocalSession(DataOpsEnv(tasks, grader=grader)))
    task = tasks[2]
    assert "How many rows does the table products hold?" in episode.reset(task_id=task.task_id)
    episode.submit_answer(str(counts[task.task_id]))
    assert episode.get_reward() > 0.9


def test_a_registry_without_the_family_refuses_its_tasks(world, tmp_path) -> None:
    _, _, tasks, _ = world
    with pytest.raises(InvalidResetError, match="unknown family 'rowcount'"):
        DataOpsEnv(tasks).reset(task_id=tasks[0].task_id)
    save_jsonl(tasks, tmp_path / "toy.jsonl")  # a task file may only name the built-in families
    with pytest.raises(ValueError, match="toy.jsonl:1: .*'rowcount' is not a family"):
        load_jsonl(tmp_path / "toy.jsonl")
