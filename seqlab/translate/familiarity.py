"""How familiar a source sentence is to a translator, from two signals the model already has:

  - the best translation's log-probability per token (sequence-level uncertainty, Malinin and
    Gales 2021): confident on what it learned, unsure on news or chat;
  - the source's log-likelihood per character under the source tokenizer's unigram model (a
    sentencepiece unigram model is a small language model of the training text): low for text
    whose words it must spell out in pieces.

Each is standardised on the validation sources and the two are averaged (seqlab.familiarity.
ZScores); the average is then calibrated on the same validation sources. Only validation data is
used; the test split reports the result.

    state = fit_familiarity(translator, val_sources)     # plain data for the checkpoint
"""

from __future__ import annotations

from seqlab.familiarity import Calibration, Familiarity, ZScores

METHOD = "log-probability per token of the best translation + source likelihood per character"
SIGNALS = ("log_prob_per_token", "source_log_likelihood_per_char")


def signals(src_tok, text: str, ids: list[int], best) -> list[float]:
    """The raw signals of one translation (higher: more familiar); `best` is its Hypothesis."""
    per_token = best.log_prob / (len(best.tokens) + 1)  # <eos> counts: it was predicted too
    if not hasattr(src_tok, "log_likelihood"):  # a word tokenizer: no source model
        return [per_token]
    return [per_token, src_tok.log_likelihood(ids) / max(len(text.strip()), 1)]


def fit_familiarity(translator, val_sources: list[str], beam_size: int = 5) -> dict:
    """The checkpoint's ``familiarity`` entry, from the validation sources decoded as served."""
    results = translator.translate_many(val_sources, beam_size)
    raw = [r["signals"] for r in results]
    z = ZScores.fit(SIGNALS[: len(raw[0])], raw)
    calibration = Calibration.fit(z.raw(raw), METHOD)
    return {"signals": z.to_dict(), "calibration": calibration.to_dict(), "beam_size": beam_size}


class SentenceFamiliarity:
    """The stored state as a callable: one sentence's raw signals -> Familiarity."""

    def __init__(self, state: dict):
        self.signals = ZScores.from_dict(state["signals"])
        self.calibration = Calibration.from_dict(state["calibration"])

    def __call__(self, raw: list[float]) -> Familiarity:
        return self.calibration(float(self.signals.raw(raw)[0]))
