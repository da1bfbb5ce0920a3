"""RNN, LSTM and GRU from scratch, as drop-in replacements for their ``torch.nn`` namesakes.

Cells (``RNNCell``, ``LSTMCell``, ``GRUCell``) run one time step; layers (``RNN``, ``LSTM``,
``GRU``) run whole sequences, stacked and optionally bidirectional, with ``PackedSequence``
in and out.
Parameter names, shapes, gate order and initialisation match ``torch.nn``, so a ``state_dict`` moves
freely between the two.

Two backends share the same parameters:
  - ``backend="scratch"``: the cell equations, one time step at a time, in plain PyTorch.
  - ``backend="fused"``: PyTorch's fused kernels (oneDNN on CPU, cuDNN on GPU). The default.

    >>> lstm = LSTM(10, 20, num_layers=2, batch_first=True)
    >>> out, (h, c) = lstm(torch.randn(3, 5, 10))   # out: (3, 5, 20), h and c: (2, 3, 20)
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from seqlab import fused
from seqlab.cells import GATES, GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "make_rnn"]

BACKENDS = ("scratch", "fused")


def _reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of a time-major (T, B, ...) batch within its own length."""
    if lengths is None:
        return x.flip(0)
    T = x.size(0)
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    lens = lengths.to(x.device).unsqueeze(0)  # (1, B)
    idx = torch.where(t < lens, lens - 1 - t, t)  # (T, B): padding stays in place
    idx = idx.view(T, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


class RNNBase(nn.Module):
    """Shared machinery of RNN, LSTM and GRU: parameters, state handling, packing, both backends.

    Takes torch.nn's constructor arguments, and two more: ``backend`` ("fused", the default, or
    "scratch": the cell equations step by step) and ``weight_dropout`` (DropConnect on the
    recurrent weights W_hh in training, AWD-LSTM's weight drop; 0 turns it off)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
        backend: str = "fused",
        weight_dropout: float = 0.0,
    ):
        super().__init__()
        if mode not in GATES:
            raise ValueError(f"unknown mode {mode!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {weight_dropout}")
        if num_layers < 1 or hidden_size < 1:
            raise ValueError("num_layers and hidden_size must be positive")
        if proj_size != 0:
            raise NotImplementedError("seqlab does not implement LSTM projections (proj_size)")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        self.nonlinearity = nonlinearity
        self.backend = backend
        # DropConnect on the hidden-to-hidden weights while training (the weight drop of AWD-LSTM,
        # Merity et al. 2018): one mask per forward call, shared by every time step, so the
        # recurrence is regularised without touching the fused kernels. Not a torch.nn argument.
        self.weight_dropout = float(weight_dropout)
        # Set keep_states=True to keep every step's hidden state (scratch backend) in
        # self.step_states[layer][direction][t]; the gradient lab reads their .grad.
        self.keep_states = False
        self.step_states: list[list[list[Tensor]]] = []

        factory = {"device": device, "dtype": dtype}
        G = GATES[mode] * hidden_size
        num_dirs = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * num_dirs
            for direction in range(num_dirs):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (G, layer_in)), ("weight_hh", (G, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                for name, shape in shapes:
                    setattr(self, name + sfx, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()
        self.flatten_parameters()
        # load_state_dict copies into the parameters in place (they stay flat), except with
        # assign=True, which brings new tensors.
        self.register_load_state_dict_post_hook(_flatten_after_load)

    @property
    def num_directions(self) -> int:
        """2 for a bidirectional layer, else 1."""
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as torch.nn does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -stdv, stdv)

    def _weights(self, layer: int, direction: int, drop: bool = False) -> list[Tensor | None]:
        sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        return [self._dropped(n, getattr(self, n + sfx, None), drop) for n in names]

    def _flat_weights(self, drop: bool = False) -> list[Tensor]:
        return [self._dropped(n, getattr(self, n), drop) for n in self._flat_weights_names]

    def _dropped(self, name: str, weight: Tensor | None, drop: bool) -> Tensor | None:
        """``weight``, with weight_dropout applied when ``drop``, training and recurrent."""
        if drop and self._drops_weights() and name.startswith("weight_hh"):
            return F.dropout(weight, self.weight_dropout, training=True)
        return weight

    def _drops_weights(self) -> bool:
        return self.training and self.weight_dropout > 0

    def flatten_parameters(self) -> None:
        """Put the weights into cuDNN's flat layout (one buffer, each parameter a view of it) when
        they are on CUDA, as torch.nn does; a no-op elsewhere. Runs by itself after ``.to()``,
        ``load_state_dict`` and on the first CUDA call (DDP wrapping, say), so it is rarely
        needed by hand."""
        fused.flatten(self)

    def _apply(self, fn, recurse: bool = True):
        # .to()/.cuda()/.double() give each parameter a new tensor of its own: flatten them again,
        # on CUDA as torch.nn does, and anywhere the weights were flat before on this device type.
        before = self._flat_weights()
        keep, device_type = fused.is_flat(before), before[0].device.type
        module = super()._apply(fn, recurse)
        fused.flatten(self, force=keep and self._flat_weights()[0].device.type == device_type)
        return module

    def extra_repr(self) -> str:
        """The constructor's arguments that differ from their defaults, as torch.nn prints them."""
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode.startswith("rnn"):
            s += f", nonlinearity={self.nonlinearity!r}"
        defaults = {"bias": True, "batch_first": False, "dropout": 0.0, "weight_dropout": 0.0}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s + f", backend={self.backend!r}"

    @property
    def _vf_mode(self) -> str:
        return f"rnn_{self.nonlinearity}" if self.mode == "rnn" else self.mode

    def forward(self, input: Tensor | PackedSequence, hx=None):
        """The same signature and return values as ``torch.nn.RNN/LSTM/GRU.forward``.

        Takes ``input`` (T, B, I), or (B, T, I) with ``batch_first``, (T, I) unbatched, or a
        ``PackedSequence``, and ``hx``, the initial state (L * D, B, H), for the LSTM a pair
        (h_0, c_0); None starts from zeros (L layers, D = 2 if bidirectional else 1, H units).
        Returns ``(output, h_n)``, for the LSTM ``(output, (h_n, c_n))``: output (T, B, D * H),
        or (B, T, D * H) with ``batch_first``, packed if the input was; h_n, c_n (L * D, B, H).
        """
        is_lstm = self.mode == "lstm"
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            data, batch_sizes, sorted_idx, unsorted_idx = input
            B = int(batch_sizes[0])
        else:
            if input.dim() not in (2, 3):
                raise ValueError(f"expected input of 2 or 3 dimensions, got {input.dim()}")
            unbatched = input.dim() == 2
            if unbatched:
                input = input.unsqueeze(1 if not self.batch_first else 0)
                if hx is not None:
                    hx = tuple(h.unsqueeze(1) for h in hx) if is_lstm else hx.unsqueeze(1)
            B = input.size(0 if self.batch_first else 1)
            sorted_idx = unsorted_idx = None
            data = input
        L = self.num_layers * self.num_directions
        if hx is None:
            zeros = torch.zeros(L, B, self.hidden_size, dtype=data.dtype, device=data.device)
            hx = (zeros, zeros) if is_lstm else zeros
        elif sorted_idx is not None:
            # States come in the user's batch order; packed data is sorted by length.
            hx = (
                tuple(h.index_select(1, sorted_idx) for h in hx)
                if is_lstm
                else (hx.index_select(1, sorted_idx))
            )
        state = tuple(hx) if is_lstm else (hx,)

        if self.backend == "fused":
            output, final = self._forward_fused(data, batch_sizes if packed else None, state)
        else:
            output, final = self._forward_scratch(data, batch_sizes if packed else None, state)

        if unsorted_idx is not None:
            final = tuple(s.index_select(1, unsorted_idx) for s in final)
        if packed:
            output = PackedSequence(output, batch_sizes, sorted_idx, unsorted_idx)
        elif unbatched:
            output = output.squeeze(1 if not self.batch_first else 0)
            final = tuple(s.squeeze(1) for s in final)
        return output, (final if is_lstm else final[0])

    def _forward_fused(self, data: Tensor, batch_sizes: Tensor | None, state: tuple):
        """One call into PyTorch's fused kernels (the ones torch.nn uses): seqlab.fused."""
        return fused.run(self, data, batch_sizes, state)

    def _forward_scratch(self, data: Tensor, batch_sizes: Tensor | None, state: tuple):
        """Layer by layer, direction by direction, step by step (see seqlab.cells)."""
        if batch_sizes is not None:
            # Unpack into a time-major padded batch in the packed (length-sorted) order.
            T, B = len(batch_sizes), int(batch_sizes[0])
            x = data.new_zeros(T, B, data.size(-1))
            lengths = (batch_sizes.unsqueeze(0) > torch.arange(B).unsqueeze(1)).sum(1)  # (B,)
            offset = 0
            for t, bs in enumerate(batch_sizes.tolist()):
                x[t, :bs] = data[offset : offset + bs]
                offset += bs
        else:
            x = data.transpose(0, 1) if self.batch_first else data  # (T, B, I)
            lengths = None
        self.step_states = []
        finals: list[list[Tensor]] = [[] for _ in state]
        for layer in range(self.num_layers):
            outs = []
            layer_states = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                s0 = tuple(s[k] for s in state)
                out, sT, steps = self._run_direction(
                    x, lengths, s0, self._weights(layer, d, drop=True), d
                )
                outs.append(out)
                layer_states.append(steps)
                for i, s in enumerate(sT):
                    finals[i].append(s)
            self.step_states.append(layer_states)
            x = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]  # (T, B, D*H)
            if self.dropout > 0 and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        final = tuple(torch.stack(f, 0) for f in finals)  # each (L*D, B, H)
        if batch_sizes is not None:
            output = torch.cat([x[t, :bs] for t, bs in enumerate(batch_sizes.tolist())], 0)
        else:
            output = x.transpose(0, 1) if self.batch_first else x
        return output, final

    def _run_direction(self, x: Tensor, lengths: Tensor | None, state: tuple, weights, d: int):
        w_ih, w_hh, b_ih, b_hh = weights
        if d == 1:
            x = _reverse_padded(x, lengths)
        # The input projection does not depend on the state: do it for all steps in one matmul.
        xw = F.linear(x, w_ih, b_ih)  # (T, B, G*H)
        mask = None
        if lengths is not None:
            mask = torch.arange(x.size(0)).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B)
            mask = mask.to(x.device).unsqueeze(2)  # (T, B, 1)
        outs, steps = [], []
        for t in range(x.size(0)):
            new = self._step(xw[t], state, w_hh, b_hh)
            if mask is not None:
                # Finished sequences keep their last state and emit zeros, as packing implies.
                new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state, strict=True))
            state = new
            h = state[0]
            if self.keep_states and torch.is_grad_enabled() and h.requires_grad:
                h.retain_grad()
                steps.append(h)
            outs.append(h if mask is None else h * mask[t])
        out = torch.stack(outs, 0)  # (T, B, H)
        if d == 1:
            out = _reverse_padded(out, lengths)
        return out, state, steps

    def compile_step(self, enable: bool = True) -> RNNBase:
        """torch.compile the scratch backend's step function (one fused kernel per step for the
        elementwise gate math); the Python loop over time stays readable. Returns self."""
        self._compiled = enable
        return self

    def _step(self, xw: Tensor, state: tuple, w_hh: Tensor, b_hh: Tensor | None) -> tuple:
        compiled = getattr(self, "_compiled", False)
        if self.mode == "lstm":
            return _step_fn("lstm", compiled)(xw, state, w_hh, b_hh)
        if self.mode == "gru":
            return (_step_fn("gru", compiled)(xw, state[0], w_hh, b_hh),)
        return (_step_fn("rnn", compiled)(xw, state[0], w_hh, b_hh, self.nonlinearity),)


def _flatten_after_load(layer: RNNBase, incompatible_keys) -> None:
    """load_state_dict post hook: on CUDA, flatten the new tensors that assign=True brings."""
    fused.flatten(layer)


@functools.cache
def _step_fn(mode: str, compiled: bool):
    """The step function of ``mode``, compiled once per process when asked."""
    fn = {"lstm": lstm_step, "gru": gru_step, "rnn": rnn_step}[mode]
    return torch.compile(fn, dynamic=False) if compiled else fn


class RNN(RNNBase):
    """Elman RNN, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` or relu: nn.RNN's
    arguments, plus ``backend`` and ``weight_dropout`` (``RNNBase``); ``forward`` as nn.RNN's."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        backend: str = "fused",
        weight_dropout: float = 0.0,
    ):
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("rnn", *args, 0, nonlinearity, device, dtype, backend, weight_dropout)


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al.
    2000); equations in ``seqlab.cells.lstm_step``. Drop-in for nn.LSTM: its arguments, plus
    ``backend`` and ``weight_dropout`` (``RNNBase``); ``forward`` returns (output, (h_n, c_n))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        backend: str = "fused",
        weight_dropout: float = 0.0,
    ):
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("lstm", *args, proj_size, "tanh", device, dtype, backend, weight_dropout)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014); equations in ``seqlab.cells.gru_step``. Drop-in
    for nn.GRU: its arguments, plus ``backend`` and ``weight_dropout`` (``RNNBase``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        backend: str = "fused",
        weight_dropout: float = 0.0,
    ):
        args = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("gru", *args, 0, "tanh", device, dtype, backend, weight_dropout)


def make_rnn(cell: str, *args, **kwargs) -> RNNBase:
    """Build a layer by name: 'rnn' (tanh), 'rnn_relu', 'lstm' or 'gru'; the other arguments go
    to its class (``make_rnn("gru", 10, 20, batch_first=True)``). Returns the layer."""
    if cell == "rnn_relu":
        return RNN(*args, nonlinearity="relu", **kwargs)
    classes = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
    if cell not in classes:
        raise ValueError(f"cell must be one of rnn, rnn_relu, lstm, gru; got {cell!r}")
    return classes[cell](*args, **kwargs)
