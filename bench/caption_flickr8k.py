"""Benchmark: Flickr8k captioning with the offline EfficientNet-Lite0 encoder, within one time
budget that includes feature extraction.

    uv run python bench/caption_flickr8k.py \
        --root /work/shared/data/flickr8k --max-minutes 60

Official 6000/1000/1000 split. Features of all 8000 images are extracted once (7x7x1280 grid,
cached as float16); then Show and Tell and Show, Attend and Tell train on the rest of the budget
(best greedy validation BLEU-4 kept) and are scored on the test split with nltk's corpus BLEU over
all five references, greedy and with beam search. A cached extraction still counts against the
budget with the time it took when it ran, so a rerun is held to the same total.
Target: test BLEU-4 >= 21 with beam search (Xu et al. 2015, soft attention: 19.5).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from seqlab import hardware
from seqlab.caption.config import CaptionTrainConfig
from seqlab.caption.predict import evaluate_checkpoint
from seqlab.caption.train import train
from seqlab.config import OptimConfig
from seqlab.data.captions import load_caption_set
from seqlab.data.features import cache_key, cached_features, read_meta
from seqlab.errors import UserError
from seqlab.models.configs import CaptionerConfig
from seqlab.models.encoders import EncoderConfig, ImageEncoder
from seqlab.strictjson import dumps


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/work/shared/data/flickr8k", help="Flickr8k folder")
    p.add_argument("--max-minutes", type=float, default=60.0, help="total, extraction included")
    p.add_argument("--precision", default="fp32", help="fp32 (as measured here), bf16 or auto")
    p.add_argument(
        "--attention-share",
        type=float,
        default=0.7,
        help="share of the training time for the attention model",
    )
    p.add_argument("--eval-reserve-min", type=float, default=3.0, help="kept for test decoding")
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.0, help="weight average decay (0: off)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--cache-dir", default="data/cache/features")
    p.add_argument("--out", default="runs/bench-caption")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--only", choices=["show_tell", "attention"], help="train one model only")
    args = p.parse_args(argv)
    hardware.bench_device(args.device)
    return args


def extract(args) -> float:
    """Features for train+val+test in one cache; returns the seconds extraction took."""
    t0 = time.perf_counter()
    splits = [load_caption_set("flickr8k", args.root, s) for s in ("train", "val", "test")]
    paths = [p for s in splits for p in s.images]
    encoder = ImageEncoder(EncoderConfig(name="efficientnet_lite0"))
    cached_features(encoder, paths, args.cache_dir, device=args.device, desc="Lite0 features")
    meta = read_meta(args.cache_dir, cache_key(encoder.cfg, paths))
    recorded = float(meta.get("seconds", 0.0))
    return max(recorded, time.perf_counter() - t0)


def run_model(args, name: str, attention: bool, minutes: float) -> dict:
    out = Path(args.out) / name
    cfg = CaptionTrainConfig(
        dataset="flickr8k",
        root=args.root,
        out=str(out),
        epochs=1000,
        max_minutes=minutes,
        precision=args.precision,
        batch_size=args.batch_size,
        val_images=1000,
        cache_dir=args.cache_dir,
        threads=args.threads,
        ema=args.ema,
        seed=1234,  # the recipe's seed (the trainers' default was 1234 before RunConfig)
        device=args.device,
    )
    mcfg = CaptionerConfig(attention=attention)
    summary = train(
        cfg,
        mcfg,
        EncoderConfig(name="efficientnet_lite0"),
        OptimConfig(lr=args.lr, warmup_steps=200),
    )
    result = {"train": summary}
    for beam in (1, args.beam):
        key = "greedy" if beam == 1 else f"beam{beam}"
        t = time.perf_counter()
        result[key] = evaluate_checkpoint(
            out / "ckpt_best.pt",
            args.root,
            "test",
            beam,
            cache_dir=args.cache_dir,
            device=args.device,
        )
        result[key]["seconds"] = round(time.perf_counter() - t, 1)
    return result


def main(argv=None) -> None:
    try:
        run(parse_args(argv))
    except UserError as e:  # a missing or malformed --root: one line, not a traceback
        raise SystemExit(f"caption_flickr8k: error: {e}") from None


def run(args: argparse.Namespace) -> None:
    """Extract, train both models on the budget's shares, score them on test, print a table."""
    print(hardware.describe(args.device), flush=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    extract_s = extract(args)
    spent_now = time.perf_counter() - t0

    def clock() -> float:  # seconds charged to the budget: a cached extraction at its cost
        return time.perf_counter() - t0 - spent_now + extract_s

    budget_s = args.max_minutes * 60
    train_s = budget_s - extract_s - args.eval_reserve_min * 60 * (1 if args.only else 2)
    if train_s <= 60:
        raise SystemExit(
            f"the budget leaves {train_s:.0f} s for training after extraction "
            f"({extract_s:.0f} s); raise --max-minutes"
        )
    shares = {"show_tell": 1 - args.attention_share, "attention": args.attention_share}
    if args.only:
        shares = {args.only: 1.0}
    results = {
        "extract_s": round(extract_s, 1),
        "budget_min": args.max_minutes,
        "threads": torch.get_num_threads(),
    }
    for name, share in shares.items():
        # each model gets its share of what is left now, so an overrun cannot eat the next one's
        left = budget_s - clock() - args.eval_reserve_min * 60
        minutes = min(share * train_s, left) / 60
        results[name] = run_model(args, name, name == "attention", minutes)
    results["total_s"] = round(clock(), 1)
    print(dumps(results, indent=2))
    print(
        f"\nFlickr8k test BLEU-1/2/3/4 (x100), Lite0 features, budget {args.max_minutes} "
        f"min (extraction {extract_s / 60:.1f} min, total {results['total_s'] / 60:.1f} min)"
    )
    for name in shares:
        for key in ("greedy", f"beam{args.beam}"):
            r = results[name][key]
            print(
                f"  {name:10s} {key:7s} " + " / ".join(f"{r[f'bleu{n}']:.1f}" for n in range(1, 5))
            )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
