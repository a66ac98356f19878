"""Batched chat generation with a local HF model (optionally with a LoRA adapter).

One place that turns chat prompts into completions, used by the curriculum filter of
``training.grpo`` and by the ``hf`` policy of ``training.evaluate``. Prompts are rendered with the
tokenizer's chat template, left-padded, and generated in batches with a progress bar; sampling is
seeded per call so the same call gives the same completions. Every decoding argument is passed explicitly
(:meth:`SamplingConfig.generate_kwargs`), with TRL's GRPOConfig defaults, so evaluation samples as training
does whatever the checkpoint's ``generation_config`` says. A prompt that has started the reply (debug and repair
open the ```sql fence) is continued, and generation stops at the closing fence, as in training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from reward_fns.prompts import response_prefix


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled. Every results JSON records these."""

    max_new_tokens: int = 192
    """Longest completion, in tokens (training's default max_completion_length)."""
    temperature: float = 0.0
    """0 means greedy decoding; otherwise nucleus sampling at this temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass (ignored when greedy); TRL's GRPOConfig default."""
    top_k: int = 0
    """Top-k sampling (0 = off; ignored when greedy); TRL's GRPOConfig default."""
    min_p: float | None = None
    """Min-p sampling (None = off; ignored when greedy); TRL's GRPOConfig default."""
    repetition_penalty: float = 1.0
    """1.0 = none; TRL's GRPOConfig default."""
    batch_size: int = 16
    """Prompts generated together."""
    stop_at_fence: bool = True
    """End a completion at the closing fence when its prompt opened the fence (debug, repair), as training does."""

    def generate_kwargs(self) -> dict[str, Any]:
        """The decoding arguments given to ``model.generate``: every one set explicitly, so a checkpoint's own
        ``generation_config`` (its top_k, repetition penalty...) never changes how a model is evaluated."""
        if self.temperature <= 0:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, "min_p": None,
                    "repetition_penalty": self.repetition_penalty}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "min_p": self.min_p, "repetition_penalty": self.repetition_penalty}


def fence_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the vocabulary entries that are a bare code fence (three backticks, maybe with whitespace).

    Added to the end-of-sequence ids when the prompt has opened the fence, they end a completion at its
    closing fence; TRL then counts the completion as terminated, not truncated."""
    from reward_fns.prompts import FENCE

    ids = []
    for token, index in tokenizer.get_vocab().items():
        text = tokenizer.convert_tokens_to_string([token])
        if text.strip() == FENCE:
            ids.append(index)
    return sorted(ids)


def stop_token_ids(tokenizer: Any, model: Any, fence: bool, fences: Sequence[int] | None = None) -> list[int]:
    """End-of-sequence ids for generation: the model's and the tokenizer's, plus the fence tokens when ``fence``
    (``fences``, when the caller has already looked them up with :func:`fence_token_ids`)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [configured] if isinstance(configured, int) else list(configured or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.insert(0, tokenizer.eos_token_id)
    if fence:
        ids += [i for i in (fence_token_ids(tokenizer) if fences is None else fences) if i not in ids]
    return ids


def prompt_text(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The prompt as the model reads it, rendered with the chat template: a final assistant message is a started
    reply the model continues (``continue_final_message``), otherwise the template opens the assistant's turn.

    Training passes this text to TRL rather than the messages: TRL renders conversational prompts with
    ``add_generation_prompt=True``, which closes a started reply and opens a new, empty turn (the model then
    writes an opening fence and stops at once). A leading BOS is left out when the tokenizer adds its own."""
    started = bool(response_prefix(list(messages)))
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=not started,
                                         continue_final_message=started)
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and tokenizer("x").input_ids[:1] == [tokenizer.bos_token_id]:
        text = text[len(bos):]
    return text


class ChatGenerator:
    """Generates completions for chat prompts with ``model`` and ``tokenizer`` (from ``training.embedded_model``)."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model, tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self._fences: list[int] | None = None  # fence_token_ids walks the vocabulary: once per generator

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text, exactly as training gives it to TRL (:func:`prompt_text`)."""
        return prompt_text(self.tokenizer, messages)

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
        """``n`` completions per prompt (a list of ``n`` strings for each prompt, in order). A completion is the
        whole reply: a started reply (the prompt's final assistant message) is put back in front of it."""
        texts = [self.render(p) for p in prompts for _ in range(n)]
        prefixes = [response_prefix(list(p)) for p in prompts for _ in range(n)]
        # batches of similar prompt lengths: a left-padded batch costs as much as its longest prompt
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        outputs: list[str] = [""] * len(texts)
        device = next(self.model.parameters()).device
        torch.manual_seed(seed)
        bar = tqdm(total=len(texts), desc=desc, unit="completion", disable=not progress)
        for start in range(0, len(order), sampling.batch_size):
            chosen = order[start: start + sampling.batch_size]
            batch = [texts[i] for i in chosen]
            # special tokens as TRL adds them (prompt_text left out a BOS the tokenizer adds itself)
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True).to(device)
            fence = sampling.stop_at_fence and any(prefixes[i] for i in chosen)
            if fence and self._fences is None:
                self._fences = fence_token_ids(self.tokenizer)
            kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                                      "eos_token_id": stop_token_ids(self.tokenizer, self.model, fence, self._fences),
                                      **sampling.generate_kwargs()}
            generated = self.model.generate(**encoded, **kwargs)
            new_tokens = generated[:, encoded["input_ids"].shape[1]:]
            for i, text in zip(chosen, self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                outputs[i] = text
            bar.update(len(batch))
        bar.close()
        outputs = [prefix + text for prefix, text in zip(prefixes, outputs)]
        return [outputs[i * n: (i + 1) * n] for i in range(len(prompts))]
