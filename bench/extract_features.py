"""Caption feature extraction: images/s of the frozen EfficientNet-Lite0, today's path against
the folded one in fp32 and bf16, and what fraction of the CPU's measured convolution rate each gets.

    uv run python bench/extract_features.py --root ../shared/data/flickr8k --threads 1
    uv run python bench/extract_features.py --root ../shared/data/flickr8k --threads 1 \
        --caption-checkpoint caption-flickr8k      # also: test BLEU on fp32 and bf16 features

Every path runs the same --images test photos from disk to the (N, 49, 1280) float16 array,
decoding and resizing included, one after another in one process:

- ``before``: the path before folding (and the trainer's default then): images decoded in the
  main process, the encoder channels-last under ``no_grad`` with its 49 BatchNorms;
- ``folded fp32`` / ``folded bf16``: ``seqlab.data.features.cached_features`` as it is, BatchNorm
  folded into the convolutions, inference mode, images decoded in one worker process
  (``--num-workers``), and bf16 autocast for the second.

The convolution rate is a dense 3x3 convolution (64 -> 64 channels, 56x56, channels-last) timed in
the same run, in each precision; the encoder's FLOPs come from torch's FlopCounterMode.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from seqlab import hardware
from seqlab.data.captions import load_caption_set
from seqlab.data.features import _Images, cached_features
from seqlab.models.encoders import EncoderConfig, ImageEncoder
from seqlab.strictjson import dumps


def conv_rate(dtype: torch.dtype, reps: int = 10) -> float:
    """GFLOP/s of a dense 3x3 convolution in ``dtype`` (channels-last), the CPU's conv peak here."""
    x = torch.randn(16, 64, 56, 56, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
    flops = 2 * 16 * 64 * 56 * 56 * 64 * 9
    with torch.inference_mode():
        F.conv2d(x, w, padding=1)
        t = time.perf_counter()
        for _ in range(reps):
            F.conv2d(x, w, padding=1)
    return flops * reps / (time.perf_counter() - t) / 1e9


def encoder_flops(encoder: ImageEncoder) -> int:
    x = torch.zeros(1, 3, encoder.cfg.image_size, encoder.cfg.image_size)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        encoder(x)
    return counter.get_total_flops()


@torch.no_grad()
def before(encoder: ImageEncoder, paths: list, batch_size: int) -> np.ndarray:
    """The extraction loop before folding: main-process decoding, no_grad, BatchNorm kept."""
    loader = torch.utils.data.DataLoader(
        _Images(paths, encoder.cfg.image_size), batch_size=batch_size, num_workers=0
    )
    encoder = encoder.eval().to(memory_format=torch.channels_last)
    out = []
    for images in loader:
        feats = encoder(images.to(memory_format=torch.channels_last))  # (B, S, D)
        out.append(feats.numpy().astype(np.float16))
    return np.concatenate(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="Flickr8k folder (its test photos are used)")
    p.add_argument("--images", type=int, default=320, help="test photos per path")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=1, help="decoding processes (folded paths)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--caption-checkpoint", help="also score it on the test split both ways")
    p.add_argument("--cache-dir", default="data/cache/features", help="for --caption-checkpoint")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(hardware.describe_cpu(), f"| torch threads {torch.get_num_threads()}", flush=True)
    paths = load_caption_set("flickr8k", a.root, "test").images[: a.images]
    encoder = ImageEncoder(EncoderConfig(name="efficientnet_lite0")).eval()
    gflop = encoder_flops(encoder) / 1e9
    peak = {"fp32": conv_rate(torch.float32), "bf16": conv_rate(torch.bfloat16)}
    print(f"Lite0: {gflop:.3f} GFLOP per 224x224 image; dense 3x3 conv rate "
          f"fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.0f} GFLOP/s", flush=True)  # fmt: skip

    rows, feats = [], {}
    for name, precision in (("before", "fp32"), ("folded fp32", "fp32"), ("folded bf16", "bf16")):
        t = time.perf_counter()
        if name == "before":
            feats[name] = before(encoder, paths, a.batch_size)
        else:
            with tempfile.TemporaryDirectory() as cache:
                f = cached_features(
                    encoder, paths, cache, batch_size=a.batch_size,
                    num_workers=a.num_workers, desc=name, precision=precision,
                )  # fmt: skip
                feats[name] = np.asarray(f).copy()
        seconds = time.perf_counter() - t
        rate = len(paths) / seconds
        rows.append({
            "path": name, "images_per_s": round(rate, 1), "seconds": round(seconds, 1),
            "gflop_per_s": round(rate * gflop, 1),
            "of_conv_rate": round(rate * gflop / peak[precision], 3),
        })  # fmt: skip
    base = torch.from_numpy(feats["before"]).float()
    for row in rows:
        got = torch.from_numpy(feats[row["path"]]).float()
        row["x_before"] = round(row["images_per_s"] / rows[0]["images_per_s"], 2)
        row["feature_rel_diff"] = float(f"{((got - base).norm() / base.norm()).item():.2g}")

    print(f"\n{len(paths)} Flickr8k test photos, batch {a.batch_size}, "
          f"{torch.get_num_threads()} thread(s)")  # fmt: skip
    print("| path | images/s | x before | GFLOP/s | of conv rate | features vs before |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['path']} | {r['images_per_s']} | {r['x_before']}x | {r['gflop_per_s']} | "
              f"{r['of_conv_rate']:.1%} | {r['feature_rel_diff']:.2g} |")  # fmt: skip
    result = {"gflop_per_image": round(gflop, 3), "conv_rate": peak, "paths": rows}

    if a.caption_checkpoint:
        from seqlab.caption.predict import evaluate_checkpoint

        result["test_bleu"] = {}
        for precision in ("fp32", "bf16"):
            s = evaluate_checkpoint(
                a.caption_checkpoint, a.root, "test", 3, dataset="flickr8k",
                cache_dir=a.cache_dir, device="cpu", feature_precision=precision,
            )  # fmt: skip
            result["test_bleu"][precision] = {k: s[k] for k in ("bleu1", "bleu4")}
            print(f"{a.caption_checkpoint} on {precision} features, test beam 3: "
                  f"BLEU-1 {s['bleu1']}, BLEU-4 {s['bleu4']}", flush=True)  # fmt: skip
    print(dumps(result))


if __name__ == "__main__":
    main()
