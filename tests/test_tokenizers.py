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


PTB = ["it 's not a bad film .", "i was n't disappointed .", "they do n't make them like this ."]


def test_treebank_pretokenizing_meets_raw_text_with_the_training_pieces():
    """Trained on Treebank-tokenised text (SST-2's "was n't"), a tokenizer that pretokenizes gives
    a user's raw "wasn't" the same pieces; one that does not, other pieces. The setting travels
    with the tokenizer; older checkpoints (no key) read as "none"."""
    from seqlab.data.tokenizers import treebank_words

    raw = ["It's not a bad film.", "I wasn't disappointed.", "They don't make them like this."]
    assert [treebank_words(t).lower() for t in raw] == PTB
    tb = make_tokenizer(
        "sentencepiece", PTB * 40, vocab_size=40, lower=True, pretokenize="treebank"
    )
    plain = make_tokenizer("sentencepiece", PTB * 40, vocab_size=40, lower=True)
    again = _round_trip(tb)
    assert again.pretokenize == "treebank" and tb.to_dict()["pretokenize"] == "treebank"
    for r, p in zip(raw, PTB, strict=True):
        assert again.encode(r) == tb.encode(p) == plain.encode(p)
        assert again.pieces(r) == tb.pieces(p)
    assert plain.encode(raw[1]) != plain.encode(PTB[1])  # the mismatch this fixes
    assert "pretokenize" not in plain.to_dict() and _round_trip(plain).pretokenize == "none"
    assert treebank_words("It's good. I liked it!") == "It 's good . I liked it !"


def test_an_unknown_pretokenizer_is_one_line():
    import pytest

    from seqlab.errors import UserError

    with pytest.raises(UserError, match="pretokenize must be one of"):
        make_tokenizer("sentencepiece", PTB * 40, vocab_size=40, pretokenize="spacy")
