"""Caption data: Flickr8k / Karpathy / COCO loaders on tiny generated fixtures, the vocabulary,
robust image loading (bad files), the synthetic scenes and the feature cache."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image

from seqlab.data.captions import (
    build_vocab,
    encode_caption,
    load_caption_set,
    load_image,
    tokenize,
)
from seqlab.data.features import cached_features
from seqlab.data.tokenizers import BOS, EOS, UNK
from seqlab.errors import UserError
from seqlab.toy.scenes import COLOURS, SHAPES, make_scenes

WORDS = ["dog", "cat", "runs", "sits", "grass", "snow"]


def make_flickr8k(root, n_images=8, missing=()):
    """A Flickr8k-layout folder: JPEGs, token file (2 captions each), official split files."""
    (root / "images").mkdir(parents=True)
    rng = random.Random(0)
    names = [f"{1000 + i}_abc.jpg" for i in range(n_images)]
    lines = []
    for i, name in enumerate(names):
        if name not in missing:
            colour = tuple(rng.randrange(256) for _ in range(3))
            Image.new("RGB", (40, 32), colour).save(root / "images" / name)
        for k in range(2):
            words = " ".join(rng.choice(WORDS) for _ in range(3))
            lines.append(f"{name}#{k}\tA {words} , image {i} .")
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    third = n_images // 4
    splits = {
        "train": names[: n_images - 2 * third],
        "dev": names[n_images - 2 * third : -third],
        "test": names[-third:],
    }
    for split, part in splits.items():
        (root / f"Flickr_8k.{split}Images.txt").write_text("\n".join(part) + "\n")
    return names


def test_flickr8k_native_layout(tmp_path):
    names = make_flickr8k(tmp_path)
    train = load_caption_set("flickr8k", tmp_path, "train")
    test = load_caption_set("flickr8k", tmp_path, "test")
    assert len(train) == 4 and len(test) == 2
    assert [p.name for p in train.images] == names[:4]
    # pairing is by name: image i's captions mention "image i"
    for path, caps in zip(train.images, train.captions, strict=True):
        i = names.index(path.name)
        assert len(caps) == 2 and all(f"image {i} ." in c for c in caps)


def test_missing_images_are_counted_and_never_shift_captions(tmp_path):
    names = make_flickr8k(tmp_path, missing={"1001_abc.jpg"})
    with pytest.warns(UserWarning, match="1 of 4 images are missing"):
        train = load_caption_set("flickr8k", tmp_path, "train")
    assert train.skipped["missing_images"] == 1 and len(train) == 3
    for path, caps in zip(train.images, train.captions, strict=True):
        assert f"image {names.index(path.name)} ." in caps[0]


def test_loader_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_caption_set("flickr8k", tmp_path / "nope", "train")
    make_flickr8k(tmp_path)
    (tmp_path / "Flickr8k.token.txt").write_text("no tab on this line\n")
    with pytest.raises(UserError, match=r"Flickr8k.token.txt:1"):
        load_caption_set("flickr8k", tmp_path, "train")
    with pytest.raises(UserError, match="--split"):
        load_caption_set("flickr8k", tmp_path, "dev")


def test_all_images_missing_is_an_error(tmp_path):
    names = make_flickr8k(tmp_path, n_images=4)
    with pytest.warns(UserWarning), pytest.raises(UserError, match="no usable"):
        for n in names:
            (tmp_path / "images" / n).unlink()
        load_caption_set("flickr8k", tmp_path, "test")


def test_karpathy_json(tmp_path):
    names = make_flickr8k(tmp_path)
    images = [
        {
            "filename": n,
            "split": ["train", "restval", "val", "test"][i % 4],
            "sentences": [{"tokens": ["a", "dog", str(i)], "raw": f"A dog {i}."}],
        }
        for i, n in enumerate(names)
    ]
    (tmp_path / "dataset_flickr8k.json").write_text(
        json.dumps({"images": images, "dataset": "flickr8k"})
    )
    train = load_caption_set("flickr8k", tmp_path, "train")  # train + restval
    assert len(train) == 4 and train.captions[1] == ["A dog 1."]


def test_coco_json(tmp_path):
    (tmp_path / "val2017").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "val2017" / "000000000001.jpg")
    data = {
        "images": [
            {"id": 1, "file_name": "000000000001.jpg"},
            {"id": 2, "file_name": "000000000002.jpg"},
        ],
        "annotations": [{"image_id": 1, "caption": "A black square."}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_val2017.json").write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="no captions"):
        val = load_caption_set("coco", tmp_path, "val")
    assert len(val) == 1 and val.captions == [["A black square."]]


def test_vocab_min_count_and_encoding():
    caps = [["A dog runs.", "a dog sits"], ["A cat, sits!"]]
    assert tokenize("A dog's T-shirt, sits!") == ["a", "dogs", "tshirt", "sits"]
    vocab = build_vocab(caps, min_count=2)
    assert {"a", "dog", "sits"} <= set(vocab.itos) and "cat" not in vocab.itos
    ids = encode_caption(vocab, "a cat sits")
    assert ids[0] == BOS and ids[-1] == EOS and ids[2] == UNK


def test_load_image_bad_inputs(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(UserError, match="not an image"):
        load_image(tmp_path / "notes.txt")
    Image.new("RGB", (64, 64), "red").save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match="damaged or truncated"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(UserError, match="not found"):
        load_image(tmp_path / "missing.png")


def huge_png(path, side=20000):
    """A PNG header claiming side x side pixels (the file itself is tiny)."""
    import struct
    import zlib

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    return path


def test_load_image_converts_odd_modes(tmp_path):
    with pytest.raises(UserError, match="over the 60 megapixel limit"):
        load_image(huge_png(tmp_path / "huge.png"))
    Image.new("L", (30, 20), 128).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").mode == "RGB"
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").getpixel((5, 5)) == (255, 255, 255)
    frames = [Image.new("P", (16, 16), i) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert load_image(tmp_path / "anim.gif").size == (16, 16)


def test_scenes_are_deterministic_and_grammatical():
    images, caps = make_scenes(30, seed=3, image_size=32)
    again, caps2 = make_scenes(30, seed=3, image_size=32)
    assert caps == caps2 and np.array_equal(np.asarray(images[0]), np.asarray(again[0]))
    assert images[0].size == (32, 32)
    vocabulary = {"a", "small", "large", "left", "of", "above", *COLOURS, *SHAPES}
    for c in caps:
        words = c.split()
        assert set(words) <= vocabulary and words[0] == "a" and len(words) in (4, 9, 10)
    assert any("left of" in c for c in caps) and any("above" in c for c in caps)


def test_feature_cache_resumes_and_serves_subsets(tmp_path):
    from seqlab.models.encoders import EncoderConfig, ImageEncoder

    make_flickr8k(tmp_path / "f8k")
    train = load_caption_set("flickr8k", tmp_path / "f8k", "train")
    enc = ImageEncoder(EncoderConfig(name="scratch", image_size=32, channels=16, grid_size=2))
    feats = cached_features(enc, train.images, tmp_path / "cache", batch_size=2, num_workers=0)
    assert feats.shape == (4, 4, 16) and feats.dtype == np.float16
    again = cached_features(enc, train.images, tmp_path / "cache", num_workers=0)
    assert np.array_equal(np.asarray(again), np.asarray(feats))
    sub = cached_features(enc, train.images[2:], tmp_path / "cache", num_workers=0)
    assert np.array_equal(sub[np.array([1, 0])], np.asarray(feats)[[3, 2]])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # the subset reused the cache


def test_bf16_features_are_cached_apart_and_fp32_keys_stay(tmp_path):
    import torch

    from seqlab.data.features import cache_key
    from seqlab.models.encoders import EncoderConfig, ImageEncoder

    make_flickr8k(tmp_path / "f8k")
    train = load_caption_set("flickr8k", tmp_path / "f8k", "train")
    cfg = EncoderConfig(name="scratch", image_size=32, channels=16, grid_size=2)
    enc = ImageEncoder(cfg)
    # the fp32 name is the one caches had before bf16 existed: sha256 of config and paths
    assert cache_key(cfg, train.images) == cache_key(cfg, train.images, "fp32")
    assert "-bf16-" in cache_key(cfg, train.images, "bf16")
    fp32 = cached_features(enc, train.images, tmp_path / "cache", num_workers=0)
    bf16 = cached_features(enc, train.images, tmp_path / "cache", num_workers=0, precision="bf16")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # no reuse across precisions
    a, b = torch.from_numpy(np.asarray(fp32)).float(), torch.from_numpy(np.asarray(bf16)).float()
    assert not torch.equal(a, b) and (a - b).norm() / a.norm() < 0.05
    # a subset in bf16 is served from the bf16 cache, not the fp32 one
    sub = cached_features(enc, train.images[1:], tmp_path / "cache", precision="bf16")
    assert np.array_equal(np.asarray(sub), np.asarray(bf16)[1:])
    with pytest.raises(UserError, match="feature precision"):
        cached_features(enc, train.images, tmp_path / "cache", precision="fp16")
