"""Batched chat generation with a local HF model (optionally with a LoRA adapter).

One place that turns chat prompts into completions, used by the curriculum filter of
``training.grpo`` and by the ``hf`` policy of ``training.evaluate``. Prompts are rendered with the
tokenizer's chat template, left-padded, and generated in batches with a progress bar; sampling is
seeded per call so the same call gives the same completions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled. Every results JSON records these."""

    max_new_tokens: int = 160
    """Longest completion, in tokens."""
    temperature: float = 0.0
    """0 means greedy decoding; otherwise nucleus sampling at this temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass (ignored when greedy)."""
    batch_size: int = 16
    """Prompts generated together."""


class ChatGenerator:
    """Generates completions for chat prompts with ``model`` and ``tokenizer`` (from ``training.models``)."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model, tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[Sequence[dict[str, str]]],
        sampling: SamplingConfig = SamplingConfig(),
        n: int = 1,
        seed: int = 0,
        progress: bool = True,
        desc: str = "generating",
    ) -> list[list[str]]:
        """``n`` completions per prompt (a list of ``n`` strings for each prompt, in order)."""
        texts = [self.render(p) for p in prompts for _ in range(n)]
        outputs: list[str] = []
        device = next(self.model.parameters()).device
        greedy = sampling.temperature <= 0
        torch.manual_seed(seed)
        bar = tqdm(total=len(texts), desc=desc, unit="completion", disable=not progress)
        for start in range(0, len(texts), sampling.batch_size):
            batch = texts[start: start + sampling.batch_size]
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": not greedy,
                                      "pad_token_id": self.tokenizer.pad_token_id}
            if not greedy:
                kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
            generated = self.model.generate(**encoded, **kwargs)
            new_tokens = generated[:, encoded["input_ids"].shape[1]:]
            outputs.extend(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
            bar.update(len(batch))
        bar.close()
        return [outputs[i * n: (i + 1) * n] for i in range(len(prompts))]
