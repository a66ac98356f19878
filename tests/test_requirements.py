"""The requirement files by role (requirements*.txt): the notebooks' runtime set holds no test or kernel package and
never pins what Colab ships (torch, numpy, ipykernel, jupyter_client, tornado); `make install`'s set is the union of
the roles; every pin is exact."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COLAB_OWNED = {"torch", "numpy", "ipykernel", "jupyter-client", "tornado", "ipython"}
TEST_ONLY = {"pytest", "pytest-xdist", "execnet", "nbclient", "nbformat", "schemathesis", "hypothesis", "playwright"}


def pins(name: str, seen: set[str] | None = None) -> dict[str, str]:
    """Package -> pinned version of a requirements file, following ``-r`` includes."""
    seen = seen if seen is not None else set()
    out: dict[str, str] = {}
    for raw in (REPO / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            included = line[3:].strip()
            assert included not in seen, f"{name} includes {included} twice"
            seen.add(included)
            out.update(pins(included, seen))
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\],]+)==([\w.\-+]+)", line)
        assert match, f"{name}: {raw!r} is not an exact pin"
        out[re.sub(r"[_.]", "-", match.group(1).split("[")[0]).lower()] = match.group(2)
    return out


def test_the_notebooks_runtime_set_holds_no_test_kernel_or_colab_owned_package():
    runtime = pins("requirements-train.txt")
    assert {"trl", "transformers", "peft", "matplotlib", "fastapi", "sqlglot"} <= set(runtime)
    assert not set(runtime) & COLAB_OWNED, set(runtime) & COLAB_OWNED
    assert not set(runtime) & TEST_ONLY, set(runtime) & TEST_ONLY


def test_make_install_is_the_union_of_the_roles_with_one_version_each():
    everything = pins("requirements.txt")
    for role in ("requirements-server.txt", "requirements-train.txt", "requirements-test.txt"):
        for package, version in pins(role).items():
            assert everything.get(package) == version, (role, package)
    assert everything["torch"] and everything["numpy"]


def test_the_install_cell_installs_the_runtime_set_only():
    import ast

    tree = ast.parse((REPO / "scripts" / "make_notebooks.py").read_text())
    INSTALL = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", None) == "INSTALL")
    assert "requirements-train.txt" in INSTALL
    assert "requirements.txt\"" not in INSTALL and "requirements-test" not in INSTALL
    assert " -q" not in INSTALL  # pip's output is shown
    assert "Restart" in INSTALL


def test_every_notebook_installs_the_runtime_set():
    import json

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        install = [c for c in cells if "git\", \"clone\"" in c or "git clone" in c]
        assert install, path.name
        assert all("requirements-train.txt" in c and "requirements-colab" not in c for c in install), path.name


@pytest.mark.slow
def test_the_runtime_and_gpu_sets_resolve_together(tmp_path):
    """``pip install --dry-run -r requirements-train.txt -r requirements-gpu.txt`` resolves, keeping every runtime pin
    (vLLM may not move transformers or fastapi). Needs the package index: skipped when it cannot be reached."""
    import json
    import subprocess
    import sys

    pip = [sys.executable, "-m", "pip"]
    try:
        probe = subprocess.run([*pip, "index", "versions", "vllm"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("the package index did not answer in 60 s")
    if probe.returncode != 0:
        pytest.skip("the package index cannot be reached: " + (probe.stderr.strip().splitlines() or ["?"])[-1])
    report = tmp_path / "report.json"
    done = subprocess.run([*pip, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                           "-r", "requirements-train.txt", "-r", "requirements-gpu.txt"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = {re.sub(r"[_.]", "-", item["metadata"]["name"]).lower(): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    wanted = {**pins("requirements-train.txt"), **pins("requirements-gpu.txt")}
    moved = {name: (version, chosen.get(name)) for name, version in wanted.items()
             if chosen.get(name, "").split("+")[0] != version}
    assert not moved, moved
