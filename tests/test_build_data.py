"""The committed data is exactly what `python -m env_server build-data` produces."""
from __future__ import annotations

import filecmp

from env_server.tasks.build import build
from env_server.tasks.registry import data_dir


def test_rebuild_matches_committed_files(tmp_path):
    build(tmp_path, progress=False)
    committed = data_dir()
    names = sorted(p.name for p in (committed / "tasks").glob("*.jsonl"))
    assert names == sorted(p.name for p in (tmp_path / "tasks").glob("*.jsonl"))
    for name in names:
        assert filecmp.cmp(committed / "tasks" / name, tmp_path / "tasks" / name, shallow=False), name
    assert (committed / "README.md").read_text() == (tmp_path / "README.md").read_text()
