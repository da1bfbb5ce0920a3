"""The fused backend of seqlab.rnn: one call into PyTorch's fused recurrent kernels (oneDNN on
CPU, cuDNN on GPU), the ones ``torch.nn.RNN/LSTM/GRU`` use, on seqlab's own parameters.

Where a CPU's oneDNN has no bf16 version of a kernel (the LSTM on CPUs without AVX-512 BF16,
probed once by seqlab.hardware), bf16 autocast runs that layer in fp32 and says so once.

On CUDA the weights live in cuDNN's flat layout, as ``torch.nn.RNNBase.flatten_parameters`` keeps
them: one buffer, every parameter a view of it, in torch.nn's order (per layer and direction:
weight_ih, weight_hh, bias_ih, bias_hh; cuDNN's gate order is torch.nn's). cuDNN then reads the
buffer as it is; otherwise it copies every weight on every call and warns each time. With
weight_dropout the dropped weights are one new buffer of the same layout per call.
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
    if data.is_cuda:
        # A no-op once flat; flattens weights that arrived another way (DDP, assign=True, .data).
        flatten(layer)
    args = (
        call_weights(layer),
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


def flatten(layer, force: bool = False) -> bool:
    """Copy ``layer``'s weights into one new buffer in cuDNN's layout and make each parameter a
    view of it (what ``torch._cudnn_rnn_flatten_weight`` does), where cuDNN reads them (CUDA),
    or on any device with ``force``. Returns whether the weights are flat afterwards."""
    weights = layer._flat_weights()
    if is_flat(weights):
        return True
    if not _can_share(weights) or not (force or _cudnn_reads(weights[0])):
        return False
    with torch.no_grad():  # set_ swaps each parameter's storage, keeping the Parameter object
        buf = torch.cat([w.reshape(-1) for w in weights])  # (N,): the concatenation is the layout
        for w, view in zip(weights, _views(buf, weights), strict=True):
            w.set_(view)
    return True


def is_flat(weights: list[Tensor]) -> bool:
    """Whether ``weights`` are contiguous views, in order and without gaps, of one storage that
    starts with the first of them: the buffer cuDNN can read without a copy."""
    base, offset = weights[0].untyped_storage().data_ptr(), 0
    for w in weights:
        if w.untyped_storage().data_ptr() != base or w.storage_offset() != offset:
            return False
        if not w.is_contiguous():
            return False
        offset += w.numel()
    return True


def call_weights(layer) -> list[Tensor]:
    """The weights the kernel gets: the parameters themselves, or with weight_dropout while
    training the dropped ones, gathered into one new buffer of the same layout when the
    parameters are flat (so cuDNN reads it without a copy or a warning)."""
    weights = layer._flat_weights(drop=True)  # weight_dropout's mask, when training
    if not layer._drops_weights() or not is_flat(layer._flat_weights()):
        return weights
    return _views(torch.cat([w.reshape(-1) for w in weights]), weights)  # (N,) -> views


def _views(buf: Tensor, like: list[Tensor]) -> list[Tensor]:
    """Consecutive views of the flat ``buf`` shaped as ``like``."""
    views, offset = [], 0
    for w in like:
        views.append(buf[offset : offset + w.numel()].view(w.shape))
        offset += w.numel()
    return views


def _can_share(weights: list[Tensor]) -> bool:
    """One dtype, one device, leaf tensors, no two aliasing: torch.nn's conditions."""
    first = weights[0]
    return all(
        w.is_leaf and w.dtype == first.dtype and w.device == first.device for w in weights
    ) and len({w.data_ptr() for w in weights}) == len(weights)


def _cudnn_reads(weight: Tensor) -> bool:
    """Whether the fused kernel for ``weight`` is cuDNN's, which reads a flat buffer."""
    return (
        weight.is_cuda
        and torch.backends.cudnn.is_acceptable(weight)
        and torch._use_cudnn_rnn_flatten_weight()
    )
