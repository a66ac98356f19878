"""Every notebook executes top to bottom in smoke mode (DATAOPS_SMOKE=1), writing to a temporary
results folder so the committed results are untouched.

Notebook 04 evaluates the run notebook 02 trains (``results/runs/notebook-02``); run alone in smoke mode it
trains a tiny one itself. Here, as a reader runs them, 04 gets the run 02 just trained (copied into its own
results folder) instead of training another."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
RUN = Path("runs") / "notebook-02"
"""Where notebook 02 leaves its run and notebook 04 looks for it, under the results folder."""


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.fixture(scope="module")
def trained_runs() -> dict[str, Path]:
    """The results folder of notebook 02 once it ran in this module, under ``"02"``."""
    return {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch, trained_runs):
    results = tmp_path / "results"
    monkeypatch.setenv("DATAOPS_SMOKE", "1")
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(results))
    given: set[Path] = set()
    if path.stem.startswith("04_") and "02" in trained_runs:  # 02's run, as 04 expects it
        shutil.copytree(trained_runs["02"] / RUN, results / RUN)
        given = set((results / RUN).rglob("*"))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    written = [p for p in results.rglob("*") if p.suffix in (".json", ".png") and p not in given]
    assert written, "the notebook wrote no results JSON (or, for the charts notebook, no PNG)"
    if path.stem.startswith("02_") and (results / RUN / "adapter" / "adapter_config.json").exists():
        trained_runs["02"] = results
