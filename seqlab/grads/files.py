"""Files of the gradient lab's training comparison: train.csv (one row per step), final.csv and
accuracy.md (one row per run), config.json, and runs/NAME/metrics.jsonl for ``seqlab grads plot``.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from seqlab.checkpoint import write_json
from seqlab.errors import UserError
from seqlab.gradients import write_csv
from seqlab.grads.train import GradTrainConfig, run_name
from seqlab.training import MetricsLog

RECORD_COLUMNS = [
    "task",
    "cell",
    "seq_len",
    "clip_norm",
    "step",
    "loss",
    "accuracy",
    "grad_norm",
    "clipped",
    "stepped",
]
SUMMARY_COLUMNS = [
    "task",
    "cell",
    "seq_len",
    "clip_norm",
    "final_loss",
    "accuracy",
    "baseline_loss",
    "max_grad_norm",
    "clip_rate",
    "skipped_steps",
    "seconds",
    "reach_init",
    "reach_trained",
]


def save_comparison(
    out: Path, cfg: GradTrainConfig, records: list[dict], summaries: list[dict]
) -> None:
    """train.csv (per step), final.csv and accuracy.md (per run), config.json, and one
    runs/NAME/metrics.jsonl per run so ``seqlab grads plot`` reads them like any other run."""
    write_json(out / "config.json", {"grads_train": dataclasses.asdict(cfg)})
    layer_cols = sorted({k for r in records for k in r if k.startswith("grad_norm_")})
    write_csv(out / "train.csv", records, RECORD_COLUMNS + layer_cols)
    write_csv(out / "final.csv", summaries, SUMMARY_COLUMNS)
    (out / "accuracy.md").write_text(accuracy_table(summaries))
    for s in summaries:
        run = out / "runs" / run_name(s["cell"], s["seq_len"], s["clip_norm"])
        write_json(
            run / "config.json",
            {
                "task": s["task"],
                "cell": s["cell"],
                "seq_len": s["seq_len"],
                "optim": {"clip_norm": s["clip_norm"]},
            },
        )
        log_ = MetricsLog(run / "metrics.jsonl")
        for r in records:
            if (r["cell"], r["seq_len"], r["clip_norm"]) == (
                s["cell"],
                s["seq_len"],
                s["clip_norm"],
            ):
                log_.write(**{k: v for k, v in r.items() if k not in ("task", "cell")})
        log_.close()


def accuracy_table(summaries: list[dict]) -> str:
    """Markdown: held-out accuracy per (cell, clipping) and T, with the final loss."""
    lengths = sorted({int(s["seq_len"]) for s in summaries})
    rows = list(dict.fromkeys((s["cell"], float(s["clip_norm"])) for s in summaries))
    by = {(s["cell"], float(s["clip_norm"]), int(s["seq_len"])): s for s in summaries}
    lines = [
        "| cell | clipping | " + " | ".join(f"T = {T}" for T in lengths) + " |",
        "|---|---|" + "---|" * len(lengths),
    ]
    for cell, clip in rows:
        cells = []
        for T in lengths:
            s = by.get((cell, clip, T))
            cells.append(
                "-"
                if s is None
                else f"{float(s['accuracy']):.2f} (loss {float(s['final_loss']):.3g})"
            )
        clip_text = f"{clip:g}" if clip > 0 else "none"
        lines.append(f"| {cell} | {clip_text} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_comparison(out: Path) -> tuple[list[dict], list[dict]]:
    """Read train.csv and final.csv back, with numbers as numbers."""

    def load(path: Path) -> list[dict]:
        if not path.is_file():
            raise UserError(f"{path} not found: is this a `seqlab grads train` directory?")
        with open(path, newline="") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]

    return load(out / "train.csv"), load(out / "final.csv")


def _number(text: str):
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
