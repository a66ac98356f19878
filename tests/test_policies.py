"""training/policies.py's control policies and training/rule_fixer.py, on real tasks and real SQLite databases:
the rule fixer (solves keyword typos and NULL comparisons, never reads the gold query, leaves what it cannot fix
and correct queries alone), the few-shot prompt (fixed seeded train examples, complete fenced answers, the
system message once), and the policy kind every evaluation records."""
from __future__ import annotations

import json

import pytest

from env_server.episode.environment import DataOpsEnv
from env_server.families import make_grader
from env_server.tasks.registry import TaskRegistry, load_tasks
from reward_fns.parsing import extract_sql
from reward_fns.prompts import FENCE, single_turn_prompt
from training.evaluate import evaluate, main
from training.generation import SamplingConfig
from training.policies import (
    POLICY_KINDS,
    FewShotPolicy,
    RuleFixerPolicy,
    few_shot_examples,
    policy_kind,
    with_examples,
)
from training.rule_fixer import RULES, fix_query, is_syntax_error


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return TaskRegistry(load_tasks())


@pytest.fixture(scope="module")
def grader():
    return make_grader()


@pytest.fixture(scope="module")
def fixer(grader) -> RuleFixerPolicy:
    return RuleFixerPolicy(grader)


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    return tmp_path


def single_bug(registry: TaskRegistry, bug: str, split: str = "heldout_iid", k: int = 5):
    """The first ``k`` debug tasks of ``split`` (by id) whose only bug is ``bug``."""
    tasks = sorted((t for t in registry.filter(split=split, family="debug") if t.bug_types == [bug]),
                   key=lambda t: t.task_id)[:k]
    assert tasks, f"no {split} task has only {bug}"
    return tasks


def runner(grader, task):
    def run(sql):
        execution = grader.run(task.model_copy(update={"gold_sql": None}), sql)
        return None if execution.ok else execution.error
    return run


# -- the rule fixer ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bug, rule", [("keyword_typo", "keyword_spelling"), ("eq_null", "null_comparison")])
def test_rule_fixer_solves_keyword_typos_and_null_comparisons(registry, grader, fixer, bug, rule):
    for task in single_bug(registry, bug):
        completion = fixer.complete([task], [single_turn_prompt(DataOpsEnv(registry, grader=grader), task.task_id)],
                                    seed=0)[0]
        sql = extract_sql(completion).sql
        assert grader.grade_query(task, sql).success, (task.task_id, task.broken_sql, sql)
        fix = fix_query(task.broken_sql, grader.databases.schema(task.db), runner(grader, task))
        assert fix.sql == sql and rule in fix.rules


def test_rule_fixer_never_reads_the_gold_query(registry, grader, fixer):
    tasks = [t for bug in ("keyword_typo", "eq_null", "wrong_table", "missing_join_condition")
             for t in single_bug(registry, bug, "heldout_ood", 2)]
    for task in tasks:
        blank = task.model_copy(update={"gold_sql": ""})
        other = task.model_copy(update={"gold_sql": "SELECT 1"})
        assert fixer.fix(blank) == fixer.fix(other) == fixer.fix(task)
    assert sum(fixer.fix(t) != t.broken_sql for t in tasks) >= 6  # the same changes, made without the answer


def test_rule_fixer_leaves_what_it_cannot_know_unchanged(registry, grader, fixer):
    for task in single_bug(registry, "wrong_aggregate") + single_bug(registry, "wrong_order"):
        assert fixer.fix(task) == task.broken_sql
        assert grader.run(task, fixer.fix(task)).ok


def test_rule_fixer_leaves_correct_queries_alone(registry, grader):
    train = sorted(registry.filter(split="train", family="debug"), key=lambda t: t.task_id)[::50]
    for task in train:
        fix = fix_query(task.gold_sql, grader.databases.schema(task.db), runner(grader, task))
        assert fix.rules == [] and fix.sql == task.gold_sql, task.task_id


def test_rule_fixer_mends_names_joins_and_clauses(registry, grader, fixer):
    solved = {}
    for bug in ("wrong_table", "missing_join_condition", "where_vs_having", "integer_division"):
        tasks = single_bug(registry, bug, "heldout_ood")
        solved[bug] = sum(grader.grade_query(t, fixer.fix(t)).success for t in tasks)
    assert all(n >= 3 for n in solved.values()), solved


def test_keyword_spelling_keeps_strings_case_and_defined_names(registry, grader):
    task = single_bug(registry, "keyword_typo")[0]
    schema = grader.databases.schema(task.db)
    table = schema.tables[0]
    column = table.columns[0].name
    broken = f"select {column} AS wher form {table.name} WHERE '{column}' <> 'form' LIMIT 3"
    fix = fix_query(broken, schema, runner(grader, task))
    assert fix.sql == f"select {column} AS wher from {table.name} WHERE '{column}' <> 'form' LIMIT 3"
    assert fix.rules == ["keyword_spelling"]
    upper = fix_query(f'SELECT "{column}" FOMR {table.name}', schema, runner(grader, task))
    assert upper.sql == f'SELECT "{column}" FROM {table.name}'
    assert is_syntax_error('near "FOMR": syntax error') and not is_syntax_error("no such column: x")


def test_unknown_names_take_the_one_schema_name_near_them(registry, grader):
    task = single_bug(registry, "keyword_typo")[0]
    schema = grader.databases.schema(task.db)
    usable = [(t, c.name) for t in schema.tables for c in t.columns if len(c.name) >= 5 and c.name[2] != c.name[3]]
    table, column = usable[0]
    typo = column[:2] + column[3] + column[2] + column[4:]  # two letters swapped
    fix = fix_query(f"SELECT {typo} FROM {table.name}x", schema, runner(grader, task))
    assert fix.sql == f"SELECT {column} FROM {table.name}" and fix.rules == ["unknown_name", "unknown_name"]


def test_rule_fixer_through_evaluate(results):
    payload = json.loads(evaluate("rule_fixer", split="heldout_iid", n=12, progress=False).read_text())
    config = payload["provenance"]["config"]
    assert config["policy_kind"] == "rule_fixer" and "train_seed" in config
    assert config["policy_details"] == {"policy": "rule_fixer", "rules": list(RULES)}
    assert payload["summary"]["success_rate"]["mean"] > 0
    assert all(r["format_ok"] for r in payload["per_task"])


# -- few-shot prompts --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(registry, grader) -> DataOpsEnv:
    return DataOpsEnv(registry, grader=grader)


def test_few_shot_examples_are_seeded_train_tasks_with_complete_answers(registry, env):
    examples = few_shot_examples(env, 3, seed=0)
    assert [e.task_id for e in examples] == [e.task_id for e in few_shot_examples(env, 3, seed=0)]
    assert [e.task_id for e in examples] != [e.task_id for e in few_shot_examples(env, 3, seed=1)]
    bugs = [registry.get(e.task_id).bug_types for e in examples]
    assert len({b for bs in bugs for b in bs}) == sum(len(bs) for bs in bugs)  # distinct bug types
    for example in examples:
        task = registry.get(example.task_id)
        assert task.split == "train" and task.family == "debug" and task.difficulty in ("easy", "medium")
        assert example.user == single_turn_prompt(env, task.task_id)[1]["content"]
        assert example.answer.startswith("```sql\n") and example.answer.endswith("\n" + FENCE)
        assert extract_sql(example.answer).sql == task.gold_sql and extract_sql(example.answer).blocks == 1
    skipped = few_shot_examples(env, 3, seed=0, exclude=[examples[0].task_id])
    assert examples[0].task_id not in [e.task_id for e in skipped]
    with pytest.raises(ValueError, match="debug family"):
        few_shot_examples(env, 3, family="analyst")


def test_few_shot_prompt_has_one_system_message_then_examples_then_the_task(registry, env):
    examples = few_shot_examples(env, 3, seed=0)
    task = sorted(registry.filter(split="heldout_iid", family="debug"), key=lambda t: t.task_id)[0]
    prompt = single_turn_prompt(env, task.task_id)
    shot = with_examples(prompt, examples)
    assert [m["role"] for m in shot] == ["system"] + ["user", "assistant"] * 3 + ["user", "assistant"]
    assert shot[0] == prompt[0] and shot[-2:] == prompt[1:]
    assert [m["content"] for m in shot[1:7:2]] == [e.user for e in examples]
    with pytest.raises(ValueError, match="system"):
        with_examples(prompt[1:], examples)


def test_few_shot_policy_on_a_tiny_model(results, tiny_model):
    payload = json.loads(evaluate("few_shot", model=tiny_model, split="heldout_iid", n=2, progress=False,
                                  sampling=SamplingConfig(max_new_tokens=4), shots=2, shot_seed=1).read_text())
    config = payload["provenance"]["config"]
    assert config["policy_kind"] == "few_shot" and config["shots"] == 2 and config["shot_seed"] == 1
    details = config["policy_details"]
    assert details["policy"] == "few_shot" and details["adapter"] is None and len(details["examples"]) == 2
    assert not set(details["examples"]) & {r["task_id"] for r in payload["per_task"]}
    assert all(r["completion"].startswith("```sql\n") for r in payload["per_task"])


def test_few_shot_cli_flags(results, tiny_model, capsys):
    main(["--policy", "few_shot", "--model", tiny_model, "--split", "heldout_iid", "--n", "1", "--shots", "1",
          "--shot-seed", "2", "--max-new-tokens", "2", "--no-progress", "--name", "fs"])
    config = json.loads((results / "eval" / "fs.json").read_text())["provenance"]["config"]
    assert (config["shots"], config["shot_seed"], len(config["policy_details"]["examples"])) == (1, 2, 1)
    assert "success" in capsys.readouterr().out


@pytest.mark.slow
def test_few_shot_with_the_embedded_model(registry, env):
    policy = FewShotPolicy("embedded:smollm2-135m-instruct", SamplingConfig(max_new_tokens=16), progress=False,
                           env=env, shots=3, shot_seed=0)
    tasks = single_bug(registry, "keyword_typo", k=2)
    rendered = policy.generator.render(with_examples(single_turn_prompt(env, tasks[0].task_id), policy.examples))
    assert rendered.count("<|im_start|>system") == 1 and rendered.endswith("<|im_start|>assistant\n```sql\n")
    assert all(e.answer in rendered for e in policy.examples)
    completions = policy.complete(tasks, [single_turn_prompt(env, t.task_id) for t in tasks], seed=0)
    assert len(completions) == 2 and all(c.startswith("```sql\n") for c in completions)
    with pytest.raises(ValueError, match="few-shot examples"):
        shown = registry.get(policy.examples[0].task_id)
        policy.complete([shown], [single_turn_prompt(env, shown.task_id)], seed=0)


# -- policy kinds ------------------------------------------------------------------------------------------------


def test_policy_kind_of_base_adapters_and_scripted(tmp_path):
    assert policy_kind("hf") == "base" and policy_kind("hf", None) == "base"
    for name in ("few_shot", "rule_fixer", "oracle", "echo_broken", "random_valid", "openai"):
        assert policy_kind(name) == name and name in POLICY_KINDS
    sft, grpo, bare = (tmp_path / n for n in ("sft-run", "grpo-run", "bare"))
    for run in (sft, grpo, bare):
        (run / "adapter").mkdir(parents=True)
    (sft / "config.json").write_text(json.dumps({"provenance": {"config": {"method": "sft", "args": {}}}}))
    (grpo / "config.json").write_text(json.dumps({"provenance": {"config": {"args": {"seed": 0}}}}))
    assert policy_kind("hf", str(sft / "adapter")) == "sft"
    assert policy_kind("hf", grpo / "adapter") == "grpo"
    assert policy_kind("hf", bare / "adapter") == "grpo"  # no run config: a GRPO adapter, as before SFT existed


def test_every_evaluation_records_its_kind_and_train_seed(results):
    payload = json.loads(evaluate("echo_broken", split="heldout_iid", n=2, progress=False).read_text())
    config = payload["provenance"]["config"]
    assert config["policy_kind"] == "echo_broken" and config["train_seed"] is None
    assert config["split_kind"].startswith("in-distribution")  # heldout_iid is named for what it measures
