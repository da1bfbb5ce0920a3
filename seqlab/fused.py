"""The fused backend of seqlab.rnn: one call into PyTorch's fused recurrent kernels (oneDNN on
CPU, cuDNN on GPU), the ones ``torch.nn.RNN/LSTM/GRU`` use, on seqlab's own parameters.

Where a CPU's oneDNN has no bf16 version of a kernel (the LSTM on CPUs without AVX-512 BF16,
probed once by seqlab.hardware), bf16 autocast runs that layer in fp32 and says so once.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import Tensor

from seqlab import hardware

logger = logging.getLogger(__name__)


@functools.cache
def _log_fp32_fallback(mode: str) -> None:
    """Say once per process (and per cell type) that bf16 autocast skips the recurrent kernel."""
    logger.warning(
        "this CPU's fused %s kernel has no bf16 version (oneDNN); the recurrent layers run in "
        "fp32 inside the bf16 autocast region, the rest in bf16",
        mode.upper().replace("_TANH", "").replace("_RELU", ""),
    )


def _needs_fp32_fallback(mode: str, data: Tensor) -> bool:
    """bf16 autocast on a CPU whose oneDNN cannot run this fused kernel in bf16 (probed once)."""
    return (
        data.device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
        and not hardware.fused_bf16_ok(mode)
    )


def run(layer, data: Tensor, batch_sizes: Tensor | None, state: tuple) -> tuple:
    """``layer`` (a seqlab.rnn.RNNBase) over ``data`` (padded, or a PackedSequence's data with
    its ``batch_sizes``) from ``state``: (output, final state tuple)."""
    if _needs_fp32_fallback(layer._vf_mode, data):
        _log_fp32_fallback(layer._vf_mode)
        with torch.autocast("cpu", enabled=False):
            state = tuple(s.float() for s in state)
            return _call(layer, data.float(), batch_sizes, state)
    return _call(layer, data, batch_sizes, state)


def _call(layer, data: Tensor, batch_sizes: Tensor | None, state: tuple) -> tuple:
    fn = getattr(torch, layer._vf_mode)
    hx = state if layer.mode == "lstm" else state[0]
    args = (
        layer._flat_weights(drop=True),  # weight_dropout's mask, when training
        layer.bias,
        layer.num_layers,
        layer.dropout,
        layer.training,
        layer.bidirectional,
    )
    if batch_sizes is None:
        result = fn(data, hx, *args, layer.batch_first)
    else:
        result = fn(data, batch_sizes, hx, *args)
    return result[0], tuple(result[1:])
