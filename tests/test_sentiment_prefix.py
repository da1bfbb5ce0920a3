"""SentimentPredictor.prefix_probs, the word-by-word reading (issue 34, item 2): what the model
says after each prefix of a text, computed in one pass (or one batch of prefixes for a
bidirectional model), checked against the reference: a separate forward on each prefix."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from seqlab.data.tokenizers import Vocab, WordTokenizer
from seqlab.models.classifier import ClassifierConfig, TextClassifier
from seqlab.sentiment.batches import predict_ids
from seqlab.sentiment.predict import PREFIX_BATCH, SentimentPredictor

TEXT = "it 's not a bad film , and the ending is never dull ."


def _predictor(**model_kwargs) -> SentimentPredictor:
    """A random classifier over TEXT's words: the reading must match it whatever its weights."""
    tokenizer = WordTokenizer(Vocab.build(Counter(TEXT.split())))
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        vocab_size=tokenizer.vocab_size,
        num_classes=2,
        embedding_size=8,
        hidden_size=6,
        **model_kwargs,
    )
    model = TextClassifier(cfg)
    return SentimentPredictor(model, tokenizer, ["negative", "positive"], 400, True, "cpu")


def _per_prefix(pred: SentimentPredictor, text: str) -> torch.Tensor:
    """The reference: P(positive) from one forward per prefix, (T,)."""
    ids = pred._encode([text])[0]
    return torch.stack([predict_ids(pred.model, [ids[: t + 1]], "cpu")[0] for t in range(len(ids))])


@pytest.mark.parametrize("pooling", ["max", "mean", "final", "max_final", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("cell", "num_layers"), [("lstm", 1), ("gru", 2)])
def test_prefix_probs_match_a_forward_per_prefix(pooling, bidirectional, cell, num_layers):
    pred = _predictor(
        cell=cell, pooling=pooling, bidirectional=bidirectional, num_layers=num_layers
    )
    tokens, rows = pred.prefix_probs(TEXT)
    assert tokens == TEXT.split()
    got = torch.tensor([[r["negative"], r["positive"]] for r in rows])  # (T, C)
    torch.testing.assert_close(got, _per_prefix(pred, TEXT), atol=1e-5, rtol=0)
    # the last prefix is the whole text: what predict says
    assert rows[-1] == pytest.approx(pred.predict([TEXT])[0]["probs"], abs=1e-5)


def test_a_long_bidirectional_reading_takes_several_batches():
    """A text longer than one batch of prefixes (PREFIX_BATCH) is read batch after batch, in
    order."""
    pred, text = _predictor(bidirectional=True, pooling="max"), " ".join([TEXT] * 6)
    assert len(text.split()) > PREFIX_BATCH
    _, rows = pred.prefix_probs(text)
    got = torch.tensor([[r["negative"], r["positive"]] for r in rows])
    torch.testing.assert_close(got, _per_prefix(pred, text), atol=1e-5, rtol=0)


def test_prefix_probs_read_at_most_the_limit():
    pred = _predictor(pooling="max")
    tokens, rows = pred.prefix_probs(TEXT, limit=3)
    assert tokens == TEXT.split()[:3] and len(rows) == 3
    pred.max_length = 2
    assert len(pred.prefix_probs(TEXT)[1]) == 2
