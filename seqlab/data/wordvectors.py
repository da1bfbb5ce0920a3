"""Pretrained word vectors in the common text format, to initialise an embedding table.

GloVe ``.txt`` files have one word and its numbers per line; word2vec text files are the same
with a first line ``<count> <dim>``. Only the words of the tokenizer's vocabulary are kept, so a
large file streams through without filling memory.

    weight, found = embedding_matrix("glove.6B.300d.txt", tokenizer, 300)
    model.embedding.weight.data[found] = weight[found]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from seqlab.data.text import open_utf8
from seqlab.errors import UserError


def _rows(path: str | Path, errors: str = "strict") -> Iterator[tuple[int, list[str], bool]]:
    """(line number, space-separated fields, whether it is word2vec's "<count> <dim>" header) for
    each line; a missing, unreadable or non-UTF-8 file is one clear error."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"word vectors file not found: {p}")
    try:
        with open_utf8(p, errors=errors) as f:  # a BOM is not a word
            for n, line in enumerate(f, 1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                yield n, parts, n == 1 and len(parts) == 2 and all(s.isdigit() for s in parts)
    except UnicodeDecodeError as e:
        raise UserError(f"{p} is not UTF-8 text; only the text format (.txt) is read") from e
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from e


def read_vectors(path: str | Path, wanted: set[str], dim: int) -> dict[str, list[float]]:
    """The vectors of the ``wanted`` words (first occurrence wins); checks every kept line."""
    p = Path(path)
    found: dict[str, list[float]] = {}
    for n, parts, header in _rows(p):
        if header or parts[0] not in wanted or parts[0] in found:
            continue
        if len(parts) != dim + 1:
            raise UserError(
                f"{p}, line {n}: {len(parts) - 1} numbers, but the embedding "
                f"size is {dim}; pass --embedding-size {len(parts) - 1}"
            )
        try:
            vector = [float(v) for v in parts[1:]]
        except ValueError as e:
            raise UserError(f"{p}, line {n}: not a number ({e})") from e
        if not all(math.isfinite(v) for v in vector):  # float() takes "nan" and "1e999"
            raise UserError(f"{p}, line {n}: NaN or infinite values; the file is damaged")
        found[parts[0]] = vector
    return found


def vector_size(path: str | Path) -> int:
    """The number of values per word in a vectors file (from its first word line)."""
    for _, parts, header in _rows(path, errors="replace"):
        if header:
            return int(parts[1])
        if len(parts) > 1:
            return len(parts) - 1
    raise UserError(f"{path}: no word vectors in the file")


def embedding_matrix(path: str | Path, tokenizer, dim: int) -> tuple[Tensor, Tensor]:
    """(V, dim) rows for the tokenizer's pieces found in the file, and the ids that were found.

    Words are matched as they are, then lower-cased (GloVe's common files are lower-case).
    """
    pieces = tokenizer.id_to_piece(range(tokenizer.vocab_size))
    keys = [w.lstrip("\u2581") or w for w in pieces]  # sentencepiece marks word starts with "▁"
    vectors = read_vectors(path, set(keys) | {k.lower() for k in keys}, dim)
    weight = torch.zeros(len(keys), dim)  # (V, E)
    found = []
    for i, k in enumerate(keys):
        v = vectors.get(k, vectors.get(k.lower()))
        if v is not None and i >= 4:  # leave the specials (<pad>, <unk>, ...) to training
            weight[i] = torch.tensor(v)
            found.append(i)
    if not found:
        raise UserError(f"{path}: none of the {len(keys)} vocabulary entries has a vector")
    return weight, torch.tensor(found, dtype=torch.long)
