"""Char-LM demo: sample live, colour the text by any unit, see the next-character distribution,
and select a span to find the units that are on across it (LSTMVis) and where else they fire.

    uv run python apps/charlm_demo.py                          # the shipped charlm-shakespeare
    uv run python apps/charlm_demo.py --checkpoint runs/shakespeare [--host 127.0.0.1] [--port 7860]

Works for LSTM, GRU and RNN checkpoints; only the LSTM has a cell state c (the page says so).
"""

from __future__ import annotations

import argparse
import functools

import gradio as gr

from seqlab.charlm.explore import MAX_SAMPLE, CharLMExplorer
from seqlab.charlm.report import cell_spans
from seqlab.commands import checkpoint_arg
from seqlab.errors import UserError
from seqlab.serving import add_server_args, launch

INTRO = """# seqlab char-LM: sample it, then look inside
A character-level language model writes text one character at a time. Sample some, then colour
it by any unit of the network (red: high, blue: low), ask what it expects next at any position,
or select a span to find the units that stay on across it (LSTMVis) and where else they fire."""
PRIME, LENGTH, TEMPERATURE, SEED = "ROMEO:\n", 400, 0.8, 1  # the page's starting values
POSITION, SPAN, THRESHOLD = 5, (0, 6), 0.3
# The next-character chart names a character by what it looks like (a blank label was a space):
# the explorer's labels are escaped as repr escapes them ("\\n"), a backslash too ("\\\\").
SHOWN = {" ": "\u2423", "\\n": "\u21b5", "\\t": "\u21e5", "\\r": "\u240d", "\\\\": "\\"}  # ␣ ↵ ⇥ ␍
# The unit dropdown's choice, e.g. "position_in_line: layer 1 c[114] r=+0.89", stops short of
# its arrow (which covered the r value), with an ellipsis on a screen narrower than it.
CSS = "#unit-pick input { padding-right: 1.75em; text-overflow: ellipsis; }"


def first_prime(chars: list[str]) -> str:
    """The prime the page opens with: PRIME where the model knows its characters, else the first
    letter it knows (a model trained on another text)."""
    if set(PRIME) <= set(chars):
        return PRIME
    return next((c for c in chars if c.isalpha()), chars[0])


def shown_chars(dist: dict[str, float]) -> dict[str, float]:
    """The explorer's {character (escaped as repr does): probability} with a visible label for
    the whitespace (␣ for a space, ↵ for a newline, ⇥ for a tab) and a backslash as itself."""
    return {SHOWN.get(ch, ch): p for ch, p in dist.items()}


def build_demo(explorer: CharLMExplorer, about: str) -> gr.Blocks:
    view = functools.lru_cache(maxsize=4)(explorer.view)  # one trace per text, reused

    def sample(prime, temperature, top_k, length, seed):
        try:
            return explorer.sample(
                prime, int(length), float(temperature), int(top_k), int(seed)
            ), ""
        except UserError as e:
            return gr.skip(), f"**{e}**"

    def ranked(text) -> tuple[list[str], str]:
        v = view(text)
        choices = [f"{r['feature']}: layer {r['layer'] + 1} {r['state']}[{r['unit']}] "
                   f"r={r['r']:+.2f}" for r in v.best_units()]  # fmt: skip
        return choices, "" if "c" in v.kinds else "This model has no cell state c (only LSTMs do)."

    def units(text):
        try:
            choices, note = ranked(text)
        except UserError as e:
            return gr.update(choices=[], value=None), f"**{e}**"
        return gr.update(choices=choices, value=choices[0] if choices else None), note

    def units_after_sample(text, said):
        # a failed sample left its message in the status: keep it rather than clear it
        return (gr.skip(), gr.skip()) if said else units(text)

    def colour(text, kind, layer, unit):
        try:
            v = view(text)
            return cell_spans(text, v.values(kind, int(layer) - 1, int(unit))), ""
        except UserError as e:
            return None, f"**{e}**"

    def pick_unit(text, picked):
        """A ranked unit ("feature: layer L s[U] r=...") into the State/Layer/Unit fields, and
        the text coloured by it: the fields always say which unit the colours show."""
        if not picked:  # cleared, because a field was edited: the fields stand as they are
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        _, rest = picked.split(": ", 1)
        layer_s, unit_s = rest.split(" ")[1], rest.split(" ")[2]
        kind, layer, unit = unit_s[0], int(layer_s), int(unit_s[2:-1])
        return kind, layer, unit, *colour(text, kind, layer, unit)

    def next_char(text, position):
        try:
            return shown_chars(explorer.next_chars(text, int(position))), ""
        except UserError as e:
            return None, f"**{e}**"

    def span(text, start, end, threshold):
        try:
            v = view(text)
            found = v.on_across(int(start), int(end), float(threshold))
        except UserError as e:
            return None, f"**{e}**"
        if not found:
            return None, "No unit stays above the threshold across this span: lower it."
        hits = v.together(found[:20], float(threshold))
        shown = ", ".join(f"layer {la + 1} h[{u}]" for la, u in found[:20])
        more = f" (the first 20 of {len(found)})" if len(found) > 20 else ""
        return cell_spans(text, hits.astype(float)), f"On across the span: {shown}{more}."

    def first_screen() -> dict:
        """What the page opens with: a sample, coloured by the best-ranked unit, and the next-
        character chart and span search on it, so the first screen shows what the app does."""
        prime = first_prime(explorer.predictor.vocab.chars)
        text = explorer.sample(prime, LENGTH, TEMPERATURE, 0, SEED)
        choices, note = ranked(text)
        kind, layer, unit, coloured, _ = (
            pick_unit(text, choices[0]) if choices else ("h", 1, 0, *colour(text, "h", 1, 0))
        )
        dist, _ = next_char(text, POSITION)
        matches, _ = span(text, *SPAN, THRESHOLD)
        return dict(prime=prime, text=text, choices=choices, kind=kind, layer=layer, unit=unit,
                    coloured=coloured, dist=dist, matches=matches, status=note)  # fmt: skip

    first = first_screen()
    with gr.Blocks(title="seqlab: char-LM") as demo:
        gr.Markdown(INTRO)
        gr.Markdown(f"**Running:** {about}")
        with gr.Row():
            with gr.Column(scale=2):
                prime = gr.Textbox(label="Prime", value=first["prime"], lines=2)
                with gr.Row():
                    temperature = gr.Slider(0, 2, TEMPERATURE, step=0.05, label="Temperature")
                    top_k = gr.Slider(0, 50, value=0, step=1, label="Top-k (0: all)")
                with gr.Row():
                    length = gr.Slider(1, MAX_SAMPLE, value=LENGTH, step=1, label="Length")
                    seed = gr.Number(value=SEED, precision=0, label="Seed")
                go = gr.Button("Sample", variant="primary")
            with gr.Column(scale=3):
                text = gr.Textbox(
                    first["text"], label="Text (sampled, or paste your own)", lines=10
                )
                status = gr.Markdown(first["status"], label="status")
        with gr.Tab("Colour by a unit"):
            # the ranking on a line of its own: its widest choice shows whole, r value included
            picked = gr.Dropdown(
                label="Units most correlated with a text feature (fills the fields)",
                choices=first["choices"],
                value=(first["choices"] or [None])[0],
                elem_id="unit-pick",
            )
            with gr.Row():
                kind = gr.Radio(["h", "c"], value=first["kind"], label="State")
                layer = gr.Number(value=first["layer"], precision=0, label="Layer")
                unit = gr.Number(value=first["unit"], precision=0, label="Unit")
            paint = gr.Button("Colour the text")
            gr.Markdown("The text, coloured by the unit (hover a character for its value):")
            coloured = gr.HTML(first["coloured"], label="text coloured by the unit")
        with gr.Tab("Next character"):
            position = gr.Number(POSITION, precision=0, label="Position (0 = first character)")
            ask = gr.Button("What comes next?")
            dist = gr.Label(
                first["dist"], label="The model's next-character distribution", num_top_classes=10
            )
        with gr.Tab("Span search (LSTMVis)"):
            with gr.Row():
                start = gr.Number(value=SPAN[0], precision=0, label="Span start")
                end = gr.Number(value=SPAN[1], precision=0, label="Span end (exclusive)")
                threshold = gr.Slider(0, 1, value=THRESHOLD, step=0.05, label="On above")
            find = gr.Button("Find units on across the span")
            gr.Markdown("Where they are all on together (red):")
            matches = gr.HTML(first["matches"], label="where the units are all on")
        sampled = go.click(
            sample, [prime, temperature, top_k, length, seed], [text, status], api_name="sample"
        )
        sampled.then(
            units_after_sample,
            [text, status],
            [picked, status],
            api_name="units_after_sample",
            api_visibility="private",
        )
        text.blur(units, [text], [picked, status], api_name="units")
        paint.click(colour, [text, kind, layer, unit], [coloured, status], api_name="colour")
        picked.change(
            pick_unit, [text, picked], [kind, layer, unit, coloured, status], api_name="pick_unit"
        )
        for name, field in (("state", kind), ("layer", layer), ("unit", unit)):
            # a field edited by hand names another unit than the dropdown's: clear its selection
            field.input(
                lambda: None, None, picked, api_name=f"unpick_on_{name}", api_visibility="private"
            )
        ask.click(next_char, [text, position], [dist, status], api_name="next_char")
        find.click(span, [text, start, end, threshold], [matches, status], api_name="span")
    return demo


def main(argv: list[str] | None = None) -> None:
    from seqlab.charlm.predict import CharLMPredictor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", **checkpoint_arg("charlm"))
    add_server_args(parser)
    args = parser.parse_args(argv)
    try:
        predictor = CharLMPredictor.from_checkpoint(args.checkpoint, "cpu")
    except UserError as e:
        parser.exit(1, f"charlm_demo: error: {e}\n")
    m = predictor.model.cfg
    about = f"`{args.checkpoint}`: {m.num_layers}-layer {m.cell.upper()}, hidden {m.hidden_size}"
    launch(build_demo(CharLMExplorer(predictor), about), args.host, args.port, css=CSS)


if __name__ == "__main__":
    main()
