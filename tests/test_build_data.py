"""The committed data is exactly what `python -m env_server build-data` produces.

The fast test rebuilds the fixed tasks, every family's ``heldout_ood`` split and the docs corpus, and
compares them with the committed files byte for byte; the slow one (``-m slow``, about 20 minutes on 2 cores)
rebuilds everything, ``heldout_external`` and ``data/README.md`` included (three committed
``heldout_external`` files are known to be stale; see ``STALE_EXTERNAL``). Task files that reference
a database file by relative path are compared as loaded tasks (paths resolved), since the relative
path depends on where the build wrote them.
"""
from __future__ import annotations

import filecmp

import pytest

from env_server.tasks.build import build
from env_server.tasks.registry import data_dir
from env_server.tasks.spec import load_jsonl


def _have_external() -> bool:
    from env_server.tasks.external import defog_dir

    try:
        return defog_dir().is_dir()
    except FileNotFoundError:
        return False


def _same(committed, rebuilt) -> bool:
    if filecmp.cmp(committed, rebuilt, shallow=False):
        return True
    return [t.model_dump() for t in load_jsonl(committed)] == [t.model_dump() for t in load_jsonl(rebuilt)]


def _compare(rebuilt_dir, names) -> None:
    committed = data_dir()
    for name in names:
        assert _same(committed / "tasks" / name, rebuilt_dir / "tasks" / name), name
    docs = sorted(p.name for p in (committed / "docs").glob("*.md"))
    if not _have_external():  # the glossary documents come from data/external
        docs = [d for d in docs if "-glossary-" not in d]
    assert docs == sorted(p.name for p in (rebuilt_dir / "docs").glob("*.md"))
    for name in docs:
        assert filecmp.cmp(committed / "docs" / name, rebuilt_dir / "docs" / name, shallow=False), name


def test_rebuild_of_fixed_and_ood_tasks_and_docs_matches_committed_files(tmp_path):
    build(tmp_path, splits=("heldout_ood",), progress=False, external=False)
    names = sorted(p.name for p in (tmp_path / "tasks").glob("*.jsonl"))
    assert names == sorted(
        [f"{f}_fixed.jsonl" for f in ("debug", "repair", "analyst")]
        + [f"{f}_heldout_ood.jsonl" for f in ("debug", "repair", "analyst", "grounded")]
    )
    _compare(tmp_path, names)


@pytest.fixture(scope="module")
def full_rebuild(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    build(out, progress=False)
    return out


@pytest.mark.slow
@pytest.mark.skipif(not _have_external(), reason="heldout_external needs data/external/defog-data")
def test_full_rebuild_matches_committed_files(full_rebuild):
    committed = data_dir()
    names = sorted(p.name for p in (committed / "tasks").glob("*.jsonl"))
    assert names == sorted(p.name for p in (full_rebuild / "tasks").glob("*.jsonl"))
    _compare(full_rebuild, names)
    assert (committed / "README.md").read_text() == (full_rebuild / "README.md").read_text()
