"""The code's layout, kept as the README's design section states it: a package per task with the
same file names, configs that import no torch (so --help answers at once), prediction that never
imports training, no import cycles inside seqlab, and no module over about 400 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "seqlab"
TASKS = ("charlm", "sentiment", "translate", "caption")
MAX_LINES = 420


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """The seqlab modules a file imports, at any depth (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("seqlab"):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("seqlab")}
    modules = {_module(p) for p in PKG.rglob("*.py")}
    return {m for m in found if m in modules}


@pytest.mark.parametrize("task", TASKS)
def test_every_task_has_the_same_files(task):
    for name in ("__init__.py", "config.py", "train.py", "predict.py"):
        assert (PKG / task / name).is_file(), f"seqlab/{task}/{name}"
    assert not (PKG / "tasks").exists()


@pytest.mark.parametrize("task", TASKS)
def test_prediction_never_imports_training(task):
    for path in (PKG / task).glob("*.py"):
        if path.name != "train.py":
            assert f"seqlab.{task}.train" not in _imports(path), path


def test_configs_import_no_torch():
    code = (
        "import sys\n"
        + "".join(f"import seqlab.{t}.config\n" for t in TASKS)
        + "import seqlab.models.configs, seqlab.config\n"
        + "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_import_cycles_at_module_level():
    """Top-level imports only: a lazy import inside a function is how a cycle is broken."""
    graph = {}
    for path in PKG.rglob("*.py"):
        top = set()
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("seqlab")
            ):
                top.add(node.module)
        graph[_module(path)] = {m for m in top if m in {_module(p) for p in PKG.rglob("*.py")}}

    def visit(mod, stack):
        if mod in stack:
            cycle = stack[stack.index(mod) :] + [mod]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        for dep in graph.get(mod, ()):
            if dep != mod and not mod.startswith(dep + "."):  # a package's own __init__
                visit(dep, [*stack, mod])

    for mod in graph:
        visit(mod, [])


def test_no_module_is_over_the_line_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*PKG.rglob("*.py"), *(ROOT / "apps").glob("*.py")]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long
