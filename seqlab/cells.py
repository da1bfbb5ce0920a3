"""The recurrent cell equations, one time step each, and the cell modules built on them.

The step functions take the input already projected, ``xw = W_ih x_t + b_ih`` (the sequence layers
in ``seqlab.rnn`` compute that for all time steps in one matmul), and return the new state.
Gate order matches ``torch.nn``: LSTM (i, f, g, o), GRU (r, z, n).
The cells are importable from ``seqlab.rnn`` as well.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def rnn_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh"):
    """Elman RNN: one step.

    ```text
    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)       (or relu)
    ```

    Takes ``xw`` = W_ih x_t + b_ih (B, H), ``h`` = h_{t-1} (B, H), ``w_hh`` (H, H), ``b_hh`` (H,)
    or None, and ``nonlinearity`` "tanh" or "relu". Returns h_t (B, H).
    """
    pre = xw + F.linear(h, w_hh, b_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(xw: Tensor, state: tuple[Tensor, Tensor], w_hh: Tensor, b_hh: Tensor | None):
    """LSTM with a forget gate (Hochreiter and Schmidhuber 1997; Gers et al. 2000): one step.

    ```text
    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)        candidate cell
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
    ```

    Takes ``xw`` = W_ih x_t + b_ih (B, 4H), ``state`` = (h_{t-1}, c_{t-1}), each (B, H),
    ``w_hh`` (4H, H) and ``b_hh`` (4H,) or None. Returns (h_t, c_t), each (B, H).
    """
    h, c = state
    gates = xw + F.linear(h, w_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def gru_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU (Cho et al. 2014), in the form cuDNN and torch.nn use (reset gate after the matmul).

    ```text
    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)     reset gate
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)     update gate
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}
    ```

    Takes ``xw`` = W_ih x_t + b_ih (B, 3H), ``h`` = h_{t-1} (B, H), ``w_hh`` (3H, H) and
    ``b_hh`` (3H,) or None. Returns h_t (B, H).
    """
    x_r, x_z, x_n = xw.chunk(3, dim=-1)  # each (B, H)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


class _CellBase(nn.Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``/``bias_hh`` (G*H,)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = GATES[mode] * hidden_size
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(G, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G, **factory))
            self.bias_hh = nn.Parameter(torch.empty(G, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -stdv, stdv)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def _prepare(self, input: Tensor, hx):
        """Accept unbatched (I,) input as torch.nn does; create zero states when none are given."""
        if input.dim() not in (1, 2):
            raise ValueError(f"expected input of 1 or 2 dimensions, got {input.dim()}")
        unbatched = input.dim() == 1
        if unbatched:
            input = input.unsqueeze(0)
            if hx is not None:
                hx = tuple(h.unsqueeze(0) for h in hx) if isinstance(hx, tuple) else hx.unsqueeze(0)
        if hx is None:
            hx = input.new_zeros(input.size(0), self.hidden_size)
        xw = F.linear(input, self.weight_ih, self.bias_ih)  # (B, G*H)
        return xw, hx, unbatched


class RNNCell(_CellBase):
    """One step of an Elman RNN (``rnn_step``). Drop-in for nn.RNNCell: the same arguments and
    parameters, ``weight_ih`` (H, I), ``weight_hh`` (H, H), ``bias_ih`` and ``bias_hh`` (H,)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("rnn", input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """Takes ``input`` (B, I) or (I,) and ``hx`` (B, H) or (H,), None for zeros; returns the
        next hidden state h', (B, H) or (H,)."""
        xw, h, unbatched = self._prepare(input, hx)
        h = rnn_step(xw, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    """One LSTM step (``lstm_step``). Drop-in for nn.LSTMCell: returns (h, c). Parameters
    ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), biases (4H,); gate order i, f, g, o."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        """Takes ``input`` (B, I) or (I,) and ``hx`` = (h, c), each (B, H) or (H,), None for
        zeros; returns the next (h', c'), each (B, H) or (H,)."""
        xw, hx, unbatched = self._prepare(input, hx)
        if not isinstance(hx, tuple):
            hx = (hx, torch.zeros_like(hx))
        h, c = lstm_step(xw, hx, self.weight_hh, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """One GRU step (``gru_step``). Drop-in for nn.GRUCell. Parameters ``weight_ih`` (3H, I),
    ``weight_hh`` (3H, H), biases (3H,); gate order r, z, n."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """Takes ``input`` (B, I) or (I,) and ``hx`` (B, H) or (H,), None for zeros; returns the
        next hidden state h', (B, H) or (H,)."""
        xw, h, unbatched = self._prepare(input, hx)
        h = gru_step(xw, h, self.weight_hh, self.bias_hh)
        return h.squeeze(0) if unbatched else h
