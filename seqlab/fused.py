"""The fused backend of seqlab.rnn: one call into PyTorch's fused recurrent kernels (oneDNN on
CPU, cuDNN on GPU), the ones ``torch.nn.RNN/LSTM/GRU`` use, on seqlab's own parameters.

Where a CPU's oneDNN has no bf16 version of a kernel (the LSTM on CPUs without AVX-512 BF16,
probed once by seqlab.hardware), bf16 autocast runs that layer in fp32 and says so once.

On CUDA the weights live in cuDNN's flat layout, as ``torch.nn.RNNBase.flatten_parameters`` keeps
them: one buffer laid out by cuDNN (cuDNN 9: every matrix, then every bias), each parameter a view
of it. cuDNN then reads the buffer as it is; otherwise it copies every weight on every call and
warns each time. With weight_dropout the dropped weights are one new buffer of the same layout
per call.
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
    """Copy ``layer``'s weights into one new buffer and make each parameter a view of it, as
    ``torch.nn.RNNBase.flatten_parameters`` does: on CUDA through cuDNN itself
    (``torch._cudnn_rnn_flatten_weight``, which lays the buffer out as the cuDNN version at hand
    wants); with ``force``, on any other device, in cuDNN 9's layout (every matrix, then every
    bias). Returns whether the weights are flat afterwards."""
    weights = layer._flat_weights()
    if is_flat(weights):
        return True
    if not _can_share(weights) or not (force or _cudnn_reads(weights[0])):
        return False
    with torch.no_grad():  # set_ swaps each parameter's storage, keeping the Parameter object
        if _cudnn_reads(weights[0]):
            with torch.cuda.device_of(weights[0]):
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    4 if layer.bias else 2,
                    layer.input_size,
                    torch.backends.cudnn.rnn.get_cudnn_mode(layer._vf_mode.upper()),
                    layer.hidden_size,
                    0,  # proj_size
                    layer.num_layers,
                    layer.batch_first,
                    layer.bidirectional,
                )
            return True
        order = [w for w in weights if w.dim() == 2] + [w for w in weights if w.dim() == 1]
        buf = torch.cat([w.reshape(-1) for w in order])  # (N,)
        offset = 0
        for w in order:
            w.set_(buf[offset : offset + w.numel()].view(w.shape))
            offset += w.numel()
    return True


def is_flat(weights: list[Tensor]) -> bool:
    """Whether ``weights`` are contiguous views of one storage, as flatten leaves them."""
    base = weights[0].untyped_storage().data_ptr()
    return all(w.untyped_storage().data_ptr() == base and w.is_contiguous() for w in weights)


def call_weights(layer) -> list[Tensor]:
    """The weights the kernel gets: the parameters themselves, or with weight_dropout while
    training the dropped ones, gathered into one new buffer laid out as the flat parameters
    are (so cuDNN reads it without a copy or a warning)."""
    weights = layer._flat_weights(drop=True)  # weight_dropout's mask, when training
    if not layer._drops_weights():
        return weights
    params = layer._flat_weights()
    return _gather(weights, params) if is_flat(params) else weights


def _gather(weights: list[Tensor], like: list[Tensor]) -> list[Tensor]:
    """``weights`` copied into one new buffer, each at the offset its namesake in ``like`` (flat
    parameters) has in theirs; returns the views. One cat: autograd reaches every weight."""
    pieces, end = [], 0
    for i in sorted(range(len(like)), key=lambda i: like[i].storage_offset()):
        if like[i].storage_offset() > end:  # a gap in the layout: zeros, as cuDNN's own buffer
            pieces.append(weights[i].new_zeros(like[i].storage_offset() - end))
        pieces.append(weights[i].reshape(-1))
        end = like[i].storage_offset() + like[i].numel()
    total = like[0].untyped_storage().nbytes() // like[0].element_size()
    if total > end:
        pieces.append(weights[0].new_zeros(total - end))
    buf = torch.cat(pieces)  # (N,)
    return [buf[w.storage_offset() : w.storage_offset() + w.numel()].view(w.shape) for w in like]


def _can_share(weights: list[Tensor]) -> bool:
    """One dtype, one device, leaf tensors, no two aliasing: torch.nn's conditions."""
    first = weights[0]
    return all(
        w.is_leaf and w.dtype == first.dtype and w.device == first.device for w in weights
    ) and len({w.data_ptr() for w in weights}) == len(weights)


def _cudnn_reads(weight: Tensor) -> bool:
    """Whether the fused kernel for ``weight`` is cuDNN's, which reads a flat buffer (cuDNN
    takes fp16, fp32 and fp64 weights; bf16 autocast keeps them fp32)."""
    return (
        weight.is_cuda
        and torch.backends.cudnn.is_acceptable(weight)
        and torch._use_cudnn_rnn_flatten_weight()
    )
