"""The debug family: splits keep their promises, tasks are valid, generation is deterministic."""
from __future__ import annotations

import random

import pytest

from env_server.families import make_grader
from env_server.families import debug
from env_server.grading.grader import Grader
from env_server.tasks.bugs import BUG_TYPES
from env_server.tasks.registry import load_tasks


@pytest.fixture(scope="module")
def grader() -> Grader:
    return make_grader()


def test_generation_is_deterministic(grader):
    a = debug.generate_split("heldout_ood", n=25, grader=grader, progress=False)
    b = debug.generate_split("heldout_ood", n=25, grader=make_grader(), progress=False)
    assert [t.model_dump() for t in a] == [t.model_dump() for t in b]


def test_every_generated_task_passes_the_validity_checks(grader):
    for split in ("train", "heldout_iid", "heldout_ood"):
        for task in debug.generate_split(split, n=15, grader=grader, progress=False):
            assert grader.task_problems(task) == [], task.task_id


def test_committed_splits_meet_sizes_and_hold_out_domains_and_bug_types():
    train, iid, ood = (load_tasks(split=s, family="debug") for s in ("train", "heldout_iid", "heldout_ood"))
    assert len(train) >= 2000 and len(iid) >= 200 and len(ood) >= 200
    train_domains = {t.db.domain for t in train}
    train_bugs = {b for t in train for b in t.bug_types}
    ood_domains = {t.db.domain for t in ood} - train_domains
    ood_bugs = {b for t in ood for b in t.bug_types} - train_bugs
    assert len(ood_domains) >= 2 and len(ood_bugs) >= 2
    assert {t.db.domain for t in iid} <= train_domains
    assert not {(t.db.domain, t.db.seed) for t in iid} & {(t.db.domain, t.db.seed) for t in train}
    assert len(train_bugs) >= 12 and train_bugs <= set(BUG_TYPES)
    assert {t.difficulty for t in train} == {"easy", "medium", "hard"}
    assert len({t.task_id for t in train + iid + ood}) == len(train) + len(iid) + len(ood)


def test_a_sample_of_committed_tasks_is_still_valid(grader):
    tasks = load_tasks(family="debug")
    for task in random.Random(0).sample(tasks, 60):
        assert grader.task_problems(task) == [], task.task_id


def test_fixed_seed_design_tasks(grader):
    fixed = load_tasks(split="fixed", family="debug")
    assert {t.task_id for t in fixed} == {
        "debug-fixed-syntax_fix", "debug-fixed-logic_fix", "debug-fixed-multi_bug", "debug-fixed-join_explosion"}
    for task in fixed:
        assert grader.task_problems(task) == []
        assert grader.grade_query(task, task.gold_sql).success
        assert not grader.grade_query(task, task.broken_sql).success
