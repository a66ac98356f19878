"""training/grpo.py: a real TRL GRPOTrainer with LoRA, on a tiny model built locally, against our
real reward functions and our real environment wrapper."""
from __future__ import annotations

import json

import pytest

from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.grading.reward import compose
from env_server.tasks.registry import TaskRegistry, load_tasks
from reward_fns.parsing import extract_sql
from reward_fns.prompts import with_response_prefix
from training.grpo import (
    Args,
    finish,
    parse_args,
    prepare,
    split_hash,
    summarise_history,
)


def tiny_args(tiny_model: str, **overrides) -> Args:
    base = dict(model=tiny_model, n_tasks=4, difficulty="easy", max_steps=2, num_generations=2,
                per_device_train_batch_size=4, max_completion_length=12, lora_r=4, lora_alpha=8,
                progress=False, run_id="tiny")
    base.update(overrides)
    return Args(**base)


def record_rewards(run) -> list[tuple]:
    """Wrap the trainer's reward functions (its public ``reward_funcs``) so every call is recorded as
    ``(name, prompts, completions, task ids, returned rewards, logged grade reasons)``."""
    calls: list[tuple] = []

    def recording(fn):
        def wrapped(*args, **kwargs):
            reasons: list = []
            log_extra = kwargs.get("log_extra")
            if log_extra is not None:
                def capture(column, values):
                    if column == "grade_reason":
                        reasons.extend(values)
                    return log_extra(column, values)
                kwargs["log_extra"] = capture
            rewards = fn(*args, **kwargs)
            calls.append((fn.__name__, kwargs["prompts"], kwargs["completions"], kwargs["task_id"], rewards, reasons))
            return rewards

        wrapped.__name__ = fn.__name__
        return wrapped

    run.trainer.reward_funcs = [recording(fn) for fn in run.trainer.reward_funcs]
    return calls


def _recompute(calls: list[tuple], reward_name: str):
    """(task, whole reply, returned reward, logged reason) for the last batch ``reward_name`` scored."""
    registry = TaskRegistry(load_tasks())
    name, prompts, completions, task_ids, rewards, reasons = [c for c in calls if c[0] == reward_name][-1]
    assert completions, "TRL scored no completions"
    reasons = reasons or [None] * len(completions)
    return [(registry.get(tid), with_response_prefix(prompt, completion), reward, reason)
            for prompt, completion, tid, reward, reason in zip(prompts, completions, task_ids, rewards, reasons)]


def test_single_turn_grpo_rewards_are_our_graders(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    run = prepare(tiny_args(tiny_model, gate_shaping=False), argv=["--max-steps", "2"])
    calls = record_rewards(run)
    run.trainer.train()

    # The last batch TRL scored: recompute every execution reward with the grader itself, on the whole reply
    # (the prompt's opening fence, then the completion).
    grader = make_grader()
    for task, reply, reward, reason in _recompute(calls, "execution_reward"):
        grade = grader.grade_query(task, extract_sql(reply).sql or "")
        assert reward == pytest.approx(compose(grade).total)
        assert reason == grade.reason  # logged through TRL's log_extra by our reward function

    run_dir = finish(run)
    history = [json.loads(line) for line in (run_dir / "log_history.jsonl").read_text().splitlines()]
    logged = [h for h in history if "rewards/execution_reward/mean" in h]
    assert len(logged) == 2
    assert all("execution/sql_found_rate" in h and "rewards/format_reward/mean" in h for h in logged)
    config = json.loads((run_dir / "config.json").read_text())
    prov = config["provenance"]
    for key in ("git_sha", "command", "created_at", "model", "split", "split_sha256", "seeds", "config"):
        assert key in prov
    assert prov["command"] == "python -m training.grpo --max-steps 2"
    assert prov["config"]["reward_config"]["outcome"] == 1.0
    grpo = prov["config"]["grpo"]
    assert (grpo["loss_type"], grpo["scale_rewards"], grpo["mask_truncated_completions"]) == ("dapo", "batch", True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 2
    timing = metrics["timing"]
    assert timing["reward_calls"] == 2 * 3  # 3 reward functions, 2 steps
    assert 0 < timing["reward_seconds"] < timing["train_seconds"]
    assert 0 < timing["generation_seconds"] < timing["train_seconds"]
    assert (run_dir / "adapter" / "adapter_config.json").exists()


@pytest.fixture(scope="module")
def default_run(tiny_model, tmp_path_factory):
    """One step of a default single-turn run (the gated reward), trained once for the tests that read what it did:
    ``(run, prompt ids TRL handed the model's generate(), reward calls as record_rewards gives them)``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAOPS_RESULTS_DIR", str(tmp_path_factory.mktemp("default-run")))
        run = prepare(tiny_args(tiny_model, max_steps=1))
        seen: list = []
        model = run.trainer.model
        generate = model.generate

        def recording_generate(*args, **kwargs):  # the ids TRL hands the model's public generate()
            seen.extend([[i for i, keep in zip(ids, mask) if keep] for ids, mask in
                         zip(kwargs["input_ids"].tolist(), kwargs["attention_mask"].tolist())])
            return generate(*args, **kwargs)

        model.generate = recording_generate
        calls = record_rewards(run)
        run.trainer.train()
    return run, seen, calls


def test_trl_generates_inside_the_started_reply(default_run):
    """The prompt ids TRL generates from end inside the opened ```sql block. Given chat messages, TRL renders
    them with add_generation_prompt=True: the started reply is closed and a new assistant turn opened, so the
    model writes an opening fence, which is a stop token, and every completion was one token long."""
    run, seen, calls = default_run
    tokenizer = run.trainer.processing_class
    assert seen
    for prompt_ids in seen:
        text = tokenizer.decode(prompt_ids)
        assert text.endswith("assistant\n```sql\n"), text[-80:]
        assert text.count("<|im_start|>assistant") == 1
    # and the reward reads the fence back in front of what the model wrote
    rows = _recompute(calls, "gated_reward")
    assert rows and all(reply.startswith("```sql\n") for _, reply, _, _ in rows)


def test_gated_reward_gives_no_gradient_to_a_group_without_success(default_run):
    """The default reward: a group (one task's completions) with no success scores 0.0 everywhere, so shaping
    (partial credit, format, safety) cannot move the policy there; elsewhere it is the sum of the three."""
    _, _, calls = default_run
    grader = make_grader()
    rows = _recompute(calls, "gated_reward")
    groups: dict[str, list] = {}
    for task, reply, reward, _ in rows:
        groups.setdefault(task.task_id, []).append((task, reply, reward))
    for members in groups.values():
        grades = [grader.grade_query(task, extract_sql(reply).sql or "") for task, reply, _ in members]
        if not any(g.success for g in grades):
            assert all(reward == 0.0 for _, _, reward in members)
        else:
            for (_, _, reward), grade in zip(members, grades):
                assert reward >= compose(grade).total - 0.1 - 1e-9


def test_multi_turn_grpo_through_the_environment_wrapper(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    run = prepare(tiny_args(tiny_model, multi_turn=True, max_steps=1, max_completion_length=16,
                            max_tool_calling_iterations=1, run_id="tiny-mt"))
    assert "environment" in run.trainer.train_dataset.column_names
    run.trainer.train()
    run_dir = finish(run)
    history = [json.loads(line) for line in (run_dir / "log_history.jsonl").read_text().splitlines()]
    # the episode reward comes from DebugEnvironment.get_reward, logged under the class name
    assert any("rewards/DebugEnvironment/mean" in h for h in history)


def test_learnable_curriculum_reports_and_fails_loudly_when_empty(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    # a random tiny model never writes a correct query: nothing is learnable, and the run says so
    with pytest.raises(SystemExit, match="kept no task"):
        prepare(tiny_args(tiny_model, curriculum="learnable", curriculum_k=2, n_tasks=2, max_completion_length=8))


def test_parse_args_and_helpers():
    args = parse_args(["--max-steps", "7", "--multi-turn", "--families", "debug", "--learning-rate", "0.001"])
    assert (args.max_steps, args.multi_turn, args.learning_rate) == (7, True, 0.001)
    # GRPOConfig's own knobs are flags; a profile sets defaults that later flags override
    args = parse_args(["--loss-type", "grpo", "--scale-rewards", "group", "--no-mask-truncated-completions",
                       "--epsilon-high", "0.3", "--num-generations", "4", "--max-completion-length", "64"])
    assert (args.loss_type, args.scale_rewards, args.mask_truncated_completions, args.epsilon_high,
            args.num_generations, args.max_completion_length) == ("grpo", "group", False, 0.3, 4, 64)
    args = parse_args(["--profile", "gpu-qwen0.5b", "--max-steps", "3"])
    assert (args.model, args.max_steps) == ("Qwen/Qwen2.5-0.5B-Instruct", 3)
    tasks = load_tasks(split="fixed")
    assert split_hash(tasks) == split_hash(list(reversed(tasks)))
    assert split_hash(tasks) != split_hash(tasks[:-1])
    summary = summarise_history([{"reward": r} for r in (0.0, 0.1, 0.2, 0.5, 0.6, 0.7)], window=2)
    assert summary["reward_first"] == pytest.approx(0.05)
    assert summary["reward_last"] == pytest.approx(0.65)
    assert summary["reward_rose"] is True


def test_reused_curriculum_and_wall_clock_limit(tiny_model, tmp_path, monkeypatch):
    """--curriculum from:RUN_DIR trains on exactly the tasks that run kept; --max-train-minutes stops after the
    first step once the budget is spent."""
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    kept = [t.task_id for t in load_tasks(split="train", family="debug", difficulty="easy")[:2]]
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "config.json").write_text(json.dumps({"task_ids": kept, "curriculum": {"kind": "learnable", "kept": 2}}))
    run = prepare(tiny_args(tiny_model, curriculum=f"from:{probe}", max_steps=5, max_train_minutes=1e-6,
                            run_id="reuse"))
    assert sorted(run.trainer.train_dataset["task_id"]) == sorted(kept)
    run.trainer.train()
    assert run.trainer.state.global_step == 1
    config = json.loads((finish(run) / "config.json").read_text())
    assert config["task_ids"] == kept and config["curriculum"]["reused_from"].endswith("config.json")


def test_probe_only_and_a_run_that_resumes_to_its_step_count(tiny_model, tmp_path, monkeypatch):
    """--probe-only writes the curriculum and trains nothing; --save-steps leaves checkpoints, and the same run
    started again resumes from the newest one and ends at --max-steps with the whole run's log history."""
    from training.grpo import latest_checkpoint, train

    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path))
    kept = [t.task_id for t in load_tasks(split="train", family="debug", difficulty="easy")[:2]]
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "config.json").write_text(json.dumps({"task_ids": kept, "curriculum": {"kind": "learnable", "kept": 2}}))
    only = train(tiny_args(tiny_model, curriculum=f"from:{probe}", probe_only=True, run_id="probe-only"))
    assert (only / "config.json").exists() and not (only / "metrics.json").exists()
    assert not (only / "adapter").exists()

    first = train(tiny_args(tiny_model, curriculum=f"from:{probe}", max_steps=2, save_steps=1, run_id="resumable"))
    assert latest_checkpoint(first).name == "checkpoint-2"
    again = train(tiny_args(tiny_model, curriculum=f"from:{probe}", max_steps=3, save_steps=1, run_id="resumable"))
    metrics = json.loads((again / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["resumed_from"].endswith("checkpoint-2")
    steps = [h["step"] for h in map(json.loads, (again / "log_history.jsonl").read_text().splitlines()) if "reward" in h]
    assert steps == [1, 2, 3]
    assert latest_checkpoint(tmp_path / "nothing") is None


def test_grpo_config_fields_as_flags_and_the_vllm_stop(tmp_path):
    """Every GRPOConfig field is reachable: --grpo KEY=VALUE (values as Python literals) lands in the GRPOConfig;
    a key GRPOConfig lacks, or one with its own flag, is refused in one line. With --use-vllm and the fence stop,
    the closing fence reaches vLLM through generation_kwargs (TRL's vLLM path reads nothing else)."""
    from training.grpo import _default_run_id, _grpo_config

    args = parse_args(["--use-vllm", "--grpo", "gradient_checkpointing=True", "--grpo",
                       "vllm_gpu_memory_utilization=0.45", "--grpo", "generation_kwargs={'min_tokens': 2}"])
    assert args.extra == {"gradient_checkpointing": True, "vllm_gpu_memory_utilization": 0.45,
                          "generation_kwargs": {"min_tokens": 2}}
    config = _grpo_config(args, tmp_path, has_gpu=False, reward_weights=[1.0], precision="fp32", fence_stop=True)
    assert config.use_vllm and config.vllm_mode == "colocate"
    assert config.generation_kwargs == {"stop": ["```"], "include_stop_str_in_output": True, "min_tokens": 2}
    assert (config.gradient_checkpointing, config.vllm_gpu_memory_utilization) == (True, 0.45)
    # no fence stop (multi-turn, or --no-stop-at-fence), or HF generation: nothing vLLM-only is passed
    assert _grpo_config(args, tmp_path, False, [1.0], "fp32", fence_stop=False).generation_kwargs == {"min_tokens": 2}
    assert _grpo_config(parse_args([]), tmp_path, False, [1.0], "fp32", fence_stop=True).generation_kwargs is None

    for argv, message in ((["--grpo", "gradient_checkpoint=True"], "not a field of trl.GRPOConfig.*gradient_checkpointing"),
                          (["--grpo", "learning_rate=0.1"], "its own flag, --learning-rate"),
                          (["--grpo", "gradient_checkpointing"], "KEY=VALUE")):
        with pytest.raises(SystemExit, match=message):
            parse_args(argv)

    # a run without --run-id is named after its profile and the UTC time
    assert parse_args(["--profile", "gpu-qwen0.5b"]).profile == "gpu-qwen0.5b"
    assert _default_run_id(parse_args(["--profile", "gpu-qwen0.5b"]), now=0) == "gpu-qwen0.5b-19700101-000000"
    assert _default_run_id(parse_args([]), now=0) == "custom-19700101-000000"


def test_a_stopped_curriculum_probe_resumes_from_its_partial_file(tiny_model, tmp_path):
    """The probe appends each chunk's pass rates to probe.partial.jsonl; started again with the same settings and
    candidates it samples nothing it has (here: nothing at all, so it needs no model), and other settings start over."""
    from env_server.episode.environment import DataOpsEnv
    from reward_fns.backend import InProcessBackend
    from training.embedded_model import load_model
    from training.grpo import learnable_tasks, task_prompts

    registry = TaskRegistry(load_tasks())
    grader = make_grader()
    tasks = registry.filter(split="train", family="debug")[:3]
    prompts = task_prompts(tasks, DataOpsEnv(registry, grader=grader))
    backend = InProcessBackend(registry, grader=grader)
    args = tiny_args(tiny_model, curriculum="learnable", curriculum_k=2, max_completion_length=4)
    model, tokenizer = load_model(tiny_model)
    partial = tmp_path / "probe.partial.jsonl"
    kept, first = learnable_tasks(args, tasks, prompts, model, tokenizer, backend, partial=partial)
    lines = partial.read_text().splitlines()
    assert len(lines) == 2 and set(json.loads(lines[1])) == {t.task_id for t in tasks}
    kept_again, again = learnable_tasks(args, tasks, prompts, None, tokenizer, backend, partial=partial)
    assert again["pass_rates"] == first["pass_rates"] and [t.task_id for t in kept_again] == [t.task_id for t in kept]
    other = tiny_args(tiny_model, curriculum="learnable", curriculum_k=3, max_completion_length=4)
    _, third = learnable_tasks(other, tasks, prompts, model, tokenizer, backend, partial=partial)
    assert third["k"] == 3 and json.loads(partial.read_text().splitlines()[0])["k"] == 3
