"""Tokenizers trained at train time and stored inside checkpoints as plain data.

- ``SentencePieceTokenizer``: unigram or BPE subwords (Kudo and Richardson 2018), trained in memory
  on the training text; the model is kept as bytes, so a checkpoint alone can tokenize raw text.
- ``WordTokenizer``: nltk's data-free Treebank tokenizer (no ``nltk.download()``), lower-cased,
  with a vocabulary cut at a minimum frequency.

Both give ids with the same specials: <pad>=0, <unk>=1, <bos>=2, <eos>=3.

A sentencepiece tokenizer can first split text into Penn Treebank words (``pretokenize=
"treebank"``): data that comes tokenised that way (GLUE's SST-2: "was n't", "it 's", "bad .")
then meets a user's raw "wasn't", "it's", "bad." as the same pieces.

    tok = make_tokenizer("sentencepiece", texts, vocab_size=8000)
    ids = tok.encode("a dog runs")           # [..] without <bos>/<eos>
    same = tokenizer_from_dict(tok.to_dict())
"""

from __future__ import annotations

import functools
import io
import re
from collections import Counter
from collections.abc import Iterable

from seqlab.errors import UserError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
PRETOKENIZERS = ("none", "treebank")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@functools.lru_cache(maxsize=1)
def _treebank():
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


def treebank_words(text: str) -> str:
    """``text`` as Penn Treebank words joined by spaces, sentence by sentence (the Treebank
    tokenizer splits off only the last full stop of what it is given): "It's not bad. I liked
    it" -> "It 's not bad . I liked it". Text already tokenised that way comes back as it was."""
    tok = _treebank()
    return " ".join(w for part in _SENTENCE_END.split(text) for w in tok.tokenize(part))


class Vocab:
    """Tokens <-> ids, specials first; plain data in and out (``to_dict``/``from_dict``)."""

    def __init__(self, itos: list[str]):
        self.itos = list(itos)
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def build(cls, counts: Counter, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        words = [w for w, c in counts.most_common() if c >= min_freq and w not in SPECIALS]
        words = sorted(words, key=lambda w: (-counts[w], w))[:max_size]
        return cls(SPECIALS + words)

    def __len__(self) -> int:
        return len(self.itos)

    def lookup(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(t, UNK) for t in tokens]

    def tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] if 0 <= i < len(self.itos) else "<unk>" for i in ids]


class WordTokenizer:
    kind = "word"

    def __init__(self, vocab: Vocab, lower: bool = True):
        from nltk.tokenize import TreebankWordTokenizer

        self.vocab, self.lower = vocab, lower
        self._tok = TreebankWordTokenizer()

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        min_freq: int = 2,
        max_size: int | None = None,
        lower: bool = True,
    ) -> WordTokenizer:
        tok = cls(Vocab(SPECIALS), lower)
        counts = Counter(t for text in texts for t in tok.pieces(text))
        tok.vocab = Vocab.build(counts, min_freq, max_size)
        return tok

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def pieces(self, text: str) -> list[str]:
        return self._tok.tokenize(text.lower() if self.lower else text)

    def encode(self, text: str) -> list[int]:
        return self.vocab.lookup(self.pieces(text))

    def decode(self, ids: Iterable[int]) -> str:
        from nltk.tokenize.treebank import TreebankWordDetokenizer

        words = [w for w in self.vocab.tokens(_strip(ids))]
        return TreebankWordDetokenizer().detokenize(words)

    def id_to_piece(self, ids: Iterable[int]) -> list[str]:
        return self.vocab.tokens(ids)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "itos": self.vocab.itos, "lower": self.lower}


class SentencePieceTokenizer:
    kind = "sentencepiece"

    def __init__(self, model_proto: bytes, lower: bool = False, pretokenize: str = "none"):
        import sentencepiece as spm

        if pretokenize not in PRETOKENIZERS:
            raise UserError(f"pretokenize must be one of {PRETOKENIZERS}, got {pretokenize!r}")
        self.model_proto, self.lower = bytes(model_proto), lower
        self.pretokenize = pretokenize
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        self._sampled: dict[str, str] = {}  # text -> prepared text, for sample() alone

    def _prepare(self, text: str) -> str:
        text = treebank_words(text) if self.pretokenize == "treebank" else text
        return text.lower() if self.lower else text

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        model_type: str = "unigram",
        character_coverage: float = 1.0,
        lower: bool = False,
        pretokenize: str = "none",
    ) -> SentencePieceTokenizer:
        import sentencepiece as spm

        if model_type not in ("unigram", "bpe"):
            raise UserError(f"sentencepiece model type must be unigram or bpe, got {model_type!r}")
        if pretokenize == "treebank":
            texts = [treebank_words(t) for t in texts]
        sentences = [t.lower() if lower else t for t in texts if t.strip()]
        if not sentences:
            raise UserError("cannot train a tokenizer on empty text")
        buf = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=buf,
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=character_coverage,
                pad_id=PAD,
                unk_id=UNK,
                bos_id=BOS,
                eos_id=EOS,
                hard_vocab_limit=False,
                input_sentence_size=2_000_000,
                shuffle_input_sentence=True,
                minloglevel=2,
                num_threads=2,
            )
        except RuntimeError as e:
            raise UserError(f"sentencepiece training failed: {str(e).splitlines()[-1]}") from e
        return cls(buf.getvalue(), lower, pretokenize)

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def pieces(self, text: str) -> list[str]:
        return self.sp.encode(self._prepare(text), out_type=str)

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(self._prepare(text))

    def sample(self, text: str, alpha: float) -> list[int]:
        """One segmentation drawn from the unigram lattice (all of it: nbest -1) with smoothing
        alpha, Kudo 2018's subword regularisation; seed with spm.set_random_generator_seed.
        Training samples the same texts every epoch, so their Treebank words are kept (the
        prediction paths, which see each text once, keep nothing)."""
        prepared = self._sampled.get(text)
        if prepared is None:
            prepared = self._prepare(text)
            if self.pretokenize != "none":
                self._sampled[text] = prepared
        return self.sp.encode(prepared, enable_sampling=True, alpha=alpha, nbest_size=-1)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode(_strip(ids))

    def log_likelihood(self, ids: Iterable[int]) -> float:
        """The unigram model's log-probability of this segmentation (the sum of its pieces'
        scores): a language model of the training text that comes free with the tokenizer."""
        return sum(self.sp.GetScore(int(i)) for i in ids)

    def id_to_piece(self, ids: Iterable[int]) -> list[str]:
        n = self.vocab_size
        return [self.sp.id_to_piece(int(i)) if 0 <= int(i) < n else "<unk>" for i in ids]

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "model_proto": self.model_proto, "lower": self.lower}
        if self.pretokenize != "none":  # older checkpoints have no key: "none"
            d["pretokenize"] = self.pretokenize
        return d


Tokenizer = WordTokenizer | SentencePieceTokenizer


def _strip(ids: Iterable[int]) -> list[int]:
    """Drop specials, stopping at the first <eos>."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(i)
    return out


def make_tokenizer(
    kind: str,
    texts: list[str],
    vocab_size: int = 8000,
    min_freq: int = 2,
    model_type: str = "unigram",
    lower: bool = False,
    pretokenize: str = "none",
) -> Tokenizer:
    """Train a tokenizer of ``kind`` ('sentencepiece' or 'word') on ``texts``; ``pretokenize``
    ("treebank") splits a sentencepiece tokenizer's text into Treebank words first."""
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(
            texts, vocab_size, model_type, lower=lower, pretokenize=pretokenize
        )
    if kind == "word":
        return WordTokenizer.train(texts, min_freq, lower=lower)
    raise UserError(f"tokenizer must be 'sentencepiece' or 'word', got {kind!r}")


def tokenizer_from_dict(d: dict) -> Tokenizer:
    if d.get("kind") == "sentencepiece":
        return SentencePieceTokenizer(
            d["model_proto"], d.get("lower", False), d.get("pretokenize", "none")
        )
    if d.get("kind") == "word":
        return WordTokenizer(Vocab(d["itos"]), d.get("lower", True))
    raise UserError(f"unknown tokenizer kind in checkpoint: {d.get('kind')!r}")
