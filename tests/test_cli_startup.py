"""Start-up is a feature: building the CLI's parser and answering --help import neither torch nor
matplotlib (`seqlab grads --help` once took 3.6 s where `seqlab charlm --help` took 0.24 s)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.commands import GROUPS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib", "numpy", "gradio", "PIL")

HELPS = (
    [["--help"]]
    + [[g, "--help"] for g in GROUPS]
    + [
        ["grads", "temporal", "--help"],
        ["grads", "train", "--help"],
        ["grads", "plot", "--help"],
        ["charlm", "train", "--help"],
        ["sentiment", "predict", "--help"],
        ["translate", "--help"],
    ]
)


def _imported_after(code: str) -> list[str]:
    """The heavy modules that running ``code`` in a fresh interpreter imported."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_building_every_group_imports_nothing_heavy():
    assert _imported_after("from seqlab.cli import build_parser\nbuild_parser()") == []


@pytest.mark.parametrize("argv", HELPS, ids=" ".join)
def test_help_imports_nothing_heavy(argv):
    code = f"from seqlab.cli import main\nassert main({argv!r}) == 0"
    assert _imported_after(code) == []
