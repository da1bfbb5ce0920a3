"""Translating with a trained seq2seq checkpoint: batched decoding, BLEU, and the Translator
predictor that the CLI and the demo call.

    tr = Translator.from_checkpoint("runs/de-en")
    out = tr.translate("Ein Hund rennt.", beam_size=5, n_best=3)   # text, n-best, attention
    scores = tr.evaluate(src_lines, ref_lines, beam_size=5)        # sacreBLEU, ppl
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab.data.pairs import bucket_batches
from seqlab.data.tokenizers import BOS, EOS, PAD, UNK, tokenizer_from_dict
from seqlab.decoding import Hypothesis, beam_search, greedy
from seqlab.errors import UserError
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.sources import load_checkpoint
from seqlab.training import resolve_device
from seqlab.translate.config import MAX_SOURCE_CHARS, TASK
from seqlab.translate.data import collate, encode_pairs
from seqlab.translate.familiarity import SentenceFamiliarity, signals


def corpus_bleu(hypotheses: list[str], references: list[str]) -> dict:
    """sacreBLEU on detokenized text (with its signature, Post 2018), and lower-cased BLEU with
    the same 13a tokenization, closer to the tokenized, lower-cased scores tutorials print."""
    from sacrebleu.metrics import BLEU

    cased, lower = BLEU(), BLEU(lowercase=True)
    return {
        "bleu": cased.corpus_score(hypotheses, [references]).score,
        "signature": str(cased.get_signature()),
        "bleu_lc_tok": lower.corpus_score(hypotheses, [references]).score,
        "signature_lc_tok": str(lower.get_signature()),
    }


def max_output_len(source_len: int) -> int:
    """The most target tokens a source of ``source_len`` tokens may get: 1.5 x its length + 10."""
    return int(1.5 * source_len + 10)


@torch.no_grad()
def translate_ids(
    model: Seq2Seq,
    sources: list[list[int]],
    device,
    beam_size: int = 5,
    length_penalty: float = 0.6,
    n_best: int = 1,
    batch_size: int = 64,
) -> list[list[Hypothesis]]:
    """Decode every source (token ids) in length-sorted batches; results in input order.
    beam_size 1 is greedy search. Each output may be 1.5 x its source + 10 tokens long, so a
    sentence decodes the same whatever it is batched with.

    Each batch is padded to a (B, S) tensor of ids; returns, per source, its ``n_best``
    ``seqlab.decoding.Hypothesis`` (target ids, score, log_prob, attention (T, S) or None)."""
    model.eval()
    results: list[list[Hypothesis]] = [[] for _ in sources]
    for idx in bucket_batches([len(s) for s in sources], batch_size):
        B, S = len(idx), max(len(sources[i]) for i in idx)
        src = torch.full((B, S), PAD, dtype=torch.long)
        for row, i in enumerate(idx):
            src[row, : len(sources[i])] = torch.tensor(sources[i])
        lengths = torch.tensor([len(sources[i]) for i in idx])
        state = model.init_state(src.to(device), lengths)
        max_len = [max_output_len(len(sources[i])) for i in idx]
        if beam_size == 1 and n_best == 1:
            hyps = [[h] for h in greedy(model.decode_step, state, B, BOS, EOS, max_len)]
        else:
            hyps = beam_search(
                model.decode_step, state, B, BOS, EOS, beam_size, max_len, length_penalty, n_best
            )
        for row, i in enumerate(idx):
            results[i] = hyps[row]
    return results


@torch.no_grad()
def evaluate_nll(model: Seq2Seq, examples: list, device, batch_size: int = 100) -> float:
    """Mean negative log-likelihood per target token (with <eos>), no smoothing: log perplexity.

    ``examples`` are (source ids, target ids) pairs; returns nats per token (a float)."""
    model.eval()
    total, count = 0.0, 0
    for idx in bucket_batches([len(x) for x, _ in examples], batch_size):
        src, lengths, tgt_in, tgt_out = collate([examples[i] for i in idx], device)
        logits = model(src, lengths, tgt_in)
        total += F.cross_entropy(
            logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD, reduction="sum"
        ).item()
        count += int((tgt_out != PAD).sum())
    model.train()
    return total / max(count, 1)


class Translator:
    """A trained translator: raw text in, detokenized text out (with n-best and attention)."""

    def __init__(self, model: Seq2Seq, src_tok, tgt_tok, device: torch.device, info: dict):
        self.model, self.src_tok, self.tgt_tok = model.eval(), src_tok, tgt_tok
        self.device, self.info = device, info
        fam = info.get("familiarity")  # None for a checkpoint fitted without one
        self.familiarity = SentenceFamiliarity(fam) if fam else None
        # the GNMT alpha chosen on dev for this model (stored by `pretrained export --meta`)
        self.length_penalty = float(info.get("length_penalty", 0.6))

    @property
    def domain(self) -> str:
        """What the model learned from, in words a page can show."""
        return self.info.get("domain") or "training sentences"

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Translator:
        """Load a translator: ``path`` is a run directory, a ``.pt`` checkpoint, a packed
        ``.safetensors`` file or a shipped model's name; ``device`` "auto" (cuda > mps > cpu),
        "cpu", "cuda" or "mps". A file that is not a translator's raises ``UserError``."""
        ckpt = load_checkpoint(path, task=TASK)
        dev = resolve_device(device)
        model = Seq2Seq(Seq2SeqConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        info = {
            "path": str(path),
            "model_config": ckpt["model_config"],
            "metrics": ckpt.get("metrics", {}),
            "description": ckpt.get("description", ""),
            "length_penalty": ckpt.get("length_penalty", 0.6),
            "familiarity": ckpt.get("familiarity"),
            "domain": ckpt.get("domain"),  # what it learned from, in words (shipped models)
        }
        src_tok = tokenizer_from_dict(ckpt["src_tokenizer"])
        return cls(model.to(dev), src_tok, tokenizer_from_dict(ckpt["tgt_tokenizer"]), dev, info)

    def check_text(self, text: str) -> list[int]:
        """The source's token ids, or UserError in one sentence (empty, too long)."""
        text = (text or "").strip()
        if not text:
            raise UserError("nothing to translate: the source text is empty")
        if len(text) > MAX_SOURCE_CHARS:
            raise UserError(
                f"the source text is {len(text)} characters long; the limit is "
                f"{MAX_SOURCE_CHARS} (translate one sentence or a short paragraph at a time)"
            )
        return self.src_tok.encode(text) or [EOS]

    def translate(
        self, text: str, beam_size: int = 5, length_penalty: float | None = None, n_best: int = 1
    ) -> dict:
        """Translate one text with beam search (``beam_size`` 1: greedy; ``length_penalty``
        None: the model's own). Returns a dict: {"translation", "n_best": [(text, score,
        log_prob)], "source_tokens", "target_tokens", "attention": (T, S) list of lists or
        None (T target tokens, S source tokens), "unknown": source pieces not in the vocab,
        "familiarity": Familiarity or None (uncalibrated model), "signals": its raw inputs}."""
        return self.translate_many([text], beam_size, length_penalty, n_best)[0]

    def translate_many(
        self,
        texts: list[str],
        beam_size: int = 5,
        length_penalty: float | None = None,
        n_best: int = 1,
    ) -> list[dict]:
        """``translate`` for several texts decoded together (batched serving): each result is
        the one the text gets alone. A bad text raises UserError; check them first with
        ``check_text`` to answer each on its own."""
        if not 1 <= n_best <= beam_size:
            raise UserError(f"n-best must be between 1 and the beam size ({beam_size})")
        ids = [self.check_text(t) for t in texts]
        alpha = self.length_penalty if length_penalty is None else length_penalty
        hyps = translate_ids(self.model, ids, self.device, beam_size, alpha, n_best)
        return [self._result(t, i, h) for t, i, h in zip(texts, ids, hyps, strict=True)]

    def _result(self, text: str, ids: list[int], hyps: list[Hypothesis]) -> dict:
        best = hyps[0]
        pieces = self.src_tok.id_to_piece(ids)
        surface = self.src_tok.pieces(text.strip())  # the text's own pieces: "ß", not "<unk>"
        surface = surface if len(surface) == len(ids) else pieces
        raw = signals(self.src_tok, text, ids, best)
        return {
            "translation": self.tgt_tok.decode(best.tokens),
            "n_best": [(self.tgt_tok.decode(h.tokens), h.score, h.log_prob) for h in hyps],
            "source_tokens": pieces,
            "target_tokens": self.tgt_tok.id_to_piece(best.tokens),
            # (T, S): a batch pads the sources, the padded columns are not this sentence's
            "attention": None if best.attention is None else best.attention[:, : len(ids)].tolist(),
            "unknown": [
                p.replace("\u2581", "") for p, i in zip(surface, ids, strict=True) if i == UNK
            ],
            "familiarity": self.familiarity(raw) if self.familiarity else None,
            "signals": raw,
        }

    def translate_lines(
        self,
        lines: list[str],
        beam_size: int = 5,
        length_penalty: float | None = None,
        batch_size: int = 64,
    ) -> list[str]:
        """The best translation of each line (no checks, no familiarity: for evaluation), decoded
        in batches of ``batch_size``; an empty line becomes an empty source."""
        sources = [self.src_tok.encode(s) or [EOS] for s in lines]
        hyps = translate_ids(
            self.model,
            sources,
            self.device,
            beam_size,
            self.length_penalty if length_penalty is None else length_penalty,
            1,
            batch_size,
        )
        return [self.tgt_tok.decode(h[0].tokens) for h in hyps]

    def evaluate(
        self,
        sources: list[str],
        references: list[str],
        beam_size: int = 5,
        length_penalty: float | None = None,
        hypotheses: list[str] | None = None,
    ) -> dict:
        """Corpus BLEU (sacreBLEU + lower-cased) of the translations, and the references'
        perplexity under the model (teacher forcing, no label smoothing). ``hypotheses``: the
        sources already translated with these settings (they are not decoded again)."""
        if len(sources) != len(references):
            raise UserError(f"{len(sources)} source lines but {len(references)} references")
        hyps = hypotheses or self.translate_lines(sources, beam_size, length_penalty)
        scores = corpus_bleu(hyps, references)
        examples = encode_pairs(
            list(zip(sources, references, strict=True)), self.src_tok, self.tgt_tok
        )
        nll = evaluate_nll(self.model, examples, self.device)
        scores.update(perplexity=math.exp(nll), beam_size=beam_size, sentences=len(sources))
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in scores.items()}
