"""A smoothed character n-gram model: the baseline a char-LM is compared against (Karpathy,
Johnson and Fei-Fei 2015, section 4.3: where the LSTM beats an n-gram model, and where not).

Interpolated Witten-Bell smoothing (Witten and Bell 1991; Chen and Goodman 1998):

    P(c | h) = (count(h, c) + T(h) * P(c | h')) / (count(h) + T(h))

with h' the context h shortened by one character and T(h) the number of distinct characters
seen after h; the recursion ends in a uniform distribution over the vocabulary.

    lm = CharNGram.fit(train_text, order=5)
    nll = lm.nll(test_text)        # (N,) nats for each character given the ones before it
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np


class CharNGram:
    def __init__(self, order: int, vocab: set[str]):
        self.order, self.vocab = order, vocab
        self.counts: dict[str, Counter] = defaultdict(Counter)  # context -> next-char counts
        self.totals: dict[str, tuple[int, int]] = {}  # context -> (count, distinct next chars)

    @classmethod
    def fit(cls, text: str, order: int = 5) -> CharNGram:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        lm = cls(order, set(text))
        for k in range(order):  # contexts of length k = 0 .. order-1
            for t in range(k, len(text)):
                lm.counts[text[t - k : t]][text[t]] += 1
        lm.totals = {h: (sum(c.values()), len(c)) for h, c in lm.counts.items()}
        return lm

    def prob(self, context: str, ch: str) -> float:
        """P(ch | the last order-1 characters of context), interpolated down to uniform."""
        p = 1.0 / (len(self.vocab) + 1)  # +1: room for a character never seen in training
        for k in range(0, self.order):
            if k > len(context):
                break
            h = context[len(context) - k :] if k else ""
            if h not in self.totals:
                break  # a longer context is unseen too
            total, types = self.totals[h]
            p = (self.counts[h].get(ch, 0) + types * p) / (total + types)
        return p

    def nll(self, text: str) -> np.ndarray:
        """(N,) negative log-likelihood in nats of each character given the preceding ones."""
        out = np.empty(len(text), dtype=np.float64)
        for t, ch in enumerate(text):
            out[t] = -math.log(self.prob(text[max(0, t - self.order + 1) : t], ch))
        return out
