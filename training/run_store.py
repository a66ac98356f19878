"""Carry a training run from the machine that trained it to the one that evaluates it.

Colab gives each notebook its own machine: notebook 04 cannot see the run folder notebook 02 wrote. So a run is
saved somewhere both can reach and named there by a *run reference*:

* a local folder or a Google Drive folder (``/content/drive/MyDrive/...`` is an ordinary path once the notebook
  has mounted Drive): :func:`save_run` copies the run into ``DEST/<run_id>``, and the reference is that path;
* a Hugging Face Hub model repository, ``hf://<user>/<repo>``: :func:`save_run` uploads the run into the folder
  ``<run_id>`` of the repository (created private when missing), and the reference is
  ``hf://<user>/<repo>/<run_id>``. The token comes from ``$HF_TOKEN`` or Colab's secret ``HF_TOKEN``.

A run travels as what evaluating it needs: ``config.json`` (its Args, the model, the sampling settings),
``metrics.json``, ``log_history.jsonl`` and ``adapter/``; never ``trainer/`` (resumable checkpoints, optimiser
states, much larger). :func:`resolve_run` turns a reference back into a local run folder: a path is itself, an
``hf://`` reference (or a bare ``<user>/<repo>`` that is no local path) is downloaded with
``huggingface_hub.snapshot_download``. ``python -m training.evaluate --run REF`` takes any of them.

Every failure is a one-line ``SystemExit`` that says what was expected.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

RUN_FILES = ("config.json", "metrics.json", "log_history.jsonl")
"""The files of a run folder that travel with it (those present; ``config.json`` is required)."""

RUN_DIRS = ("adapter",)
"""The folders of a run folder that travel with it (``trainer/`` checkpoints stay behind)."""

HF_PREFIX = "hf://"

_REPO_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_BARE_REPO = re.compile(rf"^{_REPO_PART}/{_REPO_PART}$")


def _hf_parts(ref: str) -> tuple[str, str]:
    """``hf://user/repo[/sub/folder]`` -> ``("user/repo", "sub/folder")`` (``""`` for the repository's root).

    >>> _hf_parts("hf://me/runs/gpu-qwen0.5b-20250101-000000"), _hf_parts("hf://me/one-run")
    (('me/runs', 'gpu-qwen0.5b-20250101-000000'), ('me/one-run', ''))
    """
    parts = [p for p in ref[len(HF_PREFIX):].split("/") if p]
    if len(parts) < 2 or not all(re.fullmatch(_REPO_PART, p) for p in parts):
        raise SystemExit(f"{ref!r} is not a Hugging Face reference; expected hf://<user>/<repo>[/<run_id>]")
    return "/".join(parts[:2]), "/".join(parts[2:])


def hf_token() -> str | None:
    """The Hugging Face token: ``$HF_TOKEN``, else Colab's secret ``HF_TOKEN`` (when running on Colab), else None."""
    token = os.environ.get("HF_TOKEN")
    if token:
        return token
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return userdata.get("HF_TOKEN") or None
    except Exception:  # SecretNotFoundError, NotebookAccessError: no secret, or access not granted
        return None


def _check_run(run_dir: Path, ref: str, need_adapter: bool) -> Path:
    if not (run_dir / "config.json").is_file():
        runs = sorted(p.name for p in run_dir.iterdir() if (p / "config.json").is_file()) if run_dir.is_dir() else []
        hint = f"; it holds the runs {', '.join(runs)}" if runs else ""
        raise SystemExit(f"{ref} is not a training run folder (no config.json){hint}")
    if need_adapter and not (run_dir / "adapter" / "adapter_config.json").is_file():
        raise SystemExit(f"{ref} has no adapter/ (a --probe-only run, or one with --no-save-adapter): nothing to evaluate")
    return run_dir


def save_run(run_dir: str | Path, dest: str | Path) -> str:
    """Copy the run folder ``run_dir`` (:data:`RUN_FILES` and :data:`RUN_DIRS`) into ``dest`` and return the run's
    reference: ``DEST/<run_id>`` for a local or Drive folder, ``hf://<user>/<repo>/<run_id>`` for ``hf://<user>/<repo>``
    (uploaded; needs a token, see :func:`hf_token`). Saving again replaces the copied files."""
    run_dir = Path(run_dir)
    _check_run(run_dir, str(run_dir), need_adapter=False)
    dest = str(dest)
    if dest.startswith(HF_PREFIX):
        return _upload(run_dir, dest)
    target = Path(dest).expanduser() / run_dir.name
    if target.resolve() == run_dir.resolve():
        return str(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)
    for name in RUN_DIRS:
        if (run_dir / name).is_dir():
            if (target / name).exists():
                shutil.rmtree(target / name)
            shutil.copytree(run_dir / name, target / name)
    return str(target)


def _upload(run_dir: Path, dest: str) -> str:
    repo_id, folder = _hf_parts(dest)
    token = hf_token()
    if not token:
        raise SystemExit(f"saving to {dest} needs a Hugging Face token with write access: set HF_TOKEN (on Colab, "
                         "add the secret HF_TOKEN and grant this notebook access)")
    from huggingface_hub import HfApi

    path_in_repo = "/".join(filter(None, [folder, run_dir.name]))
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=True, exist_ok=True)
        api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(run_dir), path_in_repo=path_in_repo,
                          allow_patterns=[*RUN_FILES, *(f"{d}/**" for d in RUN_DIRS)],
                          commit_message=f"DataOps-Gym run {run_dir.name}")
    except Exception as exc:  # network, permissions: one line that says where it failed
        raise SystemExit(f"could not upload {run_dir} to {dest}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return f"{HF_PREFIX}{repo_id}/{path_in_repo}"


def resolve_run(ref: str | Path) -> Path:
    """The local run folder a reference names: a path (local or Drive) is itself; ``hf://<user>/<repo>[/<run_id>]``,
    or a bare ``<user>/<repo>`` that is no local path, is downloaded (``huggingface_hub.snapshot_download``, only that
    run's files). The folder must hold ``config.json`` and ``adapter/``; otherwise a one-line ``SystemExit``."""
    text = str(ref)
    local = Path(text).expanduser()
    if not text.startswith(HF_PREFIX) and (local.exists() or not _BARE_REPO.match(text)):
        if not local.exists():
            raise SystemExit(f"no run folder at {text} (expected a run folder such as results/runs/<id>, a Drive "
                             "path, or hf://<user>/<repo>[/<run_id>])")
        return _check_run(local, text, need_adapter=True)
    repo_id, folder = _hf_parts(text if text.startswith(HF_PREFIX) else HF_PREFIX + text)
    from huggingface_hub import snapshot_download

    patterns = None if not folder else [f"{folder}/{name}" for name in RUN_FILES] + [f"{folder}/{d}/*" for d in RUN_DIRS]
    try:
        snapshot = snapshot_download(repo_id, repo_type="model", allow_patterns=patterns, token=hf_token())
    except Exception as exc:  # offline, no such repository, no access
        where = "" if text.startswith(HF_PREFIX) else " (and there is no local folder of that name)"
        raise SystemExit(f"could not download the run {text} from the Hugging Face Hub{where}: {type(exc).__name__}: "
                         f"{exc}".splitlines()[0]) from None
    return _check_run(Path(snapshot) / folder, text, need_adapter=True)
