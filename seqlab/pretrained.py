"""seqlab's shipped models: trained here, stored compactly in the package, checked on load.

    >>> from seqlab import pretrained
    >>> pretrained.names()                      # ['caption-flickr8k', ...]
    >>> captioner = pretrained.load("caption-flickr8k")
    >>> captioner.caption("dog.jpg")[0].text
    >>> print(pretrained.card("caption-flickr8k"))

Every CLI verb and app that takes ``--checkpoint`` also takes a shipped model's name, and uses
its task's shipped model when ``--checkpoint`` is left out. Nothing is downloaded: the weights are
package data (``seqlab/weights/``), verified against the sha256 in the registry.

The top of the layers: the registry's data (``seqlab.registry``) and the file formats lie below
the predictors, and this module's ``load()`` sits above them; nothing in seqlab imports it but
the CLI and the apps.
"""

from __future__ import annotations

import re
from pathlib import Path

from seqlab.registry import (
    DEFAULTS,
    ENTRIES,
    WEIGHTS_DIR,
    ModelEntry,
    entry,
    names,
    verify,
    verify_entry,
)

__all__ = ["DEFAULTS", "ENTRIES", "ModelEntry", "names", "entry", "verify", "verify_entry"]
__all__ += ["read", "load", "card", "table", "markdown_table", "weights_dir"]


def read(name: str) -> dict:
    """The shipped model as an fp32 checkpoint dict, after the checksum holds."""
    from seqlab.sources import load_checkpoint  # torch: only when a model is read

    return load_checkpoint(entry(name).name)


def load(name: str, device: str = "auto"):
    """The task's predictor for a shipped model (CaptionPredictor, Translator, ...)."""
    task = entry(name).task
    if task == "caption":
        from seqlab.caption.predict import CaptionPredictor as cls
    elif task == "translate":
        from seqlab.translate.predict import Translator as cls
    elif task == "sentiment":
        from seqlab.sentiment.predict import SentimentPredictor as cls
    else:
        from seqlab.charlm.predict import CharLMPredictor as cls
    return cls.from_checkpoint(name, device=device)


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in metrics.items())


def card(name: str) -> str:
    """The model card, generated from the registry entry (never written twice)."""
    e = entry(name)
    cost = ", ".join(
        f"{k} {e.metrics[k] - v:+.3g}" for k, v in e.metrics_fp32.items() if k in e.metrics
    )
    fp32 = (  # none when the fp32 checkpoint was not scored with today's evaluation (see notes)
        [
            f"- fp32 checkpoint, same evaluation: {_fmt(e.metrics_fp32)}",
            f"- cost of {e.storage} storage: {cost}",
        ]
        if e.metrics_fp32
        else []
    )
    lines = [
        f"# {e.name}",
        "",
        e.summary,
        "",
        f"- task: {e.task}; parameters: {e.parameters:,}",
        f"- data: {e.dataset}",
        f"- licence terms: {e.licence}",
        f"- test metrics (shipped file): {_fmt(e.metrics)}",
        *fp32,
        f"- file: seqlab/weights/{e.file}, {e.size_bytes / 1e6:.1f} MB, {e.storage}",
        f"- sha256: {e.sha256}",
        f"- trained on: {e.trained_on}",
        "",
        "Reproduce:",
        "",
        f"    {e.train_command}",
        f"    {e.pack_command}",
        f"    {e.eval_command}",
    ]
    if e.familiarity:
        lines += ["", "Familiarity (the `in_domain` flag on each input):", ""]
        lines += [f"- {line}" for line in e.familiarity]
    if e.notes:
        lines += ["", *[f"- {n}" for n in e.notes]]
    return "\n".join(lines)


def table() -> str:
    """One line per shipped model: name, task, data, headline metric, size."""
    rows = [f"{'name':28} {'task':10} {'size':>8}  {'storage':7}  test metrics"]
    for e in ENTRIES.values():
        rows.append(
            f"{e.name:28} {e.task:10} {e.size_bytes / 1e6:6.1f}MB  {e.storage:7}  {_fmt(e.metrics)}"
        )
    return "\n".join(rows)


def markdown_table() -> str:
    """The README's table of shipped models (tests/test_pretrained.py keeps the two in step): one
    short line per model; the recipe (train, pack, evaluate commands) is on its card."""
    rows = [
        "| model | task | data | test metrics (shipped file) | flagged unfamiliar | size | card |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in ENTRIES.values():
        data = re.split(r" \(|;|,", e.dataset)[0]  # the name: "Flickr8k (Hodosh, ...)" -> Flickr8k
        rows.append(
            f"| `{e.name}` | {e.task} | {data} | {_fmt(e.metrics)} | "
            f"{e.familiarity_summary or '-'} | {e.size_bytes / 1e6:.1f} MB {e.storage} | "
            f"`seqlab pretrained show {e.name}` |"
        )
    return "\n".join(rows)


def weights_dir() -> Path:
    """The folder the shipped weights files live in (``seqlab/weights/``)."""
    return WEIGHTS_DIR
