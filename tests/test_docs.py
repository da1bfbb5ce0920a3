"""The docs: the README stays one screen, the site builds with warnings as errors (broken links,
missing pages, unresolved references), and every public name on the API pages has a docstring.

The build takes about 7 s (mkdocs-material + mkdocstrings, which read the source without
importing it); it skips only where mkdocs is not installed."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 150


def test_the_readme_is_one_screen():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_ci_runs_the_readme_test_command():
    """.ci/run's pytest line, whatever it is, is a line of the README as it stands."""
    readme = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in ci if line.startswith("uv run pytest")]
    assert len(commands) == 1, commands
    assert commands[0] in readme, f"the README does not show .ci/run's {commands[0]!r}"


def test_the_readme_links_point_at_files_that_exist():
    """mkdocs checks the site's links; the README is outside it, so its links are checked here."""
    text = (ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)]
    local = [t for t in targets if t and not re.match(r"[a-z]+:", t)]
    assert local, "the README links into the docs"
    assert not [t for t in local if not (ROOT / t).exists()]


def test_nothing_links_to_a_readme_anchor():
    """The README's sections moved to the docs: a `README.md#section` link would be dead."""
    texts = [*ROOT.glob("docs/**/*.md"), *ROOT.glob("seqlab/**/*.py"), *ROOT.glob("apps/**/*")]
    texts += [*ROOT.glob("bench/*.py"), ROOT / "README.md"]
    texts = [p for p in texts if p.is_file() and p.suffix in {".md", ".py"}]
    dead = [str(p.relative_to(ROOT)) for p in texts if re.search(r"README(\.md)?#", p.read_text())]
    assert not dead, dead


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed")
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    cmd += ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    home = (tmp_path / "site" / "index.html").read_text()
    assert "fonts.googleapis.com" not in home  # offline: no web fonts (theme font: false)
    cards = tmp_path / "site" / "models"
    assert (cards / "caption-flickr8k" / "index.html").is_file()  # generated from the registry


def _api_modules() -> list[str]:
    """The modules the API pages render (`::: seqlab.x` lines under docs/api/)."""
    found = []
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        found += re.findall(r"^::: (seqlab[\w.]*)$", page.read_text(), flags=re.M)
    return found


def _public(module) -> list[tuple[str, object]]:
    """A module's public functions and classes (defined there, or named in its ``__all__``), and
    their public methods."""
    out, exported = [], set(getattr(module, "__all__", ()))
    for name, obj in vars(module).items():
        own = getattr(obj, "__module__", None) == module.__name__ or name in exported
        if name.startswith("_") or not own or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        out.append((name, obj))
        for attr, member in vars(obj).items() if inspect.isclass(obj) else []:
            func = getattr(member, "__func__", member)  # classmethod, staticmethod
            func = getattr(func, "fget", func)  # property
            if not attr.startswith("_") and inspect.isfunction(func):
                out.append((f"{name}.{attr}", func))
    return out


def _documented(name: str, obj) -> bool:
    """A docstring of its own: a dataclass's generated ``Name(field: type, ...)`` does not count."""
    doc = (obj.__doc__ or "").strip()
    return bool(doc) and not (dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("))


def test_the_api_pages_cover_the_issue_modules():
    wanted = {"seqlab.rnn", "seqlab.cells", "seqlab.pretrained", "seqlab.familiarity"}
    wanted |= {"seqlab.gradients"} | {f"seqlab.{t}.predict" for t in ("caption", "translate")}
    wanted |= {"seqlab.sentiment.predict", "seqlab.charlm.predict"}
    assert wanted <= set(_api_modules())


@pytest.mark.parametrize("name", _api_modules())
def test_every_public_name_on_the_api_pages_has_a_docstring(name):
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no module docstring"
    missing = [n for n, obj in _public(module) if not _documented(n, obj)]
    assert not missing, f"{name}: no docstring on {missing}"
