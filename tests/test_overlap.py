"""Held-out splits are held out: no held-out task repeats a train task, and nothing committed points outside the
repository (env_server/tasks/overlap.py, the committed data/ files)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from env_server.tasks.overlap import KINDS, SHAPE_NOVEL_SPLITS, TrainIndex, normalise, overlap_counts, query_shape
from env_server.tasks.registry import data_dir, load_tasks

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tasks():
    return load_tasks()


def test_every_heldout_split_shares_nothing_with_train(tasks):
    train = [t for t in tasks if t.split == "train"]
    assert train
    for split in ("heldout_iid", "heldout_ood", "heldout_external"):
        heldout = [t for t in tasks if t.split == split]
        assert heldout, split
        counts = overlap_counts(train, heldout)
        shapes = counts.pop("gold_shape")
        assert counts == {kind: 0 for kind in KINDS} | {"any": 0}, (split, counts)
        if split in SHAPE_NOVEL_SPLITS:
            assert shapes == 0, (split, shapes)


def test_data_readme_reports_the_overlap_counts_from_the_files(tasks):
    readme = (data_dir() / "README.md").read_text()
    assert "## Overlap with train" in readme
    rows = [line for line in readme.splitlines() if line.startswith("| heldout_")]
    assert rows
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        split, family, n = cells[0], cells[1], int(cells[2].replace(",", ""))
        assert n == sum(t.split == split and t.family == family for t in tasks)
        assert cells[3:6] == ["0", "0", "0"], row
        mine = [t for t in tasks if t.split == split and t.family == family]
        assert int(cells[6]) == overlap_counts([t for t in tasks if t.split == "train"], mine)["gold_shape"], row
        if split in SHAPE_NOVEL_SPLITS:
            assert cells[6] == "0", row


def test_overlap_keys_are_normalised_and_keep_constants():
    assert normalise("SELECT  a\nFROM t ;") == "select a from t"
    assert normalise("amount > 100") != normalise("amount > 200")


def test_the_index_catches_every_kind(tasks):
    train = [t for t in tasks if t.split == "train"]
    index = TrainIndex(train)
    debug = next(t for t in train if t.family == "debug")
    repair = next(t for t in train if t.family == "repair")
    copy = debug.model_copy(update={"task_id": "debug-copy", "split": "heldout_iid", "question": "a new question"})
    assert index.overlaps(copy) == ["gold_query"]
    reworded = debug.model_copy(update={"task_id": "debug-q", "gold_sql": debug.gold_sql + " LIMIT 5"})
    assert index.overlaps(reworded) == ["question"]
    script = repair.model_copy(update={"task_id": "repair-copy", "question": "a new question"})
    assert index.overlaps(script) == ["repair_script"]


def _committed(paths: list[str]) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *paths], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / line for line in out.splitlines() if line]


def test_no_task_file_points_outside_the_repository():
    files = sorted((REPO / "data" / "tasks").glob("*.jsonl"))
    assert files
    for file in files:
        for line in file.read_text().splitlines():
            spec = json.loads(line)
            for key in ("sql_path", "sqlite_path", "path"):
                value = spec.get("db", {}).get(key)
                if not value:
                    continue
                assert not Path(value).is_absolute(), (file.name, value)
                resolved = (file.parent / value).resolve()
                assert resolved.is_relative_to(REPO), (file.name, value)
                assert resolved.exists(), (file.name, value)


def test_nothing_committed_names_a_sibling_folder():
    hits = []
    for path in _committed(["*.py", "*.md", "*.jsonl", "*.json", "*.ipynb", "*.toml", "*.txt", "*.yaml", "*.sh",
                            "Makefile", ".ci/*"]):
        if not path.is_file() or path.stat().st_size > 20_000_000:
            continue
        text = path.read_text(errors="ignore")
        if "../shared" in text and path.name != "test_overlap.py":
            hits.append(str(path.relative_to(REPO)))
    assert hits == []


def test_a_shape_novel_split_has_at_least_200_debug_tasks_on_databases_no_train_task_uses(tasks):
    train = [t for t in tasks if t.split == "train"]
    train_databases = {t.db.model_dump_json() for t in train}
    train_domains = {t.db.domain for t in train}
    ood = [t for t in tasks if t.split == "heldout_ood"]
    assert sum(t.family == "debug" for t in ood) >= 200
    for family in ("analyst", "repair", "grounded"):
        assert sum(t.family == family for t in ood) >= 100, family
    assert not {t.db.model_dump_json() for t in ood} & train_databases
    assert not {t.db.domain for t in ood} & train_domains
    assert overlap_counts(train, ood)["gold_shape"] == 0


def test_query_shape_masks_constants_aliases_and_case_but_not_structure():
    base = "SELECT c.name, COUNT(*) AS n FROM customers c WHERE c.city = 'Oslo' GROUP BY c.name HAVING COUNT(*) > 2"
    same = "select NAME, count(*) from Customers where city = 'Bergen' group by name having count(*) > 5"
    assert query_shape(base) == query_shape(same)
    assert query_shape(base) != query_shape(base.replace("HAVING COUNT(*) > 2", "ORDER BY 2"))
    assert query_shape(base) != query_shape(base.replace("customers", "orders"))
    # SQLite folds ASCII only: a Kelvin-sign K is another identifier, so another shape
    assert query_shape("SELECT k FROM t") != query_shape("SELECT \u212a FROM t")
    assert query_shape("this is not SQL (") is None


def test_the_index_refuses_a_train_shape_only_in_shape_novel_splits(tasks):
    train = [t for t in tasks if t.split == "train"]
    index = TrainIndex(train)
    debug = next(t for t in train if t.family == "debug" and "'" in (t.gold_sql or ""))
    import re
    other_constant = re.sub(r"'[^']*'", "'zz-new-constant'", debug.gold_sql, count=1)
    for split, refused in (("heldout_iid", False), ("heldout_ood", True), ("heldout_external", True)):
        candidate = debug.model_copy(update={"task_id": f"debug-{split}", "split": split, "question": "new",
                                             "gold_sql": other_constant})
        assert index.overlaps(candidate) == []
        assert index.shares_shape(candidate)
        assert index.refuses(candidate) is refused, split
