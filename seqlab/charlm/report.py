"""The files `seqlab charlm inspect` writes from a ``Trace`` (seqlab.charlm.inspect):

activations_h.npy (activations_c.npy)  (save, layers, hidden) float16, first characters
cells.csv           the units most correlated with each text feature (Pearson r)
cell_<feature>.html/.png   the text coloured by that feature's best unit, as the paper shows
saturation.csv/.png        per layer, gate and unit: fraction of steps below 0.1 / above 0.9
loss.csv, summary.json     per-character loss of the model and of a smoothed n-gram model
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

import numpy as np

from seqlab.charlm.inspect import GATES, HIGH, LOW, Trace, top_cells
from seqlab.data.text import split_text
from seqlab.ngram import CharNGram
from seqlab.strictjson import dumps


def colour(value: float) -> str:
    """A value in [-1, 1] as a CSS colour: blue for negative, red for positive (the paper's)."""
    v = float(np.clip(value, -1, 1))
    fade = int(255 * (1 - 0.7 * abs(v)))  # at most 70%: the characters stay readable
    return f"rgb(255,{fade},{fade})" if v > 0 else f"rgb({fade},{fade},255)"


def cell_spans(text: str, values: np.ndarray) -> str:
    """A <pre class="cells"> of the text, each character on its value's colour (hover: value)."""
    spans = "".join(
        f'<span style="background:{colour(v)}" title="{float(v):+.2f}">'
        + ("\u21b5<br>" if ch == "\n" else html.escape(ch))
        + "</span>"
        for ch, v in zip(text, values, strict=False)
    )
    style = "white-space:pre-wrap;font:14px/1.6 monospace"
    return f'<pre class="cells" style="{style}">{spans}</pre>'


def cell_html(text: str, values: np.ndarray, title: str) -> str:
    """A standalone page: the title and the text coloured by the unit's activation."""
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h3 style='font-family:sans-serif'>{html.escape(title)}</h3>" + cell_spans(text, values)
    )


def cell_png(text: str, values: np.ndarray, title: str, path: Path, width: int = 90) -> None:
    """The same picture as a PNG: characters on a monospace grid, each on its unit's colour."""
    from matplotlib import get_data_path
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(Path(get_data_path()) / "fonts/ttf/DejaVuSansMono.ttf"), 14)
    cw, ch_h = 9, 19  # pixels per character cell
    rows, row = [], []
    for ch, v in zip(text, values, strict=False):
        row.append((ch, v))
        if ch == "\n" or len(row) == width:
            rows.append(row)
            row = []
    rows = (rows + [row])[:40]
    image = Image.new("RGB", (width * cw + 16, len(rows) * ch_h + 40), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), title, fill="black", font=font)
    for y, line in enumerate(rows):
        for x, (ch, v) in enumerate(line):
            left, top = 8 + x * cw, 32 + y * ch_h
            draw.rectangle((left, top, left + cw - 1, top + ch_h - 1), fill=colour(v))
            draw.text((left, top + 1), "\u21b5" if ch == "\n" else ch, fill="black", font=font)
    image.save(path)


def saturation_plot(tr: Trace, path: Path) -> None:
    """Fraction right-saturated against left-saturated, one dot per unit (the paper's Fig. 3)."""
    from matplotlib.figure import Figure

    gates = GATES[tr.cell]
    fig = Figure(figsize=(3.6 * len(gates), 3.6), layout="constrained")
    for j, gate in enumerate(gates):
        ax = fig.add_subplot(1, len(gates), j + 1)
        for layer in range(tr.saturation[gate].shape[0]):
            frac = tr.saturation[gate][layer]  # (H, 2)
            ax.scatter(frac[:, 0], frac[:, 1], s=6, alpha=0.6, label=f"layer {layer + 1}")
        ax.plot([0, 1], [1, 0], color="grey", lw=0.6)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"{gate} gate",
               xlabel=f"fraction left-saturated (< {LOW})",
               ylabel=f"fraction right-saturated (> {HIGH})")  # fmt: skip
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def write_report(
    tr: Trace, text: str, out: Path, ngram_order: int = 5, val_fraction=0.1, skipped: int = 0
) -> dict:
    """Write every file into `out`; returns the summary (also written as summary.json).
    ``skipped``: characters left out of ``text`` because the model never saw them."""
    out.mkdir(parents=True, exist_ok=True)
    for kind, arr in tr.states.items():
        np.save(out / f"activations_{kind}.npy", arr)
    shown = text[: len(next(iter(tr.states.values())))]
    (out / "text.txt").write_text(shown, encoding="utf-8")
    rows = top_cells(tr)
    _write_csv(out / "cells.csv", rows)
    for row in (r for r in rows if r["rank"] == 1 and r["r"] != 0):  # 0: feature never varies
        values = tr.states[row["state"]][:, row["layer"], row["unit"]].astype(np.float32)
        values = values / (np.abs(values).max() + 1e-8)
        title = f"{row['feature']}: layer {row['layer'] + 1} {row['state']}[{row['unit']}], "
        title += f"r = {row['r']:+.2f}"
        page = out / f"cell_{row['feature']}.html"
        page.write_text(cell_html(shown[:3000], values, title), encoding="utf-8")
        cell_png(shown[:1500], values, title, out / f"cell_{row['feature']}.png")
    sat_rows = [
        {"layer": layer, "gate": g, "unit": u, f"below_{LOW}": round(float(f[u, 0]), 4),
         f"above_{HIGH}": round(float(f[u, 1]), 4)}
        for g, arr in tr.saturation.items() for layer, f in enumerate(arr) for u in range(len(f))
    ]  # fmt: skip
    if sat_rows:
        _write_csv(out / "saturation.csv", sat_rows)
        saturation_plot(tr, out / "saturation.png")
    summary = {
        "characters": tr.n,
        "skipped_characters": skipped,
        "cell": tr.cell,
        "streams_note": "see charlm_inspect",
    }
    summary |= compare_ngram(tr, text, out, ngram_order, val_fraction)
    summary["top_cells"] = [r for r in rows if r["rank"] == 1]
    summary["gates"] = list(tr.saturation) or "none: a vanilla RNN has no gates"
    (out / "summary.json").write_text(dumps(summary, indent=2) + "\n")
    return summary


def compare_ngram(tr: Trace, text: str, out: Path, order: int, val_fraction: float) -> dict:
    """Fit the n-gram on the first part of the text, compare per character on the rest."""
    head, tail = split_text(text, val_fraction)
    cut = len(head)
    lm = CharNGram.fit(head, order)
    ng = lm.nll(tail)[1:]  # character t given the ones before it, t >= cut + 1
    net = tr.nll[cut : cut + len(ng)]  # nll[t] scores character t + 1
    ng = ng[: len(net)]
    with open(out / "loss.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["position", "char", "model_nats", f"ngram{order}_nats"])
        for k, (a, b) in enumerate(zip(net, ng, strict=True)):
            w.writerow([cut + 1 + k, tail[1 + k], round(float(a), 4), round(float(b), 4)])
    classes = {"letter": str.isalpha, "space": lambda c: c == " ", "newline": lambda c: c == "\n",
               "other": lambda c: not (c.isalpha() or c in " \n")}  # fmt: skip
    by_class = {}
    for name, test in classes.items():
        mask = np.array([test(c) for c in tail[1 : 1 + len(net)]], dtype=bool)
        if mask.any():
            by_class[name] = {
                "model": round(float(net[mask].mean()), 4),
                "ngram": round(float(ng[mask].mean()), 4),
                "count": int(mask.sum()),
            }
    return {
        "compared_on": f"the last {val_fraction:.0%} of the text ({len(net)} characters)",
        "model_nats": round(float(net.mean()), 4) if len(net) else None,
        f"ngram{order}_nats": round(float(ng.mean()), 4) if len(ng) else None,
        "by_class": by_class,
        "model_wins_fraction": round(float((net < ng).mean()), 4) if len(net) else None,
    }


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
