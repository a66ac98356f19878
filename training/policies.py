"""Policies that ``training.evaluate`` can score: models and scripted calibrators.

Single-turn policies answer each task in one completion (:meth:`Policy.complete`); the completion is
graded exactly as during training (``reward_fns.execution``). Multi-turn policies play whole
episodes through a ``DataOpsEnv`` or a server (:meth:`Policy.play`).

* ``hf``: a local model (default: the embedded SmolLM2-135M-Instruct), optionally with a LoRA
  adapter; batched generation.
* ``openai``: any OpenAI-compatible endpoint (``API_BASE_URL``, ``MODEL_NAME``, and ``API_KEY`` or
  ``OPENAI_API_KEY`` or ``HF_TOKEN``), multi-turn, logging ``[START]``/``[STEP]``/``[END]`` lines like the
  seed designs' baseline scripts.
* Scripted calibrators, which bound every chart: ``oracle`` (submits the gold query; the upper
  bound), ``echo_broken`` (submits the broken query unchanged) and ``random_valid`` (a random valid
  read-only query over the task's schema).
"""
from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from env_server.episode.models import DataOpsAction
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks.spec import Task
from reward_fns.prompts import MULTI_TURN_SYSTEM, observation_text, result_text
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
POLICIES = ("hf", "openai", *SCRIPTED)


def make_policy(name: str, *, model: str | None = None, adapter: str | None = None,
                sampling: SamplingConfig = SamplingConfig(), progress: bool = True,
                grader: Grader | None = None) -> Policy:
    """The policy called ``name`` (one of ``POLICIES``); ``grader`` shares built databases with the caller."""
    if name == "random_valid":
        return RandomValidPolicy(grader)
    if name in SCRIPTED:
        return SCRIPTED[name]()
    if name == "hf":
        from training.embedded_model import DEFAULT_MODEL

        return HFPolicy(model or DEFAULT_MODEL, adapter, sampling, progress)
    if name == "openai":
        return OpenAIPolicy(temperature=sampling.temperature)
    raise SystemExit(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
