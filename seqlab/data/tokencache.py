"""A character text encoded once into a compact token file, memory-mapped.

A char-LM's text is read in chunks and never held whole as Python objects: one pass counts its
characters (the vocabulary), a second writes their ids as uint8 (<= 256 symbols) or uint16 to
``FOLDER/tokens.npy``, with ``tokens.json`` beside it (the vocabulary and the source file's size
and modification time). The next run on the same file reuses it, so a 100 MB text costs about
100 MB of memory and starts at once.

Characters past ``max_vocab`` (the rarest, ties by code point) map to UNK, and the cache counts
them. Non-UTF-8 bytes and NUL bytes are refused in one line that names the file and the line.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqlab.data.text import UNK, check_file
from seqlab.errors import UserError

CHUNK_BYTES = 1 << 22
FORMAT = 1


@dataclass
class TokenCache:
    ids: np.ndarray  # (N,) uint8 or uint16, memory-mapped when read from a file
    chars: list[str]  # id -> character, in code-point order (UNK among them when used)
    unknown: int = 0  # characters of the text mapped to UNK
    unknown_distinct: int = 0  # distinct characters that did

    def __len__(self) -> int:
        return len(self.ids)


def iter_text(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The UTF-8 text of ``path`` in chunks, BOM dropped and CRLF turned to LF (as read_text)."""
    p = Path(path)
    check_file(p)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line, offset, carry, first = 1, 0, "", True
    try:
        f = open(p, "rb")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from e
    with f:
        while True:
            raw = f.read(chunk_bytes)
            pending = len(decoder.getstate()[0])  # bytes of a character the last chunk cut
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as e:  # e.start counts the pending bytes, then raw's
                at = e.start - pending  # in raw (negative: among the pending bytes)
                line += raw[: max(at, 0)].count(b"\n")
                raise UserError(
                    f"{p}:{line}: not valid UTF-8 (byte {offset + at}); convert it to UTF-8"
                ) from e
            if first and text:  # the first character decoded: a BOM there is not text
                text, first = text.removeprefix("\ufeff"), False
            text = carry + text
            carry = text[-1:] if raw and text.endswith("\r") else ""  # CR LF may straddle
            text = (text[:-1] if carry else text).replace("\r\n", "\n")
            if "\x00" in text:
                line += text.count("\n", 0, text.index("\x00"))
                raise UserError(f"{p}:{line}: NUL bytes; is it UTF-16 or binary? Save as UTF-8")
            line += text.count("\n")
            offset += len(raw)
            if text:
                yield text
            if not raw:
                return


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (n,)


def _vocabulary(counts: np.ndarray, max_vocab: int) -> tuple[list[str], int, int]:
    """(chars in code-point order, characters mapped to UNK, distinct ones) for the counts."""
    seen = np.flatnonzero(counts)
    if len(seen) <= max_vocab:
        return [chr(c) for c in seen], 0, 0
    order = seen[np.argsort(-counts[seen], kind="stable")]  # most frequent first, ties by code
    kept, dropped = order[: max_vocab - 1], order[max_vocab - 1 :]
    chars = sorted({chr(c) for c in kept} | {UNK})
    return chars, int(counts[dropped].sum()), len(dropped)


def encode_chunks(chunks, max_vocab: int, out: Path | None = None, name: str = "the text"):
    """Two passes over ``chunks`` (a callable returning a fresh iterator of strings): count, then
    write ids to ``out`` (a .npy file, memory-mapped) or to memory. Returns a TokenCache."""
    counts = np.zeros(0x110000, dtype=np.int64)
    n = 0
    for text in chunks():
        cps = _codepoints(text)
        counts += np.bincount(cps, minlength=0x110000)
        n += len(cps)
    if not any(not chr(c).isspace() for c in np.flatnonzero(counts)):
        raise UserError(f"{name} is empty")
    chars, unknown, distinct = _vocabulary(counts, max_vocab)
    keys = np.array([ord(c) for c in chars], dtype=np.uint32)  # sorted: chars are
    unk_id = chars.index(UNK) if UNK in chars else 0
    dtype = np.uint8 if len(chars) <= 256 else np.uint16
    ids = np.lib.format.open_memmap(out, "w+", dtype, (n,)) if out else np.empty(n, dtype)
    pos = 0
    for text in chunks():
        cps = _codepoints(text)
        if pos + len(cps) > n:
            pos = n + 1  # longer than counted
            break
        at = np.minimum(np.searchsorted(keys, cps), len(keys) - 1)
        ids[pos : pos + len(cps)] = np.where(keys[at] == cps, at, unk_id)
        pos += len(cps)
    if pos != n:  # a file still being written: the two passes read different texts
        raise UserError(f"{name} changed while it was read; run again once it is complete")
    if out:
        ids.flush()
    return TokenCache(ids, chars, unknown, distinct)


def load_tokens(path: str | Path, folder: str | Path, max_vocab: int) -> TokenCache:
    """``path``'s tokens from ``folder``'s cache when it was made from this very file (size and
    modification time) with the same ``max_vocab``; else encode it there first (atomically)."""
    p, folder = Path(path), Path(folder)
    check_file(p)
    st = p.stat()
    key = {"format": FORMAT, "source": str(p.resolve()), "size": st.st_size,
           "mtime_ns": st.st_mtime_ns, "max_vocab": max_vocab}  # fmt: skip
    meta_path, data_path = folder / "tokens.json", folder / "tokens.npy"
    if meta_path.is_file() and data_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            meta = {}  # a damaged description: the cache is rebuilt
        if isinstance(meta, dict) and meta.get("key") == key:
            return _cached(data_path, meta)
    try:
        meta = _build(p, folder, key, max_vocab)
    except OSError as e:
        raise UserError(f"cannot write the token cache to {folder}: {e.strerror or e}") from e
    return _cached(data_path, meta)


def _build(p: Path, folder: Path, key: dict, max_vocab: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"tokens.{os.getpid()}.tmp.npy"
    try:
        tokens = encode_chunks(lambda: iter_text(p), max_vocab, tmp, name=str(p))
    except BaseException:
        tmp.unlink(missing_ok=True)  # a bad text or an interrupt leaves no half-written file
        raise
    # the old description goes first: beside the new ids it would pass for their vocabulary
    (folder / "tokens.json").unlink(missing_ok=True)
    os.replace(tmp, folder / "tokens.npy")
    meta = {"key": key, "chars": tokens.chars, "unknown": tokens.unknown,
            "unknown_distinct": tokens.unknown_distinct, "n": len(tokens)}  # fmt: skip
    tmp_meta = folder / f"tokens.{os.getpid()}.tmp.json"
    tmp_meta.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp_meta, folder / "tokens.json")  # written last: a cache without it is rebuilt
    return meta


def _cached(data_path: Path, meta: dict) -> TokenCache:
    ids = np.load(data_path, mmap_mode="r")  # (N,)
    return TokenCache(ids, meta["chars"], meta["unknown"], meta["unknown_distinct"])
