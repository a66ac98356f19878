"""Policies that ``training.evaluate`` can score: models and scripted calibrators.

Single-turn policies answer each task in one completion (:meth:`Policy.complete`); the completion is
graded exactly as during training (``reward_fns.execution``). Multi-turn policies play whole
episodes through a ``DataOpsEnv`` or a server (:meth:`Policy.play`).

* ``hf``: a local model (default: the embedded SmolLM2-135M-Instruct), optionally with a LoRA
  adapter; batched generation.
* ``openai``: any OpenAI-compatible endpoint (``API_BASE_URL``, ``MODEL_NAME``, and ``API_KEY`` or
  ``OPENAI_API_KEY`` or ``HF_TOKEN``), multi-turn, logging ``[START]``/``[STEP]``/``[END]`` lines like the
  seed designs' baseline scripts.
* ``few_shot``: the ``hf`` model without an adapter, its prompt carrying ``k`` fixed train examples (the prompt of
  a train task and its gold fix) as earlier user/assistant turns: the control that asks whether examples alone
  do what training does (:func:`few_shot_examples`).
* ``rule_fixer``: no model; the broken query mended by hand-written rules (:mod:`training.rule_fixer`) that
  read the query, the schema and SQLite's errors, never the gold query: the bar a trained policy must clear.
* Scripted calibrators, which bound every chart: ``oracle`` (submits the gold query; the upper
  bound), ``echo_broken`` (submits the broken query unchanged) and ``random_valid`` (a random valid
  read-only query over the task's schema).

Every evaluation records its policy's kind (:func:`policy_kind`): ``base``, ``few_shot``, ``rule_fixer``, ``sft``,
``grpo`` or a scripted policy's name.
"""
from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from env_server.episode.models import DataOpsAction
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks.registry import TaskRegistry
from env_server.tasks.spec import Task
from reward_fns.prompts import (
    FENCE,
    MULTI_TURN_SYSTEM,
    RESPONSE_PREFIXES,
    observation_text,
    result_text,
    single_turn_prompt,
)
from training.generation import SamplingConfig


def sql_block(sql: str) -> str:
    """``sql`` as the one fenced block a single-turn answer should be."""
    return f"```sql\n{sql}\n```"


class Policy:
    """Base class. ``multi_turn`` says which of ``complete`` / ``play`` evaluation calls."""

    name = "policy"
    multi_turn = False

    def describe(self) -> dict[str, Any]:
        """What the results JSON records about this policy."""
        return {"policy": self.name}

    def complete(self, tasks: Sequence[Task], prompts: Sequence[list[dict[str, str]]], seed: int) -> list[str]:
        """One completion per task (single-turn policies)."""
        raise NotImplementedError

    def play(self, env: Any, task: Task, seed: int) -> dict[str, Any]:
        """Play one episode of ``task`` on ``env`` (multi-turn policies); returns steps and the final observation."""
        raise NotImplementedError


class OraclePolicy(Policy):
    """Submits the gold query: the upper bound of every chart."""

    name = "oracle"

    def complete(self, tasks, prompts, seed):
        return [sql_block(t.gold_sql or "") for t in tasks]


class EchoBrokenPolicy(Policy):
    """Submits the broken query unchanged: what 'doing nothing' scores."""

    name = "echo_broken"

    def complete(self, tasks, prompts, seed):
        return [sql_block(t.broken_sql or "") for t in tasks]


class RandomValidPolicy(Policy):
    """A random valid read-only query over the task's schema (seeded per task and seed)."""

    name = "random_valid"

    def __init__(self, grader: Grader | None = None):
        self.grader = grader or make_grader()

    def complete(self, tasks, prompts, seed):
        out = []
        for task in tasks:
            rng = random.Random(f"{seed}:{task.task_id}")
            table = rng.choice(self.grader.databases.schema(task.db).tables)
            column = rng.choice(table.columns).name
            shape = rng.choice(("rows", "count", "distinct", "limit"))
            sql = {
                "rows": f'SELECT "{column}" FROM "{table.name}"',
                "count": f'SELECT COUNT(*) FROM "{table.name}"',
                "distinct": f'SELECT DISTINCT "{column}" FROM "{table.name}"',
                "limit": f'SELECT * FROM "{table.name}" LIMIT {rng.randint(1, 20)}',
            }[shape]
            out.append(sql_block(sql))
        return out


class RuleFixerPolicy(Policy):
    """The broken query mended by :mod:`training.rule_fixer`'s rules: no model, deterministic.

    The fixer sees the broken query, the schema and what running a query on the task database says, through a
    copy of the task with its gold query blanked (:func:`_without_answer`), so no rule can read the answer."""

    name = "rule_fixer"

    def __init__(self, grader: Grader | None = None):
        self.grader = grader or make_grader()

    def describe(self) -> dict[str, Any]:
        from training.rule_fixer import RULES

        return {"policy": self.name, "rules": list(RULES)}

    def fix(self, task: Task) -> str:
        """The fixed query of one task."""
        from training.rule_fixer import fix_query

        blind = _without_answer(task)
        return fix_query(blind.broken_sql or "", self.grader.databases.schema(blind.db), self._runner(blind)).sql

    def _runner(self, task: Task):
        def run(sql: str) -> str | None:
            execution = self.grader.run(task, sql)
            return None if execution.ok else (execution.error or str(execution.error_kind))
        return run

    def complete(self, tasks, prompts, seed):
        return [sql_block(self.fix(task)) for task in tasks]


def _without_answer(task: Task) -> Task:
    """``task`` with its gold query and repair script blanked: what a policy that must not see the answer gets."""
    return task.model_copy(update={"gold_sql": None, "gold_repair_sql": None})


class HFPolicy(Policy):
    """A local HF model (optionally with a LoRA adapter), answering in one completion; batched."""

    name = "hf"

    def __init__(self, model: str, adapter: str | None = None, sampling: SamplingConfig = SamplingConfig(),
                 progress: bool = True):
        from training.embedded_model import load_model
        from training.generation import ChatGenerator

        self.model_name, self.adapter, self.sampling, self.progress = model, adapter, sampling, progress
        loaded, tokenizer = load_model(model, adapter=adapter)
        self.generator = ChatGenerator(loaded, tokenizer)

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "model": self.model_name, "adapter": self.adapter,
                "sampling": self.sampling.__dict__}

    def complete(self, tasks, prompts, seed):
        outputs = self.generator.generate(prompts, self.sampling, n=1, seed=seed, progress=self.progress,
                                          desc=f"{self.name} seed {seed}")
        return [o[0] for o in outputs]


FEW_SHOT_MAX_CHARS = 2500
"""The longest user message (characters) a few-shot example may have: examples are picked among train tasks with
short prompts. Schemas make prompts long (an external database's summary runs to thousands of characters) and
SmolLM2-135M reads 8,192 tokens; with 3 examples of at most 2,500 characters (~800 tokens each) the longest held-out
debug prompt stays far inside it (shot seed 0: examples of 1,083, 985 and 742 characters; the longest held-out
prompt with them, rendered, 2,131 tokens)."""

FEW_SHOT_DIFFICULTIES = ("easy", "medium")


@dataclass(frozen=True)
class FewShotExample:
    """One worked example: a train task's single-turn user message and its gold answer, written as the model is
    asked to answer (the family's response prefix, the gold fix, the closing fence)."""

    task_id: str
    user: str
    answer: str

    def turns(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.user}, {"role": "assistant", "content": self.answer}]


def few_shot_examples(env: Any, k: int = 3, seed: int = 0, *, family: str = "debug",
                      exclude: Sequence[str] = (), max_chars: int = FEW_SHOT_MAX_CHARS) -> list[FewShotExample]:
    """``k`` worked examples from ``env``'s ``train`` tasks of ``family`` (easy or medium), chosen with ``seed``:
    the train tasks in a seeded order, each taken when its user message is at most ``max_chars`` long and it
    shares no bug type with an example already taken (so three shots show three kinds of fix; ``k`` is at most the
    number of train bug types). ``exclude`` (the evaluated task ids) are never taken. Raises ``ValueError`` when
    fewer than ``k`` fit, and for a family other than debug."""
    prefix = RESPONSE_PREFIXES.get(family)
    if family != "debug" or prefix is None:
        raise ValueError(f"few_shot examples are written for the debug family (a gold query in a ```sql block), "
                         f"not {family!r}")
    skip = set(exclude)
    pool = sorted((t for t in env.tasks.filter(split="train", family=family)
                   if t.difficulty in FEW_SHOT_DIFFICULTIES and t.gold_sql and t.task_id not in skip),
                  key=lambda t: t.task_id)
    random.Random(seed).shuffle(pool)
    chosen: list[FewShotExample] = []
    shown: set[str] = set()
    for task in pool:
        if len(chosen) == k:
            break
        if shown & set(task.bug_types):
            continue
        user = single_turn_prompt(env, task.task_id)[1]["content"]
        if len(user) <= max_chars:
            chosen.append(FewShotExample(task.task_id, user, f"{prefix}{task.gold_sql}\n{FENCE}"))
            shown |= set(task.bug_types)
    if len(chosen) < k:
        raise ValueError(f"only {len(chosen)} train {family} tasks fit as examples (easy/medium, distinct bug types, "
                         f"user message <= {max_chars} characters); asked for {k}")
    return chosen


def with_examples(prompt: Sequence[dict[str, str]], examples: Sequence[FewShotExample]) -> list[dict[str, str]]:
    """``prompt`` (system, user, started reply) with the examples as user/assistant turns after the system message.

    >>> ex = FewShotExample("t1", "Fix: SELEC 1", "```sql\\nSELECT 1\\n```")
    >>> [m["role"] for m in with_examples([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}], [ex])]
    ['system', 'user', 'assistant', 'user']
    """
    if not prompt or prompt[0].get("role") != "system":
        raise ValueError("a few-shot prompt starts from a single-turn prompt whose first message is the system's")
    return [dict(prompt[0]), *[turn for ex in examples for turn in ex.turns()], *[dict(m) for m in prompt[1:]]]


class FewShotPolicy(HFPolicy):
    """The base model (no adapter) with ``shots`` fixed train examples before every task (:func:`with_examples`);
    the same examples, chosen once with ``shot_seed``, for the whole evaluation."""

    name = "few_shot"

    def __init__(self, model: str, sampling: SamplingConfig = SamplingConfig(), progress: bool = True, *,
                 env: Any, shots: int = 3, shot_seed: int = 0, exclude: Sequence[str] = ()):
        self.examples = few_shot_examples(env, shots, shot_seed, exclude=exclude)
        self.shots, self.shot_seed = shots, shot_seed
        super().__init__(model, None, sampling, progress)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "policy": self.name, "shots": self.shots, "shot_seed": self.shot_seed,
                "examples": [ex.task_id for ex in self.examples], "example_max_chars": FEW_SHOT_MAX_CHARS}

    def complete(self, tasks, prompts, seed):
        other = [t.task_id for t in tasks if t.family != "debug"]
        if other:
            raise ValueError(f"few_shot's examples are debug tasks, and {other[0]} is not one; evaluate it on "
                             "--families debug")
        shown = {ex.task_id for ex in self.examples}
        clash = [t.task_id for t in tasks if t.task_id in shown]
        if clash:
            raise ValueError(f"task {clash[0]} is one of the few-shot examples; evaluate on tasks the examples "
                             "are not drawn from")
        return super().complete(tasks, [with_examples(p, self.examples) for p in prompts], seed)


@dataclass
class OpenAIConfig:
    """An OpenAI-compatible endpoint, from the environment like the seed designs' baseline scripts."""

    base_url: str
    model: str
    api_key: str

    @classmethod
    def from_env(cls) -> "OpenAIConfig":
        base_url, model = os.environ.get("API_BASE_URL"), os.environ.get("MODEL_NAME")
        key = os.environ.get("API_KEY") or os.environ.get("OPENAI_API_KEY") or os.environ.get("HF_TOKEN")
        missing = [n for n, v in (("API_BASE_URL", base_url), ("MODEL_NAME", model), ("API_KEY", key)) if not v]
        if missing:
            raise SystemExit(f"the openai policy needs {', '.join(missing)} in the environment "
                             "(API_KEY may also be OPENAI_API_KEY or HF_TOKEN)")
        return cls(base_url, model, key)  # type: ignore[arg-type]


TOOL_HELP = (
    'Reply with exactly one JSON object per turn, one of: {"action_type": "run_query", "sql": "..."}, '
    '{"action_type": "sample_rows", "table": "..."}, {"action_type": "submit_query", "sql": "..."}.'
)


class OpenAIPolicy(Policy):
    """A chat model behind an OpenAI-compatible API, playing multi-turn episodes with JSON actions."""

    name = "openai"
    multi_turn = True

    def __init__(self, config: OpenAIConfig | None = None, temperature: float = 0.0, log=None):
        from openai import OpenAI

        self.config = config or OpenAIConfig.from_env()
        self.client = OpenAI(base_url=self.config.base_url, api_key=self.config.api_key)
        self.temperature, self._log = temperature, log

    @property
    def log(self):
        return self._log or sys.stdout

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "model": self.config.model, "base_url": self.config.base_url,
                "temperature": self.temperature}

    def _action(self, text: str) -> DataOpsAction:
        start, end = text.find("{"), text.rfind("}")
        try:
            return DataOpsAction.model_validate(json.loads(text[start: end + 1]))
        except Exception:
            return DataOpsAction(action_type="submit_query", sql=text.strip())  # graded as it stands

    def play(self, env, task, seed):
        observation = env.reset(task_id=task.task_id)
        messages = [{"role": "system", "content": MULTI_TURN_SYSTEM + " " + TOOL_HELP},
                    {"role": "user", "content": observation_text(observation)}]
        print(f"[START] task={task.task_id} env=dataops-gym model={self.config.model}", file=self.log, flush=True)
        steps, rewards = 0, []
        while not observation.done:
            reply = self.client.chat.completions.create(model=self.config.model, messages=messages,
                                                        temperature=self.temperature, seed=seed)
            text = reply.choices[0].message.content or ""
            action = self._action(text)
            observation = env.step(action)
            steps += 1
            rewards.append(observation.reward or 0.0)
            error = observation.last_result.error if observation.last_result else None
            print(f"[STEP] step={steps} action={action.action_type} reward={observation.reward:.2f} "
                  f"done={str(observation.done).lower()} error={error or 'null'}", file=self.log, flush=True)
            messages += [{"role": "assistant", "content": text},
                         {"role": "user", "content": result_text(observation.last_result, observation.message)}]
        grade = observation.metadata.get("grade") or {}
        score = observation.metadata.get("episode_return", sum(rewards))
        print(f"[END] success={str(bool(grade.get('success'))).lower()} steps={steps} score={score:.2f}",
              file=self.log, flush=True)
        return {"steps": steps, "observation": observation}


SCRIPTED = {"oracle": OraclePolicy, "echo_broken": EchoBrokenPolicy, "random_valid": RandomValidPolicy}
POLICIES = ("hf", "few_shot", "rule_fixer", "openai", *SCRIPTED)
POLICY_KINDS = ("base", "few_shot", "rule_fixer", "sft", "grpo", "openai", *SCRIPTED)
"""What an evaluation's ``provenance.config.policy_kind`` may say (:func:`policy_kind`)."""


def policy_kind(policy: str, adapter: str | Path | None = None) -> str:
    """The kind of policy an evaluation scored, for grouping evaluations into arms: ``hf`` without an adapter is
    ``base``; ``hf`` with an adapter is the ``method`` its training run recorded (``<run>/config.json``'s
    ``provenance.config.method``, the adapter being ``<run>/adapter``), ``grpo`` when it recorded none; any other
    policy is its own name.

    >>> policy_kind("hf"), policy_kind("few_shot"), policy_kind("rule_fixer"), policy_kind("oracle")
    ('base', 'few_shot', 'rule_fixer', 'oracle')
    """
    if policy != "hf":
        return policy
    if not adapter:
        return "base"
    config = Path(adapter).parent / "config.json"
    if not config.exists():
        return "grpo"
    method = json.loads(config.read_text()).get("provenance", {}).get("config", {}).get("method")
    return str(method) if method else "grpo"


def make_policy(name: str, *, model: str | None = None, adapter: str | None = None,
                sampling: SamplingConfig = SamplingConfig(), progress: bool = True,
                grader: Grader | None = None, registry: TaskRegistry | None = None, shots: int = 3,
                shot_seed: int = 0, exclude: Sequence[str] = ()) -> Policy:
    """The policy called ``name`` (one of ``POLICIES``); ``grader`` shares built databases with the caller.
    ``few_shot`` takes its examples from ``registry``'s train tasks (``shots`` of them, chosen with ``shot_seed``),
    never from ``exclude`` (the evaluated task ids)."""
    if name == "random_valid":
        return RandomValidPolicy(grader)
    if name == "rule_fixer":
        return RuleFixerPolicy(grader)
    if name in SCRIPTED:
        return SCRIPTED[name]()
    if name in ("hf", "few_shot"):
        from training.embedded_model import DEFAULT_MODEL

        if name == "hf":
            return HFPolicy(model or DEFAULT_MODEL, adapter, sampling, progress)
        if adapter:
            raise SystemExit("few_shot is the base model with examples in its prompt; it takes no --adapter")
        from env_server.episode.environment import DataOpsEnv
        from env_server.tasks.registry import load_tasks

        env = DataOpsEnv(registry if registry is not None else TaskRegistry(load_tasks()), grader=grader)
        return FewShotPolicy(model or DEFAULT_MODEL, sampling, progress, env=env, shots=shots, shot_seed=shot_seed,
                             exclude=exclude)
    if name == "openai":
        return OpenAIPolicy(temperature=sampling.temperature)
    raise SystemExit(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
