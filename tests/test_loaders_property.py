"""Property-based tests (hypothesis) for the text loaders: char-LM text, labelled text (SST-2,
IMDB folder and CSV, generic CSV/TSV/JSONL), parallel text and word vectors (the caption loaders
are in tests/test_caption_loaders_property.py; the strategies in tests/loader_strategies.py).

The inputs are hostile: empty files, random bytes, latin-1 and UTF-16, CRLF line ends, missing
and extra columns, mismatched parallel files, random unicode with the characters that split lines
in some readers but not others. The property is always the same: a loader returns well-formed
data (counts add up, CRLF reads like LF, nothing paired with the wrong partner) or raises a
one-line ``UserError`` naming the file (and the line, for a line problem); never anything else.
Known hostile inputs that once broke a loader are pinned with ``@example``.

    OMP_NUM_THREADS=1 uv run pytest tests/test_loaders_property.py -q
"""

from __future__ import annotations

import csv
import io
import json
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from loader_strategies import EOL, FAST, JSON, call, encoded, field, names, text, utf8_line, write

from seqlab.data.labelled import load_labelled
from seqlab.data.pairs import read_parallel, read_tsv_pairs
from seqlab.data.text import read_text
from seqlab.data.tokenizers import make_tokenizer
from seqlab.data.wordvectors import read_vectors

# ----------------------------------------------------------------------------- char-LM text


@FAST
@given(raw=encoded())
def test_read_text_any_bytes(tmp_path_factory, raw):
    path = write(tmp_path_factory.mktemp("t"), "corpus.txt", raw)
    got, msg = call(read_text, path)
    bad = utf8_line(raw)
    if bad is not None:
        assert got is None
        return names(msg, path, bad)
    decoded = raw.decode("utf-8-sig").replace("\r\n", "\n")
    if not decoded.strip() or "\x00" in decoded:  # empty, or UTF-16 / binary with NULs
        assert got is None
        return names(msg, path)
    assert got == decoded


@FAST
@given(lines=st.lists(text("\r\n", max_size=10), max_size=6), bom=st.booleans())
def test_read_text_crlf_reads_like_lf(tmp_path_factory, lines, bom):
    folder = tmp_path_factory.mktemp("t")
    body = "\n".join(lines) + "\n"
    enc = "utf-8-sig" if bom else "utf-8"
    lf = call(read_text, write(folder, "lf.txt", body.encode(enc)))
    crlf = call(read_text, write(folder, "crlf.txt", body.replace("\n", "\r\n").encode(enc)))
    assert lf[0] == crlf[0]
    assert (lf[1] is None) == (crlf[1] is None)


# ----------------------------------------------------------------------------- labelled text


@FAST
@given(
    raw=encoded(), suffix=st.sampled_from([".tsv", ".csv", ".jsonl", ".txt"]), skip=st.booleans()
)
@example(
    raw=b"text\tlabel\n" + b"a film\tpos\n" * 1000 + b"caf\xe9\tneg\n", suffix=".tsv", skip=True
)
@example(raw=b"\xef", suffix=".tsv", skip=False)  # a cut-off BOM: not UTF-8, not empty
@example(raw=b"\xef\xbb", suffix=".jsonl", skip=True)
def test_labelled_any_bytes(tmp_path_factory, raw, suffix, skip):
    path = write(tmp_path_factory.mktemp("l"), "data" + suffix, raw)
    got, msg = call(load_labelled, path, skip_bad=skip)
    if got is None:
        line = utf8_line(raw)
        return names(msg, path, line)
    assert len(got.texts) == len(got.labels) > 0 and got.skipped >= 0
    assert all(isinstance(t, str) and t.strip() for t in got.texts)
    assert all(isinstance(lb, str) and lb and lb == lb.strip() for lb in got.labels)


# Row shapes for a two-column table: a good row, a missing column, an extra column.
SHAPES = st.sampled_from(["ok", "ok", "ok", "missing", "extra"])


@FAST
@given(
    rows=st.lists(st.tuples(field(), field(), SHAPES), max_size=8),
    columns=st.sampled_from(
        [("text", "label"), ("label", "text"), ("Review", "Stars"), ("a", "b")]
    ),
    eol=EOL,
    bom=st.booleans(),
    skip=st.booleans(),
)
def test_tsv_rows_kept_or_counted_by_line(tmp_path_factory, rows, columns, eol, bom, skip):
    lines, want, bad_lines = ["\t".join(columns)], [], []
    for i, (txt, label, shape) in enumerate(rows, 2):
        pair = (txt, label) if columns[0] != "label" else (label, txt)
        lines.append("\t".join({"ok": pair, "missing": pair[:1], "extra": (*pair, "x")}[shape]))
        (want.append((txt, label.strip())) if shape == "ok" else bad_lines.append(i))
    raw = eol.join(lines + [""]).encode("utf-8-sig" if bom else "utf-8")
    path = write(tmp_path_factory.mktemp("l"), "data.tsv", raw)
    custom = {"text_column": "review", "label_column": "STARS"} if "Review" in columns else {}
    got, msg = call(load_labelled, path, skip_bad=skip, **custom)
    if columns == ("a", "b"):  # nothing to guess from: the message names the file and columns
        assert "columns: a, b" in msg and "--text-column" in msg, msg
        return names(msg, path)
    if bad_lines and not skip:
        return names(msg, path, bad_lines[0])
    if not want:
        return names(msg, path)
    assert list(zip(got.texts, got.labels, strict=True)) == want
    assert got.skipped == len(bad_lines)


@FAST
@given(
    rows=st.lists(st.tuples(text("\x00", min_size=1, max_size=15), field()), max_size=6),
    eol=EOL,
)
def test_csv_round_trips_quotes_and_newlines(tmp_path_factory, rows, eol):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator=eol)
    writer.writerows([("review", "sentiment"), *rows])
    path = write(tmp_path_factory.mktemp("l"), "imdb.csv", buf.getvalue())
    got, msg = call(load_labelled, path, skip_bad=True)
    want = [(t, lb.strip()) for t, lb in rows if t.strip()]
    if not want:
        return names(msg, path)
    assert list(zip(got.texts, got.labels, strict=True)) == want
    assert got.skipped == len(rows) - len(want)


@FAST
@given(labels=st.lists(st.sampled_from(["0", "1", " 1 ", "2", "pos"]), min_size=1, max_size=6))
def test_sst2_labels_in_range_or_named_line(tmp_path_factory, labels):
    body = "sentence\tlabel\r\n" + "".join(f"a film \t{lb}\r\n" for lb in labels)
    path = write(tmp_path_factory.mktemp("l"), "train.tsv", body)
    got, msg = call(load_labelled, path)
    bad = [i for i, lb in enumerate(labels, 2) if lb.strip() not in ("0", "1")]
    if bad:
        return names(msg, path, bad[0])
    assert got.labels == [["negative", "positive"][int(lb)] for lb in labels]


@FAST
@given(header=st.lists(text(max_size=8), min_size=1, max_size=3), jsonl=st.booleans())
def test_any_column_names_give_a_one_line_error(tmp_path_factory, header, jsonl):
    if jsonl:
        body = json.dumps(dict.fromkeys(header, "x")) + "\n"
    else:
        buf = io.StringIO(newline="")
        csv.writer(buf, quoting=csv.QUOTE_ALL).writerows([header, ["x"] * len(header)])
        body = buf.getvalue()
    path = write(tmp_path_factory.mktemp("l"), "data.jsonl" if jsonl else "data.csv", body)
    got, msg = call(load_labelled, path)
    if got is None:
        names(msg, path)


# A JSONL line: (what to write, whether it is a good row, its text, its label).
GOOD_LABEL = st.one_of(field(), st.integers(-5, 5))
JSONL_LINE = st.one_of(
    st.builds(
        lambda t, lb: (json.dumps({"text": t, "label": lb}), True, t, lb), field(""), GOOD_LABEL
    ),
    st.just((json.dumps({"text": 1, "label": 1}), False, 0, 0)),
    st.builds(
        lambda v: (json.dumps({"text": "x", "label": v}), False, 0, 0), st.lists(JSON) | st.none()
    ),
    st.builds(lambda v: (json.dumps(v), False, 0, 0), st.lists(JSON, min_size=1)),
    st.builds(lambda s: (s, False, 0, 0), text("\r\n", max_size=10).filter(str.strip)),
    st.sampled_from(
        [("[" * 5000, False, 0, 0), ('{"text": "x", "label": ' + "9" * 5000 + "}", False, 0, 0)]
    ),
)


@FAST
@given(lines=st.lists(JSONL_LINE, max_size=6), eol=EOL, skip=st.booleans())
def test_jsonl_rows_kept_or_counted_by_line(tmp_path_factory, lines, eol, skip):
    first = json.dumps({"text": "first", "label": "a"})
    path = write(
        tmp_path_factory.mktemp("l"), "d.jsonl", eol.join([first] + [ln[0] for ln in lines])
    )
    got, msg = call(load_labelled, path, skip_bad=skip)
    bad = [i for i, ln in enumerate(lines, 2) if not ln[1]]
    if bad and not skip:
        return names(msg, path, bad[0])
    want = [("first", "a")] + [(t, str(lb).strip()) for _, ok, t, lb in lines if ok]
    assert list(zip(got.texts, got.labels, strict=True)) == want
    assert got.skipped == len(bad)


@FAST
@given(
    files=st.lists(st.tuples(st.booleans(), encoded(60)), min_size=1, max_size=5),
    skip=st.booleans(),
)
def test_aclimdb_folder_every_file_kept_or_counted(tmp_path_factory, files, skip):
    split = tmp_path_factory.mktemp("aclImdb") / "train"
    (split / "pos").mkdir(parents=True)
    (split / "neg").mkdir()
    for i, (pos, raw) in enumerate(files):
        write(split / ("pos" if pos else "neg"), f"{i}_7.txt", raw)
    got, msg = call(load_labelled, split, skip_bad=skip)
    if got is None:
        assert str(split) in msg and (re.search(r"\d+_7\.txt", msg) or "no usable" in msg), msg
        return
    assert len(got) + got.skipped == len(files)
    assert set(got.labels) <= {"positive", "negative"}


# ----------------------------------------------------------------------------- parallel text


@FAST
@given(
    src=st.lists(text("\n\x00", max_size=8), max_size=6),
    tgt=st.lists(text("\n\x00", max_size=8), max_size=6),
    eols=st.tuples(EOL, EOL),
    boms=st.tuples(st.booleans(), st.booleans()),
)
def test_parallel_files_pair_line_by_line_or_name_the_line(tmp_path_factory, src, tgt, eols, boms):
    folder = tmp_path_factory.mktemp("p")
    paths = []
    for name, lines, eol, bom in zip(("train.de", "train.en"), (src, tgt), eols, boms, strict=True):
        body = "".join(ln.lstrip("\ufeff") + eol for ln in lines)
        paths.append(write(folder, name, body.encode("utf-8-sig" if bom else "utf-8")))
    got, msg = call(read_parallel, *paths)
    src, tgt = ([ln.lstrip("\ufeff").rstrip("\r") for ln in side] for side in (src, tgt))
    if len(src) != len(tgt):
        names(msg, paths[0])
        names(msg, paths[1], min(len(src), len(tgt)) + 1)
    elif not src:
        names(msg, paths[0])
    elif got is None:  # the first empty sentence, on either side, in line order
        line = next(
            i for i, p in enumerate(zip(src, tgt, strict=True), 1) if not all(s.strip() for s in p)
        )
        assert f"line {line}:" in msg and (str(paths[0]) in msg or str(paths[1]) in msg), msg
    else:
        assert got == [(s.strip(), t.strip()) for s, t in zip(src, tgt, strict=True)]


@FAST
@given(raws=st.tuples(encoded(80), encoded(80)))
@example(raws=(b"\xef\xbb\xbfa\n\xff\n", b"b\n"))  # the decoder's offsets start after a BOM
def test_parallel_files_any_bytes(tmp_path_factory, raws):
    folder = tmp_path_factory.mktemp("p")
    paths = [write(folder, n, r) for n, r in zip(("a.src", "b.tgt"), raws, strict=True)]
    got, msg = call(read_parallel, *paths)
    for path, raw in zip(paths, raws, strict=True):  # the source file is read first
        if utf8_line(raw) is not None:
            return names(msg, path, utf8_line(raw))
        if b"\x00" in raw:
            return names(msg, path, raw.count(b"\n", 0, raw.index(b"\x00")) + 1)
    if got is None:
        assert str(paths[0]) in msg or str(paths[1]) in msg, msg
    else:
        assert all(s and t and s == s.strip() and t == t.strip() for s, t in got)


@FAST
@given(
    rows=st.lists(st.lists(field(), min_size=1, max_size=4), max_size=6),
    eol=EOL,
    reverse=st.booleans(),
)
def test_tsv_pairs_two_or_three_columns(tmp_path_factory, rows, eol, reverse):
    path = write(tmp_path_factory.mktemp("p"), "fra.txt", "".join("\t".join(r) + eol for r in rows))
    got, msg = call(read_tsv_pairs, path, reverse=reverse)
    bad = [i for i, r in enumerate(rows, 1) if len(r) not in (2, 3)]
    if bad:
        return names(msg, path, bad[0])
    if not rows:
        return names(msg, path)
    want = [(r[0].strip(), r[1].strip()) for r in rows]
    assert got == ([(t, s) for s, t in want] if reverse else want)


# ----------------------------------------------------------------------------- word vectors

WORD = text(" \r\n\ufeff", min_size=1, max_size=6)
VECTOR = st.lists(
    st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=4
)


@FAST
@given(
    rows=st.lists(st.tuples(WORD, VECTOR), max_size=6),
    extra=st.lists(WORD, max_size=2),
    dim=st.integers(1, 4),
    header=st.booleans(),
    eol=EOL,
)
def test_word_vectors_first_wanted_row_wins(tmp_path_factory, rows, extra, dim, header, eol):
    lines = [f"{len(rows)} {dim}"] if header else []
    lines += [" ".join([w, *map(repr, v)]) for w, v in rows]
    path = write(tmp_path_factory.mktemp("v"), "glove.txt", "".join(ln + eol for ln in lines))
    wanted = {w for w, _ in rows[::2]} | set(extra)
    got, msg = call(read_vectors, path, wanted, dim)
    want: dict[str, list[float]] = {}
    for n, (w, v) in enumerate(rows, 1 + header):
        if w in wanted and w not in want:
            if len(v) != dim:
                return names(msg, path, n)
            want[w] = v
    assert got == want


@FAST
@given(
    value=st.sampled_from(["nan", "inf", "-inf", "1e999", "abc", "0x1p3", ""]),
    line=st.integers(0, 2),
)
def test_word_vectors_bad_numbers_name_the_line(tmp_path_factory, value, line):
    lines = ["the 0.5 1.5", "cat 2.0 -1.0", "sat 0.0 3.0"]
    lines[line] = lines[line].rsplit(" ", 1)[0] + " " + value
    path = write(tmp_path_factory.mktemp("v"), "vectors.txt", "\r\n".join(lines))
    got, msg = call(read_vectors, path, {"the", "cat", "sat"}, 2)
    assert got is None
    names(msg, path, line + 1)


@FAST
@given(raw=encoded(), dim=st.integers(1, 3))
def test_word_vectors_any_bytes(tmp_path_factory, raw, dim):
    path = write(tmp_path_factory.mktemp("v"), "vectors.txt", raw)
    got, msg = call(read_vectors, path, {"a", "the", "é"}, dim)
    if got is None:
        return names(msg, path)
    assert all(len(v) == dim and all(abs(x) < float("inf") for x in v) for v in got.values())


# ----------------------------------------------------------------------------- tokenizers


@settings(max_examples=30, deadline=None)
@given(texts=st.lists(text(max_size=20), min_size=1, max_size=4))
def test_word_tokenizer_takes_any_text_a_loader_returns(texts):
    tok = make_tokenizer("word", texts, min_freq=1)
    for t in texts:
        ids = tok.encode(t)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert isinstance(tok.decode(ids), str)
