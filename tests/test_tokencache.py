"""The char-LM's token cache: the same ids as the in-memory vocabulary, built once and reused,
uint8 or uint16, a vocabulary limit with an unknown symbol, and clear errors for bad text."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from seqlab.cli import main
from seqlab.data.text import CharVocab, read_text
from seqlab.data.tokencache import UNK, encode_chunks, iter_text, load_tokens
from seqlab.errors import UserError

TEXT = "\ufeffFirst Citizen:\r\nBefore we proceed, hear me speak. Ça va? 😀\r\n" * 50


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "input.txt"
    p.write_bytes(TEXT.encode("utf-8"))
    return p


def test_chunks_join_to_read_text_whatever_the_chunk_size(text_file):
    for size in (1, 2, 3, 7, 1 << 20):  # cuts through multi-byte characters and CR LF pairs
        assert "".join(iter_text(text_file, chunk_bytes=size)) == read_text(text_file)


def test_ids_are_the_vocabularys_and_the_cache_is_reused(tmp_path, text_file):
    tokens = load_tokens(text_file, tmp_path / "run", max_vocab=10_000)
    text = read_text(text_file)
    vocab = CharVocab.from_text(text)
    assert tokens.chars == vocab.chars and tokens.ids.dtype == np.uint8
    assert np.array_equal(np.asarray(tokens.ids), vocab.encode(text).numpy())
    data = tmp_path / "run" / "tokens.npy"
    stamp = data.stat().st_mtime_ns
    again = load_tokens(text_file, tmp_path / "run", max_vocab=10_000)
    assert data.stat().st_mtime_ns == stamp and isinstance(again.ids, np.memmap)
    text_file.write_text("another text entirely\n" * 10)
    changed = load_tokens(text_file, tmp_path / "run", max_vocab=10_000)
    assert len(changed) == 220 and data.stat().st_mtime_ns != stamp


def test_a_large_alphabet_keeps_the_commonest_and_counts_the_rest(tmp_path):
    rare = [chr(0x4E00 + i) for i in range(3000)]  # 3,000 CJK characters, once each
    text = "天地玄黄" * 500 + "".join(rare)
    p = tmp_path / "zh.txt"
    p.write_text(text, encoding="utf-8")
    tokens = load_tokens(p, tmp_path / "run", max_vocab=300)
    assert len(tokens.chars) == 300 and UNK in tokens.chars and tokens.ids.dtype == np.uint16
    kept = set(tokens.chars) - {UNK}
    assert set("天地玄黄") <= kept
    assert tokens.unknown_distinct == len(set(text) - kept)
    assert tokens.unknown == sum(ch not in kept for ch in text)
    assert CharVocab(tokens.chars).encode("天\u4e01?").tolist()[0] == tokens.chars.index("天")


def test_the_cli_trains_on_it_and_says_how_many_characters_were_unknown(tmp_path, caplog):
    p = tmp_path / "zh.txt"
    p.write_text("".join(chr(0x4E00 + i % 2000) for i in range(40_000)), encoding="utf-8")
    argv = ["charlm", "train", "--text", str(p), "--out", str(tmp_path / "run"),
            "--max-steps", "2", "--max-vocab", "1000", "--hidden-size", "16", "--num-layers",
            "1", "--embedding-size", "8", "--batch-size", "4", "--bptt", "16", "--lr", "0.01",
            "--dropout", "0", "--precision", "fp32"]  # fmt: skip
    with caplog.at_level("INFO", logger="seqlab.charlm.train"):
        assert main(argv) == 0
    assert "20020 characters of the text (1001 distinct" in caplog.text  # 1001 x 20


def test_non_utf8_and_nul_bytes_are_one_line(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"line one\nline two caf\xe9\n")
    with pytest.raises(UserError, match=r"latin1.txt:2: not valid UTF-8"):
        load_tokens(bad, tmp_path / "run", 100)
    nul = tmp_path / "utf16.txt"
    nul.write_bytes("hello\nworld".encode("utf-16-le"))
    with pytest.raises(UserError, match="NUL bytes"):
        load_tokens(nul, tmp_path / "run", 100)
    with pytest.raises(UserError, match="not found"):
        load_tokens(tmp_path / "missing.txt", tmp_path / "run", 100)


def peak_rss_mb(text, out) -> float:
    """Peak resident memory of a 2-step `charlm train` on ``text``, in a fresh process."""
    code = (
        "import resource, sys; from seqlab.cli import main; "
        "rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)"
    )
    argv = ["charlm", "train", "--text", str(text), "--out", str(out), "--max-steps", "2",
            "--hidden-size", "64", "--num-layers", "1", "--embedding-size", "16",
            "--batch-size", "32", "--bptt", "64", "--lr", "0.01", "--dropout", "0",
            "--eval-every", "2", "--threads", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    return float(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_100_mb_text_costs_at_most_three_times_its_size_in_memory(tmp_path):
    line = "First Citizen: Before we proceed any further, hear me speak.\n"
    big = tmp_path / "big.txt"
    with open(big, "w") as f:
        for _ in range(100_000_000 // len(line) // 1000):
            f.write(line * 1000)
    tiny = tmp_path / "tiny.txt"
    tiny.write_text(line * 2000)
    size_mb = big.stat().st_size / 2**20
    extra = peak_rss_mb(big, tmp_path / "big_run") - peak_rss_mb(tiny, tmp_path / "tiny_run")
    assert extra <= 3 * size_mb, f"{extra:.0f} MB above the tiny run for a {size_mb:.0f} MB text"
    assert resource  # the child measures itself


def test_a_cache_cut_off_before_its_description_is_rebuilt_not_misread(tmp_path):
    """A build that dies between the new ids and their tokens.json leaves no stale description
    that a later run with the first settings would take for theirs."""
    p = tmp_path / "zh.txt"
    p.write_text("天地玄黄" * 50 + "宇宙洪荒", encoding="utf-8")
    run = tmp_path / "run"
    whole = load_tokens(p, run, max_vocab=100)
    (run / f"tokens.{os.getpid()}.tmp.json").mkdir()  # the description cannot be written
    with pytest.raises(UserError, match="cannot write the token cache"):
        load_tokens(p, run, max_vocab=3)  # new ids written, in a smaller vocabulary
    (run / f"tokens.{os.getpid()}.tmp.json").rmdir()
    again = load_tokens(p, run, max_vocab=100)
    assert again.chars == whole.chars
    assert np.array_equal(np.asarray(again.ids), np.asarray(whole.ids))


def test_a_bad_byte_gets_read_texts_line_and_offset_wherever_the_chunks_cut(tmp_path):
    """Bytes of a character cut by one chunk are decoded with the next: the error's position
    must still be the byte's position in the file (it was off by those pending bytes)."""
    p = tmp_path / "bad.txt"
    for data in (b"one\ntwo caf\xe9\n", b"ab\n\xe2\x82\xac\xff\nx\n", b"\xc3\xa9\xc3\n\xa9x\n"):
        p.write_bytes(data)
        with pytest.raises(UserError) as whole:
            read_text(p)
        for size in range(1, len(data) + 1):
            with pytest.raises(UserError) as chunked:
                list(iter_text(p, chunk_bytes=size))
            assert str(chunked.value) == str(whole.value), (data, size)


def test_a_text_that_changes_between_the_two_passes_is_one_line():
    """A file still being written reads longer (or shorter) the second time: one line, not a
    numpy broadcasting error (or ids left unwritten)."""
    for first, second in (("abc\n", "abc\ndef\n"), ("abc\ndef\n", "abc\n")):
        passes = iter([[first], [second]])
        with pytest.raises(UserError, match="log.txt changed while it was read"):
            encode_chunks(lambda passes=passes: next(passes), 100, name="log.txt")


def test_a_damaged_description_is_rebuilt_and_a_failed_build_leaves_no_temp_file(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("hello world\n" * 20)
    load_tokens(good, tmp_path / "run", 100)
    (tmp_path / "run" / "tokens.json").write_text("{not json")
    assert len(load_tokens(good, tmp_path / "run", 100)) == 240
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n" * 10 + b"caf\xe9\n")
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_tokens(bad, tmp_path / "other", 100)
    assert not list((tmp_path / "other").glob("*.tmp*"))
