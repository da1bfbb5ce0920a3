"""What the shipped models do: checks that a toy model, or a model trained on the wrong data, fails.

Each test loads one shipped model through seqlab.pretrained (sha256 checked) and asks it things
whose answers any competent model of its task gets right. A model missing from the registry skips
its tests (a checkout without that model); one that is registered must pass them.
"""

from __future__ import annotations

import re

import pytest

from seqlab import pretrained
from seqlab.cli import main
from seqlab.data.photos import licensed_photos


def shipped(name: str):
    if name not in pretrained.ENTRIES:
        pytest.skip(f"{name} is not shipped in this checkout")
    return pretrained.load(name, device="cpu")


@pytest.fixture(scope="module")
def captioner():
    return shipped("caption-flickr8k")


@pytest.fixture(scope="module")
def translator():
    return shipped("translate-multi30k-de-en")


@pytest.fixture(scope="module")
def classifier():
    return shipped("sentiment-sst2")


@pytest.fixture(scope="module")
def charlm():
    return shipped("charlm-shakespeare")


PERSON = re.compile(r"\b(man|woman|person|lady|girl|boy|people)\b")


def test_captioner_names_the_person_in_a_licensed_photo(captioner):
    photos = {p.name: p for p in licensed_photos()}
    if "grace_hopper" not in photos:
        pytest.skip("matplotlib's sample photo is not installed")
    (best,) = captioner.caption(photos["grace_hopper"].path, beam_size=3)
    assert PERSON.search(best.text), best.text


def test_captioner_tells_photos_apart(captioner):
    texts = {captioner.caption(p.path, beam_size=3)[0].text for p in licensed_photos()}
    assert len(texts) >= min(3, len(licensed_photos())), texts  # a toy says one thing to all


@pytest.mark.parametrize(
    ("german", "english"),
    [
        ("Ein Hund läuft im Park.", "dog"),
        ("Zwei Männer spielen Fußball auf einer Wiese.", "men"),
        ("Eine Frau fährt Fahrrad.", "woman"),
        ("Ein kleines Mädchen spielt am Strand.", "girl"),
    ],
)
def test_translator_knows_everyday_german(translator, german, english):
    out = translator.translate(german, beam_size=5)["translation"].lower()
    assert re.search(rf"\b{english}\b", out), out


REVIEWS = [
    ("a gripping, beautifully acted film.", "positive"),
    ("one of the best movies of the year.", "positive"),
    ("the plot is dull and the acting is terrible.", "negative"),
    ("a boring, pointless mess.", "negative"),
    ("not good at all.", "negative"),
    ("never boring, always surprising.", "positive"),
    ("the acting is not convincing.", "negative"),
    ("i did n't like it one bit.", "negative"),
]


@pytest.mark.parametrize(("text", "label"), REVIEWS)
def test_classifier_gets_clear_reviews_right(classifier, text, label):
    assert classifier.predict([text])[0]["label"] == label


def test_charlm_writes_speaker_lines(charlm):
    text = charlm.sample("ROMEO:", length=400, temperature=0.8, seed=0)
    speakers = re.findall(r"^[A-Z][A-Za-z ]+:$", text, flags=re.M)
    assert len(speakers) >= 2, text


def test_cli_predict_verbs_use_the_shipped_models(capsys):
    """Without --checkpoint every predict verb runs on its task's shipped model."""
    ran = 0
    if "translate-multi30k-de-en" in pretrained.ENTRIES:
        assert main(["translate", "Ein Hund rennt."]) == 0
        assert "dog" in capsys.readouterr().out.lower()
        ran += 1
    if "sentiment-sst2" in pretrained.ENTRIES:
        assert main(["sentiment", "predict", "a wonderful film"]) == 0
        assert capsys.readouterr().out.startswith("a wonderful film\tpositive (")
        ran += 1
    if "charlm-shakespeare" in pretrained.ENTRIES:
        assert main(["charlm", "sample", "--prime", "ROMEO:", "--length", "50", "--seed", "0"]) == 0
        assert capsys.readouterr().out.startswith("ROMEO:")
        ran += 1
    if "caption-flickr8k" in pretrained.ENTRIES and licensed_photos():
        assert main(["caption", str(licensed_photos()[0].path)]) == 0
        assert capsys.readouterr().out.strip()
        ran += 1
    if not ran:
        pytest.skip("no shipped model in this checkout")
