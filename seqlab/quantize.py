"""int8 dynamic quantization for CPU inference (``torch.ao.quantization.quantize_dynamic``).

Weights of the linear and recurrent layers are stored in int8 (per output channel); activations
are quantized on the fly, per batch. seqlab's layers share ``torch.nn``'s parameter names, shapes
and gate order, so ``to_torch_nn`` swaps each for its ``torch.nn`` namesake with the same
state_dict (exact in fp32: tests/test_quantize.py), which quantize_dynamic knows how to convert.

    model = quantize.int8(model)   # a copy; the fp32 model is untouched
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from seqlab import cells, rnn

_LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}
_CELLS = {cells.LSTMCell: nn.LSTMCell, cells.GRUCell: nn.GRUCell, cells.RNNCell: nn.RNNCell}


def _torch_layer(layer: rnn.RNNBase) -> nn.RNNBase:
    cls = _LAYERS[layer.mode]
    kwargs = dict(
        input_size=layer.input_size,
        hidden_size=layer.hidden_size,
        num_layers=layer.num_layers,
        bias=layer.bias,
        batch_first=layer.batch_first,
        dropout=layer.dropout,
        bidirectional=layer.bidirectional,
    )
    if cls is nn.RNN:
        kwargs["nonlinearity"] = layer.nonlinearity
    out = cls(**kwargs)
    out.load_state_dict(layer.state_dict())
    return out.train(layer.training)


def _torch_cell(cell: nn.Module) -> nn.Module:
    cls = _CELLS[type(cell)]
    kwargs = dict(input_size=cell.input_size, hidden_size=cell.hidden_size, bias=cell.bias)
    if cls is nn.RNNCell:
        kwargs["nonlinearity"] = cell.nonlinearity
    out = cls(**kwargs)
    out.load_state_dict(cell.state_dict())
    return out.train(cell.training)


def to_torch_nn(model: nn.Module) -> nn.Module:
    """Replace (in place) every seqlab recurrent layer and cell by its torch.nn namesake."""
    for name, child in list(model.named_children()):
        if isinstance(child, rnn.RNNBase):
            setattr(model, name, _torch_layer(child))
        elif type(child) in _CELLS:
            setattr(model, name, _torch_cell(child))
        else:
            to_torch_nn(child)
    return model


def int8(model: nn.Module) -> nn.Module:
    """An int8 copy of ``model`` for CPU inference (eval mode): linear, LSTM, GRU and RNN
    weights in int8; embeddings, attention softmax and everything else stay fp32."""
    model = to_torch_nn(copy.deepcopy(model).cpu().eval())
    types = {nn.Linear, nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell}
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice, once a call
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, types, dtype=torch.qint8)
