"""The shipped models' recipes (seqlab/registry.py: train, pack and evaluate commands) are
commands today's CLI accepts, and a recipe that resumes a run gives it a budget that still
trains: --max-minutes counts the minutes the run already trained (seqlab.run.Budget)."""

from __future__ import annotations

import re
import shlex

import pytest

from seqlab import registry
from seqlab.cli import build_parser

RECIPES = [
    (e.name, kind, getattr(e, f"{kind}_command"))
    for e in registry.ENTRIES.values()
    for kind in ("train", "pack", "eval")
]
MINUTES = re.compile(r"(?<![\w-])--max-minutes[ =](\S+)")


def _steps(command: str) -> list[str]:
    """The commands of a recipe, in order ("A, then B"), without their remarks in brackets."""
    return [re.sub(r"\([^()]*\)", "", step).strip() for step in re.split(r",? then ", command)]


def _parse(argv: list[str]):
    """argv (after `seqlab`) as today's parser reads it; SystemExit on an unknown flag."""
    if argv[0] == "caption":  # caption parses its verbs itself
        from seqlab.commands.caption import VERBS, _verb_parsers

        verb = argv[1] if argv[1] in VERBS else "predict"
        return _verb_parsers()[verb].parse_args(argv[2:] if verb != "predict" else argv[1:])
    return build_parser(argv).parse_args(argv)


@pytest.mark.parametrize("name, kind, command", RECIPES, ids=lambda v: str(v)[:40])
def test_every_seqlab_command_of_a_recipe_parses_today(name, kind, command, capsys):
    for step in _steps(command):
        words = shlex.split(step)
        if words[:3] != ["uv", "run", "seqlab"]:
            continue  # a bench script: its own parser
        try:
            _parse(words[3:])
        except SystemExit:
            pytest.fail(f"{name} {kind}: today's CLI refuses {step!r}: {capsys.readouterr().err}")


@pytest.mark.parametrize("name", list(registry.ENTRIES))
def test_a_resumed_recipe_has_minutes_left(name):
    """The translator's card once resumed a 75-minute run with --resume --max-minutes 45, which
    today stops at once: the budget counts the 75 minutes already trained."""
    spent = 0.0
    for step in _steps(registry.ENTRIES[name].train_command):
        found = MINUTES.search(step)
        minutes = float(found.group(1)) if found else 0.0
        if "--resume" in step.split():
            assert minutes > spent, f"{name}: --max-minutes {minutes:g} after {spent:g} minutes"
        spent = max(spent, minutes)
