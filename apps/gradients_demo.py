"""Gradient lab demo: watch gradients vanish or explode through time in RNN, LSTM and GRU.

    uv run python apps/gradients_demo.py [--host 127.0.0.1] [--port 7860]

Tab 1 measures ||dL/dh_t|| for a loss on the last step (a few seconds on a CPU); tab 2 trains the
cells on the adding or copy task with and without clipping (a minute or more, with progress);
tab 3 plots the gradient norms of any run's metrics.jsonl.
"""

from __future__ import annotations

import argparse

import gradio as gr

from seqlab.gradient_plots import plot_run_metrics, plot_temporal, plot_training
from seqlab.gradients import (
    CELLS,
    INITS,
    TemporalConfig,
    far_norms,
    measure_temporal,
    temporal_title,
)
from seqlab.grads.files import accuracy_table
from seqlab.grads.train import TASKS, GradTrainConfig, compare
from seqlab.serving import add_server_args, launch
from seqlab.training import read_metrics

MAX_FORGET_BIASES = 5  # per gated cell, one curve each: more is unreadable, and each is measured
# steps x runs (cells x lengths x clipped or not): about 10 minutes on a CPU by the button's
# estimate; one training holds the tab's only slot (seqlab.serving.CONCURRENCY) while it runs
MAX_TRAIN_STEPS = 10_000
UPDATE_BIAS = "0,3"  # the GRU update-gate biases the page starts with (an API call may omit them)

INTRO = """# seqlab gradient lab
A loss on the **last** step of a length-T sequence sends a gradient back to every hidden state
h_t. Its norm, against the distance T - t, shows the vanishing gradient problem (Bengio, Simard and
Frasconi 1994) and how gates avoid it once they are set to keep the state (Hochreiter and
Schmidhuber 1997). Pick cells and knobs; the curves are measured with autograd on the from-scratch
cells, averaged over seeds."""
GATES_NOTE = """**Why the GRU at bias 0 vanishes like the RNN.** A gate keeps the old state as far
as it is open: the LSTM's forget gate f and the GRU's update gate z (h_t = (1 - z) n + z h_{t-1}).
At bias 0 (torch.nn initialises both near 0) they sit near sigmoid(0) = 0.5, so about half the
signal is lost at every step, as in the plain RNN. A bias of 3 holds them about 0.95 open and the
gradient reaches 100 steps back (forget gate: Gers et al. 2000; update gate: Tallec and Ollivier
2018). Training opens them too: the Training tab shows how much of the gradient reaches the
first step before and after training (its first preset: the GRU's goes from 8e-7 to 0.13)."""


def _biases(text, gate: str) -> str:
    """A comma-separated list of gate biases from the page, refused when too long."""
    text = str(text or "")
    if len(text) > 20 * MAX_FORGET_BIASES or text.count(",") >= MAX_FORGET_BIASES:
        raise gr.Error(f"Give at most {MAX_FORGET_BIASES} {gate} biases, e.g. 0,1,3.")
    return text


def temporal_view(
    cells,
    seq_len,
    radius,
    init,
    forget_bias,
    hidden_size,
    seeds,
    update_bias=UPDATE_BIAS,
    progress=gr.Progress(),  # noqa: B008 - gradio's idiom
):
    """Measure and plot ||dL/dh_t||; returns (figure, markdown summary)."""
    if not cells:
        raise gr.Error("Pick at least one cell.")
    forget_bias, update_bias = (
        _biases(forget_bias, "forget-gate"),
        _biases(update_bias, "update-gate"),
    )
    try:
        cfg = TemporalConfig(
            cells=",".join(cells),
            seq_len=int(seq_len),
            radius=float(radius),
            init=init,
            forget_bias=forget_bias,
            update_bias=update_bias,
            hidden_size=int(hidden_size),
            input_size=int(hidden_size),
            seeds=int(seeds),
        )
    except ValueError as e:
        raise gr.Error(str(e)) from e
    rows = measure_temporal(cfg, lambda frac, text: progress(frac, desc=text))
    lines = ["| cell | norm at distance 0 | norm at distance T | ratio |", "|---|---:|---:|---:|"]
    for cell, _, last, first in far_norms(rows):
        ratio = first / last if last > 0 else float("nan")
        lines.append(f"| {cell} | {last:.3g} | {first:.3g} | {ratio:.3g} |")
    return plot_temporal(rows, temporal_title(cfg)), "\n".join(lines)


LENGTHS = [10, 25, 30, 50, 100, 200]  # the training tab's choices of T
# Each preset shows one lesson in about a minute on a 2-core CPU (docs/results/gradients.md):
# (task, cells, lengths, steps, clip, hidden, optimizer, lr, batch size); lengths from LENGTHS
PRESETS = {
    "Gates remember: LSTM and GRU vs RNN (adding, T = 30)": (
        "adding", ["rnn", "lstm", "gru"], [30], 500, 0.0, 64, "adam", 0.01, 64
    ),
    # lr 0.5: unclipped, SGD's momentum step blows the GRU up within 40 steps (5 seeds of 5);
    # clipped at 1 the same runs learn (held-out accuracy 0.35 to 0.93, chance 0.06)
    "SGD explodes unclipped, learns clipped (GRU, T = 10)": (
        "adding", ["gru"], [10], 400, 1.0, 32, "sgd", 0.5, 32
    ),
}  # fmt: skip


def preset_knobs(name: str) -> tuple:
    """The training knobs a preset sets, in the order of the tab's inputs."""
    if name not in PRESETS:
        raise gr.Error(f"No preset named {name!r}; pick one of: {', '.join(PRESETS)}.")
    return PRESETS[name]


def train_view(
    task,
    cells,
    seq_lens,
    steps,
    clip_norm,
    hidden_size,
    optimizer="adam",
    lr=0.01,
    batch_size=32,
    progress=gr.Progress(),  # noqa: B008 - gradio's idiom
):
    """Train every cell at every T, unclipped and clipped; returns (loss fig, norm fig, table)."""
    if not cells or not seq_lens:
        raise gr.Error("Pick at least one cell and one sequence length.")
    try:
        cfg = GradTrainConfig(
            task=task,
            cells=",".join(cells),
            seq_len=",".join(str(t) for t in seq_lens),
            steps=int(steps),
            clip_norm=float(clip_norm or 0),
            hidden_size=int(hidden_size),
            optimizer=str(optimizer),
            lr=float(lr),
            batch_size=int(batch_size),
            eval_size=256,
        )
    except ValueError as e:
        raise gr.Error(str(e)) from e
    total = cfg.steps * len(cells) * len(seq_lens) * len(cfg.clip_values())
    if total > MAX_TRAIN_STEPS:
        raise gr.Error(
            f"That is {total:,} training steps in all (steps x cells x lengths, twice with "
            f"clipping); the limit is {MAX_TRAIN_STEPS:,}: pick fewer steps, cells or lengths."
        )
    progress(0, desc="starting")
    records, summaries = compare(cfg, lambda frac, text: progress(frac, desc=text))
    metric = (
        "|prediction - target| < 0.04" if task == "adding" else "every symbol recalled correctly"
    )
    table = (
        f"**Held-out accuracy** (fraction of 256 new sequences with {metric}), and the final "
        f"loss; chance is about 0.06 for the adding task.\n\n" + accuracy_table(summaries)
    )
    table += "\n" + reach_table(summaries)
    return (
        plot_training(records, summaries, "loss"),
        plot_training(records, summaries, "grad_norm"),
        table,
    )


def reach_table(summaries: list[dict]) -> str:
    """Markdown: how much of a last-step gradient reaches the first step, before and after."""
    lines = [
        "**Gradient reach** ||dL/dh_0|| / ||dL/dh_T|| on 32 sequences, at initialisation and "
        "after training (trained gates keep the state open):\n",
        "| cell | clipping | T | at init | trained |",
        "|---|---|---:|---:|---:|",
    ]
    for s in summaries:
        clip = f"{s['clip_norm']:g}" if s["clip_norm"] > 0 else "none"
        lines.append(
            f"| {s['cell']} | {clip} | {s['seq_len']} | {s['reach_init']:.2g} "
            f"| {s['reach_trained']:.2g} |"
        )
    return "\n".join(lines) + "\n"


def run_view(metrics_file, clip_norm):
    """Gradient-norm curve of an uploaded metrics.jsonl."""
    if metrics_file is None:
        raise gr.Error("Upload a metrics.jsonl file first.")
    try:
        records = read_metrics(metrics_file)
    except (OSError, UnicodeDecodeError) as e:
        raise gr.Error(f"Cannot read that file: {e}") from e
    if not any("grad_norm" in r for r in records if isinstance(r, dict)):
        raise gr.Error("That file has no records with a grad_norm: is it a metrics.jsonl?")
    return plot_run_metrics([r for r in records if isinstance(r, dict)], float(clip_norm or 0))


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="seqlab: gradient lab") as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Through time"):
            with gr.Row():
                with gr.Column(scale=1):
                    cells = gr.CheckboxGroup(
                        list(CELLS), value=["rnn", "lstm", "gru"], label="cells"
                    )
                    seq_len = gr.Slider(5, 300, value=100, step=5, label="sequence length T")
                    radius = gr.Slider(
                        0,
                        1.5,
                        value=0.9,
                        step=0.05,
                        label="spectral radius of W_hh (0: as initialised)",
                    )
                    init = gr.Dropdown(list(INITS), value="default", label="recurrent init")
                    forget = gr.Textbox("0,1,3", label="LSTM forget-gate bias (comma-separated)")
                    update = gr.Textbox(UPDATE_BIAS, label="GRU update-gate bias (comma-separated)")
                    hidden = gr.Slider(4, 128, value=64, step=4, label="hidden size")
                    seeds = gr.Slider(1, 5, value=3, step=1, label="seeds to average")
                    measure = gr.Button("Measure", variant="primary")
                with gr.Column(scale=2):
                    temporal_plot = gr.Plot(
                        label="gradient norm against distance",
                        show_label=False,
                        elem_id="temporal-plot",
                    )
                    temporal_table = gr.Markdown(label="norms at distance 0 and T")
                    gr.Markdown(
                        "To see an **explosion** here: pick `rnn_linear` (or `rnn_relu`), "
                        "recurrent init `orthogonal` and a spectral radius above 1 (say 1.1): "
                        "the norm then grows like radius^(T - t) instead of shrinking."
                    )
                    gr.Markdown(GATES_NOTE)
            inputs = [cells, seq_len, radius, init, forget, hidden, seeds, update]
            outputs = [temporal_plot, temporal_table]
            measure.click(temporal_view, inputs, outputs, api_name="temporal")
            # the page re-measures as a knob moves: internal events, each named for its knob
            events = {
                "cells": cells.change,
                "init": init.change,
                "seq_len": seq_len.release,
                "radius": radius.release,
                "hidden": hidden.release,
                "seeds": seeds.release,
                "forget": forget.submit,
                "update": update.submit,
                "load": demo.load,
            }
            for name, event in events.items():
                event(
                    temporal_view,
                    inputs,
                    outputs,
                    trigger_mode="always_last",
                    api_name=f"temporal_on_{name}",
                    api_visibility="private",
                )
        with gr.Tab("Training"):
            gr.Markdown(
                "Train each cell on a long-range task, without clipping (dashed) and with "
                "clipping by global norm (solid). Every run sees the same batches. "
                "Pick a preset for a one-minute lesson, or set the knobs yourself."
            )
            preset = gr.Radio(list(PRESETS), label="Presets", value=None)
            with gr.Row():
                with gr.Column(scale=1):
                    task = gr.Dropdown(list(TASKS), value="adding", label="task")
                    t_cells = gr.CheckboxGroup(
                        ["rnn", "rnn_relu", "lstm", "gru"],
                        value=["rnn", "lstm", "gru"],
                        label="cells",
                    )
                    t_lens = gr.CheckboxGroup(LENGTHS, value=[25, 100], label="sequence lengths T")
                    steps = gr.Slider(20, 1000, value=200, step=10, label="steps per run")
                    clip = gr.Number(1.0, label="clip threshold (0: no clipped runs)")
                    t_hidden = gr.Slider(8, 128, value=32, step=8, label="hidden size")
                    with gr.Row():
                        t_opt = gr.Radio(["adam", "sgd"], value="adam", label="optimizer")
                        t_lr = gr.Number(0.01, label="learning rate")
                        t_batch = gr.Slider(8, 128, value=32, step=8, label="batch size")
                    train = gr.Button(
                        "Train (about 1 min per 1000 steps x runs)", variant="primary"
                    )
                with gr.Column(scale=2):
                    loss_plot = gr.Plot(label="loss", show_label=False)
                    norm_plot = gr.Plot(label="gradient norm", show_label=False)
                    acc_table = gr.Markdown(label="held-out accuracy and gradient reach")
            knobs = [task, t_cells, t_lens, steps, clip, t_hidden, t_opt, t_lr, t_batch]
            train.click(train_view, knobs, [loss_plot, norm_plot, acc_table], api_name="train")
            preset.input(preset_knobs, [preset], knobs, api_name="preset")
        with gr.Tab("Any run"):
            gr.Markdown("Upload a `metrics.jsonl` from any seqlab run (char-LM, sentiment, ...).")
            with gr.Row():
                metrics_file = gr.File(label="metrics.jsonl", type="filepath")
                run_clip = gr.Number(5.0, label="clip threshold of that run (optim.clip_norm)")
            run_plot = gr.Plot(label="gradient norm per step", show_label=False, elem_id="run-plot")
            gr.Button("Plot").click(run_view, [metrics_file, run_clip], run_plot, api_name="run")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_args(parser)
    args = parser.parse_args(argv)
    launch(build_demo(), args.host, args.port)


if __name__ == "__main__":
    main()
