"""Fit the shipped models' familiarity on training and validation data and write new packed files
with it (weights unchanged): the recipe behind the ``familiarity`` of each model card.

    uv run python bench/fit_familiarity.py --out runs/familiarity \\
        --flickr8k ../shared/data/flickr8k --multi30k ../shared/data/multi30k \\
        --sst2 ../shared/data/sst2

Then copy a file over ``seqlab/weights/`` and put its size and sha256 (printed here) into
``seqlab/registry.py``. ``bench/familiarity.py`` reports how the fitted scores do on test and
out-of-domain data. Only training and validation data are read here.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch

from seqlab import pretrained, registry
from seqlab.packing import pack
from seqlab.sources import load_checkpoint

DOMAINS = {  # shown as "unlike the {domain} this model learned from"
    "caption-flickr8k": "6,000 Flickr photos (mostly people and dogs, at play, in sport and "
    "outdoors)",
    "translate-multi30k-de-en": "29,000 short German descriptions of Flickr photos (Multi30k: "
    "people, dogs, sport, streets)",
    "sentiment-sst2": "sentences of English movie reviews (SST-2)",
}


def caption_state(args) -> dict:
    from seqlab.caption.familiarity import fit_from_features, pooled_features
    from seqlab.data.captions import load_caption_set

    pred = pretrained.load("caption-flickr8k", device="cpu")
    feats = {}
    for split in ("train", "val"):
        images = load_caption_set("flickr8k", args.flickr8k, split).images
        cache = Path(args.cache) / f"caption_{split}_{len(images)}.npy"  # bench/familiarity.py's
        if not cache.is_file():
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, pooled_features(pred, list(images)))
        feats[split] = np.load(cache)
    return fit_from_features(feats["train"], feats["val"], dim=512, k=1)


def translate_state(args) -> dict:
    from seqlab.translate.familiarity import fit_familiarity

    tr = pretrained.load("translate-multi30k-de-en", device="cpu")
    val = (Path(args.multi30k) / "raw" / "val.de").read_text(encoding="utf-8").splitlines()
    return fit_familiarity(tr, val, beam_size=5)


def sentiment_state(args) -> dict:
    from seqlab.sentiment.familiarity import fit_familiarity

    se = pretrained.load("sentiment-sst2", device="cpu")

    def rows(name: str) -> list[str]:
        lines = Path(args.sst2, name).read_text(encoding="utf-8").splitlines()[1:]
        return [ln.split("\t")[0] for ln in lines]

    return fit_familiarity(se, rows("train.tsv"), rows("dev.tsv")[:436])  # dev's 1st half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/familiarity", help="folder for the new packed files")
    ap.add_argument("--flickr8k", help="Flickr8k folder")
    ap.add_argument("--multi30k", help="Multi30k folder with raw/")
    ap.add_argument("--sst2", help="SST-2 folder with train.tsv and dev.tsv")
    ap.add_argument("--cache", default="data/cache/familiarity", help="caption feature cache")
    args = ap.parse_args()
    torch.set_num_threads(1)
    fits = {
        "caption-flickr8k": (args.flickr8k, caption_state),
        "translate-multi30k-de-en": (args.multi30k, translate_state),
        "sentiment-sst2": (args.sst2, sentiment_state),
    }
    for name, (data, fit) in fits.items():
        if not data:
            continue
        ckpt = load_checkpoint(name)
        ckpt.pop("shipped", None)
        ckpt["familiarity"], ckpt["domain"] = fit(args), DOMAINS[name]
        out = Path(args.out) / registry.entry(name).file
        pack(ckpt, out, registry.entry(name).storage)
        data = out.read_bytes()
        print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    with torch.no_grad():
        main()
