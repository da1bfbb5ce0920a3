"""The char-LM demo through gradio_client (a small LSTM trained on a planted quote signal, and an
untrained GRU), launched like its main(): sampling, colouring, next character, span search, and
one-line messages for hostile input."""

from __future__ import annotations

import re

import pytest
import torch
from app_fixtures import free_port
from charlm_fixtures import planted

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402

from apps.charlm_demo import build_demo  # noqa: E402
from seqlab.charlm.explore import MAX_SAMPLE, CharLMExplorer  # noqa: E402
from seqlab.charlm.predict import CharLMPredictor  # noqa: E402
from seqlab.models.charlm import CharLM, CharLMConfig  # noqa: E402
from seqlab.serving import launch  # noqa: E402


def _serve(predictor):
    demo = build_demo(CharLMExplorer(predictor), "a test model")
    launch(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    return demo


@pytest.fixture(scope="module")
def client(quote_run):
    demo = _serve(CharLMPredictor.from_checkpoint(quote_run, "cpu"))
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_sample_colour_next_char_and_span(client):
    text, status = client.predict('abc "', 0.8, 0, 120, 3, api_name="/sample")
    assert text.startswith('abc "') and len(text) == 125 and status == ""
    again, _ = client.predict('abc "', 0.8, 0, 120, 3, api_name="/sample")
    assert again == text  # a seed makes it reproducible
    coloured, status = client.predict(text, "c", 1, 3, api_name="/colour")
    values = [float(v) for v in re.findall(r'title="([-+0-9.]+)"', coloured)]
    assert len(values) == len(text) and all(-1 <= v <= 1 for v in values)
    assert max(abs(v) for v in values) == pytest.approx(1.0, abs=0.01)  # scaled to the unit's max
    dist, _ = client.predict(text, 4, api_name="/next_char")
    assert abs(sum(c["confidence"] for c in dist["confidences"]) - 1) < 0.3  # the top 10
    matches, status = client.predict(text, 0, 3, 0.0, api_name="/span")
    assert status.startswith("On across the span") or status.startswith("No unit")


def test_a_picked_unit_fills_the_fields_that_colour_the_text(client):
    """The fields always name the unit the colours show: a unit picked from the ranking fills
    State/Layer/Unit (and colours by them), and colouring reads the fields alone."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["label"] for p in params["/colour"]["parameters"]] == [
        "Text (sampled, or paste your own)",
        "State",
        "Layer",
        "Unit",
    ]
    text, _ = client.predict('abc "', 0.8, 0, 120, 3, api_name="/sample")
    ranked, _ = client.predict(text, api_name="/units")  # a dropdown update: choices, value
    picked = ranked["value"]
    kind, layer, unit, coloured, status = client.predict(text, picked, api_name="/pick_unit")
    assert picked.split(": ")[1].startswith(f"layer {layer} {kind}[{unit}] ") and status == ""
    assert coloured == client.predict(text, kind, layer, unit, api_name="/colour")[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 0.8, 0, 50, 1), "the prime is empty"),
        (("abc \u263a", 0.8, 0, 50, 1), "never saw"),
    ],
)
def test_hostile_sampling_input_is_one_line(client, args, message):
    _, status = client.predict(*args, api_name="/sample")
    assert message in status and "\n" not in status.strip()


def test_a_huge_length_is_refused_by_the_page_and_by_the_explorer(client, quote_run):
    with pytest.raises(Exception, match=f"greater than maximum value {MAX_SAMPLE}"):
        client.predict("abc", 0.8, 0, MAX_SAMPLE + 1, 1, api_name="/sample")
    explorer = CharLMExplorer(CharLMPredictor.from_checkpoint(quote_run, "cpu"))
    with pytest.raises(Exception, match="length must be between"):
        explorer.sample("abc", MAX_SAMPLE + 1, 0.8, 0, 1)


def test_hostile_inspection_input_is_one_line(client):
    _, status = client.predict("x" * 6000, "h", 1, 0, api_name="/colour")
    assert "limit is 5,000" in status
    _, status = client.predict("abc abc", "h", 9, 0, api_name="/colour")
    assert "pick a layer" in status
    _, status = client.predict("abc abc", 50, api_name="/next_char")
    assert "pick a position" in status
    _, status = client.predict("abc abc", 5, 2, 0.3, api_name="/span")
    assert "select a span" in status


def _props(client, label: str) -> dict:
    """The props (value included) of the page's component labelled ``label``."""
    (found,) = [c["props"] for c in client.config["components"] if c["props"].get("label") == label]
    return found


def test_the_page_opens_with_a_sample_coloured_by_a_unit(client):
    """Issue 32, item 6: the page opened empty. It opens with a sample of the page's settings,
    coloured by the best-ranked unit (named in the dropdown and the fields), and the next-
    character chart on it, as the events would answer them."""
    text = _props(client, "Text (sampled, or paste your own)")["value"]
    prime = _props(client, "Prime")["value"]
    assert text.startswith(prime) and len(text) == len(prime) + 400
    assert client.predict(prime, 0.8, 0, 400, 1, api_name="/sample")[0] == text
    ranked = client.predict(text, api_name="/units")[0]
    picked = _props(client, "Units most correlated with a text feature (fills the fields)")
    assert picked["value"] == ranked["value"] and picked["value"]
    kind, layer, unit, coloured, _ = client.predict(text, picked["value"], api_name="/pick_unit")
    assert [_props(client, k)["value"] for k in ("State", "Layer", "Unit")] == [kind, layer, unit]
    assert _props(client, "text coloured by the unit")["value"] == coloured
    assert len(re.findall(r'title="([-+0-9.]+)"', coloured)) == len(text)
    dist = _props(client, "The model's next-character distribution")["value"]
    assert dist["label"] == client.predict(text, 5, api_name="/next_char")[0]["label"]


def test_the_page_opens_with_a_prime_the_model_knows(quote_run):
    """The page's prime is "ROMEO:\n" for a model that knows its characters; this one learned
    only a-j, A-J, quotes and spaces, so it opens with the first letter it knows."""
    from apps.charlm_demo import PRIME, first_prime

    assert first_prime(list(PRIME)) == PRIME
    assert first_prime(sorted(set(planted(2000)))) == "A"


def test_the_next_character_chart_shows_whitespace():
    """Issue 32, item 8: the space was a blank label (a newline "\\n", a backslash two): they
    read ␣ and ↵, a tab ⇥, a backslash itself. A model of six characters, all in the top 10."""
    from seqlab.data.text import CharVocab

    chars = [" ", "\n", "\t", "a", "b", "\\"]
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=len(chars), cell="gru", hidden_size=8, embedding_size=4))
    predictor = CharLMPredictor(model, CharVocab(chars), torch.device("cpu"))
    demo = _serve(predictor)
    try:
        dist, _ = Client(demo.local_url, verbose=False).predict("ab a\n", 3, api_name="/next_char")
    finally:
        demo.close()
    labels = {c["label"] for c in dist["confidences"]}
    assert labels == {"\u2423", "\u21b5", "\u21e5", "a", "b", "\\"}


def test_a_gru_has_no_cell_state_and_says_so():
    text = planted(3000)
    vocab = sorted(set(text))
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=len(vocab), cell="gru", hidden_size=8, embedding_size=4))
    from seqlab.data.text import CharVocab

    ex = CharLMExplorer(CharLMPredictor(model, CharVocab(vocab), torch.device("cpu")))
    view = ex.view(text[:200])
    assert view.kinds == ["h"]
    with pytest.raises(Exception, match="LSTM-only"):
        view.values("c", 0, 0)
