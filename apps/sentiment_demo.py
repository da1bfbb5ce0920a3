"""Sentiment demo: a label with probabilities, which words pushed the decision, and the reading
word by word: what the network says after each token, for the typed text and for a pair of
sentences that differ in one word ("a bad film" / "not a bad film").

    uv run python apps/sentiment_demo.py                        # the shipped SST-2 classifier
    uv run python apps/sentiment_demo.py --checkpoint runs/sst2 [--host 127.0.0.1] [--port 7860]
    uv run python apps/sentiment_demo.py --toy                  # train a small one (~2 min, once)

With no --checkpoint it serves the shipped model (seqlab pretrained show sentiment-sst2).
``--toy`` trains a small bi-LSTM on seqlab's generated sentences (see data/README.md), caches it
in data/cache/sentiment_demo, and serves that.
"""

from __future__ import annotations

import argparse
import difflib
import html
from pathlib import Path

import gradio as gr

from seqlab import pretrained
from seqlab.commands import checkpoint_arg
from seqlab.errors import UserError
from seqlab.familiarity import unfamiliar_note
from seqlab.serving import add_server_args, launch

MAX_CHARS = 20_000  # longer text is cut, with a note: the model reads at most max_length tokens
CACHE = Path(__file__).resolve().parents[1] / "data" / "cache" / "sentiment_demo"
# Movie-review sentences (the shipped model's domain: SST-2), written for this demo.
EXAMPLES = [
    ["A gripping, beautifully acted film that stays with you long after the credits."],
    ["The plot is predictable and the dialogue falls flat."],
    ["It's not a bad movie, just a forgettable one."],
    ["Slow to start, but the last half hour is wonderful."],
    ["Although the cast is charming, the script is a mess."],
    ["I expected to be bored, and instead I was moved to tears."],
]
# Not movie reviews: the page marks their labels as guesses.
UNFAMILIAR = [
    ["Cannot open the configuration file."],
    ["A dog runs through the grass."],
    ["Press any key to continue."],
    ["The meeting has been moved to Tuesday."],
]
METHODS = {"integrated gradients": "integrated_gradients", "occlusion": "occlusion"}
READ_TOKENS = 60  # the word-by-word view reads the first 60 tokens (a bi-LSTM: T^2/2 steps)
# Pairs that differ in a word (the last: in word order only, which a bag of words cannot see), with
# what a reader says of each sentence.
NEG, POS = "negative", "positive"
PAIRS = {
    "a bad film / not a bad film": ("It's a bad film.", "It's not a bad film.", (NEG, POS)),
    "always dull / never dull": (
        "The story is always dull.",
        "The story is never dull.",
        (NEG, POS),
    ),
    "disappointed / wasn't disappointed": (
        "I was disappointed.",
        "I wasn't disappointed.",
        (NEG, POS),
    ),
    "sweet / too sweet": ("The ending is sweet.", "The ending is too sweet.", (POS, NEG)),
    "slow start but ... / wonderful start but ...": (
        "A slow start but a wonderful ending.",
        "A wonderful start but a slow ending.",
        (POS, NEG),
    ),
}
POS_COLOUR, NEG_COLOUR = "#4f6bed", "#e8743b"  # above / below P = 0.5


def positive_class(labels: list[str]) -> str:
    """The class whose probability the reading shows: "positive", else the last class."""
    return "positive" if "positive" in labels else labels[-1]


def _shown(token: str) -> str:
    return token.replace("\u2581", "") or "\u2581"


def _bar(token: str | None, p: float | None, changed: bool = False) -> str:
    """One token's cell: the probability after it, as a number and as a bar from the line at
    0.5, up (leaning to the class) or down (leaning away)."""
    if token is None:  # the other sentence of a pair has a word here
        return '<div class="sl-cell sl-gap" style="min-width:2.3em"></div>'
    side = f"bottom:50%;background:{POS_COLOUR}" if p >= 0.5 else f"top:50%;background:{NEG_COLOUR}"
    edge = "outline:2px solid #222;font-weight:700;" if changed else ""
    return (
        f'<div class="sl-cell" data-token="{html.escape(token)}" data-p="{p:.4f}" '
        f'title="P after &quot;{html.escape(token)}&quot;: {p:.2f}" style="display:flex;'
        f"flex-direction:column;align-items:center;min-width:2.3em;{edge}border-radius:4px;"
        f'line-height:1.2"><span style="font-size:0.7em">{p:.2f}</span><div style="position:'
        f'relative;height:44px;width:1.3em;background:#ececf2;border-radius:3px">'
        f'<div style="position:absolute;width:100%;height:{100 * abs(p - 0.5):.0f}%;{side}">'
        f'</div><div style="position:absolute;top:50%;width:100%;border-top:1px solid #555">'
        f'</div></div><span style="font-size:0.9em">{html.escape(_shown(token))}</span></div>'
    )


def _row(cells: list[str], wrap: bool = False) -> str:
    """Cells side by side; ``wrap``: onto more lines (one text), else a scroll (a pair's rows)."""
    flow = "flex-wrap:wrap" if wrap else "overflow-x:auto"
    return f'<div style="display:flex;gap:3px;{flow};padding:2px">' + "".join(cells) + "</div>"


def reading_html(tokens: list[str], probs: list[float]) -> str:
    """The typed text's reading: one bar per token, the probability after it."""
    bars = [_bar(t, p) for t, p in zip(tokens, probs, strict=True)]
    return '<div class="sl-reading">' + _row(bars, wrap=True) + "</div>"


def _aligned(a: list[str], b: list[str]) -> list[tuple[int | None, int | None]]:
    """Columns (index in a, index in b) with the shared tokens side by side (difflib)."""
    cols = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            cols += list(zip(range(i1, i2), range(j1, j2), strict=True))
        else:
            cols += [(i, None) for i in range(i1, i2)] + [(None, j) for j in range(j1, j2)]
    return cols


def pair_html(a: tuple[list[str], list[float]], b: tuple[list[str], list[float]]) -> str:
    """Two readings, their shared tokens in the same column and the edited ones outlined."""
    cols = _aligned(a[0], b[0])
    rows = []
    for side, (tokens, probs) in ((0, a), (1, b)):
        cells = []
        for col in cols:
            k = col[side]
            changed = None in col
            cells.append(_bar(None, None) if k is None else _bar(tokens[k], probs[k], changed))
        rows.append(_row(cells))
    return '<div class="sl-pair">' + "".join(rows) + "</div>"


def pair_note(finals: tuple[dict, dict], name: str, turn: str, reader: tuple[str, str]) -> str:
    """What the pair shows, in words, from this model's own figures: the verdict first."""
    (pa, pb), says = finals, [max(p, key=p.get) for p in finals]
    verdict = "turns" if says[0] != says[1] else "does **not** turn"
    text = f"The edit {verdict} the model's answer: **{says[0]}**, then **{says[1]}** "
    text += f"(P({name}) {pa[name]:.2f}, then {pb[name]:.2f})"
    if set(reader) <= set(pa):  # the pair's classes are the model's
        text += f"; a reader says {reader[0]}, then {reader[1]}"
    return text + ". " + turn


def turn_note(a, b, name: str) -> str:
    """How P(name) moves at the first edited token (in the second sentence if it has one)."""
    cols = [c for c in _aligned(a[0], b[0]) if None in c]
    if not cols:
        return ""
    side = 1 if cols[0][1] is not None else 0
    k, (tokens, probs) = cols[0][side], (a, b)[side]
    before = f"from {probs[k - 1]:.2f} " if k else ""
    return f"At **{html.escape(_shown(tokens[k]))}** P({name}) goes {before}to {probs[k]:.2f}."


def build_demo(predictor, about: str) -> gr.Blocks:
    """The page around a ``SentimentPredictor``; ``about`` says which model it is running."""

    shown_class = positive_class(predictor.labels)

    def reading(text: str) -> tuple[list[str], list[float]]:
        tokens, rows = predictor.prefix_probs(text, READ_TOKENS)
        return tokens, [row[shown_class] for row in rows]

    def read_pair(choice: str) -> tuple[str, str]:
        first, second, reader = PAIRS.get(choice) or next(iter(PAIRS.values()))
        a, b = reading(first), reading(second)
        finals = tuple(r["probs"] for r in predictor.predict([first, second]))
        return pair_html(a, b), pair_note(finals, shown_class, turn_note(a, b, shown_class), reader)

    def classify(text: str, method: str):
        if not isinstance(text, str) or not text.strip():
            return None, None, "Type a sentence (or pick an example) to classify it."
        note = ""
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS]
            note = f"The text was cut to its first {MAX_CHARS:,} characters. "
        try:
            result = predictor.predict([text])[0]
            spans, _ = predictor.spans(text, METHODS.get(method, "integrated_gradients"))
        except UserError as e:
            return None, None, str(e)
        fam = result["familiarity"]
        if fam is not None and not fam.in_domain:
            warning = unfamiliar_note("text", "the label", predictor.domain, fam)
            note = f"**Unfamiliar input.** {warning[0].upper() + warning[1:]}.\n\n" + note
        if len(spans) >= predictor.max_length:
            note += f"The model read the first {predictor.max_length} tokens. "
        unknown = predictor.unknown(text)
        if unknown:
            shown = ", ".join(f"`{t}`" for t in dict.fromkeys(unknown))
            note += f"Unknown to the model (marked (?), no credit given): {shown}. "
        return result["probs"], spans, note + f"Prediction: **{result['label']}**."

    def read_text(text: str) -> str:
        """The text's reading word by word (empty for no text, as classify says why)."""
        if not isinstance(text, str) or not text.strip():
            return ""
        try:
            text = text[:MAX_CHARS]
            tokens, probs = reading(text)
        except UserError:
            return ""
        if len(tokens) < READ_TOKENS or predictor.predict([text])[0]["read_tokens"] == READ_TOKENS:
            return reading_html(tokens, probs)
        return (
            reading_html(tokens, probs) + f"<p>The view shows the first {READ_TOKENS} tokens.</p>"
        )

    # the first screen: the first example, already classified (an empty page without it)
    first, method_0 = EXAMPLES[0][0], next(iter(METHODS))
    opening, pair_0 = classify(first, method_0), next(iter(PAIRS))
    read_0, pair_opening = read_text(first), read_pair(pair_0)
    with gr.Blocks(title="seqlab: sentiment") as demo:
        gr.Markdown(
            "# seqlab sentiment classifier\n"
            "Type a sentence: a recurrent network reads it and says how it feels about "
            "it. Red words pushed towards the predicted label, blue ones against it."
        )
        gr.Markdown(f"**Running:** {about}")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(
                    first,
                    label="Text",
                    lines=4,
                    placeholder="slow start but a wonderful ending",
                    info=f"At most {MAX_CHARS:,} characters are read, and the model reads "
                    f"the first {predictor.max_length} tokens of them.",
                )
                method = gr.Radio(list(METHODS), value=method_0, label="Attribution")
                button = gr.Button("Classify", variant="primary")
            with gr.Column():
                label = gr.Label(opening[0], label="Label and probabilities")
                spans = gr.HighlightedText(
                    opening[1], label="Which tokens pushed the decision", show_legend=False
                )
                status = gr.Markdown(opening[2], label="status")
        gr.Markdown(
            f"### Word by word: P({shown_class}) after each token, for the text above and for "
            "two sentences that differ in a word"
        )
        with gr.Row():
            with gr.Column():
                read = gr.HTML(read_0, label="the text, word by word")
                gr.Markdown(
                    "A recurrent network reads a text token by token and carries a state. Each "
                    "bar is what it answers when the text stops after that token: up from the "
                    f"line at 0.5 towards {shown_class}, down away from it. A network that reads "
                    "in order can learn that *not* turns what follows it, where a bag of words "
                    "only adds its words up. More pairs: below the pair."
                )
            with gr.Column():
                pair_view = gr.HTML(pair_opening[0], label="the pair, word by word")
                pair_text = gr.Markdown(pair_opening[1], label="what the pair shows")
                pair = gr.Dropdown(list(PAIRS), value=pair_0, label="A pair that differs in a word")
        pair.change(
            read_pair,
            [pair],
            [pair_view, pair_text],
            api_name="read_pair",
            concurrency_id="classify",
        )
        # one queue for every way in (button, Enter, examples): answers come in request order
        # each classification is followed by the reading of the same text (its own endpoint)
        outputs, private = [label, spans, status], {"api_visibility": "private"}
        private["concurrency_id"] = "classify"
        button.click(
            classify, [text, method], outputs, api_name="classify", concurrency_id="classify"
        ).then(read_text, [text], [read], api_name="read_text", concurrency_id="classify")
        text.submit(
            classify, [text, method], outputs, api_name="classify_on_enter", **private
        ).then(read_text, [text], [read], api_name="read_text_on_enter", **private)
        shown = [(EXAMPLES, "Movie-review sentences, like its training data", "example")]
        if predictor.familiarity is not None:
            shown.append((UNFAMILIAR, "Not reviews: watch for the warning", "unfamiliar_example"))
        for rows, caption, name in shown:
            picked = gr.Examples(rows, inputs=[text], label=caption, api_name=f"load_{name}")
            # a clicked example fills the box, then is classified with the chosen attribution
            picked.load_input_event.then(
                classify, [text, method], outputs, api_name=f"classify_{name}", **private
            ).then(read_text, [text], [read], api_name=f"read_{name}", **private)
    return demo


def load_predictor(checkpoint: str, train_seconds: float, cache: Path, toy: bool = False):
    """The predictor and a line saying what it is (--toy: the generated-sentences model)."""
    from seqlab.sentiment.predict import SentimentPredictor
    from seqlab.sentiment.train import demo_model

    if toy:
        if not (cache / "run" / "ckpt_best.pt").is_file():
            print(
                f"No --checkpoint: training a small bi-LSTM on seqlab's generated sentences "
                f"for about {train_seconds:.0f} s (once; cached in {cache})."
            )
        checkpoint = str(demo_model(cache, max_minutes=train_seconds / 60))
        predictor = SentimentPredictor.from_checkpoint(checkpoint, "cpu")
        about = (
            "a small word-level model trained offline on seqlab's generated movie-review "
            "sentences (negation and contrast included; see data/README.md), `--toy`. "
        )
        return predictor, about + predictor.describe()
    predictor = SentimentPredictor.from_checkpoint(checkpoint, "cpu")
    if checkpoint in pretrained.ENTRIES:
        e = pretrained.entry(checkpoint)
        about = (
            f"shipped model `{checkpoint}`: {e.summary}  \n**Trained on:** {predictor.domain}  \n"
            f"**Accuracy:** {e.metrics['accuracy']:g}% on the 872 sentences of SST-2 dev "
            "(GLUE's test labels are not public)  \n**Familiarity:** a text less familiar than "
            "95% of the validation sentences is marked, and its label is a guess."
        )
        return predictor, about
    return predictor, f"`{checkpoint}`: " + predictor.describe()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", **checkpoint_arg("sentiment"))
    add_server_args(parser)
    parser.add_argument(
        "--toy", action="store_true", help="train (once) and serve a small generated-data model"
    )
    parser.add_argument(
        "--train-seconds", type=float, default=120.0, help="training budget of the --toy model"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="where that model is kept")
    args = parser.parse_args(argv)
    try:
        predictor, about = load_predictor(
            args.checkpoint, args.train_seconds, args.cache_dir, args.toy
        )
    except UserError as e:
        parser.exit(1, f"sentiment_demo: error: {e}\n")
    launch(build_demo(predictor, about), args.host, args.port)


if __name__ == "__main__":
    main()
