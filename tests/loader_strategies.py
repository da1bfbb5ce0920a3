"""Hypothesis strategies and checks shared by the loader property tests
(tests/test_loaders_property.py, tests/test_caption_loaders_property.py)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st

from seqlab.errors import UserError

FAST = settings(max_examples=40, deadline=None)
# Characters that end a line for str.splitlines() (but not for files), quotes, separators, a BOM.
TRICKY = "\t\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff\"',; \\#"
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-32"]


def text(exclude: str = "", **kw) -> st.SearchStrategy[str]:
    """Random unicode, with the TRICKY characters (minus ``exclude``) drawn often."""
    chars = st.characters(exclude_categories=("Cs",), exclude_characters=exclude)
    tricky = st.sampled_from([c for c in TRICKY if c not in exclude])
    return st.text(alphabet=st.one_of(chars, tricky), **kw)


def field(exclude: str = "\t\r\n\x00") -> st.SearchStrategy[str]:
    return text(exclude, min_size=1, max_size=12).filter(str.strip)


def encoded(max_size: int = 200) -> st.SearchStrategy[bytes]:
    """Random bytes, or random text in a random (often wrong) encoding."""
    as_text = st.builds(
        lambda s, enc: s.encode(enc, errors="replace"),
        text(max_size=40),
        st.sampled_from(ENCODINGS),
    )
    return st.one_of(st.binary(max_size=max_size), as_text)


EOL = st.sampled_from(["\n", "\r\n"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text(max_size=6), kids, max_size=3),
    max_leaves=8,
)


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def call(fn, *args, **kw):
    """(result, None), or (None, message) for a UserError; any other exception fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the caption loaders warn about skipped images
            return fn(*args, **kw), None
    except UserError as e:
        msg = str(e)
        assert msg.strip() and "\n" not in msg and "\r" not in msg, repr(msg)
        return None, msg


def names(msg: str, path: Path, line: int | None = None) -> None:
    assert str(path) in msg, msg
    if line is not None:
        assert re.search(rf"(line |:){line}\b", msg), f"line {line} not in: {msg}"


def utf8_line(raw: bytes) -> int | None:
    """The 1-based line of the first byte that is not UTF-8 (after a BOM), else None."""
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        return raw.count(b"\n", 0, start) + 1
    return None
