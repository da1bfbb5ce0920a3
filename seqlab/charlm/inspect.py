"""Look inside a trained char-LM (Karpathy, Johnson and Fei-Fei 2015, "Visualizing and
Understanding Recurrent Networks"): per-cell activations, cells that track text features, gate
saturation, and the per-character loss against a smoothed n-gram model.

    seqlab charlm inspect --text input.txt --out runs/inspect [--checkpoint charlm-shakespeare]

``trace`` runs the model over the text once: the text is cut into parallel streams (the state is
carried within a stream, so only the streams' first characters lose context), each layer's
states and gates are recomputed from the cell equations of seqlab.cells in time chunks, and
only running sums are kept for the whole text; the states of the first ``save`` characters are
kept for pictures. Works for LSTM, GRU and RNN checkpoints (only the LSTM has a cell state c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.data.char_features import FEATURES, char_features
from seqlab.models.charlm import CharLM

# The gates each cell type has (sigmoid units) in seqlab.cells' order; a tanh RNN has none.
GATES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update")}
LOW, HIGH = 0.1, 0.9  # a gate below LOW is left-saturated, above HIGH right-saturated (paper)


@dataclass
class Trace:
    cell: str
    n: int  # characters traced
    states: dict[str, np.ndarray]  # "h" (and "c"): (save, L, H) float16, the first characters
    nll: np.ndarray  # (n - 1,) nats: each next character given the text before it
    corr: dict[str, np.ndarray]  # "h"/"c": (L, H, F) Pearson correlation with FEATURES
    saturation: dict[str, np.ndarray] = field(default_factory=dict)  # gate: (L, H, 2) fractions


def _streams(n: int) -> int:
    """Parallel streams: enough for fast batched matmuls, each at least 2048 characters long."""
    return max(1, min(64, n // 2048))


class _Moments:
    """Running sums for the correlation of every unit with every feature."""

    def __init__(self, layers: int, hidden: int, feats: int):
        z = np.zeros
        self.n, self.sa, self.saa = 0, z((layers, hidden)), z((layers, hidden))
        self.sf, self.sff, self.saf = z(feats), z(feats), z((layers, hidden, feats))

    def add(self, layer: int, a: Tensor, f: Tensor, first: bool) -> None:
        """a: (M, H) activations, f: (M, F) features of the same M characters."""
        a64, f64 = a.double(), f.double()
        self.sa[layer] += a64.sum(0).numpy()
        self.saa[layer] += (a64 * a64).sum(0).numpy()
        self.saf[layer] += (a64.T @ f64).numpy()
        if first:  # the features are the same for every layer: count them once
            self.n += a.size(0)
            self.sf += f64.sum(0).numpy()
            self.sff += (f64 * f64).sum(0).numpy()

    def corr(self) -> np.ndarray:
        n = max(self.n, 1)
        cov = self.saf / n - (self.sa / n)[..., None] * (self.sf / n)  # (L, H, F)
        var_a = np.clip(self.saa / n - (self.sa / n) ** 2, 0, None)[..., None]
        var_f = np.clip(self.sff / n - (self.sf / n) ** 2, 0, None)
        return np.where((var_a > 1e-12) & (var_f > 1e-12), cov / np.sqrt(var_a * var_f + 1e-30), 0)


def _layer_step(cell: str, pre: Tensor, h: Tensor, c: Tensor | None, w_hh, b_hh, nonlin: str):
    """One time step from the input projection ``pre`` (B, G*H); returns h, c and the gates."""
    hw = F.linear(h, w_hh, b_hh)  # (B, G*H)
    if cell == "lstm":
        i, f, g, o = (pre + hw).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        return o * c.tanh(), c, (i, f, o)
    if cell == "gru":
        x_r, x_z, x_n = pre.chunk(3, dim=-1)
        h_r, h_z, h_n = hw.chunk(3, dim=-1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        return (1 - z) * n + z * h, None, (r, z)
    out = pre + hw
    return (out.tanh() if nonlin == "tanh" else out.relu()), None, ()


@torch.no_grad()
def trace(model: CharLM, ids: Tensor, text: str, save: int = 20_000, chunk: int = 256) -> Trace:
    """Run `model` over `ids` (N,) = the characters of `text`; see the module docstring."""
    model.eval()
    rnn = model.rnn
    cell = "rnn" if rnn.mode.startswith("rnn") else rnn.mode
    L, H, N = rnn.num_layers, rnn.hidden_size, ids.numel()
    B = _streams(N)
    S = math.ceil(N / B)
    padded = torch.cat([ids, ids.new_zeros(B * S + 1 - N)])  # (B*S + 1,)
    x_all, y_all = padded[:-1].view(B, S), padded[1:].view(B, S)  # next-character targets
    pos = torch.arange(B * S).view(B, S)  # global position of every (stream, step)
    feats = torch.from_numpy(np.stack([char_features(text)[k] for k in FEATURES], 1))  # (N, F)
    save = min(save, N)
    kinds = ["h", "c"] if cell == "lstm" else ["h"]
    states = {k: np.zeros((save, L, H), dtype=np.float16) for k in kinds}
    moments = {k: _Moments(L, H, len(FEATURES)) for k in kinds}
    gates = GATES.get(cell, ())
    sat = {g: np.zeros((L, H, 2)) for g in gates}
    nll = np.zeros(B * S)
    h = [torch.zeros(B, H) for _ in range(L)]
    c = [torch.zeros(B, H) for _ in range(L)]
    for s0 in range(0, S, chunk):
        x = model.embedding(x_all[:, s0 : s0 + chunk])  # (B, C, E)
        p = pos[:, s0 : s0 + chunk]  # (B, C)
        valid = (p < N).flatten()  # padding at the end of the last stream
        at = p.flatten()[valid]  # (M,) text positions of the real characters
        saved = at < save
        f = feats[at]  # (M, F)
        for layer in range(L):
            w_ih, w_hh, b_ih, b_hh = rnn._weights(layer, 0)
            pre = F.linear(x, w_ih, b_ih)  # (B, C, G*H): all steps in one matmul
            outs, cs, gs = [], [], []
            for t in range(pre.size(1)):
                h[layer], c[layer], g = _layer_step(
                    cell, pre[:, t], h[layer], c[layer], w_hh, b_hh, rnn.nonlinearity
                )
                outs.append(h[layer])
                cs.append(c[layer])
                gs.append(g)
            out = torch.stack(outs, 1)  # (B, C, H)
            layer_states = {"h": out, "c": torch.stack(cs, 1) if cell == "lstm" else None}
            for k in kinds:
                a = layer_states[k].reshape(-1, H)[valid]  # (M, H)
                moments[k].add(layer, a, f, first=layer == 0)
                states[k][at[saved].numpy(), layer] = a[saved].half().numpy()
            for j, name in enumerate(gates):
                gv = torch.stack([g[j] for g in gs], 1).reshape(-1, H)[valid]  # (M, H)
                sat[name][layer, :, 0] += (gv < LOW).sum(0).numpy()
                sat[name][layer, :, 1] += (gv > HIGH).sum(0).numpy()
            x = out
        logits = model.head(x)  # (B, C, V): dropout is off in eval mode
        lp = logits.log_softmax(-1).gather(-1, y_all[:, s0 : s0 + chunk, None])[..., 0]
        nll[p.flatten().numpy()] = -lp.flatten().double().numpy()  # padding lands past N
    for name in gates:
        sat[name] /= N
    return Trace(cell, N, states, nll[: N - 1], {k: m.corr() for k, m in moments.items()}, sat)


def top_cells(tr: Trace, k: int = 5) -> list[dict]:
    """For every feature, the k units whose activation correlates most with it (by |r|)."""
    kinds = list(tr.corr)
    corr = np.stack([tr.corr[kind] for kind in kinds])  # (K, L, H, F)
    rows = []
    for fi, feature in enumerate(FEATURES):
        r = corr[..., fi]  # (K, L, H)
        best = np.argsort(-np.abs(r), axis=None, kind="stable")[:k]
        for rank, flat in enumerate(best, 1):
            kind, layer, unit = np.unravel_index(flat, r.shape)
            rows.append(
                {"feature": feature, "rank": rank, "state": kinds[kind], "layer": int(layer),
                 "unit": int(unit), "r": round(float(r[kind, layer, unit]), 4)}
            )  # fmt: skip
    return rows
