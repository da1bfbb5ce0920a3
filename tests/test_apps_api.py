"""Every app's API through gradio_client: every event has a name of its own (no gradio-made
`/classify_1`) and every output a label (no `value_17`). And everything a page offers to click:
each preset of the gradient lab and each example of the sentiment, translation and caption demos
is sent as the page sends it (with the page's default settings), and gets an answer, not an error.

Each app is launched in-process the way its main() launches it (seqlab.serving), on a free port
and a tiny model (tests/app_fixtures.py). The char-LM demo offers no examples or presets.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from app_fixtures import served_client, tiny_captioner, tiny_sentiment, tiny_translator
from gradio_client import handle_file

from seqlab import serving

APPS = ["gradients", "sentiment", "translate", "caption", "charlm"]
APPS_DIR = Path(__file__).resolve().parents[1] / "apps"
MADE_UP = re.compile(r"_\d+$|^lambda$|^value_\d+$")  # names gradio makes up for unnamed things


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    return tiny_sentiment(tmp_path_factory.mktemp("sentiment"))


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    return tiny_translator(tmp_path_factory.mktemp("translate"))


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    return tiny_captioner(tmp_path_factory.mktemp("caption"))


@pytest.fixture(scope="module")
def caption_examples(tmp_path_factory) -> list[str]:
    """The generated scenes (--toy) and the licensed photos (the shipped model)."""
    from seqlab.caption.predict import scene_examples
    from seqlab.data.photos import licensed_photos

    scenes = scene_examples(tmp_path_factory.mktemp("scenes"), n=8)
    return [str(p) for p in scenes] + [str(p.path) for p in licensed_photos()]


def _demo(app: str, request):
    """The app's page around a tiny model (the module's fixtures)."""
    if app == "gradients":
        from apps.gradients_demo import build_demo

        return build_demo()
    if app == "sentiment":
        from apps.sentiment_demo import build_demo

        return build_demo(request.getfixturevalue("sentiment"), "a tiny test model")
    if app == "translate":
        from apps.translate_demo import DATE_EXAMPLES, build_demo

        return build_demo(request.getfixturevalue("translator"), "a tiny model", DATE_EXAMPLES)
    if app == "caption":
        from apps.caption_demo import build_demo

        captioner = request.getfixturevalue("captioner")
        return build_demo(captioner, request.getfixturevalue("caption_examples"))
    from apps.charlm_demo import build_demo
    from seqlab.charlm.explore import CharLMExplorer
    from seqlab.charlm.predict import CharLMPredictor

    predictor = CharLMPredictor.from_checkpoint(request.getfixturevalue("quote_run"), "cpu")
    return build_demo(CharLMExplorer(predictor), "a small test model")


@pytest.mark.parametrize("app", APPS)
def test_every_event_is_named_and_every_output_labelled(app, request):
    with served_client(_demo(app, request)) as client:
        events = [d["api_name"] for d in client.config["dependencies"]]
        api = client.view_api(return_format="dict", print_info=False)
    # gradio adds _1, _2 to a repeated name: a name of our own must not end like that either
    hint = "give each event an api_name of its own, not ending in _<digit> (private ones too)"
    assert events and all(name and not MADE_UP.search(name) for name in events), (hint, events)
    assert not api["unnamed_endpoints"] and api["named_endpoints"]
    for endpoint, about in api["named_endpoints"].items():
        assert not MADE_UP.search(endpoint)
        labels = [r.get("label") or "" for r in about["returns"]]
        assert all(label and not MADE_UP.search(label) for label in labels), (endpoint, labels)


def test_every_app_has_the_one_theme():
    """One look for the five apps: each launches through seqlab.serving.launch, which sets the
    theme seqlab.serving.theme() defines, and none picks a theme of its own."""
    import gradio as gr

    for app in APPS:
        nodes = list(ast.walk(ast.parse((APPS_DIR / f"{app}_demo.py").read_text())))
        own = [
            n
            for n in nodes
            if getattr(n, "arg", "") == "theme" or getattr(n, "attr", "") == "themes"
        ]
        imported = [
            a.name
            for n in nodes
            if isinstance(n, ast.ImportFrom) and n.module == "seqlab.serving"
            for a in n.names
        ]
        assert not own and "launch" in imported, app
    with gr.Blocks() as demo:
        gr.Markdown("hello")
    with served_client(demo):
        assert demo.theme.to_dict() == serving.theme().to_dict()


INNER_TEST = """
import warnings


def test_warns():
    for text, category, module in [
        ("pandas API deprecated, used by gradio", DeprecationWarning, "gradio.queueing"),
        ("deprecated in seqlab", DeprecationWarning, "seqlab.training"),
        ("a gradio user warning", UserWarning, "gradio.components.base"),
    ]:
        warnings.warn_explicit(text, category, module.replace(".", "/") + ".py", 1, module=module)
"""


def test_pytest_hides_gradios_deprecations_and_shows_the_rest(tmp_path):
    """Issue 32, item 8: `uv run pytest` printed hundreds of Pandas4Warnings raised in gradio's
    queue. The project's pytest config hides DeprecationWarnings raised in gradio's modules and
    nothing else: one from seqlab, or another kind from gradio, still shows."""
    import subprocess
    import sys

    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    config = str(APPS_DIR.parent / "pyproject.toml")
    cmd = [sys.executable, "-m", "pytest", "-c", config, "-p", "no:cacheprovider", "-rA"]
    res = subprocess.run([*cmd, str(tmp_path / "test_inner.py")], capture_output=True, text=True)
    assert "1 passed" in res.stdout, res.stdout[-2000:]
    assert "deprecated in seqlab" in res.stdout and "a gradio user warning" in res.stdout
    assert "used by gradio" not in res.stdout


@pytest.fixture(scope="module")
def gradients_client():
    from apps.gradients_demo import build_demo

    with served_client(build_demo()) as client:
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


def test_every_sentiment_example_is_classified(sentiment):
    from apps.sentiment_demo import EXAMPLES, build_demo

    with served_client(build_demo(sentiment, "a tiny test model")) as client:
        for (text,) in EXAMPLES:
            label, spans, status = client.predict(
                text, "integrated gradients", api_name="/classify"
            )
            assert label["label"] in sentiment.labels and spans, text
            assert "Prediction" in status, text


def test_every_translation_example_is_translated(translator):
    """The dates examples (--toy) and the German ones (the shipped model), with the page's
    default beam, length penalty and n-best."""
    from apps.translate_demo import DATE_EXAMPLES, DE_EXAMPLES, build_demo

    examples = DATE_EXAMPLES + DE_EXAMPLES
    with served_client(build_demo(translator, "a tiny test model", examples)) as client:
        for (text,) in examples:
            _, table, _, status = client.predict(
                text, 5, translator.length_penalty, 3, api_name="/translate"
            )
            assert status.startswith("Decoded with beam search (beam 5)"), (text, status)
            assert 1 <= len(table["data"]) <= 3, text


def test_every_caption_example_is_captioned(captioner, caption_examples):
    """Beam and n-best as the page starts."""
    from apps.caption_demo import build_demo

    with served_client(build_demo(captioner, caption_examples)) as client:
        for path in caption_examples:
            hero, table, frames = client.predict(handle_file(path), 3, 3, api_name="/caption")
            assert "warn" not in hero and table["data"] and frames, path
