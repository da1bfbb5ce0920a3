"""Sentence pairs for the translator: read (aligned files or a TSV), sentencepiece vocabularies
trained on them, encoded to ids, and padded into batches."""

from __future__ import annotations

import torch

from seqlab.data.pairs import read_parallel, read_tsv_pairs, split_pairs
from seqlab.data.tokenizers import BOS, EOS, PAD, make_tokenizer
from seqlab.translate.config import TranslateTrainConfig


def load_pairs(cfg: TranslateTrainConfig) -> tuple[list, list]:
    """(train pairs, dev pairs) from aligned files or a TSV file (dev held out if not given)."""
    if cfg.pairs:
        data = read_tsv_pairs(cfg.pairs, reverse=cfg.reverse)
    else:
        data = read_parallel(cfg.train_src, cfg.train_tgt)
    if cfg.dev_src:
        return data, read_parallel(cfg.dev_src, cfg.dev_tgt)
    return split_pairs(data, min(cfg.dev_size, len(data) // 10 or 1), cfg.seed)


def build_tokenizers(pairs: list, vocab_size: int, joint: bool, tgt_vocab_size: int = 0) -> tuple:
    """sentencepiece unigram models trained now: one joint model, or one per language."""
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    if joint:
        tok = make_tokenizer("sentencepiece", src + tgt, vocab_size=vocab_size)
        return tok, tok
    return (
        make_tokenizer("sentencepiece", src, vocab_size=vocab_size),
        make_tokenizer("sentencepiece", tgt, vocab_size=tgt_vocab_size or vocab_size),
    )


def encode_pairs(pairs, src_tok, tgt_tok, max_tokens: int | None = None) -> list:
    out = []
    for s, t in pairs:
        x, y = src_tok.encode(s)[: max_tokens or None], tgt_tok.encode(t)
        if max_tokens and len(y) > max_tokens:
            continue
        out.append((x or [EOS], y))
    return out


def collate(examples: list, device) -> tuple:
    """(src (B, S), src_lengths (B,), tgt_in (B, T) = <bos> y, tgt_out (B, T) = y <eos>)."""
    B = len(examples)
    S, T = max(len(x) for x, _ in examples), max(len(y) for _, y in examples) + 1
    src = torch.full((B, S), PAD, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD, dtype=torch.long)
    for i, (x, y) in enumerate(examples):
        src[i, : len(x)] = torch.tensor(x)
        tgt_in[i, : len(y) + 1] = torch.tensor([BOS] + y)
        tgt_out[i, : len(y) + 1] = torch.tensor(y + [EOS])
    lengths = torch.tensor([len(x) for x, _ in examples])
    return src.to(device), lengths, tgt_in.to(device), tgt_out.to(device)
