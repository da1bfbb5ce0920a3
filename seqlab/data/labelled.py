"""Labelled text for classification, from the formats people have, with clear errors.

- GLUE SST-2 TSV: header ``sentence<TAB>label``, labels 0/1 (read as negative/positive).
- IMDB: the ``aclImdb`` folder layout (``train/pos/*.txt``, ``train/neg/*.txt``; pass the split
  folder) and the common ``review,sentiment`` CSV.
- Any CSV, TSV or JSONL file with ``text_column`` and ``label_column`` (guessed from the header
  when not given); any number of classes, labels kept as strings.

A malformed row raises ``UserError`` naming the file and line; with ``skip_bad=True`` such rows
are skipped and counted instead.

    data = load_labelled("train.tsv")
    data.texts[0], data.labels[0], data.skipped
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.data.text import open_utf8
from seqlab.errors import UserError

TEXT_COLUMNS = ("sentence", "text", "review", "content", "document")
LABEL_COLUMNS = ("label", "sentiment", "labels", "class", "polarity")
SST2_LABELS = {"0": "negative", "1": "positive"}


@dataclass
class Labelled:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: int = 0
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)


class _Rows:
    """Collects (text, label) rows; a bad one raises or is counted, depending on ``skip_bad``."""

    def __init__(self, path: Path, skip_bad: bool):
        self.data = Labelled(source=str(path))
        self.path, self.skip_bad = path, skip_bad

    def add(self, line: int, text, label) -> None:
        text = text if isinstance(text, str) else ("" if text is None else None)
        if text is None:
            return self.bad(line, "the text is not a string")
        if label is None or str(label).strip() == "":
            return self.bad(line, "the label is missing")
        if isinstance(label, list | dict):  # JSONL: str([1, 2]) would become a class name
            return self.bad(line, "the label is a list or an object, not one class")
        if not text.strip():
            return self.bad(line, "the text is empty")
        self.data.texts.append(text)
        self.data.labels.append(str(label).strip())

    def bad(self, line: int, why: str) -> None:
        if not self.skip_bad:
            raise UserError(f"{self.path}, line {line}: {why}; fix the row or pass --skip-bad")
        self.data.skipped += 1


def load_labelled(
    path: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> Labelled:
    """Read labelled text from a file or an aclImdb split folder (format chosen by its suffix)."""
    p = Path(path)
    if p.is_dir():
        data = _read_aclimdb(p, skip_bad)
    elif not p.is_file():
        raise UserError(f"data file not found: {p}")
    elif p.suffix.lower() == ".jsonl":
        data = _read_jsonl(p, text_column, label_column, skip_bad)
    elif p.suffix.lower() in (".csv", ".tsv", ".txt"):
        data = _read_table(p, text_column, label_column, skip_bad)
    else:
        raise UserError(
            f"{p}: unknown format {p.suffix!r}; use .tsv, .csv, .jsonl or an "
            "aclImdb split folder (with pos/ and neg/)"
        )
    if not data.texts:
        raise UserError(f"{p} has no usable labelled rows")
    return data


def _open_text(p: Path):
    try:
        return open_utf8(p, newline="")  # the caller closes it
    except UnicodeDecodeError as e:
        raise _not_utf8(p) from e
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror or e}") from e


def _not_utf8(p: Path) -> UserError:
    """The text reader's error offsets count from its buffer; find the file's own line and byte."""
    raw = p.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)  # offsets skip the BOM
        line = raw.count(b"\n", 0, start) + 1
        return UserError(f"{p}, line {line}: not UTF-8 text (byte {start}); re-save it as UTF-8")
    return UserError(f"{p} is not UTF-8 text")


def _pick(header: list[str], wanted: str | None, guesses: tuple, what: str, p: Path) -> int:
    lower = [h.strip().lower() for h in header]
    shown = ", ".join(h if h.isprintable() else repr(h) for h in header)  # keep it one line
    if wanted is not None:
        if wanted.lower() not in lower:
            raise UserError(f"{p}: no column {wanted!r} (columns: {shown})")
        return lower.index(wanted.lower())
    for g in guesses:
        if g in lower:
            return lower.index(g)
    raise UserError(
        f"{p}: cannot tell which column holds the {what} (columns: {shown}); pass --{what}-column"
    )


def _read_table(p: Path, text_column, label_column, skip_bad: bool) -> Labelled:
    tsv = p.suffix.lower() in (".tsv", ".txt")
    csv.field_size_limit(min(sys.maxsize, (1 << 31) - 1))  # IMDB reviews can be long
    rows = _Rows(p, skip_bad)
    with _open_text(p) as f:
        # GLUE's TSVs are unquoted (sentences contain bare quotes); CSVs follow RFC 4180.
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if tsv else csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise UserError(f"{p} is empty")
            ti = _pick(header, text_column, TEXT_COLUMNS, "text", p)
            li = _pick(header, label_column, LABEL_COLUMNS, "label", p)
            sst2 = [h.strip().lower() for h in header] == ["sentence", "label"]
            line = reader.line_num
            for record in reader:
                if record and len(record) != len(header):
                    rows.bad(line + 1, f"expected {len(header)} fields, found {len(record)}")
                elif record:
                    label = record[li].strip()
                    if sst2 and label not in SST2_LABELS:
                        rows.bad(line + 1, f"SST-2 labels are 0 or 1, found {label!r}")
                    else:
                        rows.add(
                            line + 1, record[ti], SST2_LABELS.get(label, label) if sst2 else label
                        )
                line = reader.line_num
        except csv.Error as e:
            raise UserError(f"{p}, line {reader.line_num}: {e}") from e
        except UnicodeDecodeError as e:
            raise _not_utf8(p) from e
    return rows.data


def _read_jsonl(p: Path, text_column, label_column, skip_bad: bool) -> Labelled:
    rows = _Rows(p, skip_bad)
    text_key, label_key = text_column, label_column
    with _open_text(p) as f:
        try:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as e:
                    rows.bad(n, f"not valid JSON ({e.msg})")
                    continue
                except (ValueError, RecursionError) as e:  # a 5000-digit number, [[[[... nesting
                    rows.bad(n, f"JSON the parser refuses ({type(e).__name__})")
                    continue
                if not isinstance(obj, dict):
                    rows.bad(n, "expected a JSON object")
                    continue
                keys = list(obj)
                if text_key is None:
                    text_key = keys[_pick(keys, None, TEXT_COLUMNS, "text", p)]
                if label_key is None:
                    label_key = keys[_pick(keys, None, LABEL_COLUMNS, "label", p)]
                rows.add(n, obj.get(text_key), obj.get(label_key))
        except UnicodeDecodeError as e:
            raise _not_utf8(p) from e
    return rows.data


def _read_aclimdb(p: Path, skip_bad: bool) -> Labelled:
    """aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt (Maas et al. 2011)."""
    if not (p / "pos").is_dir() or not (p / "neg").is_dir():
        hint = " (pick the train or test folder inside it)" if (p / "train").is_dir() else ""
        raise UserError(f"{p}: a folder must hold pos/ and neg/ review files{hint}")
    rows = _Rows(p, skip_bad)
    for label, name in (("negative", "neg"), ("positive", "pos")):
        for f in sorted((p / name).glob("*.txt")):
            rows.path = f  # name the review file in errors, not only the folder
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                rows.bad(1, f"cannot be read as UTF-8 ({e})")
                continue
            rows.add(1, text.replace("<br />", " "), label)
    return rows.data


def label_names(labels: list[str]) -> list[str]:
    """The class list: numeric labels in numeric order, others alphabetical."""
    names = sorted(set(labels))
    if all(n.lstrip("-").isdigit() for n in names):
        names.sort(key=int)
    return names
