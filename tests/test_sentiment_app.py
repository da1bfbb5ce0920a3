"""The sentiment demo through gradio_client: predictions, attributions, the reading word by word
and bad input, against a demo launched in-process on a tiny model trained in seconds by the
demo's own offline trainer."""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path

import pytest
from app_fixtures import served_client, tiny_sentiment_checkpoint

from seqlab.sentiment.predict import SentimentPredictor
from seqlab.sentiment.train import demo_model

APP = Path(__file__).resolve().parents[1] / "apps" / "sentiment_demo.py"


def _load_app():
    spec = importlib.util.spec_from_file_location("sentiment_demo", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    path = tiny_sentiment_checkpoint(folder)
    assert path.is_file() and demo_model(folder, max_minutes=0.05) == path  # cached, not retrained
    return SentimentPredictor.from_checkpoint(path, "cpu")


@pytest.fixture(scope="module")
def client(predictor):
    from gradio_client import Client

    app = _load_app()
    demo = app.build_demo(predictor, "a tiny test model")
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True
    )
    yield Client(url, verbose=False)
    demo.close()


def _classify(client, text, method="integrated gradients"):
    return client.predict(text, method, api_name="/classify")


def _cells(shown: str) -> list[tuple[str, float]]:
    """(token, probability) of each cell of a word-by-word view, in page order."""
    found = re.findall(r'data-token="([^"]*)" data-p="([0-9.]+)"', shown)
    return [(html.unescape(t), float(p)) for t, p in found]


@pytest.mark.parametrize("method", ["integrated gradients", "occlusion"])
def test_classify_gives_label_probabilities_and_spans(client, predictor, method):
    label, spans, status = _classify(client, "slow start but a wonderful ending", method)
    assert label["label"] in predictor.labels
    assert {c["label"] for c in label["confidences"]} == set(predictor.labels)
    tokens = [s["token"] for s in spans]
    assert tokens[:2] == ["slow ", "start "]
    assert all(-1 <= s["class_or_confidence"] <= 1 for s in spans)
    assert "Prediction" in status


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_gets_a_message(client, text):
    label, spans, status = _classify(client, text)
    assert not label and "Type a sentence" in status


@pytest.mark.parametrize(
    "text",
    ["😀🎬👍", "これは素晴らしい映画です", "фильм был ужасен", "الفيلم رائع", "good " * 200_000],
)
def test_odd_text_gets_a_prediction(client, predictor, text):
    label, spans, status = _classify(client, text)
    assert label["label"] in predictor.labels and spans
    if len(text) > 100_000:
        assert "cut to its first" in status


def _props(client, label: str) -> dict:
    """The props (value included) of the page's component labelled ``label``."""
    (found,) = [c["props"] for c in client.config["components"] if c["props"].get("label") == label]
    return found


def test_the_page_opens_with_its_first_example_classified(predictor):
    """The first screen shows what the app does without a click (issue 32, item 6): the first
    example in the box, its label, probabilities, token colours and status."""
    app = _load_app()
    with served_client(app.build_demo(predictor, "a tiny test model")) as client:
        first = app.EXAMPLES[0][0]
        assert _props(client, "Text")["value"] == first
        label, spans, status = _classify(client, first)
        assert _props(client, "Label and probabilities")["value"]["label"] == label["label"]
        shown = _props(client, "Which tokens pushed the decision")["value"]
        assert [s["token"] for s in shown] == [s["token"] for s in spans]
        assert _props(client, "status")["value"] == status and "Prediction" in status


def test_a_clicked_example_is_classified_with_the_chosen_attribution(predictor):
    """A click on an example fills the box (/load_example), then classifies it with the page's
    attribution method: an event chained after the load."""
    app = _load_app()
    demo = app.build_demo(predictor, "a tiny test model")
    with served_client(demo) as client:
        deps = client.config["dependencies"]
        ids = {c["props"].get("label"): c["id"] for c in client.config["components"]}
        (chained,) = [d for d in deps if d["api_name"] == "classify_example"]
        (load,) = [d for d in deps if d["id"] == chained["trigger_after"]]
        (button,) = [d for d in deps if d["api_name"] == "classify"]
        assert load["api_name"] == "load_example"
        assert chained["inputs"] == [ids["Text"], ids["Attribution"]]
        assert chained["outputs"] == button["outputs"]
    classify = next(f.fn for f in demo.fns.values() if f.api_name == "classify_example")
    assert "Prediction" in classify(app.EXAMPLES[1][0], "occlusion")[2]


def test_app_main_rejects_a_bad_checkpoint(tmp_path, capsys):
    app = _load_app()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as e:
        app.main(["--checkpoint", str(tmp_path / "bad.pt")])
    assert e.value.code == 1 and "corrupt or not a checkpoint" in capsys.readouterr().err


def _reading(predictor, text: str) -> list[tuple[str, float]]:
    """The expected cells: each token and P(positive) after it, from the predictor."""
    tokens, rows = predictor.prefix_probs(text)
    return [(t, pytest.approx(r["positive"], abs=1e-4)) for t, r in zip(tokens, rows, strict=True)]


def test_the_reading_word_by_word_follows_each_classification(client, predictor):
    """Issue 34, item 2: /read_text, chained after /classify (and after Enter and the examples),
    shows P(positive) after each token of the text, as the predictor's prefix_probs computes it;
    a long text is read up to READ_TOKENS, and says so."""
    app = _load_app()
    text = "slow start but a wonderful ending"
    assert _cells(client.predict(text, api_name="/read_text")) == _reading(predictor, text)
    assert not client.predict("   ", api_name="/read_text")
    long = client.predict("good " * 1000, api_name="/read_text")
    assert len(_cells(long)) == app.READ_TOKENS and f"the first {app.READ_TOKENS} tokens" in long
    deps = client.config["dependencies"]
    for name, after in (("read_text", "classify"), ("read_example", "classify_example")):
        (read,) = [d for d in deps if d["api_name"] == name]
        (before,) = [d for d in deps if d["id"] == read["trigger_after"]]
        assert before["api_name"] == after


def test_the_page_opens_with_the_reading_and_a_pair(predictor):
    """The first screen shows the first example's reading and the first pair's, the word that
    differs outlined, and what the pair shows in words, without a click."""
    app = _load_app()
    with served_client(app.build_demo(predictor, "a tiny test model")) as client:
        reading = _props(client, "the text, word by word")["value"]
        pair = _props(client, "the pair, word by word")["value"]
        note = _props(client, "what the pair shows")["value"]
    assert _cells(reading) == _reading(predictor, app.EXAMPLES[0][0])
    first, second, _ = next(iter(app.PAIRS.values()))
    assert "not" in second.split() and "not" not in first.split()
    assert _cells(pair) == _reading(predictor, first) + _reading(predictor, second)
    (outlined,) = re.findall(r'data-token="([^"]*)"[^>]*outline:', pair)
    assert outlined == "not" and "At **not** P(positive) goes from" in note


def test_another_pair_is_read_and_described_with_the_model_figures(client, predictor):
    """/read_pair: the chosen pair's readings, and a note from this model's own figures: where
    it ends on each sentence and whether the edit turns its answer."""
    app = _load_app()
    choice = "sweet / too sweet"
    first, second, reader = app.PAIRS[choice]
    shown, note = client.predict(choice, api_name="/read_pair")
    assert _cells(shown) == _reading(predictor, first) + _reading(predictor, second)
    pa, pb = (predictor.predict([t])[0] for t in (first, second))
    figures = f"(P(positive) {pa['probs']['positive']:.2f}, then {pb['probs']['positive']:.2f})"
    assert f"**{pa['label']}**, then **{pb['label']}** {figures}" in note
    assert f"a reader says {reader[0]}, then {reader[1]}" in note
    assert ("does **not** turn" in note) == (pa["label"] == pb["label"])
    assert "At **too** P(positive) goes from" in note


def test_the_pair_note_says_whether_the_edit_turns_the_answer():
    app = _load_app()
    neg, pos = {"negative": 0.9, "positive": 0.1}, {"negative": 0.2, "positive": 0.8}
    reader = ("negative", "positive")
    turned = app.pair_note((neg, pos), "positive", "", reader)
    assert turned.startswith("The edit turns the model's answer: **negative**, then **positive**")
    same = app.pair_note((neg, neg), "positive", "", reader)
    assert "does **not** turn" in same and "a reader says negative, then positive" in same
    other = app.pair_note(({"a": 0.6, "b": 0.4}, {"a": 0.3, "b": 0.7}), "b", "", reader)
    assert "a reader says" not in other  # not the model's classes
