"""Property-based tests (hypothesis) for the caption loaders: Karpathy split JSON, COCO captions
JSON and the Flickr8k native layout, on hostile inputs (random bytes, malformed and deeply nested
JSON, captions holding line-breaking characters). Every caption must stay with its own image, or
the loader raises one ``UserError`` line naming the file. The last test fetches the
``coco-captions`` entry from a local HTTP server and loads what it unpacks.

    OMP_NUM_THREADS=1 uv run pytest tests/test_caption_loaders_property.py -q
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import test_sentiment_fetch
from hypothesis import example, given
from hypothesis import strategies as st
from loader_strategies import EOL, FAST, JSON, call, encoded, field, names, text, write

from seqlab.cli import main
from seqlab.data import fetch as F
from seqlab.data.captions import load_caption_set, load_coco, load_karpathy

# The local HTTP server fixtures of tests/test_sentiment_fetch.py, shared rather than copied.
www, local_entry = test_sentiment_fetch.www, test_sentiment_fetch.local_entry


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
