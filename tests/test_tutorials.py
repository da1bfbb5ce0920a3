"""The tutorials run: every ```python block of a page in docs/tutorials/ is executed in order, in a
fresh namespace per page, with a temporary folder as the working directory (the pages say "run
from the repository root": ``apps/`` and ``docs/`` are linked into it).

A page's figures are produced by this run, never pasted: its code saves ``figures/NAME.png``, the
page embeds ``![...](figures/NAME.png)``, and the test fails when a page embeds a figure its code
did not write (or writes one it does not show), or a figure the run drew is not committed.
``SEQLAB_UPDATE_FIGURES=1 uv run pytest tests/test_tutorials.py`` copies the run's figures into
docs/tutorials/figures/: the committed figures are the ones such a run drew. A plain test run
leaves them alone (a figure's pixels can move with the CPU and the thread count, and a test run
should not dirty the working tree).

All six pages together take under 3 minutes on one core of the CI machine (measured with
``taskset -c 0``; the times are in the tutorials' index). Run one: ``pytest tests/test_tutorials.py
-k 04``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
PAGES = sorted(TUTORIALS.glob("[0-9][0-9]-*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.M | re.S)
FIGURE = re.compile(r"!\[[^\]]*\]\((figures/[^)\s]+\.png)\)")


def code_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the block's first line, code) for every ```python block, in order."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def run_page(page: Path, folder: Path) -> None:
    """Execute the page's blocks in one namespace; tracebacks name the page and its line."""
    text = page.read_text()
    namespace: dict = {"__name__": "__tutorial__"}
    for line, code in code_blocks(text):
        # pad with newlines so that a traceback's line number is the line in the Markdown file
        exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)


def check_figures(text: str, folder: Path) -> list[str]:
    """The figures the page shows, after checking that its run in ``folder`` drew exactly those."""
    shown = set(FIGURE.findall(text))
    drawn = {str(p.relative_to(folder)) for p in (folder / "figures").glob("*.png")}
    assert shown <= drawn, f"the page shows figures its code does not draw: {sorted(shown - drawn)}"
    assert drawn <= shown, f"the page draws figures it does not show: {sorted(drawn - shown)}"
    return sorted(shown)


def test_the_six_tutorials_are_there_and_the_index_links_them():
    assert [p.name[:2] for p in PAGES] == ["01", "02", "03", "04", "05", "06"]
    index = (TUTORIALS / "index.md").read_text()
    for page in PAGES:
        assert f"({page.name})" in index, f"docs/tutorials/index.md does not link {page.name}"


def test_code_blocks_are_found_with_their_lines():
    text = "intro\n```python\nx = 1\n```\ntext\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert code_blocks(text) == [(3, "x = 1\n"), (10, "y = 2\n")]


def test_a_figure_the_code_does_not_draw_fails(tmp_path):
    page = tmp_path / "page.md"
    draws_a = "```python\nfrom pathlib import Path\nPath('figures').mkdir()\n"
    draws_a += "Path('figures/a.png').write_bytes(b'')\n```\n"
    page.write_text(draws_a + "![a](figures/a.png) ![b](figures/b.png)\n")
    run = tmp_path / "run"
    run.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(run)
        run_page(page, run)
    with pytest.raises(AssertionError, match="figures/b.png"):  # shown, never drawn
        check_figures(page.read_text(), run)
    assert check_figures("![a](figures/a.png)", run) == ["figures/a.png"]
    with pytest.raises(AssertionError, match="figures/a.png"):  # drawn, never shown
        check_figures("no figures", run)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_tutorial_runs_and_draws_its_figures(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for shared in ("apps", "docs"):
        (tmp_path / shared).symlink_to(ROOT / shared)
    text = page.read_text()
    assert code_blocks(text), f"{page.name} has no ```python block"
    run_page(page, tmp_path)
    for name in check_figures(text, tmp_path):
        if os.environ.get("SEQLAB_UPDATE_FIGURES") == "1":
            shutil.copyfile(tmp_path / name, TUTORIALS / name)
        assert (TUTORIALS / name).is_file(), f"{name} is drawn but not committed"
