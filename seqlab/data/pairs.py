"""Sentence pairs for translation, in the two formats users have, with errors naming file and line.

- Two aligned files: line i of one pairs with line i of the other (Multi30k ``train.de``, ``.en``).
- Tab-separated pairs, one per line (Tatoeba/Anki ``fra.txt``): ``source<TAB>target``, with or
  without the third, CC-BY attribution column; ``reverse=True`` swaps the direction.

    pairs = read_parallel("raw/train.de", "raw/train.en")        # [(de, en), ...]
    pairs = read_tsv_pairs("fra.txt", reverse=True)               # [(fr, en), ...]
    batches = bucket_batches(lengths, batch_size=64, generator=g)  # lists of indices
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqlab.errors import UserError

Pair = tuple[str, str]


def read_lines(path: str | Path, max_bytes: int = 1 << 30) -> list[str]:
    """UTF-8 lines without line endings (a BOM is dropped); a bad byte is reported by line."""
    p = Path(path)
    try:
        if p.stat().st_size > max_bytes:
            raise UserError(f"{p} is larger than {max_bytes} bytes; is it really a text file?")
        data = p.read_bytes()
    except FileNotFoundError as e:
        raise UserError(f"file not found: {p}") from e
    except IsADirectoryError as e:
        raise UserError(f"{p} is a folder; give a text file") from e
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # offsets skip the BOM
        line = data.count(b"\n", 0, start) + 1
        raise UserError(
            f"{p}, line {line}: not valid UTF-8 (byte {start}); re-save as UTF-8"
        ) from e
    if "\x00" in text:  # UTF-16 without a BOM decodes as "valid" UTF-8 with a NUL every other byte
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UserError(f"{p}, line {line}: NUL bytes; is it UTF-16 or binary? Re-save as UTF-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return [ln.rstrip("\r") for ln in lines]


def _check_line(path: str | Path, number: int, text: str) -> str:
    text = text.strip()
    if not text:
        raise UserError(f"{path}, line {number}: empty sentence; remove the line from both sides")
    return text


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> list[Pair]:
    """Aligned files: line i of ``src_path`` translates to line i of ``tgt_path``."""
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        shorter = src_path if len(src) < len(tgt) else tgt_path
        raise UserError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; the files must be "
            f"aligned line by line ({shorter} ends first, at line {min(len(src), len(tgt)) + 1})"
        )
    if not src:
        raise UserError(f"{src_path} is empty; it needs one sentence per line")
    return [
        (_check_line(src_path, i, s), _check_line(tgt_path, i, t))
        for i, (s, t) in enumerate(zip(src, tgt, strict=True), 1)
    ]


def read_tsv_pairs(path: str | Path, reverse: bool = False) -> list[Pair]:
    """``source<TAB>target[<TAB>attribution]`` per line; ``reverse`` reads target -> source."""
    pairs = []
    for i, line in enumerate(read_lines(path), 1):
        if not line.strip():
            raise UserError(f"{path}, line {i}: empty line; each line needs source<TAB>target")
        cols = line.split("\t")
        if len(cols) not in (2, 3):
            raise UserError(
                f"{path}, line {i}: expected 2 or 3 tab-separated columns "
                f"(source, target, optional attribution), found {len(cols)}"
            )
        s, t = _check_line(path, i, cols[0]), _check_line(path, i, cols[1])
        pairs.append((t, s) if reverse else (s, t))
    if not pairs:
        raise UserError(f"{path} is empty; it needs one source<TAB>target pair per line")
    return pairs


def split_pairs(pairs: list[Pair], dev_size: int, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """Hold out ``dev_size`` random pairs (seeded) for validation; the rest are for training."""
    if len(pairs) < 2 * dev_size or dev_size < 1:
        raise UserError(
            f"{len(pairs)} pairs are too few to hold out {dev_size} for validation; "
            "give more data or separate dev files"
        )
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).tolist()
    return [pairs[i] for i in order[dev_size:]], [pairs[i] for i in order[:dev_size]]


def bucket_batches(
    lengths: list[int],
    batch_size: int,
    generator: torch.Generator | None = None,
    pool: int = 50,
) -> list[list[int]]:
    """Batches of indices with similar lengths, so little compute goes on padding: shuffle, sort
    pools of ``pool`` batches by length, cut them into batches, then shuffle the batches."""
    if generator is None:
        order = list(range(len(lengths)))
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start : start + batch_size * pool], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches
