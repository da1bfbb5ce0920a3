"""Compact, code-free files for trained models: weights in fp16 or int8, in safetensors.

A training checkpoint (``ckpt_best.pt``) carries fp32 weights plus everything needed to resume
(optimizer moments, RNG states, the batch position): about 3x the model. A packed file keeps only
what a predictor needs: the weights, stored compactly, and the plain-data rest of the checkpoint
(model config, vocabulary, sentencepiece model, metrics) as JSON in the safetensors header.

Storage, per tensor:
  - ``fp16``: every floating-point tensor in half precision (2 bytes a weight);
  - ``int8``: matrices of at least ``INT8_MIN_NUMEL`` weights as int8 with one fp32 scale per
    output row (symmetric, per-channel: ``w ~ q * scale``, ``scale = max|w_row| / 127``); biases,
    norms and small matrices in fp16.
Loading (``unpack``) returns an fp32 checkpoint dict that ``load_checkpoint`` callers use as is.

    seqlab pretrained export runs/de-en/ckpt_best.pt de-en.safetensors --storage int8
    seqlab translate evaluate --checkpoint de-en.safetensors --src test.de --ref test.en
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from seqlab.checkpoint import FORMAT_VERSION, atomic_write_bytes
from seqlab.errors import UserError
from seqlab.strictjson import dumps

STORAGES = ("fp16", "int8")
INT8_MIN_NUMEL = 4096
SCALE = ".__scale__"
# Training state that a predictor never reads: dropped from packed files.
TRAINING_ONLY = ("optimizer", "scheduler", "scaler", "rng", "gen_state", "carry", "pos", "resume")
HEADER_KEY = "seqlab"


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: returns (q, scale) with ``w ~ q * scale[:, None]``."""
    w = w.float().reshape(w.size(0), -1)  # (out, in...)
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (out,)
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


def _store(name: str, t: torch.Tensor, storage: str, out: dict[str, torch.Tensor]) -> str:
    """Put one tensor into `out` under `name`; returns how it is stored."""
    t = t.detach().cpu().contiguous()
    if not t.is_floating_point():  # kept as it is: an int8 tensor here is not a quantized one
        out[name] = t
        return str(t.dtype).removeprefix("torch.") + " (as is)"
    if storage == "int8" and t.dim() >= 2 and t.numel() >= INT8_MIN_NUMEL:
        q, scale = quantize_rows(t)
        out[name], out[name + SCALE] = q.reshape(t.shape), scale
        return "int8"
    out[name] = t.to(torch.float16)
    return "fp16"


def _split(obj: Any, prefix: str, storage: str, tensors: dict, kinds: dict) -> Any:
    """Replace tensors and bytes inside a plain-data tree by references to stored tensors."""
    if isinstance(obj, torch.Tensor):
        kinds[prefix] = _store(prefix, obj, storage, tensors)
        return {"__tensor__": prefix}
    if isinstance(obj, bytes | bytearray):
        data = torch.frombuffer(bytearray(obj), dtype=torch.uint8) if obj else torch.zeros(0)
        for name, other in tensors.items():  # a joint sentencepiece model is stored once
            if other.dtype == torch.uint8 and torch.equal(other, data):
                return {"__bytes__": name}
        tensors[prefix] = data.to(torch.uint8)
        return {"__bytes__": prefix}
    if isinstance(obj, dict):
        return {str(k): _split(v, f"{prefix}.{k}", storage, tensors, kinds) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_split(v, f"{prefix}.{i}", storage, tensors, kinds) for i, v in enumerate(obj)]
    return obj


def pack(ckpt: dict, path: str | Path, storage: str = "fp16") -> dict[str, int]:
    """Write `ckpt` (a seqlab checkpoint dict) compactly to `path`; returns {storage: tensors}."""
    if storage not in STORAGES:
        raise UserError(f"--storage must be one of {STORAGES}, got {storage!r}")
    keep = {k: v for k, v in ckpt.items() if k not in TRAINING_ONLY}
    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, str] = {}
    meta = {k: _split(v, k, storage, tensors, kinds) for k, v in keep.items()}
    header = {HEADER_KEY: dumps({"checkpoint": meta, "storage": kinds}, sort_keys=True)}
    data = save(tensors, metadata=header)  # the file's bytes, written atomically below
    atomic_write_bytes(path, lambda f: f.write(data))
    counts: dict[str, int] = {}
    for kind in kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _join(obj: Any, tensors: dict[str, torch.Tensor], kinds: dict[str, str]) -> Any:
    if isinstance(obj, dict) and set(obj) == {"__tensor__"}:
        name = obj["__tensor__"]
        t = tensors[name]
        if kinds[name] == "int8":
            scale = tensors[name + SCALE]  # (out,)
            return (t.float().reshape(t.size(0), -1) * scale[:, None]).reshape(t.shape)
        return t.float() if t.is_floating_point() else t
    if isinstance(obj, dict) and set(obj) == {"__bytes__"}:
        return tensors[obj["__bytes__"]].numpy().tobytes()
    if isinstance(obj, dict):
        return {k: _join(v, tensors, kinds) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors, kinds) for v in obj]
    return obj


def read_header(path: str | Path) -> dict:
    """The JSON header of a packed file, without reading its tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return json.loads(meta[HEADER_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise UserError(f"cannot read {path}: it is not a packed seqlab model ({e})") from e


def unpack(path: str | Path) -> dict:
    """The fp32 checkpoint dict stored in a packed file (what ``load_checkpoint`` returns)."""
    header = read_header(path)
    try:
        tensors = load_file(str(path))
        ckpt = _join(header["checkpoint"], tensors, header["storage"])
    except (SafetensorError, OSError, KeyError) as e:
        raise UserError(f"cannot read {path}: it is corrupt or not a packed seqlab model") from e
    ckpt.setdefault("format_version", FORMAT_VERSION)
    return ckpt
