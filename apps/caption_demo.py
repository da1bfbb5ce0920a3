"""Image captioning demo: upload, snap or paste a picture (or sketch one), get captions with beam
n-best scores and, word by word, where the model looked.

    uv run python apps/caption_demo.py                        # the shipped Flickr8k captioner
    uv run python apps/caption_demo.py --checkpoint runs/cap  # a captioner you trained
    uv run python apps/caption_demo.py --toy                  # train a scenes one (~2 min)
    uv run python apps/caption_demo.py --host 0.0.0.0 --port 7860

With no --checkpoint it serves the shipped model (seqlab pretrained show caption-flickr8k): no
training, no download. Its examples are real photos that installed packages ship with a licence.
The page opens with its first example captioned; every photo is read as the model trained on it.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import logging
from pathlib import Path

import gradio as gr

from seqlab import pretrained
from seqlab.caption.predict import CaptionPredictor, scene_examples
from seqlab.caption.train import scenes_demo_predictor
from seqlab.commands import checkpoint_arg
from seqlab.data.photos import licensed_photos
from seqlab.errors import UserError
from seqlab.familiarity import unfamiliar_note
from seqlab.serving import add_int8_arg, add_server_args, launch, use_int8

MAX_BEAM = 8  # beam size and n-best; checked in caption() since preprocess=False skips the sliders
MAX_BATCH = 16  # queued requests captioned together (Gradio batching)
BEAM = N_BEST = 3  # the sliders' defaults, and the opening example's settings
CSS = """
.cap-hero {font-size: 1.6rem; font-weight: 650; line-height: 1.35; padding: 14px 18px;
           border-radius: 12px; background: var(--block-background-fill);
           border: 1px solid var(--border-color-primary); min-height: 3.2em}
.cap-hero .score {font-size: 0.85rem; font-weight: 400; opacity: 0.7; display: block;
                  margin-top: 4px}
.cap-hero.warn {font-size: 1.05rem; font-weight: 500; color: var(--color-accent)}
.cap-unfamiliar {font-size: 0.95rem; font-weight: 500; padding: 8px 12px; margin-bottom: 8px;
                 border-radius: 8px; background: #fff4e5; color: #8a4b00; border: 1px solid #f5c27a}
.cap-banner {padding: 10px 14px; border-radius: 10px; background: var(--color-accent-soft);
             margin-bottom: 6px}
.cap-model {font-size: 0.9rem; opacity: 0.85}
.cap-frames {display: grid; grid-template-columns: repeat(5, 1fr); grid-auto-flow: dense;
             gap: 6px}
.cap-frames input {display: none}
.cap-frames label {cursor: pointer; text-align: center; font-weight: 600; font-size: 0.9rem}
.cap-frames img {width: 100%; display: block; border-radius: 8px}
.cap-frames input:checked + label {grid-column: span 2; grid-row: span 2}
.cap-frames input:checked + label img {outline: 3px solid var(--color-accent)}
"""


def as_source(value):
    """The image behind a raw (not preprocessed) gradio payload: a file path, or the bytes of
    a data URL. Handlers skip gradio's preprocessing so that a file PIL cannot open reaches the
    captioner, which explains what is wrong with it, instead of failing inside gradio."""
    if isinstance(value, dict):
        if value.get("path"):
            return value["path"]
        url = value.get("url") or ""
        if url.startswith("data:"):
            return io.BytesIO(base64.b64decode(url.split(",", 1)[-1]))
        return None
    return value


def _hero(text: str, score: str = "", warn: bool = False, unfamiliar: str = "") -> str:
    cls = "cap-hero warn" if warn else "cap-hero"
    extra = f'<span class="score">{html.escape(score)}</span>' if score else ""
    note = f'<div class="cap-unfamiliar">{html.escape(unfamiliar)}</div>' if unfamiliar else ""
    return f'{note}<div class="{cls}">{html.escape(text)}{extra}</div>'


def unfamiliar_sentence(predictor: CaptionPredictor, fam) -> str:
    """The plain sentence above a caption the model is guessing ("" when it is not)."""
    if fam is None or fam.in_domain:
        return ""
    note = unfamiliar_note("photo", "the caption", predictor.domain, fam)
    return note[0].upper() + note[1:] + "."


def _empty(message: str) -> tuple:
    return _hero(message, warn=True), [], ""


def attention_html(frames: list[tuple]) -> str:
    """The per-word overlays as one HTML grid of inline JPEGs, the chosen word's frame drawn
    large (a click on another picks it: radio buttons, no script). Inline, a request's frames
    cost one small JPEG each, instead of a file per word that gradio writes and the page (or an
    API client) then fetches: that round trip was most of a request's time."""
    if not frames:
        return ""
    group = "cap-frame"  # the page shows one answer's grid at a time: ids stay unique
    cells = []
    for k, (image, word) in enumerate(frames):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=88)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        word = html.escape(word)
        cells.append(
            f'<input type="radio" name="{group}" id="{group}-{k}"{" checked" * (k == 0)}>'
            f'<label for="{group}-{k}" title="{word}">'
            f'<img src="data:image/jpeg;base64,{data}" alt="attention for {word}">{word}</label>'
        )
    return f'<div class="cap-frames">{"".join(cells)}</div>'


def _search_sizes(beam, n_best) -> tuple[int, int]:
    """(beam, n_best) as whole numbers in 1..MAX_BEAM, n_best at most beam; else a UserError."""
    try:
        beam, n_best = int(beam), int(n_best)
    except (TypeError, ValueError):
        raise UserError(f"beam size and n-best must be whole numbers, not {beam!r}") from None
    if not (1 <= beam <= MAX_BEAM and 1 <= n_best <= MAX_BEAM):
        raise UserError(f"beam size and n-best must be between 1 and {MAX_BEAM}")
    return beam, min(n_best, beam)


def make_caption_fn(predictor: CaptionPredictor):
    def answer(view, caps, beam: int) -> tuple:
        """(headline HTML, n-best rows, per-word attention HTML) for one image."""
        best = caps[0]
        rows = [
            [k, c.text or "(empty)", round(c.score, 3), round(c.log_prob, 3)]
            for k, c in enumerate(caps, 1)
        ]
        how = "greedy" if beam == 1 else f"beam {beam}"
        score = f"{how} · score {best.score:.2f} · log-prob {best.log_prob:.2f}"
        if best.familiarity is not None:
            score += f" · familiarity {best.familiarity.percent}"
        frames = attention_html(predictor.overlays(view, best))
        note = unfamiliar_sentence(predictor, best.familiarity)
        return _hero(best.text or "(no words)", score, unfamiliar=note), rows, frames

    def caption(images, beams, n_bests) -> list[list]:
        """A batch of requests (Gradio's batching): each is checked and its picture read on its
        own, so a bad one gets its own message and the rest go on; those with the same beam and
        n-best share one encoder pass and one beam search, and each answer is the one its
        request gets alone (seqlab.decoding keeps batched items apart)."""
        answers: list[tuple] = [()] * len(images)
        nothing = "Add a picture first: upload, webcam, paste, or click an example."
        groups: dict[tuple[int, int], list[tuple[int, object]]] = {}
        for i, (image, beam, n_best) in enumerate(zip(images, beams, n_bests, strict=True)):
            image = as_source(image)
            if image is None:
                answers[i] = _empty(nothing)
                continue
            try:
                beam, n_best = _search_sizes(beam, n_best)
            except UserError as e:
                answers[i] = _empty(f"Cannot caption with these settings: {e}.")
                continue
            try:
                view = predictor.view(image)
            except UserError as e:
                answers[i] = _empty(f"Cannot caption this file: {e}")
                continue
            groups.setdefault((beam, n_best), []).append((i, view))
        for (beam, n_best), items in groups.items():
            captions = predictor.caption_batch([view for _, view in items], beam, n_best)
            for (i, view), caps in zip(items, captions, strict=True):
                answers[i] = answer(view, caps, beam)
        return [list(column) for column in zip(*answers, strict=True)]

    return caption


def make_sketch_fn(caption):
    def caption_sketch(sketches, beams, n_bests) -> list[list]:
        """Caption the sketch pad's drawings (each its composite layer), batched like caption."""
        images = [as_source(s.get("composite")) if isinstance(s, dict) else s for s in sketches]
        columns = caption(images, beams, n_bests)
        empty = _empty("Draw something first: a few filled shapes in different colours.")
        for i, image in enumerate(images):
            if image is None:
                for column, value in zip(columns, empty, strict=True):
                    column[i] = value
        return columns

    return caption_sketch


def first_answer(caption, examples: list[str] | None) -> dict:
    """The page's opening state: its first example already captioned with the sliders'
    defaults, so that the first screen shows what the app does (an empty page without one)."""
    if not examples:
        return {"image": None, "hero": _hero("Your caption will appear here."), "rows": None,
                "frames": ""}  # fmt: skip
    (hero,), (rows,), (frames,) = caption([examples[0]], [BEAM], [N_BEST])
    return {"image": examples[0], "hero": hero, "rows": rows, "frames": frames}


def _model_card(predictor: CaptionPredictor, notice: str, test: str = "") -> str:
    """What the model is, what it learned from and how well it does: the shipped model's test
    figures (`test`) when given, else the checkpoint's validation scores."""
    i = predictor.info
    val = i.get("val") or {}
    bleu = " · ".join(f"BLEU-{n} {val[f'bleu{n}']:.1f}" for n in range(1, 5) if f"bleu{n}" in val)
    lines = [
        f"**Model:** {predictor.describe(with_val=not test)}",
        f"**Trained on:** {predictor.domain}",
        f"**Checkpoint:** `{i['path']}` · step {i.get('step')} · epoch {i.get('epoch')}",
    ]
    if test:
        lines.append(f"**Test:** {test}")
    elif bleu:
        lines.append(f"**Validation (greedy):** {bleu}")
    if predictor.familiarity is not None:
        lines.append(
            "**Familiarity:** each photo is compared with the training photos; one less familiar "
            "than 95% of the validation photos is marked, and its caption is a guess."
        )
    card = "  \n".join(lines)
    return (f'<div class="cap-banner">{notice}</div>\n\n' if notice else "") + card


def build_demo(
    predictor: CaptionPredictor,
    examples: list[str] | None = None,
    notice: str = "",
    test: str = "",
    unfamiliar_examples: list[str] | None = None,
) -> gr.Blocks:
    """The page: inputs on the left, captions and attention on the right."""
    caption = make_caption_fn(predictor)
    opening = first_answer(caption, examples)
    scenes = predictor.info["dataset"] == "scenes"
    with gr.Blocks(title="seqlab · image captioner") as demo:
        gr.Markdown(
            "# Image captioner\nA CNN encoder reads the picture; an LSTM decoder writes "
            "the caption word by word"
            + (
                ", attending to one region per word (Show, Attend and Tell)."
                if predictor.info["attention"]
                else " (Show and Tell)."
            )
        )
        gr.Markdown(_model_card(predictor, notice, test), elem_classes="cap-model")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5) as left:
                with gr.Tabs():
                    with gr.Tab("Photo"):
                        image = gr.Image(
                            sources=["upload", "webcam", "clipboard"],
                            type="filepath",
                            value=opening["image"],
                            label="Image",
                            height=340,
                        )
                        go = gr.Button("Caption", variant="primary")
                    with gr.Tab("Sketch", visible=scenes):
                        sketch = gr.Sketchpad(
                            label="Pick the brush, then draw filled shapes",
                            type="pil",
                            canvas_size=(384, 384),
                            fixed_canvas=True,
                            layers=False,
                            transforms=(),
                            height=380,
                            brush=gr.Brush(
                                default_size=28,
                                colors=["#dc2828", "#28aa3c", "#2850dc", "#ebc814", "#963cbe"],
                                color_mode="fixed",
                            ),
                        )
                        go_sketch = gr.Button("Caption the sketch", variant="primary")
                with gr.Row():
                    beam = gr.Slider(1, MAX_BEAM, BEAM, step=1, label="Beam size (1 = greedy)")
                    n_best = gr.Slider(
                        1, MAX_BEAM, N_BEST, step=1, label="Captions to show (n-best)"
                    )
            with gr.Column(scale=6):
                hero = gr.HTML(opening["hero"], label="caption")
                gr.Markdown("Where the model looked, word by word (click a word to enlarge it)")
                attention = gr.HTML(opening["frames"], label="where the model looked, word by word")
                table = gr.Dataframe(
                    opening["rows"],
                    headers=["rank", "caption", "score", "log-prob"],
                    datatype=["number", "str", "number", "number"],
                    label="Beam n-best (score = log-prob / GNMT length penalty)",
                    interactive=False,
                    wrap=True,
                    column_widths=["12%", "58%", "15%", "15%"],  # long captions wrap
                )
        outputs = [hero, table, attention]
        # batched, with raw inputs (preprocess=False): the handlers read the files themselves
        # (see as_source) and check every request on its own
        batching = {"batch": True, "max_batch_size": MAX_BATCH, "preprocess": False}
        private = {"api_visibility": "private", **batching}
        inputs = [image, beam, n_best]
        go.click(caption, inputs, outputs, api_name="caption", **batching)
        image.upload(caption, inputs, outputs, api_name="caption_upload", **private)
        sketched = make_sketch_fn(caption)
        go_sketch.click(
            sketched, [sketch, beam, n_best], outputs, api_name="caption_sketch", **batching
        )
        # under the inputs; added last so "/caption" keeps its API name
        like = "Generated scenes (click one)" if scenes else "Photos like its training data"
        unlike = "Unlike its training photos: watch for the warning"
        sets = [(examples, like, "example"), (unfamiliar_examples, unlike, "unfamiliar")]
        for paths, label, name in sets:
            if not paths:
                continue
            with left:
                picked = gr.Examples(
                    examples=[[e] for e in paths],
                    inputs=[image],
                    cache_examples=False,
                    label=label,
                    examples_per_page=12,
                    api_name=f"load_{name}",
                )
            # a clicked example loads into the image box, then captions it with the sliders'
            # current beam and n-best (Examples' own run_on_click would pass the image alone)
            picked.load_input_event.then(
                caption, inputs, outputs, api_name=f"caption_{name}", **private
            )
        if any(str(EXAMPLES_DIR) in p for p in (examples or []) + (unfamiliar_examples or [])):
            with left:
                gr.Markdown(CREDITS, elem_classes="cap-model")  # CC BY asks for it
    return demo


def _dataset_examples(predictor: CaptionPredictor, n: int = 8) -> list[str]:
    """A few test images of the checkpoint's dataset, when its folder is on this machine."""
    from seqlab.data.captions import load_caption_set

    root = predictor.info.get("root")
    if not root or not Path(root).is_dir():
        return []
    try:
        test = load_caption_set(predictor.info["dataset"], root, "test")
    except UserError:
        return []
    step = max(1, len(test) // n)
    return [str(p) for p in test.images[::step][:n]]


EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
CREDITS = (
    "Example photos: the dogs and the mountain trail by Aitzol Berasategi (2018, CC BY 4.0, "
    "resized), the others CC0 or public domain; sources in `apps/examples/SOURCES.md`."
)


def example_photos() -> tuple[list[str], list[str]]:
    """(like the training photos, unlike them): apps/examples/ (see its SOURCES.md; the
    ``unfamiliar_*`` ones unlike them) and the photos installed packages ship (all unlike)."""
    files = sorted(EXAMPLES_DIR.glob("*.jpg"))
    familiar = [str(p) for p in files if not p.name.startswith("unfamiliar_")]
    unfamiliar = [str(p) for p in files if p.name.startswith("unfamiliar_")]
    return familiar, unfamiliar + [str(p.path) for p in licensed_photos()]


def in_domain(predictor: CaptionPredictor, paths: list[str]) -> list[str]:
    """The photos the model itself finds familiar (all of them for a model without a familiarity
    score): the gallery of photos like its training data holds none it would mark as a guess."""
    fams = predictor.familiarities(paths) if paths else []
    return [p for p, f in zip(paths, fams, strict=True) if f is None or f.in_domain]


def load_predictor(checkpoint: str, cache_dir: str, toy: bool = False) -> tuple:
    """(predictor, page): a checkpoint or shipped model, or the toy model, and build_demo's
    keyword arguments for it (examples, notice, test figures)."""
    if toy:
        predictor, trained_now = scenes_demo_predictor(cache_dir)
        when = "just now" if trained_now else "on an earlier launch"
        notice = (
            f"<code>--toy</code>: a small captioner trained {when} on synthetic scenes of "
            f"coloured shapes, cached in <code>{cache_dir}</code>. It knows shapes, not photos."
        )
        return predictor, {
            "examples": scene_examples(Path(cache_dir) / "examples", n=8),
            "notice": notice,
        }
    predictor = CaptionPredictor.from_checkpoint(checkpoint)
    familiar, unfamiliar = example_photos()
    page = {"examples": in_domain(predictor, familiar + _dataset_examples(predictor)), "notice": ""}
    page["unfamiliar_examples"] = unfamiliar
    if checkpoint in pretrained.ENTRIES:
        e = pretrained.entry(checkpoint)
        page["notice"] = f"Shipped model <code>{e.name}</code>: {html.escape(e.summary)}"
        bleu = " · ".join(f"BLEU-{n} {e.metrics[f'bleu{n}']:.2f}" for n in range(1, 5))
        page["test"] = f"{bleu} (beam {e.metrics['beam']:g}, the 1,000 Flickr8k test photos)"
    return predictor, page


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", **checkpoint_arg("caption"))
    parser.add_argument(
        "--toy", action="store_true", help="train (once) and serve a synthetic-scenes captioner"
    )
    parser.add_argument(
        "--cache-dir",
        default="data/cache/caption-demo",
        help="where the --toy scenes model is trained and kept",
    )
    add_server_args(parser)
    add_int8_arg(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        predictor, page = load_predictor(args.checkpoint, args.cache_dir, args.toy)
        use_int8(predictor, args.int8)  # the decoder; the CNN encoder stays fp32
    except UserError as e:
        raise SystemExit(f"caption_demo: error: {e}") from None
    demo = build_demo(predictor, **page)
    launch(demo, args.host, args.port, css=CSS)  # the theme: seqlab.serving's, as every app


if __name__ == "__main__":
    main()
