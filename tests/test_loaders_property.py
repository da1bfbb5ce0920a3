"""Property-based tests (hypothesis) for every user-facing loader: char-LM text, labelled text
(SST-2, IMDB folder and CSV, generic CSV/TSV/JSONL), parallel text, caption sets (Karpathy JSON,
Flickr8k, COCO) and word vectors.

The inputs are hostile: empty files, random bytes, latin-1 and UTF-16, CRLF line ends, missing
and extra columns, mismatched parallel files, random unicode with the characters that split lines
in some readers but not others. The property is always the same: a loader returns well-formed
data (counts add up, CRLF reads like LF, nothing paired with the wrong partner) or raises a
one-line ``UserError`` naming the file (and the line, for a line problem); never anything else.
Known hostile inputs that once broke a loader are pinned with ``@example``. The last test fetches
the ``coco-captions`` entry from a local HTTP server and loads what it unpacks.

    OMP_NUM_THREADS=1 uv run pytest tests/test_loaders_property.py -q
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
import zipfile
from pathlib import Path

import test_sentiment_fetch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from seqlab.cli import main
from seqlab.data import fetch as F
from seqlab.data.captions import load_caption_set, load_coco, load_karpathy
from seqlab.data.labelled import load_labelled
from seqlab.data.pairs import read_parallel, read_tsv_pairs
from seqlab.data.text import read_text
from seqlab.data.tokenizers import make_tokenizer
from seqlab.data.wordvectors import read_vectors
from seqlab.errors import UserError

FAST = settings(max_examples=40, deadline=None)
# The local HTTP server fixtures of tests/test_sentiment_fetch.py, shared rather than copied.
www, local_entry = test_sentiment_fetch.www, test_sentiment_fetch.local_entry
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


# ----------------------------------------------------------------------------- caption sets

SPLIT = st.sampled_from(["train", "val", "test"])
SENTENCE = st.one_of(
    st.builds(lambda r: {"raw": r}, field("")),
    st.builds(lambda t: {"tokens": t}, st.lists(field(" "), min_size=1, max_size=3)),
)


@FAST
@given(
    entries=st.lists(
        st.tuples(SPLIT | st.just("restval"), st.lists(SENTENCE, max_size=3), st.booleans()),
        max_size=6,
    ),
    split=SPLIT,
)
def test_karpathy_captions_stay_with_their_image(tmp_path_factory, entries, split):
    root = tmp_path_factory.mktemp("k")
    (root / "images").mkdir()
    doc = {"dataset": "flickr8k", "images": []}
    for i, (part, sentences, exists) in enumerate(entries):
        if exists:
            write(root / "images", f"{i}.jpg", b"")
        doc["images"].append({"filename": f"{i}.jpg", "split": part, "sentences": sentences})
    write(root, "dataset_flickr8k.json", json.dumps(doc, ensure_ascii=False))
    got, msg = call(load_caption_set, "flickr8k", root, split)
    chosen = [
        e
        for e in enumerate(entries)
        if e[1][0] in {"train": ("train", "restval")}.get(split, (split,))
    ]
    want = {
        root / "images" / f"{i}.jpg": [s.get("raw") or " ".join(s["tokens"]) for s in sentences]
        for i, (_, sentences, exists) in chosen
        if sentences and exists
    }
    if not want:
        return names(msg, root)
    assert dict(zip(got.images, got.captions, strict=True)) == want and len(got) == len(want)
    assert got.skipped == {
        "missing_images": sum(1 for _, (_, s, ok) in chosen if s and not ok),
        "images_without_captions": sum(1 for _, (_, s, _) in chosen if not s),
    }


ENTRY = st.fixed_dictionaries(
    {"split": st.just("train")},
    optional={
        "filename": st.just("0.jpg") | JSON,
        "filepath": st.just("images") | JSON,
        "sentences": st.lists(st.dictionaries(st.sampled_from(["raw", "tokens"]), JSON), max_size=2)
        | JSON,
    },
)
KARPATHY_DOC = (
    st.one_of(
        JSON,
        st.builds(lambda v: {"images": v}, JSON),
        st.builds(lambda es: {"images": es}, st.lists(ENTRY | JSON, max_size=3)),
    ).map(json.dumps)
    | encoded()
    | st.just("[" * 5000)
)


def check_captions(got, msg, root: Path) -> None:
    if got is None:
        return names(msg, root)
    assert len(got.images) == len(got.captions) > 0
    assert all(p.is_file() for p in got.images)
    assert all(caps and all(isinstance(c, str) for c in caps) for caps in got.captions)


@FAST
@given(raw=KARPATHY_DOC, dataset=st.sampled_from(["flickr8k", "coco"]))
def test_karpathy_json_fuzz(tmp_path_factory, raw, dataset):
    root = tmp_path_factory.mktemp("k")
    write(root / "images", "0.jpg", b"")
    path = write(root, f"dataset_{dataset}.json", raw)
    check_captions(*call(load_karpathy, path, "train"), root)


@FAST
@given(
    images=st.lists(st.booleans(), max_size=5),
    anns=st.lists(st.tuples(st.integers(0, 5), text(max_size=10)), max_size=8),
    split=SPLIT,
)
def test_coco_captions_stay_with_their_image(tmp_path_factory, images, anns, split):
    root = tmp_path_factory.mktemp("c")
    year = "train2017" if split == "train" else "val2017"
    for i, exists in enumerate(images):
        if exists:
            write(root / year, f"{7 * i + 1:012d}.jpg", b"")
    doc = {
        "images": [
            {"id": 7 * i + 1, "file_name": f"{7 * i + 1:012d}.jpg"} for i in range(len(images))
        ],
        "annotations": [
            {"id": j, "image_id": 7 * k + 1, "caption": c} for j, (k, c) in enumerate(anns)
        ],
    }
    path = write(root / "annotations", f"captions_{year}.json", json.dumps(doc, ensure_ascii=False))
    got, msg = call(load_caption_set, "coco", root, split)
    if any(k >= len(images) for k, _ in anns):
        return names(msg, path)
    captioned = {k for k, _ in anns}
    want = {
        root / year / f"{7 * i + 1:012d}.jpg": [c.strip() for k, c in anns if k == i]
        for i, exists in enumerate(images)
        if exists and i in captioned
    }
    if not want:
        return names(msg, root)
    assert dict(zip(got.images, got.captions, strict=True)) == want and len(got) == len(want)
    assert got.skipped == {
        "missing_images": sum(1 for i in captioned if not images[i]),
        "images_without_captions": len(images) - len(captioned),
    }


COCO_DOC = (
    st.one_of(
        JSON,
        st.fixed_dictionaries({"images": JSON, "annotations": JSON}),
        st.fixed_dictionaries(
            {
                "images": st.lists(
                    st.fixed_dictionaries(
                        {"id": st.just(1) | JSON, "file_name": st.just("0.jpg") | JSON}
                    ),
                    max_size=2,
                ),
                "annotations": st.lists(
                    st.fixed_dictionaries({"image_id": st.just(1) | JSON, "caption": JSON}),
                    max_size=2,
                ),
            }
        ),
    ).map(json.dumps)
    | encoded()
)


@FAST
@given(raw=COCO_DOC)
def test_coco_json_fuzz(tmp_path_factory, raw):
    root = tmp_path_factory.mktemp("c")
    write(root / "val2017", "0.jpg", b"")
    path = write(root, "captions_val2017.json", raw)
    check_captions(*call(load_coco, path, root / "val2017", "val"), root)


@FAST
@given(
    images=st.lists(
        st.tuples(st.lists(text("\r\n", max_size=12), max_size=3), st.booleans(), SPLIT),
        max_size=5,
    ),
    split=SPLIT,
    eol=EOL,
)
@example(images=[(["a dog\x85runs", "a\u2028b"], True, "train")], split="train", eol="\n")
def test_flickr8k_token_file_captions_stay_with_their_image(tmp_path_factory, images, split, eol):
    root = tmp_path_factory.mktemp("f")
    folder = root / "Flicker8k_Dataset"
    folder.mkdir()
    tokens, lists = [], {"train": [], "val": [], "test": []}
    for i, (caps, exists, part) in enumerate(images):
        tokens += [f"{i}.jpg#{k}\t{c}" for k, c in enumerate(caps)]
        lists[part].append(f"{i}.jpg")
        if exists:
            write(folder, f"{i}.jpg", b"")
    write(root, "Flickr8k.token.txt", "".join(t + eol for t in tokens))
    for part, name in [("train", "trainImages"), ("val", "devImages"), ("test", "testImages")]:
        write(root, f"Flickr_8k.{name}.txt", "".join(n + eol for n in lists[part]))
    got, msg = call(load_caption_set, "flickr8k", root, split)
    want = {
        folder / f"{i}.jpg": [c.strip() for c in caps]
        for i, (caps, exists, part) in enumerate(images)
        if part == split and caps and exists
    }
    if not want:
        return names(msg, root)
    assert dict(zip(got.images, got.captions, strict=True)) == want and len(got) == len(want)


@FAST
@given(token=encoded(), names_file=encoded(60))
def test_flickr8k_any_bytes(tmp_path_factory, token, names_file):
    root = tmp_path_factory.mktemp("f")
    write(root / "images", "0.jpg", b"")
    write(root, "Flickr8k.token.txt", token)
    write(root, "Flickr_8k.trainImages.txt", b"0.jpg\n" + names_file)
    check_captions(*call(load_caption_set, "flickr8k", root, "train"), root)


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


# ----------------------------------------------------------------------------- COCO download


def test_coco_captions_fetch_then_load(tmp_path, local_entry, capsys):
    remote = F.REGISTRY["coco-captions"].files[0]
    assert remote.url == "http://images.cocodataset.org/annotations/annotations_trainval2017.zip"
    assert remote.md5 == "f4bbac642086de4f52a3fdda2de5fa2c" and remote.extract
    image = {"license": 2, "file_name": "000000000139.jpg", "height": 426, "width": 640, "id": 139}
    doc = {  # the fields of the real captions_*2017.json
        "info": {"year": 2017, "version": "1.0"},
        "licenses": [{"id": 2, "name": "Attribution-NonCommercial License"}],
        "images": [image],
        "annotations": [{"image_id": 139, "id": 1, "caption": "A room with a TV.\n"}],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # the layout of annotations_trainval2017.zip
        for year in ("train2017", "val2017"):
            zf.writestr(f"annotations/captions_{year}.json", json.dumps(doc))
        zf.writestr("annotations/instances_val2017.json", "{}")
    local_entry("coco-captions", buf.getvalue())
    assert main(["data", "fetch", "coco-captions", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "coco-captions"
    write(root / "val2017", "000000000139.jpg", b"")  # images come from val2017.zip
    got = load_caption_set("coco", root, "val")
    assert got.images == [root / "val2017" / "000000000139.jpg"]
    assert got.captions == [["A room with a TV."]]
