"""The char-LM's training text as tokens: ``--text``'s cache in the run folder (built once,
memory-mapped, reused by the next run), or the default corpus encoded in memory."""

from __future__ import annotations

from seqlab import distributed
from seqlab.charlm.config import CharLMTrainConfig
from seqlab.data.text import default_corpus
from seqlab.data.tokencache import TokenCache, encode_chunks, load_tokens


def load_corpus(cfg: CharLMTrainConfig, info=None) -> tuple[TokenCache, str]:
    """The training text's token cache (built once in OUT, then reused) and its description.
    Under torchrun rank 0 builds the cache while the others wait, then all map it."""
    if not cfg.text:
        text, source = default_corpus()
        return encode_chunks(lambda: [text], cfg.max_vocab, name=source), source
    if info is not None and info.enabled and not info.is_main:
        distributed.from_main(None, info)  # wait for rank 0's cache
    tokens = load_tokens(cfg.text, cfg.out, cfg.max_vocab)
    if info is not None and info.enabled and info.is_main:
        distributed.from_main(None, info)
    return tokens, str(cfg.text)
