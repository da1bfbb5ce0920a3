"""Open any checkpoint source as a checkpoint dict: the one entry point predictors and trainers use.

    ckpt = load_checkpoint("caption-flickr8k", task="caption")  # a shipped model, by name
    ckpt = load_checkpoint("runs/de-en")               # a run directory (best, else last)
    ckpt = load_checkpoint("de-en.safetensors")        # a packed file

One way down for each kind of source:
  - a shipped name: ``registry.verify`` (a checked path) -> ``packing.unpack`` (a state);
  - a ``.safetensors`` file: ``packing.unpack``;
  - anything else: ``checkpoint.read_checkpoint`` (a ``.pt`` file or a run directory);
then ``checkpoint.check_checkpoint`` for the task and format version.
"""

from __future__ import annotations

from pathlib import Path

from seqlab import registry
from seqlab.checkpoint import check_checkpoint, read_checkpoint
from seqlab.packing import unpack


def load_checkpoint(source: str | Path, task: str | None = None, map_location="cpu") -> dict:
    """`source` is a checkpoint file, a run directory, a packed ``.safetensors`` model
    (``seqlab pretrained export``) or the name of a shipped model (``seqlab pretrained list``)."""
    path = Path(source)
    if not path.exists() and registry.is_shipped(str(source)):
        ckpt = unpack(registry.verify(str(source)))
        ckpt["shipped"] = str(source)
        return check_checkpoint(ckpt, path, task)
    if path.suffix == ".safetensors" and path.is_file():
        return check_checkpoint(unpack(path), path, task)
    return read_checkpoint(path, task, map_location)
