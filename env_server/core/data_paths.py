"""Where the data folder is: ``$DATAOPS_DATA_DIR`` if set, else the repository's ``data/``.

In ``core`` because the docs corpus (:mod:`env_server.core.docs`) and the task registry both read from it.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "DATAOPS_DATA_DIR"


def data_dir() -> Path:
    """The ``data/`` folder: ``$DATAOPS_DATA_DIR`` if set, else the repository's ``data/``."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "data"
