"""Translation demo: a sentence in, its translation out, the n-best list and the attention map.

    uv run python apps/translate_demo.py                     # the shipped Multi30k de->en model
    uv run python apps/translate_demo.py --checkpoint runs/de-en [--host 127.0.0.1] [--port 7860]
    uv run python apps/translate_demo.py --toy               # train a dates model (~2 min, once)

With no --checkpoint it serves the shipped German -> English model (seqlab pretrained show
translate-multi30k-de-en). ``--toy`` trains a small GRU + attention model on dates that seqlab
generates itself ("the twenty-third of march two thousand four" -> "2004-03-23", see
seqlab/data/synthetic_dates.py), caches it in data/cache/translate_demo, and serves that: its
attention maps are easy to read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gradio as gr

from seqlab import pretrained
from seqlab.commands import checkpoint_arg
from seqlab.errors import UserError
from seqlab.serving import add_server_args, launch

CACHE = Path(__file__).resolve().parents[1] / "data" / "cache" / "translate_demo"
DATE_EXAMPLES = [
    ["the twenty-third of march two thousand four"],
    ["March 5, 1999"],
    ["12 dec 2030"],
    ["the 1st of june nineteen sixty-two"],
    ["august the 13th nineteen ninety-one"],
]
# Sentences of the shipped model's domain (Multi30k: one-sentence descriptions of photos),
# written for this demo.
DE_EXAMPLES = [
    ["Ein Hund läuft im Park."],
    ["Zwei Männer spielen Fußball auf einer Wiese."],
    ["Ein kleines Mädchen in einem rosa Kleid spielt am Strand im Sand."],
    ["Ein Mann mit Helm fährt mit dem Fahrrad eine steile Straße hinunter."],
    ["Eine Frau sitzt auf einer Bank und liest ein Buch."],
    ["Mehrere Leute warten an einer Bushaltestelle in der Stadt."],
]


def attention_figure(result: dict):
    """The attention matrix as a heatmap: target tokens (rows) against source tokens (columns).
    A plain Figure, not pyplot: no global state shared between requests."""
    from matplotlib.figure import Figure

    src, tgt, attn = result["source_tokens"], result["target_tokens"], result["attention"]
    # about 0.45 in per source token and 0.4 in per target token, within a readable page size
    width = min(max(4.0, 0.45 * len(src) + 1.5), 14.0)
    height = min(max(3.0, 0.4 * len(tgt) + 1.2), 10.0)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(attn, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right")
    ax.set_yticks(range(len(tgt)), tgt)
    ax.set_xlabel("source tokens")
    ax.set_ylabel("target tokens")
    return fig


def build_demo(translator, about: str, examples: list | None = None) -> gr.Blocks:
    """The page around a ``Translator``; ``about`` says which model it is running."""

    def translate(text, beam_size, length_penalty, n_best):
        if not isinstance(text, str) or not text.strip():
            return "", None, None, "Type a sentence (or pick an example) to translate it."
        beam_size, n_best = int(beam_size), int(n_best)
        try:
            result = translator.translate(
                text, beam_size, float(length_penalty), min(n_best, beam_size)
            )
        except UserError as e:
            return "", None, None, f"**Cannot translate:** {e}"
        rows = [
            [i + 1, t, round(s, 3), round(lp, 3)] for i, (t, s, lp) in enumerate(result["n_best"])
        ]
        notes = []
        if n_best > beam_size:
            notes.append(f"The n-best list is at most the beam size ({beam_size}).")
        if result["unknown"]:
            notes.append(
                "Unknown to the model (read as `<unk>`): "
                + " ".join(f"`{p}`" for p in result["unknown"])
            )
        if result["attention"] is None:
            notes.append("This model has no attention (or the output is empty): no heatmap.")
        fig = attention_figure(result) if result["attention"] else None
        search = "greedy search" if beam_size == 1 else f"beam search (beam {beam_size})"
        notes.insert(0, f"Decoded with {search}, length penalty {float(length_penalty):g}.")
        return result["translation"], rows, fig, " ".join(notes)

    with gr.Blocks(title="seqlab: translation") as demo:
        gr.Markdown(
            "# seqlab translator\nAn encoder-decoder with attention: a bidirectional "
            "GRU reads the source, a GRU writes the translation while attending over it."
        )
        gr.Markdown(f"**Running:** {about}")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Source text", lines=3)
                beam = gr.Slider(1, 10, value=5, step=1, label="Beam size (1: greedy)")
                alpha = gr.Slider(
                    0.0,
                    2.0,
                    value=translator.length_penalty,
                    step=0.1,
                    label="Length penalty alpha (GNMT; 0: none)",
                )
                n_best = gr.Slider(1, 10, value=3, step=1, label="n-best list size")
                button = gr.Button("Translate", variant="primary")
            with gr.Column():
                output = gr.Textbox(label="Translation", interactive=False)
                status = gr.Markdown()
                table = gr.Dataframe(
                    headers=["rank", "translation", "score", "log-prob"],
                    label="n-best (score = log-prob / length penalty)",
                )
        plot = gr.Plot(label="Attention (rows: target tokens, columns: source tokens)")
        if examples:
            gr.Examples(examples, inputs=[text])
        inputs, outputs = [text, beam, alpha, n_best], [output, table, plot, status]
        button.click(translate, inputs, outputs, api_name="translate")
        text.submit(translate, inputs, outputs)
    return demo


def load_translator(checkpoint: str, minutes: float, cache: Path, toy: bool = False):
    """The translator, a line saying what it is, and examples (--toy: the dates model)."""
    from seqlab.translate.predict import Translator
    from seqlab.translate.train import train_demo_model

    if toy:
        if not (cache / "ckpt_best.pt").is_file():
            print(
                f"No --checkpoint: training a small GRU + attention model on generated dates "
                f"for up to {minutes:g} minutes (once; cached in {cache})."
            )
        bar = _progress_bar(minutes)
        path = train_demo_model(cache, bar, minutes)
        about = (
            "a small GRU + attention model trained offline on dates that seqlab generates "
            "(spelled-out and numeric dates -> ISO `YYYY-MM-DD`), cached in "
            f"`{cache}` (`--toy`)."
        )
        return Translator.from_checkpoint(path, "cpu"), about, DATE_EXAMPLES
    tr = Translator.from_checkpoint(checkpoint, "cpu")
    cfg = tr.info["model_config"]
    if checkpoint in pretrained.ENTRIES:
        e = pretrained.entry(checkpoint)
        return tr, f"shipped model `{e.name}`: {e.summary}", DE_EXAMPLES
    about = (
        f"`{checkpoint}`: {cfg['cell'].upper()} hidden {cfg['hidden_size']}, attention "
        f"{cfg['attention']}, dev scores {tr.info['metrics']}."
    )
    return tr, about, DE_EXAMPLES


def _progress_bar(minutes: float):
    """A terminal bar over the time budget (training may stop sooner, once it has learned)."""
    import time

    from tqdm.auto import tqdm

    bar = tqdm(total=round(minutes * 60), desc="training the demo model", unit="s")
    start = time.perf_counter()

    def update(step: int, total: int, loss: float) -> None:
        bar.update(min(round(time.perf_counter() - start), bar.total) - bar.n)
        bar.set_postfix(step=step, loss=f"{loss:.3f}")

    return update


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", **checkpoint_arg("translate"))
    add_server_args(parser)
    parser.add_argument(
        "--toy", action="store_true", help="train (once) and serve a small dates -> ISO model"
    )
    parser.add_argument(
        "--train-minutes", type=float, default=2.0, help="training budget of the --toy model"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="where that model is kept")
    args = parser.parse_args(argv)
    try:
        tr, about, examples = load_translator(
            args.checkpoint, args.train_minutes, args.cache_dir, args.toy
        )
    except UserError as e:
        parser.exit(1, f"translate_demo: error: {e}\n")
    launch(build_demo(tr, about, examples), args.host, args.port)


if __name__ == "__main__":
    main()
