"""The sentiment contrast set (tests/data/sentiment_contrast.tsv, issue 34) and the script that
scores a checkpoint on it, bench/sentiment_contrast.py: the set's shape (pairs of minimally edited
twins with opposite labels, Gardner et al. 2020), that none of it is an SST-2 sentence, and the
script at tiny size on a model trained in seconds, without ../shared data."""

from __future__ import annotations

import csv
import difflib
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from app_fixtures import tiny_sentiment_checkpoint

from seqlab.sentiment.negation import has_negation

ROOT = Path(__file__).resolve().parents[1]
CONTRAST = ROOT / "tests" / "data" / "sentiment_contrast.tsv"
PHENOMENA = {"negation", "contrast", "intensity"}
MAX_EDIT = 4  # tokens changed between twins, unless the twin reorders the same words


def _rows() -> list[dict]:
    with open(CONTRAST, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _pairs() -> dict[str, list[dict]]:
    pairs = defaultdict(list)
    for row in _rows():
        pairs[row["pair"]].append(row)
    return pairs


def _bench():
    spec = importlib.util.spec_from_file_location(
        "sentiment_contrast", ROOT / "bench" / "sentiment_contrast.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_contrast_set_is_pairs_of_twins_with_opposite_labels():
    rows, pairs = _rows(), _pairs()
    assert len(rows) >= 100 and list(rows[0]) == ["sentence", "label", "pair", "phenomenon"]
    assert len({r["sentence"] for r in rows}) == len(rows)  # no sentence twice
    assert {r["phenomenon"] for r in rows} == PHENOMENA
    for name, (a, b, *more) in pairs.items():
        assert not more, f"{name} has more than two sentences"
        assert {a["label"], b["label"]} == {"negative", "positive"}, name
        assert a["phenomenon"] == b["phenomenon"], name
        ta, tb = a["sentence"].split(), b["sentence"].split()
        kept = sum(m.size for m in difflib.SequenceMatcher(a=ta, b=tb).get_matching_blocks())
        reordered = Counter(ta) == Counter(tb)
        assert reordered or max(len(ta), len(tb)) - kept <= MAX_EDIT, (name, ta, tb)


def test_each_phenomenon_carries_its_words():
    for name, pair in _pairs().items():
        texts = [r["sentence"] for r in pair]
        if pair[0]["phenomenon"] == "negation":  # the words seqlab counts as negation
            assert any(has_negation(t) for t in texts), name
        if pair[0]["phenomenon"] == "contrast":
            assert all(re.search(r"\b(but|although)\b", t) for t in texts), name


def test_the_contrast_set_is_lower_cased_and_tokenised_like_sst():
    for row in _rows():
        text = row["sentence"]
        assert text == text.lower() and text == text.strip(), text
        assert not re.search(r"\w(n't|'s|'ll|'ve|'re|'d|'m)\b|\w[.,;:!?]", text), text


def test_no_contrast_sentence_is_an_sst2_sentence(shared_data):
    """Written for seqlab: no row is an SST-2 training phrase or dev sentence (with or without
    its final full stop)."""
    sst = set()
    for name in ("train.tsv", "dev.tsv"):
        path = shared_data / "sst2" / name
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        sst |= {line.rsplit("\t", 1)[0].strip() for line in lines}
    found = [r["sentence"] for r in _rows() if {r["sentence"], r["sentence"][:-2]} & sst]
    assert not found, found


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_sentiment_checkpoint(tmp_path_factory.mktemp("tiny_sentiment"))


def test_the_bench_scores_a_checkpoint_on_the_contrast_set(checkpoint, tmp_path, capsys):
    """Without SST-2 (a folder that does not exist) the script scores the contrast set, says
    what it skipped, and prints one markdown row and the same figures as JSON."""
    bench = _bench()
    assert bench.main(["--checkpoint", str(checkpoint), "--sst2", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CPU: ") and "command: uv run python bench/sentiment_contrast.py" in out
    assert "skipped: the SST-2 dev" in out and "skipped: the fit" in out
    (row,) = [line for line in out.splitlines() if line.startswith(f"| {checkpoint} |")]
    figures = json.loads(out.strip().splitlines()[-1])
    contrast, pairs = figures["contrast"], _pairs()
    assert contrast["all"]["n"] == len(_rows()) and figures["sst2"] == {}
    assert sum(contrast[p]["n"] for p in PHENOMENA) == contrast["all"]["n"]
    assert sum(contrast[p]["right"] for p in PHENOMENA) == contrast["all"]["right"]
    assert contrast["pairs_both_right"]["n"] == len(pairs)
    # a pair is both right only if its two sentences are: at most half the right answers
    assert contrast["pairs_both_right"]["right"] <= contrast["all"]["right"] / 2
    assert contrast["raw_text"]["n"] == contrast["all"]["n"]  # the same sentences, as typed
    assert row.count("|") == 12 and row.endswith("| - | - | - | - |")


def test_the_bench_scores_sst2_dev_and_the_negated_training_phrases(checkpoint, tmp_path, capsys):
    """A tiny SST-2 folder: dev is split by seqlab's negation words, and only the training
    phrases with one of them are scored for the fit."""
    rows = ["sentence\tlabel", "a good film\t1", "not a good film\t0", "it never works\t0"]
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "train.tsv").write_text("\n".join([*rows, "dull\t0", "fun\t1"]) + "\n")
    bench = _bench()
    assert bench.main(["--checkpoint", str(checkpoint), "--sst2", str(tmp_path)]) == 0
    sst2 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sst2"]
    assert [sst2[k]["n"] for k in ("dev", "dev_negation", "dev_no_negation")] == [3, 2, 1]
    assert sst2["dev_negation"]["right"] + sst2["dev_no_negation"]["right"] == sst2["dev"]["right"]
    assert sst2["train_negation_fit"]["n"] == 2


def test_the_bench_shows_a_dash_for_a_split_without_sentences(checkpoint, tmp_path, capsys):
    """An SST-2 folder without a negation word: its negation columns are "-", not a crash."""
    rows = ["sentence\tlabel", "a good film\t1", "a dull film\t0"]
    for name in ("dev.tsv", "train.tsv"):
        (tmp_path / name).write_text("\n".join(rows) + "\n")
    assert _bench().main(["--checkpoint", str(checkpoint), "--sst2", str(tmp_path)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| /")]
    dev, negation, other, fit = [c.strip() for c in row.split("|")[-5:-1]]
    assert negation == fit == "-" and dev.endswith("/2)") and other.endswith("/2)")


def test_the_bench_refuses_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert _bench().main(["--checkpoint", str(tmp_path / "bad.pt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sentiment_contrast: error:" in err


def test_threads_below_one_is_one_line():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sentiment_contrast.py"), "--threads", "0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "--threads must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_ensemble_row_averages_the_members_probabilities(checkpoint, tmp_path, capsys):
    """--ensemble adds a row: the mean of the checkpoints' probabilities. The same checkpoint
    twice is itself again, so its row equals the member's."""
    bench = _bench()
    args = ["--checkpoint", str(checkpoint), str(checkpoint), "--ensemble"]
    assert bench.main([*args, "--sst2", str(tmp_path / "none")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    one, two, both = (json.loads(line) for line in lines[-3:])
    assert both["checkpoint"] == "ensemble of 2" and both["contrast"] == one["contrast"]
    from seqlab.sentiment.predict import SentimentPredictor

    member = SentimentPredictor.from_checkpoint(str(checkpoint), "cpu")
    other = _predictor_with_flipped_head(checkpoint)
    texts = ["a good film", "not a good film"]
    mean = bench.Ensemble([member, other]).predict(texts)
    for m, o, e in zip(member.predict(texts), other.predict(texts), mean, strict=True):
        for label in member.labels:
            assert e["probs"][label] == pytest.approx((m["probs"][label] + o["probs"][label]) / 2)
        assert e["label"] == max(e["probs"], key=e["probs"].get)


def _predictor_with_flipped_head(checkpoint):
    """The same model with its head's rows swapped: it says the opposite, at other odds."""
    import torch

    from seqlab.sentiment.predict import SentimentPredictor

    pred = SentimentPredictor.from_checkpoint(str(checkpoint), "cpu")
    with torch.no_grad():
        pred.model.head.weight.copy_(pred.model.head.weight.flip(0) * 0.5)
        pred.model.head.bias.copy_(pred.model.head.bias.flip(0))
    return pred


def test_the_shipped_card_gives_the_contrast_score_the_model_gets():
    """The card's contrast-set figure is what the shipped model scores on the committed set."""
    from seqlab import pretrained, registry

    if "sentiment-sst2" not in pretrained.ENTRIES:
        pytest.skip("no shipped sentiment model in this checkout")
    rows = _rows()
    predictor = pretrained.load("sentiment-sst2", device="cpu")
    preds = predictor.predict([r["sentence"] for r in rows])
    right = sum(p["label"] == r["label"] for p, r in zip(preds, rows, strict=True))
    note = f"{100 * right / len(rows):.2f}% ({right} of {len(rows)})"
    assert any(note in line for line in registry.entry("sentiment-sst2").notes), note
