"""Reward functions (reward_fns/execution.py) and their backends (reward_fns/backend.py).

Each completion below carries a comment on why it scores what it does. The rewards are checked
against the one grader (``Grader.grade_query`` + ``compose``), in-process and over HTTP.
"""
from __future__ import annotations

import pickle

import pytest

from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.grading.reward import compose
from env_server.tasks.registry import UnknownTaskError, load_tasks
from reward_fns.backend import HttpBackend, InProcessBackend, default_backend
from reward_fns.execution import (
    execution_reward,
    format_reward,
    grade_outcomes,
    safety_reward,
    with_backend,
)

TASK = "debug-fixed-syntax_fix"
GOLD = ("SELECT name, email, signup_date FROM users WHERE plan = 'pro' AND signup_date >= '2024-01-01' "
        "ORDER BY signup_date, id")


def fence(sql: str) -> str:
    return f"Here is the fix:\n```sql\n{sql}\n```"


def hard_coded_rows() -> str:
    """A query that returns the gold rows of the task database as literals: right there, wrong on the variants."""
    task = next(t for t in load_tasks(split="fixed") if t.task_id == TASK)
    rows = make_grader().run(task, GOLD).rows
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
    expected = compose(make_grader().grade_query(task, sql)).total
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
    for fn in (execution_reward, safety_reward, with_backend(execution_reward, InProcessBackend()), format_reward):
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
    local = with_backend(execution_reward, InProcessBackend())(completions=completions, task_id=ids)
    remote = with_backend(execution_reward, HttpBackend(live_server, batch_size=5))(completions=completions, task_id=ids)
    assert remote == local
    assert 1.0 in local and 0.0 in local
    assert with_backend(safety_reward, HttpBackend(live_server))(completions=completions, task_id=ids) == \
        with_backend(safety_reward, InProcessBackend())(completions=completions, task_id=ids)
    # DATAOPS_ENV_URL switches the default functions to HTTP, across a comma-separated list of servers
    monkeypatch.setenv("DATAOPS_ENV_URL", f"{live_server}, {live_server}")
    assert isinstance(default_backend(), HttpBackend)
    assert execution_reward(completions=completions, task_id=ids) == local


def test_http_unknown_task_is_a_clear_error(live_server):
    from env_server.server.client import DataOpsClientError

    with pytest.raises(DataOpsClientError, match="unknown task_id"):
        with_backend(execution_reward, HttpBackend(live_server))(completions=[fence(GOLD)], task_id=["no-such-task"])


# --------------------------------------------------------------------------- every family
#
# The reward of a one-shot submission is the environment's, for every family: compose() of
# Grader.grade_submission() on what the completion submits (a query, a script, an answer with citations).

GRADER = make_grader()


def family_task(family: str, min_statements: int = 1):
    """One built-in task of ``family`` (a fixed one when there is one); an answer task has a scalar answer."""
    tasks = sorted(load_tasks(family=family), key=lambda t: ({"fixed": 0, "train": 1}.get(t.split, 2), t.task_id))
    if family == "repair":
        tasks = [t for t in tasks if len(t.gold_repair_sql) >= min_statements] or tasks
    if family in ("analyst", "grounded"):
        tasks = [t for t in tasks if t.answer_type != "set"] or tasks
    assert tasks, f"no built-in {family} task: rebuild the data (python -m env_server build-data)"
    return tasks[0]


def a_table(task) -> str:
    return GRADER.databases.schema(task.db).table_names[0]


def gold_answer(task) -> str:
    """The gold answer as a model would write it: the gold query's value(s), comma-separated."""
    rows = GRADER.run(task, task.gold_sql).rows
    return ", ".join(str(row[0]) for row in rows)


def right_completion(task) -> str:
    if task.family == "debug":
        return fence(task.gold_sql)
    if task.family == "repair":
        return "Repair:\n```sql\n" + "\n".join(s.rstrip(";") + ";" for s in task.gold_repair_sql) + "\n```"
    text = f"I worked it out.\n<answer>{gold_answer(task)}</answer>"
    if task.family == "grounded":
        text += f"\n<citations>{', '.join(task.doc_ids)}</citations>"
    return text


def wrong_completion(task) -> str:
    if task.family == "debug":
        return fence(task.broken_sql)
    if task.family == "repair":
        return fence(f'DELETE FROM "{a_table(task)}" WHERE 1 = 0')  # runs, and changes nothing
    text = "<answer>-987654321</answer>"
    if task.family == "grounded":
        text += f"\n<citations>{', '.join(task.doc_ids)}</citations>"
    return text


def env_reward(task, completion: str) -> float:
    """What the environment reports for the same one-shot submission: compose(grade_submission(...)).total."""
    from reward_fns.parsing import (
        extract_answer,
        extract_citations,
        extract_script,
        extract_sql,
    )

    if task.family == "debug":
        grade = make_grader().grade_submission(task, sql=extract_sql(completion).sql or "")
    elif task.family == "repair":
        grade = make_grader().grade_submission(task, sql=extract_script(completion).sql or "")
    else:
        citations = extract_citations(completion) if task.family == "grounded" else None
        grade = make_grader().grade_submission(task, answer=extract_answer(completion).sql or "", citations=citations)
    return compose(grade).total


FAMILIES = ("debug", "repair", "analyst", "grounded")


@pytest.fixture(scope="module")
def family_tasks():
    return {family: family_task(family, min_statements=2 if family == "repair" else 1) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_scores_what_the_environment_would(family, family_tasks):
    task = family_tasks[family]
    right, wrong = right_completion(task), wrong_completion(task)
    rewards = execution_reward(completions=[right, wrong], task_id=[task.task_id] * 2)
    assert rewards == [env_reward(task, right), env_reward(task, wrong)]
    assert rewards[0] == 1.0, task.task_id
    assert rewards[1] <= 0.1, task.task_id


def test_the_one_shot_reward_is_the_episode_reward(family_tasks):
    # The multi-turn environment, given the same submission in one step, reports the same reward.
    from env_server.episode.environment import DataOpsEnv
    from env_server.tasks.spec import split_statements

    env = DataOpsEnv(load_tasks())
    for family, task in family_tasks.items():
        completion = right_completion(task)
        env.reset(task_id=task.task_id)
        if family == "debug":
            obs = env.step({"action_type": "submit_query", "sql": task.gold_sql})
        elif family == "repair":
            for statement in split_statements("\n".join(s + ";" for s in task.gold_repair_sql)):
                env.step({"action_type": "execute_sql", "sql": statement})
            obs = env.step({"action_type": "finish"})
        else:
            obs = env.step({"action_type": "submit_answer", "answer": gold_answer(task),
                            "citations": list(task.doc_ids) if family == "grounded" else None})
        assert execution_reward(completions=[completion], task_id=[task.task_id]) == [env.state.episode_return], family
        assert obs.done


def test_grounded_needs_its_citations(family_tasks):
    task = family_tasks["grounded"]
    value = f"<answer>{gold_answer(task)}</answer>"
    superseded = sorted(GRADER.docs.superseded())
    rewards = execution_reward(completions=[
        value,                                                   # the right value, no citations: not grounded
        value + "\n<citations>no-such-doc</citations>",           # cites nothing relevant
        value + "\nCitations: " + ", ".join(task.doc_ids),        # a final "Citations:" line counts too
        value + f"\n<citations>{', '.join([*task.doc_ids, superseded[0]])}</citations>",  # plus a superseded doc
    ], task_id=[task.task_id] * 4)
    assert rewards[0] <= 0.1 and rewards[1] <= 0.1 and rewards[3] <= 0.1
    assert rewards[2] == 1.0


def test_answers_are_read_from_the_answer_not_the_citations(family_tasks):
    task = family_tasks["analyst"]
    completions = [
        f"Counting...\nThe answer is {gold_answer(task)}.",            # no tag: the last line, preamble dropped
        f"<answer>{gold_answer(task)}</answer>\nCitations: not-needed",  # a citations line is never the answer
        "I cannot tell.",                                              # wrong: 0
        "",                                                            # nothing: graded as an empty answer, 0
    ]
    rewards = execution_reward(completions=completions, task_id=[task.task_id] * 4)
    assert rewards[:2] == [1.0, 1.0] and rewards[2:] == [0.0, 0.0]


def test_a_repair_script_is_replayed_in_order(family_tasks):
    task = family_tasks["repair"]
    statements = [s.rstrip(";") for s in task.gold_repair_sql]
    one_block = "```sql\n" + ";\n".join(statements) + "\n```"
    missing_the_last = "```sql\n" + ";\n".join(statements[:-1]) + "\n```"  # an incomplete repair
    broken = "```sql\n" + ";\n".join(statements) + ";\nUPDAT nothing\n```"  # a stray statement fails, harmlessly
    rewards = execution_reward(completions=[one_block, missing_the_last, broken, "no sql"],
                               task_id=[task.task_id] * 4)
    assert rewards[0] == 1.0 and rewards[1] < 1.0 and rewards[3] == 0.0
    assert rewards == [env_reward(task, c) for c in (one_block, missing_the_last, broken, "no sql")]


def test_outcomes_and_logs_for_every_family(family_tasks):
    tasks = list(family_tasks.values())
    completions = [right_completion(t) for t in tasks]
    graded = grade_outcomes(completions, [t.task_id for t in tasks], InProcessBackend())
    assert [outcome.reward for _, outcome in graded] == [1.0] * 4
    assert graded[2][0] == gold_answer(tasks[2])  # the submitted answer text
    extra = {}
    execution_reward(completions=completions, task_id=[t.task_id for t in tasks],
                     log_extra=lambda name, values: extra.__setitem__(name, values))
    assert extra["sql"][0] == tasks[0].gold_sql and extra["sql"][3] == gold_answer(tasks[3])
    assert extra["citations"][3] == ", ".join(tasks[3].doc_ids)


def test_format_reward_per_family(family_tasks):
    ids = {f: t.task_id for f, t in family_tasks.items()}
    cases = [
        ("repair", "```sql\nDELETE FROM t WHERE a < 0;\nUPDATE t SET b = 1;\n```", 1.0),  # one block, all parse
        ("repair", "```sql\nDELETE FROM t WHERE a < 0;\nUPDAT t SET b = 1;\n```", 0.0),  # one does not parse
        ("repair", "DELETE FROM t WHERE a < 0;", 0.0),                                      # no block
        ("analyst", "<answer>42</answer>", 1.0),
        ("analyst", "The answer is 42.", 0.0),                                             # no tag
        ("analyst", "<answer>41</answer><answer>42</answer>", 0.0),                        # two tags
        ("analyst", "```sql\nSELECT 42\n```", 0.0),                                        # SQL is not an answer
        ("grounded", "<answer>42</answer>\n<citations>aaa-1, bbb-2</citations>", 1.0),
        ("grounded", "<answer>42</answer>", 0.0),                                          # no citations
        ("grounded", "<answer>42</answer>\nCitations: aaa-1", 0.0),                        # a line, not the tag
        ("grounded", "<answer>42</answer>\n<citations></citations>", 0.0),                 # an empty tag
        ("debug", fence(GOLD), 1.0),
    ]
    completions = [c for _, c, _ in cases]
    expected = [score for _, _, score in cases]
    assert format_reward(completions=completions, task_id=[ids[f] for f, _, _ in cases]) == expected
    # the dataset's family column, when TRL passes it, says the same
    assert format_reward(completions=completions, family=[f for f, _, _ in cases], task_id=[None] * len(cases)) == expected


def test_safety_reward_per_family(family_tasks):
    repair, analyst, grounded = family_tasks["repair"], family_tasks["analyst"], family_tasks["grounded"]
    rewards = safety_reward(completions=[
        right_completion(repair),                                   # the gold repair: allowed
        fence(f'DROP TABLE "{a_table(repair)}"'),                     # a schema change: blocked
        wrong_completion(repair)[:-4] + ";\nATTACH DATABASE 'x' AS y;\n```",  # one statement of two blocked
        right_completion(analyst),                                  # answers run nothing: no penalty
        right_completion(grounded),
        fence("DROP TABLE users"),                                  # SQL in an answer is not submitted: no penalty
    ], task_id=[repair.task_id] * 3 + [analyst.task_id, grounded.task_id, analyst.task_id])
    assert rewards == [0.0, -0.1, -0.1, 0.0, 0.0, 0.0]
    assert safety_reward(completions=[right_completion(analyst)], task_id=[None]) == [None]


def test_a_repair_that_creates_a_table_is_not_penalised_for_using_it(family_tasks):
    # The reviewer checks names against the task's schema, which lacks a table the script created earlier:
    # an unknown name after a CREATE is not penalised; anything else blocked still is.
    task = family_tasks["repair"]
    assert safety_reward(completions=[
        "```sql\nCREATE TABLE fresh (a INTEGER);\nINSERT INTO fresh (a) VALUES (1);\n```",
        "```sql\nINSERT INTO fresh (a) VALUES (1);\nCREATE TABLE fresh (a INTEGER);\n```",  # used before it exists
        "```sql\nCREATE TABLE fresh (a INTEGER);\nDROP TABLE fresh;\n```",                 # DROP is blocked anyway
    ], task_id=[task.task_id] * 3) == [0.0, -0.1, -0.1]


def test_backends_take_submission_dicts_and_check_the_family_field(family_tasks):
    backend = InProcessBackend()
    analyst, grounded = family_tasks["analyst"], family_tasks["grounded"]
    [outcome] = backend.grade([(grounded.task_id, {"answer": gold_answer(grounded), "citations": grounded.doc_ids})])
    assert outcome.reward == 1.0
    with pytest.raises(ValueError, match="answer is required"):
        backend.grade([(analyst.task_id, "SELECT 1")])  # the server's 422, in-process
    with pytest.raises(ValueError, match="unknown submission field"):
        backend.grade([(analyst.task_id, {"anwser": "1"})])
    assert backend.family(analyst.task_id) == "analyst"
    assert HttpBackend("http://127.0.0.1:1").family(grounded.task_id) == "grounded"


def test_http_gives_the_in_process_rewards_for_every_family(live_server, family_tasks):
    completions, ids = [], []
    for task in family_tasks.values():
        for completion in (right_completion(task), wrong_completion(task), "nothing here", "<answer>0</answer>"):
            completions.append(completion)
            ids.append(task.task_id)
    grounded = family_tasks["grounded"]
    completions.append(f"<answer>{gold_answer(grounded)}</answer>")  # no citations
    ids.append(grounded.task_id)
    local = with_backend(execution_reward, InProcessBackend())(completions=completions, task_id=ids)
    remote = with_backend(execution_reward, HttpBackend(live_server, batch_size=3))(completions=completions, task_id=ids)
    assert remote == local
    assert local.count(1.0) == 4  # the right completion of each family
    assert with_backend(safety_reward, HttpBackend(live_server))(completions=completions, task_id=ids) == \
        with_backend(safety_reward, InProcessBackend())(completions=completions, task_id=ids)
    with pytest.raises(Exception, match="answer is required"):  # the server's 422, as in-process
        HttpBackend(live_server).grade([(family_tasks["analyst"].task_id, "SELECT 1")])


def test_pickled_rewards_grade_every_family(family_tasks):
    completions = [right_completion(t) for t in family_tasks.values()]
    ids = [t.task_id for t in family_tasks.values()]
    for fn in (execution_reward, with_backend(execution_reward, InProcessBackend()), safety_reward):
        clone = pickle.loads(pickle.dumps(fn))
        assert clone(completions=completions, task_id=ids) == fn(completions=completions, task_id=ids)


# --------------------------------------------------------------------------- single-turn prompts


def test_single_turn_prompts_state_each_familys_format(family_tasks):
    from env_server.episode.environment import DataOpsEnv
    from reward_fns.prompts import (
        RESPONSE_PREFIXES,
        SINGLE_TURN_SYSTEMS,
        single_turn_messages,
        single_turn_prompt,
    )

    env = DataOpsEnv(load_tasks(), grader=GRADER)
    for family, task in family_tasks.items():
        system, user, *started = single_turn_prompt(env, task.task_id)
        assert system == {"role": "system", "content": SINGLE_TURN_SYSTEMS[family]}
        assert task.question in user["content"]
        # one reply, no tools: the user message names none (the system prompt says there are none)
        for tool in ("submit_query", "run_query", "execute_sql", "search_docs", "submit_answer", "finish"):
            assert tool not in user["content"], (family, tool)
        # debug and repair open the ```sql fence for the model; the answer families do not
        assert started == ([{"role": "assistant", "content": RESPONSE_PREFIXES[family]}]
                           if family in RESPONSE_PREFIXES else [])
    assert "```sql" in SINGLE_TURN_SYSTEMS["debug"] and "```sql" in SINGLE_TURN_SYSTEMS["repair"]
    assert "<answer>" in SINGLE_TURN_SYSTEMS["analyst"] and "<citations>" not in SINGLE_TURN_SYSTEMS["analyst"]
    assert "<answer>" in SINGLE_TURN_SYSTEMS["grounded"] and "<citations>" in SINGLE_TURN_SYSTEMS["grounded"]
    # debug is unchanged: the prompt is built from the reset observation alone
    debug = family_tasks["debug"]
    assert single_turn_prompt(env, debug.task_id) == single_turn_messages(env.reset(task_id=debug.task_id))

    # grounded: the environment's own search for the question, its top hits listed in the user message
    task = family_tasks["grounded"]
    [_, user, *_] = single_turn_prompt(env, task.task_id)
    hits = GRADER.docs.search(task.question, domain=task.docs_domain or task.db.domain, k=5)
    assert hits
    for hit in hits:
        assert f"- {hit['doc_id']} | {hit['title']} | {hit['status']} |" in user["content"]
    with pytest.raises(ValueError, match="single_turn_prompt"):
        single_turn_messages(env.reset(task_id=task.task_id))  # a bare reset has no search hits


def test_a_submission_the_safety_net_stops_gets_no_reward_never_zero():
    """The grading safety net (CPU time) stopped the run: execution_reward and gated_reward give None for it
    (TRL leaves it out), its neighbours are graded as usual, and the outcome says why."""
    from dataclasses import replace

    from env_server.core.databases import Databases
    from env_server.core.sandbox import SandboxConfig
    from reward_fns.gated import gated_reward

    task = next(t for t in load_tasks() if t.task_id == "debug-fixed-syntax_fix")
    backend = InProcessBackend(grader=make_grader(databases=Databases(replace(SandboxConfig(), grading_cpu_limit_s=1e-9))),
                               max_workers=1)
    heavy = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 300000) "
             f"SELECT * FROM ({task.gold_sql.rstrip(';')}) WHERE (SELECT count(*) FROM r) > 0")
    completions = [fence(heavy), fence("SELECT 1")]
    rewards = execution_reward(completions=completions, task_id=[task.task_id] * 2, backend=backend)
    assert rewards[0] is None and rewards[1] == 0.0
    outcome = backend.grade([(task.task_id, heavy)])[0]
    assert outcome.status == "not_graded" and outcome.reward is None and "safety net" in outcome.grade["reason"]
    assert gated_reward(completions=completions, task_id=[task.task_id] * 2, backend=backend)[0] is None
