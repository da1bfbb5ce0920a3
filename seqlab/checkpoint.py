"""Plain-dict checkpoints: atomic writes, ``weights_only=True`` loading, clear errors.

The bottom of the file-format layer: it imports nothing from seqlab but ``seqlab.errors`` and
``seqlab.strictjson`` (and, for the hint of a missing checkpoint, the torch-free registry).
``seqlab.packing`` adds the compact ``.safetensors`` format on top of it, and
``seqlab.sources.load_checkpoint`` opens any of them, or a shipped model by name.

A checkpoint is one dict of tensors and plain Python data (no pickled objects)::

    {"format_version": 1, "task": "charlm", "model_config": {...}, "model": state_dict,
     "vocab": [...], "optimizer": {...}, "step": 1200, "metrics": {...}, ...}
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from seqlab.errors import UserError
from seqlab.strictjson import dumps

FORMAT_VERSION = 1


def atomic_write_bytes(path: str | Path, write) -> None:
    """Call ``write(file)`` on a temp file beside ``path``, fsync, then ``os.replace`` onto it.

    A crash or a full disk leaves the previous file untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed writer
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write to {path.parent}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        msg = f"could not write {path}: {e.strerror or e}; the previous file is intact"
        raise UserError(msg) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> None:
    """Write ``ckpt`` atomically, stamping the format version."""
    ckpt = {"format_version": FORMAT_VERSION, **ckpt}
    atomic_write_bytes(path, lambda f: torch.save(ckpt, f))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON (a non-finite float as null), atomically."""
    data = (dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def read_checkpoint(path: str | Path, task: str | None = None, map_location="cpu") -> dict:
    """Load a ``.pt`` checkpoint (or a run directory's best, else last) without executing any
    code; check its task and format version."""
    path = Path(path)
    if path.is_dir():
        for name in ("ckpt_best.pt", "ckpt_last.pt"):
            if (path / name).is_file():
                path = path / name
                break
    if not path.is_file():
        raise UserError(not_found(path, task))
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "GLOBAL" not in msg and "global" not in msg:  # junk bytes, not a pickle of objects
            raise UserError(
                f"cannot read checkpoint {path}: it is corrupt or not a checkpoint"
            ) from e
        found = next((ln.strip() for ln in msg.splitlines() if "GLOBAL" in ln), "")[:120]
        raise UserError(
            f"refusing to load {path}: it holds pickled objects that could run code, not a plain "
            f"seqlab checkpoint ({found})"
        ) from e
    except Exception as e:  # truncated zip, random bytes, ...
        raise UserError(f"cannot read checkpoint {path}: it is corrupt or not a checkpoint") from e
    return check_checkpoint(ckpt, path, task)


def not_found(path: Path, task: str | None = None) -> str:
    """'checkpoint not found: PATH' and what would be found: for a bare name, the closest shipped
    name (a typo such as caption-flicker8k); always, the shipped names."""
    import difflib

    from seqlab import registry  # names only: no torch, no file read

    every = registry.names()
    own = [n for n in every if task is None or registry.entry(n).task == task] or every
    if path.is_dir():
        msg = f"checkpoint not found: {path} holds no ckpt_best.pt or ckpt_last.pt"
    else:
        msg = f"checkpoint not found: {path}"
    if len(path.parts) == 1 and not path.suffix:  # a name, not a path: maybe a mistyped one
        close = difflib.get_close_matches(str(path), own, 1, 0.6)
        msg += f"; did you mean {close[0]}?" if close else ""
    which = f"shipped {task} models" if task and own != every else "shipped models"
    return (
        f"{msg} ({which}: {', '.join(own)}; or give a checkpoint file, a run directory or a "
        ".safetensors file)"
    )


def check_checkpoint(ckpt, path: Path, task: str | None) -> dict:
    """`ckpt` once it is a seqlab checkpoint of this format (or older) and of `task`."""
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise UserError(f"{path} is not a seqlab checkpoint (no format_version)")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise UserError(
            f"{path} has checkpoint format {ckpt['format_version']}, newer than this seqlab "
            f"({FORMAT_VERSION}); upgrade seqlab"
        )
    if task is not None and ckpt.get("task") != task:
        raise UserError(f"{path} is a {ckpt.get('task')!r} checkpoint, not a {task!r} one")
    return ckpt
