"""The code's layout, kept as docs/design.md states it: a package per task with the same file
names, configs that import no torch (so --help answers at once), prediction that never imports
training, no import cycles inside seqlab, and no module over about 400 lines."""

from __future__ import annotations

import ast
import re
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


def _import_graph() -> dict[str, set[str]]:
    """Each seqlab module -> the seqlab modules that importing it (or calling it) runs.

    Every import counts, lazy ones inside functions too, and ``import seqlab.a.b`` runs
    ``seqlab/a/__init__.py`` as well, so a package's parents are edges of their own."""
    graph = {}
    for path in PKG.rglob("*.py"):
        mod = _module(path)
        deps = set()
        for dep in _imports(path):
            parts = dep.split(".")
            deps |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
        # a package's own parents run before it: not an edge that can close a circle
        graph[mod] = {d for d in deps if d != mod and not mod.startswith(d + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(mod: str, stack: list[str]) -> list[str] | None:
        if mod in stack:
            return stack[stack.index(mod) :] + [mod]
        if mod in done:
            return None
        for dep in sorted(graph.get(mod, ())):
            if found := visit(dep, [*stack, mod]):
                return found
        done.add(mod)
        return None

    return next((c for mod in sorted(graph) if (c := visit(mod, []))), None)


def test_cycle_finder_sees_lazy_and_parent_imports():
    # seqlab.a imports seqlab.b.c lazily, which runs seqlab/b/__init__.py, which imports seqlab.a
    graph = {"seqlab.a": {"seqlab.b", "seqlab.b.c"}, "seqlab.b": {"seqlab.a"}, "seqlab.b.c": set()}
    assert _cycle(graph) == ["seqlab.a", "seqlab.b", "seqlab.a"]
    assert _cycle({"seqlab.a": {"seqlab.b"}, "seqlab.b": set()}) is None


def test_no_import_cycles():
    """No circle anywhere in seqlab, lazy imports included: the layers read bottom-up."""
    cycle = _cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_is_over_the_line_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*PKG.rglob("*.py"), *(ROOT / "apps").glob("*.py")]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def _design_paths() -> list[Path]:
    """Every file and folder the design page's "Design in one screen" tree names."""
    text = (ROOT / "docs" / "design.md").read_text()
    tree = text.split("## Design in one screen", 1)[1].split("```")[1]
    paths, folder = [], ROOT
    for line in tree.splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent > 2:  # a description's second line
            continue
        names = re.split(r"\s{2,}", line.strip())[0].replace(",", " ").split()
        if indent == 0:  # seqlab/, apps/, bench/: the folder later lines sit in
            folder = ROOT / names[0]
            paths.append(folder)
            continue
        paths += [folder / name for name in names]
    return paths


def test_design_page_names_real_paths():
    paths = _design_paths()
    assert ROOT / "seqlab" / "sources.py" in paths and ROOT / "seqlab" / "toy" in paths, paths
    missing = [str(p.relative_to(ROOT)) for p in paths if not p.exists()]
    assert not missing, f"docs/design.md names paths that do not exist: {missing}"
