"""Every notebook executes top to bottom in smoke mode (DATAOPS_SMOKE=1), writing to a temporary
results folder so the committed results are untouched.

Notebook 04 evaluates the run notebook 02 trains, from where 02 saved it (``training.run_store``; on Colab each
notebook has its own machine); run alone in smoke mode it trains and saves a tiny one itself. Here, as a reader
runs them, 04 gets the reference of the run 02 just saved (``$DATAOPS_RUN_REF``, 02's export folder, outside 04's
results folder) instead of training another."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
EXPORT = "runs-export"
"""Where notebook 02 saves its run in smoke mode (its SAVE_TO when Drive is not mounted), under the results folder."""


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.fixture(scope="module")
def trained_runs() -> dict[str, Path]:
    """The reference of the run notebook 02 saved once it ran in this module, under ``"02"``."""
    return {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch, trained_runs):
    results = tmp_path / "results"
    monkeypatch.setenv("DATAOPS_SMOKE", "1")
    monkeypatch.setenv("DATAOPS_RESULTS_DIR", str(results))
    monkeypatch.delenv("DATAOPS_SAVE_TO", raising=False)
    monkeypatch.delenv("DATAOPS_RUN_REF", raising=False)
    if path.stem.startswith("04_") and "02" in trained_runs:  # the reference 02 printed, as a reader pastes it
        monkeypatch.setenv("DATAOPS_RUN_REF", str(trained_runs["02"]))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    written = [p for p in results.rglob("*") if p.suffix in (".json", ".png")]
    assert written, "the notebook wrote no results JSON (or, for the charts notebook, no PNG)"
    if path.stem.startswith("02_"):
        saved = [p.parent.parent for p in (results / EXPORT).glob("*/adapter/adapter_config.json")]
        assert len(saved) == 1, "notebook 02 saved no run for notebook 04"
        assert not (saved[0] / "trainer").exists()
        trained_runs["02"] = saved[0]
    if path.stem.startswith("04_") and "02" in trained_runs:
        assert not (results / "runs").exists(), "notebook 04 trained a run although it was given 02's"
