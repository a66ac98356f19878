"""Every notebook executes top to bottom in smoke mode (DATAOPS_SMOKE=1), writing to a temporary
results folder so the committed results are untouched."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAOPS_SMOKE", "1")
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(tmp_path / "results"))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    written = [p for p in (tmp_path / "results").rglob("*") if p.suffix in (".json", ".png")]
    assert written, "the notebook wrote no results JSON (or, for the charts notebook, no PNG)"
