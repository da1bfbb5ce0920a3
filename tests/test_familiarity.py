"""Familiarity: the calibration and detectors at small sizes, and what the shipped models say about
inputs unlike their training data (the trust issue's own examples) and like it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqlab import pretrained
from seqlab.cli import main
from seqlab.data.photos import licensed_photos
from seqlab.familiarity import (
    Calibration,
    GaussianDensity,
    NearestNeighbours,
    ZScores,
    auroc,
    familiarity_json,
    max_softmax,
)
from seqlab.packing import pack, unpack


def test_calibration_flags_its_share_of_validation_and_ranks_by_percentile():
    val = np.random.default_rng(0).normal(size=2000)
    cal = Calibration.fit(val, "test", flag_rate=0.05)
    assert np.mean([not cal(v).in_domain for v in val]) == pytest.approx(0.05, abs=0.002)
    low, mid, high = cal(-10.0), cal(0.0), cal(10.0)
    assert (low.score, high.score) == (0.0, 1.0) and mid.score == pytest.approx(0.5, abs=0.03)
    assert not low.in_domain and mid.in_domain
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    assert familiarity_json(low) == {"score": 0.0, "in_domain": False}
    assert familiarity_json(None) is None


def test_auroc_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 60).round(1), rng.normal(0, 1, 40).round(1)  # with ties
    pairs = np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b])
    assert auroc(a, b) == pytest.approx(pairs)
    assert auroc([2, 3], [0, 1]) == 1.0 and auroc([0, 1], [2, 3]) == 0.0


def _clusters(n=400, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, d, generator=g) * 3
    return centres[torch.arange(n) % 4] + torch.randn(n, d, generator=g) * 0.3, centres


def test_nearest_neighbours_knows_its_training_vectors_and_survives_packing(tmp_path):
    x, centres = _clusters()
    det = NearestNeighbours.fit(x, dim=16, k=1)
    near = det.raw(x[:10] + 0.01)  # training photos, slightly changed
    far = det.raw(torch.randn(10, 32, generator=torch.Generator().manual_seed(9)) * 3)
    assert near.min() > 0.95 and far.max() < near.min()
    assert det.bank.dtype == torch.int8 and det.bank.shape == (400, 16)
    pack({"format_version": 1, "task": "caption", "f": det.state()}, tmp_path / "m.safetensors")
    back = NearestNeighbours.from_state(unpack(tmp_path / "m.safetensors")["f"])
    np.testing.assert_allclose(back.raw(x[:50]), det.raw(x[:50]), atol=1e-6)


def test_gaussian_density_and_zscores_order_inputs_by_distance():
    x, centres = _clusters(d=16)
    g = GaussianDensity.fit(x, k=8)
    assert (g.raw(x.mean(0, keepdim=True) + 0.1) > g.raw(x.mean(0, keepdim=True) + 20)).all()
    z = ZScores.fit(["a", "b"], np.stack([np.arange(100.0), 2 * np.arange(100.0)], 1))
    assert z.raw([[99.0, 198.0]])[0] > z.raw([[0.0, 0.0]])[0]
    probs = max_softmax(torch.tensor([[5.0, 0.0], [0.0, 0.0]]))
    assert probs[0] > 0.99 and probs[1] == pytest.approx(0.5)


# The shipped models: the examples the trust issue reported, and in-domain ones.


def shipped(name: str):
    if name not in pretrained.ENTRIES:
        pytest.skip(f"{name} is not shipped in this checkout")
    return pretrained.load(name, device="cpu")


OUT_OF_DOMAIN_PHOTOS = ("lion", "cheetah", "tower", "grace_hopper")


def test_captioner_marks_the_photos_it_never_learned():
    cap = shipped("caption-flickr8k")
    photos = [p for p in licensed_photos() if p.name in OUT_OF_DOMAIN_PHOTOS]
    if not photos:
        pytest.skip("the packages' photos are not installed")
    for photo in photos:
        fam = cap.caption(photo.path, beam_size=1)[0].familiarity
        assert fam is not None and not fam.in_domain, (photo.name, fam)


def test_translator_marks_everyday_german_and_not_multi30k_german():
    tr = shipped("translate-multi30k-de-en")
    unfamiliar = [
        "Ich habe keine Ahnung, wovon du sprichst.",
        "Hallo Welt",
        "Die Regierung hat gestern neue Steuergesetze beschlossen.",
    ]
    familiar = [  # Multi30k-style descriptions of photos
        "Ein Hund läuft im Park.",
        "Zwei Männer spielen Fußball auf einer Wiese.",
        "Eine Frau mit einem roten Hut sitzt auf einer Bank.",
    ]
    for text, out in zip(
        unfamiliar + familiar, tr.translate_many(unfamiliar + familiar), strict=True
    ):
        assert out["familiarity"].in_domain == (text in familiar), (text, out["familiarity"])


def test_sentiment_marks_text_that_is_no_review():
    se = shipped("sentiment-sst2")
    reviews = ["not a bad film at all", "the plot is paper-thin and the acting is wooden ."]
    others = ["Cannot open the configuration file.", "A dog runs through the grass."]
    for text, out in zip(reviews + others, se.predict(reviews + others), strict=True):
        assert out["familiarity"].in_domain == (text in reviews), (text, out["familiarity"])


def test_json_outputs_carry_score_and_in_domain(capsys):
    if "translate-multi30k-de-en" not in pretrained.ENTRIES:
        pytest.skip("no shipped translator")
    assert main(["translate", "--json", "Hallo Welt"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["familiarity"]["in_domain"] is False and 0 <= out["familiarity"]["score"] < 0.05
    assert main(["translate", "Hallo Welt"]) == 0
    captured = capsys.readouterr()
    assert "unlike the 29,000 short German" in captured.err and "a guess" in captured.err
    assert main(["sentiment", "predict", "--json", "a wonderful film"]) == 0
    assert json.loads(capsys.readouterr().out)["familiarity"]["in_domain"] is True
    lion = [p for p in licensed_photos() if p.name == "lion"]
    if lion:
        assert main(["caption", "--json", "--beam", "1", str(lion[0].path)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["familiarity"]["in_domain"] is False and out["output"]


# The demos: a plain sentence above an answer the model is guessing, none above the others.


def _handler(demo, api_name: str):
    return next(f.fn for f in demo.fns.values() if f.api_name == api_name)


def test_caption_demo_marks_unfamiliar_photos_and_not_its_own_examples():
    pytest.importorskip("gradio")
    from apps import caption_demo as app

    if "caption-flickr8k" not in pretrained.ENTRIES:
        pytest.skip("no shipped captioner")
    predictor, page = app.load_predictor("caption-flickr8k", "unused")
    assert page["examples"] and page["unfamiliar_examples"]
    assert "BLEU-4 21.32" in page["test"] and "beam 3" in page["test"]
    caption = app.make_caption_fn(predictor)
    familiar, unfamiliar = app.example_photos()  # the page's own, not Flickr8k test photos
    assert len(familiar) >= 3 and len(unfamiliar) >= 2  # dogs_at_window is unfamiliar (#32 item 7)
    shown = familiar + unfamiliar
    heroes = caption(shown, [1] * len(shown), [1] * len(shown))[0]
    for path, hero in zip(shown, heroes, strict=True):
        marked = "cap-unfamiliar" in hero and "the caption is a guess" in hero
        assert marked == (path in unfamiliar), (path, hero)


def test_translate_and_sentiment_demos_mark_unfamiliar_text():
    pytest.importorskip("gradio")
    from apps import sentiment_demo, translate_demo

    if not {"translate-multi30k-de-en", "sentiment-sst2"} <= set(pretrained.ENTRIES):
        pytest.skip("the shipped translator or classifier is missing")
    tr, about, examples = translate_demo.load_translator("translate-multi30k-de-en", 0, None)
    assert "sacreBLEU 40.3" in about
    texts = [e[0] for e in examples[:2] + translate_demo.DE_UNFAMILIAR]
    demo = translate_demo.build_demo(tr, about, examples, translate_demo.DE_UNFAMILIAR)
    status = _handler(demo, "translate")(texts, [5] * 5, [1.0] * 5, [1] * 5)[3]
    for k, note in enumerate(status):
        assert ("the translation is a guess" in note) == (k >= 2), (texts[k], note)
    se, about = sentiment_demo.load_predictor("sentiment-sst2", 0, None)
    classify = _handler(sentiment_demo.build_demo(se, about), "classify")
    for text, unfamiliar in [(sentiment_demo.EXAMPLES[0][0], False)] + [
        (t, True) for (t,) in sentiment_demo.UNFAMILIAR
    ]:
        note = classify(text, "occlusion")[2]
        assert ("the label is a guess" in note) == unfamiliar, (text, note)
