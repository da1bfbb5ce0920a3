"""Tokenizers: training, plain-data round trips, lower-casing, specials."""

from __future__ import annotations

import io

import torch

from seqlab.data.tokenizers import BOS, EOS, PAD, UNK, make_tokenizer, tokenizer_from_dict

TEXTS = ["A dog runs across the grass.", "Two men play football.", "a small red circle"] * 30


def _round_trip(tok):
    buf = io.BytesIO()
    torch.save(tok.to_dict(), buf)  # checkpoints hold the tokenizer as plain data
    buf.seek(0)
    return tokenizer_from_dict(torch.load(buf, weights_only=True))


def test_sentencepiece_round_trip_and_lowercase():
    tok = make_tokenizer("sentencepiece", TEXTS, vocab_size=60, lower=True)
    again = _round_trip(tok)
    assert again.encode("A DOG runs") == tok.encode("a dog runs")
    assert again.decode(tok.encode("a dog runs")) == "a dog runs"


def test_word_tokenizer_vocab_and_unknowns():
    tok = make_tokenizer("word", TEXTS, min_freq=2, lower=True)
    ids = tok.encode("A dog flies")
    assert ids[-1] == UNK and ids[0] != UNK
    assert _round_trip(tok).encode("A dog flies") == ids
    assert tok.decode([BOS, *tok.encode("two men"), EOS, PAD]) == "two men"
