"""Rule-made counterfactual training texts (seqlab.sentiment.counterfactual): each edit turns the
label for a reason the rule can see, and is not made where it cannot."""

from __future__ import annotations

import random

import pytest

from seqlab.errors import UserError
from seqlab.sentiment.counterfactual import (
    contrast_pairs,
    counterfactuals,
    negation_edit,
    polar_words,
)
from seqlab.sentiment.negation import has_negation

LEXICON = {"dull": 0, "funny": 1, "disaster": 0, "hideous": 0}


def edit(text, label):
    return negation_edit(text, label, 1 - label, LEXICON, random.Random(0))


def test_polar_words_are_the_one_word_phrases_with_one_label():
    texts = ["dull", "funny", "funny", "odd", "odd", "is dull", "2002"]
    labels = [0, 1, 1, 0, 1, 0, 1]
    assert polar_words(texts, labels) == {"dull": 0, "funny": 1}


@pytest.mark.parametrize(
    "text,label",
    [("the film is dull", 0), ("it 's so funny .", 1), ("is a disaster", 0)],
)
def test_a_negation_goes_in_after_the_copula(text, label):
    edited = edit(text, label)
    assert edited is not None and has_negation(edited) and not has_negation(text)
    tokens, new = text.split(), edited.split()
    assert len(new) == len(tokens) + 1  # one word put in, the rest in place
    at = next(i for i, (a, b) in enumerate(zip(tokens, new, strict=False)) if a != b)
    assert tokens[at - 1] in ("is", "'s") and new[at] in ("not", "never", "n't")
    assert new[:at] + new[at + 1 :] == tokens


@pytest.mark.parametrize(
    "text,label,expected",
    [
        ("the jokes are n't funny", 0, "the jokes are funny"),
        ("it is never dull", 1, "it is dull"),
        ("it 's not a disaster", 1, "it 's a disaster"),
    ],
)
def test_a_negation_after_the_copula_comes_out(text, label, expected):
    assert edit(text, label) == expected


@pytest.mark.parametrize(
    "text,label",
    [
        ("the film is funny", 0),  # the polar word disagrees with the label: it does not carry it
        ("jolie 's hideous yellow dress", 0),  # a possessive 's, not a copula
        ("the film is dull but the cast is funny", 1),  # a contrast: two clauses
        ("it is dull and it was long", 0),  # two copulas
        ("the film is a long one", 0),  # no polar word after the copula
        ("there is nothing funny", 0),  # "nothing" is not taken out
        ("i do n't like the film at all , and the cast is dull either", 0),  # too long
        ("the film is not funny", 1),  # the word's polarity is not the one the removal needs
    ],
)
def test_no_edit_where_the_rule_cannot_trust_the_flip(text, label):
    assert edit(text, label) is None


def test_contrast_pairs_take_the_label_of_the_clause_that_wins():
    texts = ["a dull , dumb film .", "worth the price of admission", "bad", "short but sweet"]
    texts, labels = contrast_pairs(texts, [0, 1, 0, 1], 3, random.Random(0))
    assert len(texts) == 12
    for i in range(0, 12, 4):
        (but, although, but_twin, although_twin) = texts[i : i + 4]
        assert but == "a dull , dumb film , but worth the price of admission ."
        assert although == "although a dull , dumb film , worth the price of admission ."
        assert but_twin == "worth the price of admission , but a dull , dumb film ."
        assert although_twin == "although worth the price of admission , a dull , dumb film ."
        assert labels[i : i + 4] == [1, 1, 0, 0]


def test_counterfactuals_append_to_the_data_and_keep_it():
    texts = ["dull", "funny", "the film is dull", "it is n't funny", "a sweet , sad story"]
    labels = ["negative", "positive", "negative", "negative", "positive"]
    assert counterfactuals(texts, labels, "none") == (texts, labels)
    new_texts, new_labels = counterfactuals(texts, labels, "negation", seed=1)
    assert new_texts[:5] == texts and new_labels[:5] == labels
    assert (
        new_texts[5:] != []
        and new_texts[6] == "it is funny"
        and new_labels[5:]
        == [
            "positive",
            "positive",
        ]
    )
    again = counterfactuals(texts, labels, "all", seed=1, contrast_share=0.4)  # 2 pairs
    assert again == counterfactuals(texts, labels, "all", seed=1, contrast_share=0.4)
    assert again[0][:7] == new_texts and len(again[0]) == 7 + 8


def test_counterfactuals_refuse_a_bad_kind_and_more_than_two_classes():
    with pytest.raises(UserError, match="must be one of"):
        counterfactuals(["a"], [0], "negations")
    with pytest.raises(UserError, match="two classes"):
        counterfactuals(["a", "b", "c"], [0, 1, 2], "negation")


def test_contrast_words_are_words():
    from seqlab.sentiment.negation import has_contrast

    assert has_contrast("a slow start but a wonderful ending .")
    assert has_contrast("although it is long , it works")
    assert not has_contrast("a butler 's story , told without a meanwhile")


# --------------------------------------------------------------------------- distillation


def test_distillation_targets_mix_the_teachers_mean_with_the_label(tmp_path):
    """soft_targets: weight * the teachers' mean probabilities + (1 - weight) * the label; a
    teacher with other labels, or none named, is one line."""
    import torch
    from app_fixtures import tiny_sentiment_checkpoint

    from seqlab.sentiment.predict import SentimentPredictor
    from seqlab.sentiment.train import soft_targets

    ckpt = tiny_sentiment_checkpoint(tmp_path / "t")
    teacher = SentimentPredictor.from_checkpoint(str(ckpt), "cpu")
    texts, y = ["a good film", "not a good film", "dull"], torch.tensor([1, 0, 0])
    probs = torch.tensor([[r["probs"][n] for n in teacher.labels] for r in teacher.predict(texts)])
    names = teacher.labels
    got = soft_targets(f"{ckpt},{ckpt}", texts, y, names, 0.25, "cpu")  # (3, 2)
    want = 0.75 * torch.nn.functional.one_hot(y, 2).float() + 0.25 * probs
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.sum(-1), torch.ones(3))
    # the last text rule-made: it keeps its label alone
    made = soft_targets(str(ckpt), texts, y, names, 0.25, "cpu", n_made=1)
    torch.testing.assert_close(made[:2], want[:2], atol=1e-5, rtol=0)
    assert made[2].tolist() == [1.0, 0.0]
    with pytest.raises(UserError, match="has labels"):
        soft_targets(str(ckpt), texts, y, ["bad", "good"], 0.5, "cpu")
    with pytest.raises(UserError, match="names no checkpoint"):
        soft_targets(" , ", texts, y, names, 0.5, "cpu")


def test_a_run_distils_from_a_teacher_and_learns_from_counterfactuals(tmp_path, capsys):
    """`sentiment train --teachers ... --counterfactuals all` trains, and says how many
    counterfactual texts it added."""
    import json

    from app_fixtures import tiny_sentiment_checkpoint

    from seqlab.cli import main
    from seqlab.toy.sentiment import write_splits

    ckpt = tiny_sentiment_checkpoint(tmp_path / "t")
    train, dev = write_splits(tmp_path / "syn", n_train=200, n_dev=20)
    args = ["sentiment", "train", "--train", str(train), "--dev", str(dev), "--out"]
    args += [str(tmp_path / "run"), "--tokenizer", "word", "--embedding-size", "8"]
    args += ["--hidden-size", "8", "--max-steps", "4", "--eval-every", "2", "--device", "cpu"]
    args += ["--teachers", str(ckpt), "--teacher-weight", "0.7", "--counterfactuals", "all"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 4
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["teachers"] == str(ckpt)
    assert main([*args[:-6], "--teacher-weight", "0"]) == 1  # refused in one line
    assert "--teacher-weight must be in (0, 1]" in capsys.readouterr().err


def test_the_rule_made_texts_come_last_after_the_repeated_negations(tmp_path):
    """_load_data: --negation-repeats repeats the data's own negated texts, and the
    counterfactuals are made from the data once (not from the repeats) and appended last."""
    import torch

    from seqlab.sentiment.config import SentimentTrainConfig
    from seqlab.sentiment.train import _load_data

    rows = ["dull\t0", "funny\t1", "the film is dull\t0", "it is n't funny\t0", "a good one\t1"]
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    cfg = SentimentTrainConfig(
        train=str(tmp_path / "train.tsv"),
        dev=str(tmp_path / "train.tsv"),
        out=str(tmp_path / "run"),
        negation_repeats=2,
        counterfactuals="negation",
    )
    train, dev, n_made = _load_data(cfg, torch.Generator())
    assert len(dev.texts) == 5 and n_made == 2  # one edit each of the two copular phrases
    assert train.texts[:5] == dev.texts and train.texts[5:7] == ["it is n't funny"] * 2
    assert train.texts[-1] == "it is funny" and train.labels[-1] == "positive"
    assert len(train.texts) == 5 + 2 + n_made
