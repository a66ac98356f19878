"""Provenance for every results JSON: git sha, the command, the time, the machine.

Every figure the project reports comes from a JSON file whose ``provenance`` block says how to
reproduce it. ``write_results`` is the one way results files are written.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR_ENV = "DATAOPS_RESULTS_DIR"


def results_dir() -> Path:
    """Where results JSON and figures go: ``$DATAOPS_RESULTS_DIR`` if set (smoke runs, tests), else ``results/``."""
    override = os.environ.get(RESULTS_DIR_ENV)
    return Path(override) if override else REPO_ROOT / "results"


def git_sha() -> str:
    """The commit of the working tree, with ``-dirty`` when it has uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line() -> str:
    """How this process was started, as a user would type it (``python -m env_server bench``)."""
    if os.environ.get("DATAOPS_COMMAND"):
        return os.environ["DATAOPS_COMMAND"]
    argv = list(sys.argv)
    first = Path(argv[0]) if argv and argv[0] else Path("python")
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name and first.suffix == ".py":  # started with `python -m package.module`
        return " ".join(shlex.quote(a) for a in ["python", "-m", spec.name.removesuffix(".__main__")] + argv[1:])
    if first.name == "__main__.py":
        head = ["python", "-m", first.parent.name]
    elif first.suffix == ".py":
        head = ["python", str(first.resolve().relative_to(REPO_ROOT)) if first.resolve().is_relative_to(REPO_ROOT) else first.name]
    else:
        head = [first.name]
    return " ".join(shlex.quote(a) for a in head + argv[1:])


def provenance(**extra: Any) -> dict[str, Any]:
    """The provenance block: git sha, command line, UTC time, Python, platform, CPU count, plus ``extra``."""
    return {
        "git_sha": git_sha(),
        "command": command_line(),
        "created_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        **extra,
    }


def peak_rss_gb() -> float:
    """The most resident memory this process has held so far, in GB (``getrusage``'s ``ru_maxrss``: KiB on Linux,
    bytes on macOS). A training run records it so the README can say what a run needs (Colab: 12.7 GB)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 30) if sys.platform == "darwin" else peak / (1 << 20), 2)


def write_results(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (which must hold ``provenance``) as pretty JSON; returns the path."""
    if "provenance" not in payload:
        raise ValueError("results JSON must carry a 'provenance' block")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
