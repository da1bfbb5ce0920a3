"""Translation demo: a sentence in, its translation out, the n-best list and the attention map.

    uv run python apps/translate_demo.py                     # the shipped Multi30k de->en model
    uv run python apps/translate_demo.py --checkpoint runs/de-en [--host 127.0.0.1] [--port 7860]
    uv run python apps/translate_demo.py --toy               # train a dates model (~2 min, once)

With no --checkpoint it serves the shipped German -> English model (seqlab pretrained show
translate-multi30k-de-en). ``--toy`` trains a small GRU + attention model on dates that seqlab
generates itself ("the twenty-third of march two thousand four" -> "2004-03-23", see
seqlab/toy/dates.py), caches it in data/cache/translate_demo, and serves that: its
attention maps are easy to read.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path

import gradio as gr

from seqlab import pretrained
from seqlab.commands import checkpoint_arg
from seqlab.errors import UserError
from seqlab.familiarity import unfamiliar_note
from seqlab.serving import add_int8_arg, add_server_args, launch, use_int8

MAX_BEAM, MAX_ALPHA = 10, 2.0  # the sliders' ranges
BEAM, N_BEST = 5, 3  # the sliders' starting values
MAX_BATCH = 16  # requests decoded together (bench/app_latency.py measures what it buys)
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
# Everyday and news German: unlike Multi30k, so the page marks the translation as a guess.
DE_UNFAMILIAR = [
    ["Ich habe keine Ahnung, wovon du sprichst."],
    ["Hallo Welt"],
    ["Die Regierung hat gestern neue Steuergesetze beschlossen."],
]


def attention_html(result: dict) -> str:
    """The attention matrix as an HTML heatmap: target tokens (rows) against source tokens
    (columns), each cell shaded by its weight. About a millisecond to build, where a matplotlib
    figure took longer than the translation itself."""
    src, tgt, attn = result["source_tokens"], result["target_tokens"], result["attention"]
    head = "".join(f'<th class="src">{html.escape(t)}</th>' for t in src)
    rows = []
    for token, weights in zip(tgt, attn, strict=True):
        cells = "".join(
            f'<td title="{w:.2f}" style="background: rgba(31, 119, 180, {w:.3f})"></td>'
            for w in weights
        )
        rows.append(f'<tr><th class="tgt">{html.escape(token)}</th>{cells}</tr>')
    return (
        "<style>.seqlab-attn{border-collapse:collapse}"
        ".seqlab-attn td{width:1.6em;height:1.4em;border:1px solid #e5e5e5 !important}"
        ".seqlab-attn th.src{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:400}"
        ".seqlab-attn th.tgt{text-align:right;font-weight:400;padding-right:.4em}</style>"
        f'<table class="seqlab-attn"><tr><th></th>{head}</tr>{"".join(rows)}</table>'
        "<p>rows: target tokens; columns: source tokens; darker: more attention</p>"
    )


def _settings(beam, alpha, n_best) -> tuple[int, float, int]:
    """The sliders' values as a request sent them, checked against the sliders' ranges."""
    try:
        beam, alpha, n_best = float(beam), float(alpha), float(n_best)
    except (TypeError, ValueError) as e:
        raise UserError("beam size, length penalty and n-best must be numbers") from e
    if not (1 <= beam <= MAX_BEAM and beam == int(beam)):
        raise UserError(f"the beam size must be a whole number from 1 to {MAX_BEAM}, not {beam:g}")
    if not 0 <= alpha <= MAX_ALPHA:
        raise UserError(f"the length penalty must be from 0 to {MAX_ALPHA:g}, not {alpha:g}")
    if not (1 <= n_best <= MAX_BEAM and n_best == int(n_best)):
        raise UserError(f"the n-best size must be a whole number from 1 to {MAX_BEAM}")
    return int(beam), alpha, int(n_best)


def unfamiliar_sentence(translator, fam) -> str:
    """The plain sentence above a translation the model is guessing ("" when it is not)."""
    if fam is None or fam.in_domain:
        return ""
    note = unfamiliar_note("sentence", "the translation", translator.domain, fam)
    return f"**Unfamiliar input.** {note[0].upper() + note[1:]}."


def build_demo(
    translator, about: str, examples: list | None = None, unfamiliar: list | None = None
) -> gr.Blocks:
    """The page around a ``Translator``; ``about`` says which model it is running; `unfamiliar`
    examples are sentences unlike its training data, shown apart."""

    def answer(result: dict, beam_size: int, length_penalty: float, n_best: int) -> tuple:
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
        heat = attention_html(result) if result["attention"] else ""
        search = "greedy search" if beam_size == 1 else f"beam search (beam {beam_size})"
        notes.insert(0, f"Decoded with {search}, length penalty {length_penalty:g}.")
        fam = result["familiarity"]
        if fam is not None:
            notes.insert(1, f"Familiarity {fam.percent}.")  # as the warning words it
        warning = unfamiliar_sentence(translator, fam)
        return (
            result["translation"],
            rows,
            heat,
            "\n\n".join(filter(None, [warning, " ".join(notes)])),
        )

    def translate(texts, beam_sizes, length_penalties, n_bests):
        """A batch of requests (Gradio's batching): each is checked on its own, and those with
        the same settings are decoded together; every answer is the one it would get alone."""
        answers: list[tuple] = [()] * len(texts)
        groups: dict[tuple, list[int]] = {}
        for i, (text, beam, alpha, n_best) in enumerate(
            zip(texts, beam_sizes, length_penalties, n_bests, strict=True)
        ):
            if not isinstance(text, str) or not text.strip():
                answers[i] = ("", None, "", "Type a sentence (or pick an example) to translate it.")
                continue
            try:  # raw values (preprocess=False): one bad request must not fail its batch
                beam, alpha, n_best = _settings(beam, alpha, n_best)
                translator.check_text(text)
            except UserError as e:
                answers[i] = ("", None, "", f"**Cannot translate:** {e}")
                continue
            groups.setdefault((beam, alpha, min(n_best, beam)), []).append(i)
        for (beam, alpha, n_best), idx in groups.items():
            results = translator.translate_many([texts[i] for i in idx], beam, alpha, n_best)
            for i, result in zip(idx, results, strict=True):
                answers[i] = answer(result, beam, alpha, int(float(n_bests[i])))
        return [list(column) for column in zip(*answers, strict=True)]

    # the first screen: the first example, already translated with the sliders' defaults
    first = examples[0][0] if examples else ""  # no example: the page asks for a sentence
    opening = [c[0] for c in translate([first], [BEAM], [translator.length_penalty], [N_BEST])]
    with gr.Blocks(title="seqlab: translation") as demo:
        gr.Markdown(
            "# seqlab translator\nAn encoder-decoder with attention: a bidirectional "
            "GRU reads the source, a GRU writes the translation while attending over it."
        )
        gr.Markdown(f"**Running:** {about}")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Source text", lines=3, value=first)
                beam = gr.Slider(1, MAX_BEAM, value=BEAM, step=1, label="Beam size (1: greedy)")
                alpha = gr.Slider(
                    0.0,
                    MAX_ALPHA,
                    value=translator.length_penalty,
                    step=0.1,
                    label="Length penalty alpha (GNMT; 0: none)",
                )
                n_best = gr.Slider(1, MAX_BEAM, value=N_BEST, step=1, label="n-best list size")
                button = gr.Button("Translate", variant="primary")
            with gr.Column():
                output = gr.Textbox(opening[0], label="Translation", interactive=False)
                status = gr.Markdown(opening[3], label="status")
                table = gr.Dataframe(
                    opening[1],
                    headers=["rank", "translation", "score", "log-prob"],
                    datatype=["number", "str", "number", "number"],
                    label="n-best (score = log-prob / length penalty)",
                    interactive=False,
                    wrap=True,  # a long translation wraps: the scores stay on the page
                    column_widths=["12%", "58%", "15%", "15%"],
                )
        plot = gr.HTML(opening[2], label="Attention (rows: target tokens, columns: source tokens)")
        inputs, outputs = [text, beam, alpha, n_best], [output, table, plot, status]
        # batched, with raw inputs: every request is checked on its own in translate()
        # one queue for every way in (button, Enter, examples): answers come in request order
        batching = {"batch": True, "max_batch_size": MAX_BATCH, "preprocess": False}
        batching["concurrency_id"] = "translate"
        private = {"api_visibility": "private", **batching}
        button.click(translate, inputs, outputs, api_name="translate", **batching)
        text.submit(translate, inputs, outputs, api_name="translate_on_enter", **private)
        for rows, label, name in [
            (examples, "Like its training sentences (click one to translate it)", "example"),
            (unfamiliar, "Unlike them: watch for the warning", "unfamiliar_example"),
        ]:
            if not rows:
                continue
            picked = gr.Examples(rows, inputs=[text], label=label, api_name=f"load_{name}")
            # a clicked example fills the box, then is translated with the sliders' current
            # settings (Examples' own run_on_click would pass the text alone)
            picked.load_input_event.then(
                translate, inputs, outputs, api_name=f"translate_{name}", **private
            )
    return demo


TEST_SET = "the 1,000 sentences of Multi30k's 2016 Flickr test set"


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
        about = (
            f"shipped model `{e.name}`: {e.summary}  \n**Trained on:** {tr.domain}  \n"
            f"**Test:** sacreBLEU {e.metrics['bleu']:g} on {TEST_SET} (beam "
            f"{e.metrics['beam']:g})  \n**Familiarity:** a sentence less familiar than 95% of "
            "the validation sentences is marked, and its translation is a guess."
        )
        return tr, about, DE_EXAMPLES
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
    add_int8_arg(parser)
    args = parser.parse_args(argv)
    try:
        tr, about, examples = load_translator(
            args.checkpoint, args.train_minutes, args.cache_dir, args.toy
        )
        use_int8(tr, args.int8)
    except UserError as e:
        parser.exit(1, f"translate_demo: error: {e}\n")
    unfamiliar = DE_UNFAMILIAR if examples is DE_EXAMPLES else None  # German models only
    launch(build_demo(tr, about, examples, unfamiliar), args.host, args.port)


if __name__ == "__main__":
    main()
