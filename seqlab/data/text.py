"""Plain text for language models: reading files safely, a character vocabulary, and the stream
layout used by truncated BPTT (B parallel streams, batch-first, cut into chunks).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from seqlab.errors import UserError

UNK = "\ufffd"  # the replacement character: where a character past --max-vocab went


def open_utf8(p: Path, errors: str = "strict", newline: str | None = None):
    """Open UTF-8 text for reading, skipping a BOM. CPython's streaming utf-8-sig decoder reads a
    file that is only a cut-off BOM (1 or 2 bytes) as empty text; under errors="strict" that is
    the UnicodeDecodeError it is, as for any other byte that is not UTF-8."""
    if errors == "strict":
        with open(p, "rb") as f:
            head = f.read(3)
        if 0 < len(head) < 3 and b"\xef\xbb\xbf".startswith(head):
            raise UnicodeDecodeError("utf-8", head, 0, len(head), "a cut-off byte order mark")
    return open(p, encoding="utf-8-sig", errors=errors, newline=newline)  # noqa: SIM115


def check_file(p: Path) -> None:
    """One line for a text path that is missing or a folder."""
    if not p.exists():
        raise UserError(f"text file not found: {p}")
    if p.is_dir():
        raise UserError(f"{p} is a directory; give a text file")


def read_text(path: str | Path, max_bytes: int = 1 << 31) -> str:
    """Read a UTF-8 text file; every failure becomes one clear sentence naming the file."""
    p = Path(path)
    check_file(p)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from e
    if len(raw) > max_bytes:
        raise UserError(f"{p} is larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{p}:{line}: not valid UTF-8 (byte {e.start}); convert it to UTF-8") from e
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if "\x00" in text:  # UTF-16 without a BOM decodes as "valid" UTF-8 with a NUL every other byte
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UserError(f"{p}:{line}: NUL bytes; is it UTF-16 or binary? Save it as UTF-8 text")
    if not text.strip():
        raise UserError(f"{p} is empty")
    return text


def default_corpus() -> tuple[str, str]:
    """A real English corpus every Python install has offline: the topic pages of the Python
    documentation that ``pydoc`` shows (``pydoc_data.topics``, about 0.8 MB of prose and code).

    Returns (text, description).
    """
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip pydoc_data; fall back to the stdlib source
        files = sorted(Path(sys.modules["os"].__file__).parent.glob("*.py"))[:200]
        return "\n".join(f.read_text(errors="ignore") for f in files), "Python standard library"
    text = "\n\n".join(topics[k] for k in sorted(topics))
    return text, f"Python documentation topics (pydoc_data, Python {sys.version.split()[0]})"


class CharVocab:
    """Characters <-> ids. Stored in checkpoints as a plain list of characters."""

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, what: str = "text") -> Tensor:
        """Ids of ``text``; a character the vocabulary lacks is an error, unless the vocabulary
        has the unknown symbol UNK (U+FFFD), which then stands for it."""
        missing = sorted({ch for ch in text if ch not in self.index})
        if missing and UNK in self.index:
            unk = self.index[UNK]
            return torch.tensor([self.index.get(ch, unk) for ch in text], dtype=torch.long)
        if missing:
            shown = "".join(missing[:20])
            raise UserError(f"{what} has characters the model never saw: {shown!r}")
        return torch.tensor([self.index[ch] for ch in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """Last ``val_fraction`` of the text is validation (as nanoGPT and char-rnn do)."""
    n = int(len(text) * (1 - val_fraction))
    return text[:n], text[n:]


def make_streams(ids, batch_size: int, rank: int = 0, world_size: int = 1):
    """Lay a 1-D token sequence out as ``batch_size`` parallel streams, batch-first: (B, L).

    Row b holds the b-th contiguous slice of the text, so the state at the end of chunk k of a
    row is the right initial state for chunk k+1 of the same row. Under DDP each rank takes its
    own block of rows of the global batch (``batch_size`` is the global batch).
    """
    L = len(ids) // batch_size
    if L < 2:
        raise UserError(
            f"the text ({len(ids)} characters) is shorter than one batch of {batch_size} "
            "streams; use a longer text or a smaller --batch-size"
        )
    streams = ids[: L * batch_size].reshape(batch_size, L)  # (B, L): a view, tensor or array
    per_rank = batch_size // world_size
    return streams[rank * per_rank : (rank + 1) * per_rank]


def iter_chunks(streams: Tensor, bptt: int, start: int = 0) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Yield (position, x, y): x = streams[:, i:i+bptt], y the same shifted by one. (B, T) each."""
    L = streams.size(1)
    for i in range(start, L - 1, bptt):
        T = min(bptt, L - 1 - i)
        yield i, streams[:, i : i + T], streams[:, i + 1 : i + 1 + T]
