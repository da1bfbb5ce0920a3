"""Sentiment demo: a label with probabilities, and which words pushed the decision.

    uv run python apps/sentiment_demo.py                        # the shipped SST-2 classifier
    uv run python apps/sentiment_demo.py --checkpoint runs/sst2 [--host 127.0.0.1] [--port 7860]
    uv run python apps/sentiment_demo.py --toy                  # train a small one (~2 min, once)

With no --checkpoint it serves the shipped model (seqlab pretrained show sentiment-sst2).
``--toy`` trains a small bi-LSTM on seqlab's generated sentences (see data/README.md), caches it
in data/cache/sentiment_demo, and serves that.
"""

from __future__ import annotations

import argparse
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


def build_demo(predictor, about: str) -> gr.Blocks:
    """The page around a ``SentimentPredictor``; ``about`` says which model it is running."""

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

    # the first screen: the first example, already classified (an empty page without it)
    first, method_0 = EXAMPLES[0][0], next(iter(METHODS))
    opening = classify(first, method_0)
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
        # one queue for every way in (button, Enter, examples): answers come in request order
        outputs, private = [label, spans, status], {"api_visibility": "private"}
        private["concurrency_id"] = "classify"
        button.click(
            classify, [text, method], outputs, api_name="classify", concurrency_id="classify"
        )
        text.submit(classify, [text, method], outputs, api_name="classify_on_enter", **private)
        shown = [(EXAMPLES, "Movie-review sentences, like its training data", "example")]
        if predictor.familiarity is not None:
            shown.append((UNFAMILIAR, "Not reviews: watch for the warning", "unfamiliar_example"))
        for rows, caption, name in shown:
            picked = gr.Examples(rows, inputs=[text], label=caption, api_name=f"load_{name}")
            # a clicked example fills the box, then is classified with the chosen attribution
            picked.load_input_event.then(
                classify, [text, method], outputs, api_name=f"classify_{name}", **private
            )
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
