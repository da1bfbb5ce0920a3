"""Figures of the gradient lab: temporal gradient norms, training comparisons, a run's grad norms.

Every function takes plain rows (dicts, as in the CSV files and ``metrics.jsonl``) and returns a
``matplotlib.figure.Figure`` (no pyplot, so no global state: safe inside a Gradio server).
Save one with ``fig.savefig(path, dpi=150)``.
"""

from __future__ import annotations

import math
from collections import defaultdict

from matplotlib.figure import Figure

COLORS = {
    "rnn": "tab:red",
    "rnn_relu": "tab:orange",
    "rnn_linear": "tab:brown",
    "lstm": "tab:blue",
    "gru": "tab:green",
}


SHADES = {  # several gate biases of one cell: shades of its colour
    "lstm": ["#6baed6", "#2171b5", "#08306b", "#9ecae1", "#4292c6", "#08519c"],
    "gru": ["#74c476", "#238b45", "#00441b", "#a1d99b", "#41ab5d", "#006d2c"],
}


def _palette(labels: list[str]) -> dict[str, str]:
    """A fixed colour per cell family (several LSTM forget or GRU update biases: shades)."""
    colors, shade, other = {}, {cell: 0 for cell in SHADES}, 0
    for label in labels:
        family = label.split(" ")[0]
        if label in COLORS:
            colors[label] = COLORS[label]
        elif family in SHADES:
            colors[label] = SHADES[family][shade[family] % len(SHADES[family])]
            shade[family] += 1
        else:
            colors[label] = f"C{(4 + other) % 10}"
            other += 1
    return colors


def _display(label: str) -> str:
    """Legend text: the plain 'rnn' cell is the tanh one."""
    return "rnn (tanh)" if label == "rnn" else label


def _positive(values: list[float]) -> list[float]:
    """Log axes cannot show 0, inf or nan: leave a gap there."""
    return [v if v > 0 and math.isfinite(v) else math.nan for v in values]


def plot_temporal(rows: list[dict], title: str = "") -> Figure:
    """||dL/dh_t|| against the distance T - t, log scale, one line per cell (a panel per layer)."""
    layers = sorted({int(r["layer"]) for r in rows})
    fig = Figure(figsize=(7.5 if len(layers) == 1 else 5 * len(layers), 4.8), layout="constrained")
    axes = fig.subplots(1, len(layers), sharey=True, squeeze=False)[0]
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    colors = _palette(cells)
    for ax, layer in zip(axes, layers, strict=True):
        for cell in cells:
            pts = sorted(
                (int(r["distance"]), float(r["grad_norm"]))
                for r in rows
                if r["cell"] == cell and int(r["layer"]) == layer
            )
            ax.plot(
                [d for d, _ in pts],
                _positive([n for _, n in pts]),
                label=_display(cell),
                color=colors[cell],
                lw=2,
            )
        ax.set_yscale("log")
        ax.set_xlabel("distance T - t (steps back from the loss)")
        ax.grid(True, which="major", alpha=0.3)
        if len(layers) > 1:
            ax.set_title(f"layer {layer}")
    axes[0].set_ylabel(r"$\|\partial L / \partial h_t\|$ (log scale)")
    axes[-1].legend(loc="best", fontsize=9)
    fig.suptitle(title or "Gradient reaching each earlier step (loss on the last step)")
    return fig


def _smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average (training losses are noisy batch by batch)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _runs(records: list[dict]) -> dict[tuple, list[dict]]:
    runs: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        runs[(r["cell"], int(r["seq_len"]), float(r["clip_norm"]))].append(r)
    return runs


def plot_training(
    records: list[dict], summaries: list[dict], metric: str = "loss", smooth: int = 20
) -> Figure:
    """One panel per sequence length; a line per cell; solid = clipped, dashed = not clipped.

    ``metric`` is "loss" (moving average, with the input-blind baseline) or "grad_norm"
    (pre-clip global norm per step, log scale, with the clip threshold).
    """
    runs = _runs(records)
    lengths = sorted({k[1] for k in runs})
    colors = _palette(list(dict.fromkeys(k[0] for k in runs)))
    fig = Figure(figsize=(max(7.5, 4.6 * len(lengths)), 4.6), layout="constrained")
    axes = fig.subplots(1, len(lengths), sharey=True, squeeze=False)[0]
    for ax, T in zip(axes, lengths, strict=True):
        for (cell, t, clip), recs in runs.items():
            if t != T:
                continue
            steps = [r["step"] for r in recs]
            values = [float(r[metric]) for r in recs]
            style = "-" if clip > 0 else "--"
            label = f"{_display(cell)}, " + (f"clip {clip:g}" if clip > 0 else "no clip")
            if metric == "grad_norm":  # every step faintly (the spikes), the trend in bold
                ax.plot(steps, _positive(values), style, color=colors[cell], lw=0.5, alpha=0.3)
            ax.plot(steps, _smooth(values, smooth), style, color=colors[cell], label=label, lw=1.6)
        clips = sorted({k[2] for k in runs if k[2] > 0})
        if metric == "grad_norm":
            for c in clips:
                ax.axhline(c, color="black", lw=1, ls=":", label=f"clip threshold {c:g}")
        elif summaries:
            ax.axhline(
                summaries[0]["baseline_loss"],
                color="gray",
                lw=1,
                ls=":",
                label="input-blind baseline",
            )
        ax.set_yscale("log")
        ax.set_title(f"T = {T}")
        ax.set_xlabel("training step")
        ax.grid(True, which="major", alpha=0.3)
    task = summaries[0]["task"] if summaries else ""
    ylabel = (
        f"training loss (moving average of {smooth})"
        if metric == "loss"
        else "grad norm before clipping"
    )
    axes[0].set_ylabel(ylabel + " (log)")
    axes[-1].legend(fontsize=8, loc="best")
    what = "Loss" if metric == "loss" else "Gradient norm"
    how = "dashed: no clipping, solid: clipped by global norm"
    if metric == "grad_norm":
        how += f"; faint: every step, bold: mean of {smooth}"
    fig.suptitle(f"{what} on the {task} task\n{how}")
    return fig


def plot_accuracy(summaries: list[dict]) -> Figure:
    """Held-out accuracy as an annotated table: a row per (cell, clipping), a column per T."""
    lengths = sorted({int(s["seq_len"]) for s in summaries})
    rows = list(dict.fromkeys((s["cell"], float(s["clip_norm"])) for s in summaries))
    acc = {
        (s["cell"], float(s["clip_norm"]), int(s["seq_len"])): float(s["accuracy"])
        for s in summaries
    }
    grid = [[acc.get((c, k, T), math.nan) for T in lengths] for c, k in rows]
    fig = Figure(figsize=(2.2 + 1.3 * len(lengths), 1.4 + 0.45 * len(rows)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            ax.text(
                j, i, "-" if math.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=10
            )
    ax.set_xticks(range(len(lengths)), [f"T = {T}" for T in lengths])
    ax.set_yticks(
        range(len(rows)), [f"{c}, " + (f"clip {k:g}" if k > 0 else "no clip") for c, k in rows]
    )
    fig.colorbar(im, ax=ax, label="held-out accuracy")
    task = summaries[0]["task"] if summaries else ""
    rule = " (right = within 0.04 of the sum)" if task == "adding" else ""
    fig.suptitle(f"Held-out accuracy on the {task} task{rule}")
    return fig


def plot_run_metrics(records: list[dict], clip_norm: float = 0.0, title: str = "") -> Figure:
    """A run's pre-clip gradient norm per step (clip threshold, clip rate) and its loss."""
    recs = [r for r in records if "grad_norm" in r and "step" in r]
    steps = [r["step"] for r in recs]
    norms = [float(r["grad_norm"]) for r in recs]
    # a record's clip_rate is over its --log-every steps (older runs: a per-step "clipped")
    if all("clip_rate" in r for r in recs):
        rate = sum(float(r["clip_rate"]) for r in recs) / max(len(recs), 1)
    elif clip_norm > 0:
        clipped = [bool(r.get("clipped", n > clip_norm)) for r, n in zip(recs, norms, strict=True)]
        rate = sum(clipped) / max(len(recs), 1)
    else:
        rate = sum(bool(r.get("clipped", False)) for r in recs) / max(len(recs), 1)
    fig = Figure(figsize=(8, 6), layout="constrained")
    ax_norm, ax_loss = fig.subplots(2, 1, sharex=True)
    ax_norm.plot(steps, _positive(norms), lw=0.8, color="tab:blue", label="pre-clip norm")
    ax_norm.plot(steps, _smooth(norms, 50), lw=1.8, color="navy", label="moving average (50)")
    if clip_norm > 0:
        ax_norm.axhline(
            clip_norm,
            color="tab:red",
            ls="--",
            label=f"clip threshold {clip_norm:g} (clipped {rate:.0%} of steps)",
        )
    ax_norm.set_yscale("log")
    ax_norm.set_ylabel("global gradient norm (log)")
    ax_norm.legend(fontsize=9, loc="best")
    ax_norm.grid(True, alpha=0.3)
    ax_loss.plot(
        steps,
        [r.get("loss", math.nan) for r in recs],
        lw=0.8,
        color="tab:gray",
        label="training loss",
    )
    val = [r for r in records if "val_loss" in r]
    if val:
        ax_loss.plot(
            [r["step"] for r in val],
            [r["val_loss"] for r in val],
            "o-",
            color="tab:orange",
            label="validation loss",
        )
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=9, loc="best")
    ax_loss.grid(True, alpha=0.3)
    clip_text = f"clip {clip_norm:g}, clip rate {rate:.1%}" if clip_norm > 0 else "no clipping"
    fig.suptitle(title or f"Gradient norm per step ({clip_text})")
    return fig
