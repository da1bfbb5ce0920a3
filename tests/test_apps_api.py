"""Every app's API through gradio_client, and everything its page offers to click: each preset
of the gradient lab and each example of the sentiment, translation and caption demos is sent as
the page sends it (with the page's default settings), and must get an answer, not an error.

Each app is launched in-process the way its main() launches it (seqlab.serving), on a free port
and a tiny model (tests/app_fixtures.py). The char-LM demo offers no examples or presets.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from app_fixtures import free_port, tiny_captioner, tiny_sentiment, tiny_translator
from gradio_client import Client, handle_file

from seqlab import serving


@contextmanager
def _served(demo):
    serving.launch(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def gradients_client():
    from apps.gradients_demo import build_demo

    with _served(build_demo()) as client:
        yield client


def test_every_gradient_lab_preset_fills_the_knobs_and_trains(gradients_client):
    """A preset's knobs must be values the page accepts (a T outside the choices failed), and
    they train; here for the slider's fewest steps (the lessons: test_gradients_app.py)."""
    from apps.gradients_demo import PRESETS

    for name, preset in PRESETS.items():
        knobs = gradients_client.predict(name, api_name="/preset")
        assert list(knobs) == list(preset), name
        task, cells, lengths, _, *rest = knobs
        loss, norm, table = gradients_client.predict(
            task, cells, lengths, 20, *rest, api_name="/train"
        )
        assert loss is not None and norm is not None, name
        assert all(f"| {cell} | none |" in table for cell in cells), name


@pytest.mark.slow
def test_the_gates_preset_shows_its_lesson(gradients_client):
    """Run in full (about 30 s on one core): the gated cells learn the adding task at T = 30,
    the RNN stays at chance (0.06)."""
    from apps.gradients_demo import PRESETS

    knobs = gradients_client.predict(next(iter(PRESETS)), api_name="/preset")
    _, _, table = gradients_client.predict(*knobs, api_name="/train")
    accuracy = {
        line.split("|")[1].strip(): float(line.split("|")[3].split()[0])
        for line in table.splitlines()
        if "(loss" in line
    }
    assert accuracy["rnn"] < 0.15 and accuracy["lstm"] > 0.25 and accuracy["gru"] > 0.8


def test_every_sentiment_example_is_classified(tmp_path):
    from apps.sentiment_demo import EXAMPLES, build_demo

    predictor = tiny_sentiment(tmp_path)
    with _served(build_demo(predictor, "a tiny test model")) as client:
        for (text,) in EXAMPLES:
            label, spans, status = client.predict(
                text, "integrated gradients", api_name="/classify"
            )
            assert label["label"] in predictor.labels and spans, text
            assert "Prediction" in status, text


def test_every_translation_example_is_translated(tmp_path):
    """The dates examples (--toy) and the German ones (the shipped model), with the page's
    default beam, length penalty and n-best."""
    from apps.translate_demo import DATE_EXAMPLES, DE_EXAMPLES, build_demo

    translator = tiny_translator(tmp_path)
    examples = DATE_EXAMPLES + DE_EXAMPLES
    with _served(build_demo(translator, "a tiny test model", examples)) as client:
        for (text,) in examples:
            _, table, _, status = client.predict(
                text, 5, translator.length_penalty, 3, api_name="/translate"
            )
            assert status.startswith("Decoded with beam search (beam 5)"), (text, status)
            assert 1 <= len(table["data"]) <= 3, text


def test_every_caption_example_is_captioned(tmp_path):
    """The generated scenes (--toy) and the licensed photos (the shipped model), beam and
    n-best as the page starts."""
    from apps.caption_demo import build_demo
    from seqlab.caption.predict import scene_examples
    from seqlab.data.photos import licensed_photos

    predictor = tiny_captioner(tmp_path / "model")
    examples = [str(p) for p in scene_examples(tmp_path / "scenes", n=8)]
    examples += [str(p.path) for p in licensed_photos()]
    with _served(build_demo(predictor, examples)) as client:
        for path in examples:
            hero, table, frames = client.predict(handle_file(path), 3, 3, api_name="/caption")
            assert "warn" not in hero and table["data"] and frames, path
