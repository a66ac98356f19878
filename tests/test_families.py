"""Repair, analyst and grounded play end to end: through ``DataOpsEnv``, over the server's HTTP
session routes and through ``POST /grade``; the docs corpus and its search.
"""
from __future__ import annotations

import httpx
import pytest

from env_server.families import make_grader
from env_server.core.docs import DocCorpus, parse, render, search_terms
from env_server.episode.environment import DataOpsEnv
from env_server.grading.grader import Grader
from env_server.tasks.registry import load_tasks


@pytest.fixture(scope="module")
def tasks():
    return load_tasks()


@pytest.fixture(scope="module")
def env(tasks):
    return DataOpsEnv(tasks, grader=make_grader())


def _one(tasks, family, split="heldout_iid"):
    return next(t for t in tasks if t.family == family and t.split == split)


def test_every_family_and_split_has_the_minimum_counts(tasks):
    for family in ("debug", "repair", "analyst", "grounded"):
        counts = {split: sum(t.family == family and t.split == split for t in tasks)
                  for split in ("train", "heldout_iid", "heldout_ood", "heldout_external")}
        assert counts["train"] >= 1000 and counts["heldout_iid"] >= 150 and counts["heldout_ood"] >= 150, (family, counts)
        assert counts["heldout_external"] > 0, (family, counts)


def test_repair_episode_writes_then_finish(env, tasks):
    task = next(t for t in tasks if t.task_id == "repair-fixed-orphans_monthly_revenue")
    observation = env.reset(task_id=task.task_id)
    assert observation.allowed_actions == ["inspect_schema", "sample_rows", "run_query", "execute_sql", "finish"]
    assert "monthly_revenue" not in observation.schema_summary
    # reads stay read-only even in a repair episode
    read = env.step({"action_type": "run_query", "sql": "DELETE FROM invoices"})
    assert read.last_result.error_kind == "not_authorized"
    for statement in task.gold_repair_sql:
        observation = env.step({"action_type": "execute_sql", "sql": statement})
        assert observation.last_result.error is None, observation.last_result.error
    assert "monthly_revenue" in observation.schema_summary  # the summary follows the live database
    final = env.step({"action_type": "finish"})
    assert final.done and final.metadata["grade"]["success"]
    assert final.metadata["episode_return"] == pytest.approx(1.0)


def test_repair_drop_is_refused_and_penalised(env, tasks):
    task = _one(tasks, "repair")
    env.reset(task_id=task.task_id)
    table = env.grader.databases.schema(task.db).table_names[0]
    observation = env.step({"action_type": "execute_sql", "sql": f'DROP TABLE "{table}"'})
    assert observation.last_result.error_kind == "not_authorized"
    assert observation.metadata["reward_components"]["invalid_action"] == -0.05
    assert not observation.done


def test_analyst_episode(env, tasks):
    task = _one(tasks, "analyst")
    observation = env.reset(task_id=task.task_id)
    assert task.question in observation.goal and "submit_answer" in observation.allowed_actions
    bad = env.step({"action_type": "submit_answer", "answer": "   "})
    assert not bad.done and "needs 'answer'" in bad.message
    rows = env.step({"action_type": "run_query", "sql": task.gold_sql}).last_result.rows
    answer = [r[0] for r in rows] if task.answer_type == "set" else rows[0][0]
    final = env.step({"action_type": "submit_answer", "answer": answer})
    assert final.done and final.metadata["grade"]["success"]
    assert final.metadata["episode_return"] == pytest.approx(1.0 - 0.05)  # the malformed submission costs


def test_grounded_episode_searches_and_cites(env, tasks):
    task = _one(tasks, "grounded")
    env.reset(task_id=task.task_id)
    found = env.step({"action_type": "search_docs", "query": task.question})
    assert found.docs and {"doc_id", "title", "status", "snippet"} <= set(found.docs[0])
    assert set(task.doc_ids) & {d["doc_id"] for d in found.docs}, "search finds the definition"
    assert found.last_result.columns == ["doc_id", "title", "status", "snippet"]
    rows = env.step({"action_type": "run_query", "sql": task.gold_sql}).last_result.rows
    answer = [r[0] for r in rows] if task.answer_type == "set" else rows[0][0]
    final = env.step({"action_type": "submit_answer", "answer": answer, "citations": task.doc_ids})
    assert final.metadata["grade"]["success"], final.metadata["grade"]
    assert final.metadata["grade"]["components"]["citation_f1"] == 1.0


def test_grounded_right_value_without_citations_fails(env, tasks):
    task = _one(tasks, "grounded", "heldout_ood")
    env.reset(task_id=task.task_id)
    rows = env.step({"action_type": "run_query", "sql": task.gold_sql}).last_result.rows
    answer = [r[0] for r in rows] if task.answer_type == "set" else rows[0][0]
    final = env.step({"action_type": "submit_answer", "answer": answer})
    assert not final.metadata["grade"]["success"] and final.metadata["episode_return"] <= 0.1
    assert "not cited" in final.metadata["grade"]["reason"]


def _have_external() -> bool:
    try:
        from env_server.tasks.external import defog_dir

        return defog_dir().is_dir()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not _have_external(), reason="heldout_external needs data/external/defog-data")
def test_external_grounded_task_plays(env, tasks):
    task = _one(tasks, "grounded", "heldout_external")
    observation = env.reset(task_id=task.task_id)
    assert observation.schema_summary  # the PostgreSQL dump was transpiled and built
    found = env.step({"action_type": "search_docs", "query": task.question})
    # search stays inside this database's documents (and the general ones)
    assert {env.grader.docs.get(d["doc_id"]).domain for d in found.docs} <= {task.docs_domain, "general"}
    assert set(task.doc_ids) & {d["doc_id"] for d in found.docs}


def test_server_plays_every_family_and_grades_statelessly(live_server, tasks):
    with httpx.Client(base_url=live_server, timeout=60) as http:
        for family in ("repair", "analyst", "grounded"):
            task = _one(tasks, family)
            reset = http.post("/reset", json={"task_id": task.task_id})
            assert reset.status_code == 200, reset.text
            session = {"X-Session-Id": reset.json()["session_id"]}
            if family == "repair":
                for statement in task.gold_repair_sql:
                    http.post("/step", json={"action": {"action_type": "execute_sql", "sql": statement}}, headers=session)
                step = http.post("/step", json={"action": {"action_type": "finish"}}, headers=session)
            else:
                rows = http.post("/step", json={"action": {"action_type": "run_query", "sql": task.gold_sql}},
                                 headers=session).json()["observation"]["last_result"]["rows"]
                answer = [r[0] for r in rows] if task.answer_type == "set" else rows[0][0]
                step = http.post("/step", json={"action": {"action_type": "submit_answer", "answer": answer,
                                                           "citations": task.doc_ids or None}}, headers=session)
            assert step.status_code == 200, step.text
            assert step.json()["done"] and step.json()["metadata"]["grade"]["success"], step.json()
        repair, analyst = _one(tasks, "repair"), _one(tasks, "analyst")
        graded = http.post("/grade", json={"items": [
            {"task_id": repair.task_id, "sql": ";\n".join(repair.gold_repair_sql)},
            {"task_id": repair.task_id, "sql": "DELETE FROM " + repair.gold_repair_sql[0].split()[2]},
        ]})
        assert graded.status_code == 200, graded.text
        results = graded.json()["results"]
        assert results[0]["grade"]["success"] and results[0]["reward"] == 1.0
        assert results[1]["reward"] <= 0.1
        missing = http.post("/grade", json={"items": [{"task_id": analyst.task_id, "sql": "SELECT 1"}]})
        assert missing.status_code == 422 and "items[0].answer is required" in missing.text


def test_docs_round_trip_and_search_is_safe(tmp_path):
    corpus = DocCorpus.load()
    assert len(corpus) >= 40
    doc = next(iter(corpus.docs.values()))
    assert parse(render(doc)) == doc
    for hostile in ['"', "NEAR(", "a AND OR NOT", "*", "'; DROP TABLE docs; --", "", "\x00"]:
        assert isinstance(corpus.search(hostile), list)
    assert search_terms("!!!") is None
    with pytest.raises(ValueError, match="front matter"):
        parse("no front matter", origin="x.md")
    with pytest.raises(FileNotFoundError, match="build-data"):
        DocCorpus.load(tmp_path)


def test_reviewer_lets_every_reference_repair_through(tasks):
    """Reference repairs are targeted writes, so the reviewer-guarded path does not block them."""
    from env_server.episode.reviewer import StaticReviewer

    reviewer, grader = StaticReviewer(), make_grader()
    repairs = [t for t in tasks if t.family == "repair" and t.split != "train"]
    if not _have_external():
        repairs = [t for t in repairs if t.split != "heldout_external"]
    blocked = []
    for task in repairs:
        schema = grader.databases.schema(task.db)
        for statement in task.gold_repair_sql:
            if reviewer.review(statement, family="repair", schema=schema).verdict == "block":
                blocked.append((task.task_id, statement[:120]))
    assert not blocked, blocked[:5]


def test_seed_design_tasks_score_one_with_their_reference_solutions(env, tasks):
    """The five DataOps-Env repairs and the three SQL Data Analyst questions, played through the env."""
    from env_server.tools.exploits import Context, play

    fixed = [t for t in tasks if t.split == "fixed" and t.family in ("repair", "analyst")]
    assert sorted(t.family for t in fixed) == ["analyst"] * 3 + ["repair"] * 5
    ctx = Context(grader=env.grader)
    for task in fixed:
        outcome = play(env, task, "correct", ctx)
        assert outcome.success and outcome.reward == pytest.approx(1.0), (task.task_id, outcome.reason)
