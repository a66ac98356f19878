"""The package layout's rules, checked on the source (issue "Architecture"): no import cycles, the
environment never imports training or the reward functions, no two modules share a name, every module
opens with a docstring and says why when it is over 600 lines, and only the sandbox opens connections
(bench floors and doctests excepted)."""
from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("env_server", "reward_fns", "training")
LONG = 600


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _run_at_import(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of ``body`` that importing the module runs: nested blocks and class bodies
    included; function bodies and ``if TYPE_CHECKING:`` blocks not."""
    out = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out += _run_at_import(node.orelse)
            continue
        out.append(node)
        for field in ("body", "orelse", "finalbody", "handlers"):
            out += _run_at_import(getattr(node, field, []))
    return out


def _imported(path: Path) -> set[str]:
    """Modules of ours that importing ``path`` runs (module-level imports, each with the packages above it)."""
    names = set()
    for node in _run_at_import(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    ours = set()
    for name in names:
        parts = name.split(".")
        ours.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in MODULES)
    return ours


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        # a module's own packages are already being imported when it runs: not an edge
        graph[module] = {m for m in _imported(path) if m != module and not module.startswith(m + ".")}
    return graph


def test_the_module_graph_has_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_environment_never_imports_training_or_reward_functions():
    for module, deps in _graph().items():
        if module.startswith("env_server"):
            assert not {d for d in deps if d.split(".")[0] in ("training", "reward_fns")}, module


LAYERS = {"core": {"core"}, "grading": {"core", "grading", "ingest"}, "ingest": {"core", "ingest"}}
"""What each low layer of env_server may import, anywhere in a module (function-level imports included): core
nothing above itself; grading and ingest, its two siblings above core, each other and core (the grader loads SQL
dumps with ingest's transpiler). A lower layer that needs more takes it as a parameter (the grader its families)."""


def _all_imports(path: Path) -> set[str]:
    """Every import of ours in ``path``, at any level, except those under ``if TYPE_CHECKING:`` (annotations only)."""
    names = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("env_server.")}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_low_layer_imports_nothing_above_it(layer):
    allowed = LAYERS[layer]
    wrong = {}
    for module, path in MODULES.items():
        if module.startswith(f"env_server.{layer}."):
            above = sorted(n for n in _all_imports(path) if n.split(".")[1] not in allowed)
            if above:
                wrong[module] = above
    assert not wrong, wrong


def test_no_two_modules_share_a_name():
    names = Counter(p.stem for p in MODULES.values() if p.stem != "__init__")
    assert [n for n, k in names.items() if k > 1] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_opens_with_a_docstring_and_a_long_one_says_why(module):
    text = MODULES[module].read_text()
    doc = ast.get_docstring(ast.parse(text))
    if MODULES[module].name == "__init__.py" and not text.strip():
        return
    assert doc, f"{module} has no docstring"
    if len(text.splitlines()) > LONG:
        assert f"over {LONG} lines" in doc, f"{module} is over {LONG} lines and its docstring does not say why"


def test_only_the_sandbox_opens_connections():
    allowed = {"env_server.core.sandbox"}
    floors = {m for m in MODULES if m.startswith("env_server.tools.bench")}
    for module, path in MODULES.items():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if "sqlite3.connect(" not in line or module in allowed or line.lstrip().startswith(">>>"):
                continue
            assert module in floors, f"{module}:{lineno} opens a connection outside the sandbox"
            assert "measured floor" in (ast.get_docstring(ast.parse(path.read_text())) or ""), module
