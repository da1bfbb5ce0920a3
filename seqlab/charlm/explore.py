"""What the char-LM demo asks of a model, without tensors in the app: sample, trace the sample,
read one unit, the next-character distribution at a position, and LSTMVis's span search
(Strobelt, Gehrmann, Pfister and Rush 2017: select a span, find the units that are on across it,
find where else in the text they are on together).

    ex = CharLMExplorer(CharLMPredictor.from_checkpoint("charlm-shakespeare"))
    text = ex.sample("ROMEO:", length=300, temperature=0.8, top_k=0, seed=1)
    view = ex.view(text)                         # every unit's states over the text
    view.values("h", layer=1, unit=42)           # (N,) in [-1, 1]
    units = view.on_across(10, 20)               # units above the threshold on every position
    hits = view.together(units)                  # (N,) bool: where all of them are on
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.charlm.inspect import Trace, top_cells, trace
from seqlab.charlm.predict import CharLMPredictor
from seqlab.errors import UserError

MAX_SAMPLE = 2000  # characters a request may generate
MAX_TEXT = 5000  # characters a request may trace (prime + sample, or pasted text)


@dataclass
class View:
    text: str
    trace: Trace

    @property
    def kinds(self) -> list[str]:
        return list(self.trace.states)

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, hidden units)."""
        _, layers, hidden = next(iter(self.trace.states.values())).shape
        return layers, hidden

    def values(self, kind: str, layer: int, unit: int) -> np.ndarray:
        """(N,) one unit's state over the text, scaled by its largest magnitude to [-1, 1]."""
        layers, hidden = self.shape
        if kind not in self.trace.states:
            raise UserError(f"this model has no {kind!r} state (a cell state c is LSTM-only)")
        if not (0 <= layer < layers and 0 <= unit < hidden):
            raise UserError(f"pick a layer in 1..{layers} and a unit in 0..{hidden - 1}")
        v = self.trace.states[kind][:, layer, unit].astype(np.float32)
        return v / (np.abs(v).max() + 1e-8)

    def best_units(self, k: int = 2) -> list[dict]:
        """The units that correlate most with each text feature over this text."""
        return [r for r in top_cells(self.trace, k) if r["r"] != 0]

    def on_across(self, start: int, end: int, threshold: float = 0.3, kind: str = "h"):
        """Units whose (raw) state is above `threshold` at every position of text[start:end]."""
        if not 0 <= start < end <= len(self.text):
            raise UserError(f"select a span inside the text (0..{len(self.text)})")
        states = self.trace.states[kind][start:end].astype(np.float32)  # (S, L, H)
        on = (states > threshold).all(0)  # (L, H)
        return [(int(layer), int(unit)) for layer, unit in np.argwhere(on)]

    def together(self, units, threshold: float = 0.3, kind: str = "h") -> np.ndarray:
        """(N,) True where every unit of `units` is above `threshold` at once."""
        states = self.trace.states[kind].astype(np.float32)  # (N, L, H)
        mask = np.ones(len(states), dtype=bool)
        for layer, unit in units:
            mask &= states[:, layer, unit] > threshold
        return mask


class CharLMExplorer:
    def __init__(self, predictor: CharLMPredictor):
        self.predictor = predictor

    def check(self, text: str) -> str:
        """Characters the model never saw are refused in one sentence (it has no <unk>)."""
        if not text:
            raise UserError("the text is empty: type a prime or pick an example")
        if len(text) > MAX_TEXT:
            raise UserError(f"the text has {len(text):,} characters; the limit is {MAX_TEXT:,}")
        self.predictor.vocab.encode(text, what="the text")
        return text

    def sample(self, prime: str, length: int, temperature: float, top_k: int, seed: int) -> str:
        if not 1 <= length <= MAX_SAMPLE:
            raise UserError(f"length must be between 1 and {MAX_SAMPLE}, got {length}")
        if not prime:
            raise UserError("the prime is empty: type at least one character (a newline works)")
        self.check(prime)
        return self.predictor.sample(prime, int(length), float(temperature), int(top_k),
                                     seed=int(seed))  # fmt: skip

    def view(self, text: str) -> View:
        self.check(text)
        if len(text) < 2:
            raise UserError("the text needs at least 2 characters")
        ids = self.predictor.vocab.encode(text)
        return View(text, trace(self.predictor.model, ids, text, save=len(text)))

    @torch.no_grad()
    def next_chars(self, text: str, position: int, k: int = 10) -> dict[str, float]:
        """The model's distribution over the character after text[:position + 1]."""
        self.check(text)
        if not 0 <= position < len(text):
            raise UserError(f"pick a position in 0..{len(text) - 1}")
        ids = self.predictor.vocab.encode(text[: position + 1])[None]  # (1, T)
        model = self.predictor.model.eval()
        logits, _ = model(ids.to(self.predictor.device))
        probs = logits[0, -1].float().softmax(-1).cpu()  # (V,)
        top = probs.topk(min(k, probs.numel()))
        chars = self.predictor.vocab.chars
        return {
            repr(chars[i])[1:-1]: float(p) for p, i in zip(top.values, top.indices, strict=True)
        }
