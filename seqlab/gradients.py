"""Temporal gradient norms: how much of a last-step loss reaches each earlier hidden state.

For a sequence of length T and a loss on the last step only, this measures ||dL/dh_t|| for every
step t and every layer, for RNN (tanh, relu, linear), LSTM and GRU, averaged over seeds. It reads
the per-step states of the scratch backend (``layer.keep_states = True``), so the numbers are the
gradients autograd really computes, not a formula. ``distance = T - t``; distance T is the initial
state h_0. This is the measurement behind Bengio, Simard and Frasconi (1994) and Pascanu, Mikolov
and Bengio (2013): dL/dh_t = prod_k (W_hh^T diag(phi'(a_k))) dL/dh_T, so the norm shrinks or grows
geometrically with the distance unless gates keep it (Hochreiter and Schmidhuber 1997).

    seqlab grads temporal --cells rnn,lstm,gru --seq-len 100 --radius 0.9 --out runs/temporal

Figures are drawn by ``seqlab.gradient_plots``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.errors import UserError

# the settings live in a torch-free module (fast --help); these names stay importable here
from seqlab.grads.config import CELLS, INITS, TemporalConfig, parse_list  # noqa: F401
from seqlab.rnn import RNNBase, make_rnn

CSV_COLUMNS = ["cell", "layer", "distance", "grad_norm"]


def spectral_radius(w: Tensor) -> float:
    """Largest |eigenvalue| of a square matrix ``w`` (H, H), as a float."""
    return float(torch.linalg.eigvals(w.double()).abs().max())


@torch.no_grad()
def init_recurrent(
    layer: RNNBase,
    init: str = "default",
    radius: float = 0.0,
    forget_bias: float = 0.0,
    update_bias: float | None = None,
) -> None:
    """Re-initialise each (H, H) gate block of every W_hh, then scale it to ``radius``.

    For the LSTM the forget-gate bias (gate order i, f, g, o: the slice [H:2H]) is set so that
    b_if + b_hf = forget_bias exactly: the whole value goes into bias_ih, bias_hh's slice is 0
    (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1). For the GRU (gate order r, z, n) the
    update-gate bias b_z is set the same way when ``update_bias`` is given: in
    h_t = (1 - z) * n + z * h_{t-1} a z near 1 keeps the state, the forget gate's part (Tallec
    and Ollivier 2018 set both biases from the time span to remember); None keeps torch's init.
    Changes ``layer`` in place; ``init`` is "default" (keep torch's), "orthogonal" or "identity".
    """
    H = layer.hidden_size
    for name, w in layer.named_parameters():
        if not name.startswith("weight_hh"):
            continue
        for block in w.split(H, dim=0):  # (H, H) per gate
            if init == "orthogonal":
                torch.nn.init.orthogonal_(block)
            elif init == "identity":
                block.copy_(torch.eye(H, dtype=w.dtype))
            if radius > 0:
                block.mul_(radius / spectral_radius(block))
    gate_bias = {"lstm": forget_bias, "gru": update_bias}.get(layer.mode)
    if gate_bias is not None and layer.bias:
        for name, b in layer.named_parameters():
            if name.startswith("bias_ih"):
                b[H : 2 * H] = gate_bias  # f (LSTM) or z (GRU): the second block either way
            elif name.startswith("bias_hh"):
                b[H : 2 * H] = 0.0


def build_layer(
    cell: str, cfg: TemporalConfig, forget_bias: float = 0.0, update_bias: float | None = None
) -> RNNBase:
    """A scratch-backend, batch-first layer for ``cell`` (rnn, rnn_relu, rnn_linear, lstm, gru)
    with the config's sizes and dtype, initialised by its knobs (``init_recurrent``), keeping its
    per-step states. Returns the layer."""
    dtype = getattr(torch, cfg.dtype)
    name = "rnn" if cell == "rnn_linear" else cell  # the linear RNN reuses the RNN's parameters
    layer = make_rnn(
        name, cfg.input_size, cfg.hidden_size, cfg.num_layers, batch_first=True, backend="scratch"
    ).to(dtype)
    init_recurrent(layer, cfg.init, cfg.radius, forget_bias, update_bias)
    layer.keep_states = True
    return layer


def linear_rnn_forward(layer: RNNBase, x: Tensor, h0: Tensor) -> tuple[Tensor, list[list[Tensor]]]:
    """A linear RNN, h_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, with per-step states kept.

    The theory case: with W_hh = rho * Q (Q orthogonal), dL/dh_t = (W_hh^T)^(T-t) dL/dh_T, so
    ||dL/dh_t|| = rho^(T-t) ||dL/dh_T|| exactly.

    Takes ``x`` (B, T, I) and ``h0`` (L, B, H); returns the top layer's states (B, T, H) and,
    per layer, its T states h_t, each (B, H), which keep their ``.grad`` after backward.
    """
    steps: list[list[Tensor]] = []
    for k in range(layer.num_layers):
        w_ih, w_hh, b_ih, b_hh = layer._weights(k, 0)
        xw = F.linear(x, w_ih, b_ih)  # (B, T, H)
        h, hs = h0[k], []
        for t in range(x.size(1)):
            h = xw[:, t] + F.linear(h, w_hh, b_hh)  # (B, H)
            h.retain_grad()
            hs.append(h)
        steps.append(hs)
        x = torch.stack(hs, 1)  # (B, T, H): the next layer's input
    return x, steps


def step_grad_norms(layer: RNNBase, x: Tensor, linear: bool = False) -> list[list[float]]:
    """||dL/dh_t|| for a loss on the last step: ``norms[layer][distance]``, distance 0..T.

    The loss is <h_T, v> with a fixed random direction v, so dL/dh_T = v for the top layer.
    Distance T is the initial state h_0 (a zero tensor that asks for its gradient).

    Takes a scratch-backend ``layer`` (batch first) and its input ``x`` (B, T, I); ``linear``
    runs the layer's weights without a nonlinearity. Returns num_layers lists of T + 1 norms,
    each the norm over the batch of dL/dh_t, (B, H).
    """
    B, T = x.shape[:2]
    L, H = layer.num_layers, layer.hidden_size
    h0 = x.new_zeros(L, B, H, requires_grad=True)  # (L, B, H)
    if linear:
        out, steps = linear_rnn_forward(layer, x, h0)
    else:
        if layer.backend != "scratch":
            raise ValueError("step_grad_norms needs a scratch-backend layer (per-step states)")
        layer.keep_states = True
        hx = (h0, torch.zeros_like(h0)) if layer.mode == "lstm" else h0
        out, _ = layer(x, hx)  # (B, T, H)
        steps = [dirs[0] for dirs in layer.step_states]
    v = torch.randn(B, H, dtype=x.dtype)
    (out[:, -1] * v).sum().backward()
    norms = []
    for k in range(L):
        grads = [h0.grad[k]] + [h.grad for h in steps[k]]  # t = 0..T
        per_t = [float(g.norm()) if g is not None else 0.0 for g in grads]
        norms.append(per_t[::-1])  # distance = T - t
    return norms


def gradient_reach(layer: RNNBase, x: Tensor) -> float:
    """||dL/dh_0|| / ||dL/dh_T|| of any (trained) layer on inputs x (B, T, I): the share of a
    last-step loss's gradient that reaches the start. Runs a float64 scratch-backend copy."""
    name = "rnn_relu" if layer.mode == "rnn" and layer.nonlinearity == "relu" else layer.mode
    copy = make_rnn(
        name,
        layer.input_size,
        layer.hidden_size,
        layer.num_layers,
        batch_first=True,
        backend="scratch",
    ).double()
    copy.load_state_dict({k: v.detach().cpu() for k, v in layer.state_dict().items()})
    norms = step_grad_norms(copy, x.detach().cpu().double())[-1]  # top layer, by distance
    return norms[-1] / norms[0] if norms[0] > 0 else 0.0


def cell_label(cell: str, nonlinearity: str, gate_bias: float | None, n_biases: int) -> str:
    """Canonical names for the CSV: rnn (tanh), rnn_relu, rnn_linear, lstm, gru; with several
    gate biases, lstm (b_f=1) and gru (b_z=3)."""
    if cell == "rnn" and nonlinearity != "tanh":
        cell = f"rnn_{nonlinearity}"
    if cell in ("lstm", "gru") and n_biases > 1:
        return f"{cell} (b_{'f' if cell == 'lstm' else 'z'}={gate_bias:g})"
    return cell


def _variants(cfg: TemporalConfig) -> list[tuple[str, str, float, float | None]]:
    """(label, cell, forget_bias, update_bias) for every curve to measure."""
    forget = parse_list(cfg.forget_bias, float) or [0.0]
    update = parse_list(cfg.update_bias, float) or [None]
    out = []
    for cell in parse_list(cfg.cells):
        biases = forget if cell == "lstm" else update if cell == "gru" else [None]
        for bias in biases:
            label = cell_label(cell, cfg.nonlinearity, bias, len(biases))
            fb, ub = (bias, None) if cell == "lstm" else (0.0, bias)
            if label not in [v[0] for v in out]:  # "rnn" with --nonlinearity linear = rnn_linear
                out.append((label, cell, fb, ub))
    return out


def measure_temporal(cfg: TemporalConfig, progress=None) -> list[dict]:
    """Rows {cell, layer, distance, grad_norm}, the norm averaged over ``cfg.seeds`` seeds.

    ``progress(fraction, text)`` is called after each (cell, seed) when given.
    """
    variants = _variants(cfg)
    rows, done, total = [], 0, len(variants) * cfg.seeds
    threads = torch.get_num_threads()
    # Batch 16 x 64 units: each step is a tiny op, and extra intra-op threads only add sync cost
    # (about 4x slower on a busy 2-core machine, measured).
    torch.set_num_threads(1)
    try:
        for label, cell, fb, ub in variants:
            rows += _measure_variant(cfg, label, cell, fb, ub)
            done += cfg.seeds
            if progress is not None:
                progress(done / total, label)
    finally:
        torch.set_num_threads(threads)
    return rows


def _measure_variant(
    cfg: TemporalConfig, label: str, cell: str, fb: float, ub: float | None
) -> list[dict]:
    """One curve per layer: the norm at each distance, averaged over the seeds."""
    kind = f"rnn_{cfg.nonlinearity}" if cell == "rnn" and cfg.nonlinearity != "tanh" else cell
    sums: list[list[float]] = []
    for seed in range(cfg.seeds):
        torch.manual_seed(seed)
        layer = build_layer(kind, cfg, fb, ub)
        x = torch.randn(
            cfg.batch_size, cfg.seq_len, cfg.input_size, dtype=getattr(torch, cfg.dtype)
        )  # (B, T, I)
        norms = step_grad_norms(layer, x, linear=kind == "rnn_linear")
        sums = (
            norms
            if not sums
            else [
                [a + b for a, b in zip(s, n, strict=True)] for s, n in zip(sums, norms, strict=True)
            ]
        )
    return [
        {"cell": label, "layer": k, "distance": d, "grad_norm": total / cfg.seeds}
        for k, per_d in enumerate(sums)
        for d, total in enumerate(per_d)
    ]


def far_norms(rows: list[dict]) -> list[tuple[str, int, float, float]]:
    """(cell, layer, norm at distance 0, norm at the largest distance) for each curve."""
    far = max(int(r["distance"]) for r in rows)
    ends: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if int(r["distance"]) in (0, far):
            ends.setdefault((r["cell"], int(r["layer"])), [0.0, 0.0])
            ends[(r["cell"], int(r["layer"]))][int(r["distance"]) == far] = float(r["grad_norm"])
    return [(cell, layer, near, distant) for (cell, layer), (near, distant) in ends.items()]


def temporal_title(cfg: TemporalConfig) -> str:
    """A figure title that states the knobs the curves depend on."""
    radius = f"radius {cfg.radius:g}" if cfg.radius > 0 else "radius as initialised"
    return (
        f"Gradient of a loss at step T = {cfg.seq_len} reaching step t\n"
        f"H = {cfg.hidden_size}, {cfg.init} init, {radius}, mean of {cfg.seeds} seeds"
    )


def write_csv(path: str | Path, rows: list[dict], columns: list[str] = CSV_COLUMNS) -> None:
    """Write ``rows`` (dicts) to ``path`` as CSV with these ``columns`` (other keys are left out),
    creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def read_temporal_csv(path: str | Path) -> list[dict]:
    """Read a temporal.csv back (for re-plotting); clear errors for a wrong file."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != CSV_COLUMNS:
                raise UserError(
                    f"{path} is not a temporal.csv (columns {reader.fieldnames}, "
                    f"expected {CSV_COLUMNS})"
                )
            return [
                {
                    "cell": r["cell"],
                    "layer": int(r["layer"]),
                    "distance": int(r["distance"]),
                    "grad_norm": float(r["grad_norm"]),
                }
                for r in reader
            ]
    except FileNotFoundError as e:
        raise UserError(f"file not found: {path}") from e
