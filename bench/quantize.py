"""int8 dynamic quantization against fp32, on the shipped models and their test sets.

    uv run python bench/quantize.py --multi30k ../shared/data/multi30k \\
        --sst2 ../shared/data/sst2 --flickr8k ../shared/data/flickr8k --threads 1

For each model: the decoding (or classification) time of the fp32 and the int8 copy on the same
inputs, timed in turn (fp32, int8, fp32, int8: the faster of each pair is kept, so a busy moment
hurts neither side alone), the speed-up, and the metric both reach (target: >= 1.8x with at most
0.5 BLEU or 0.3 accuracy points lost). The captioner is timed on cached encoder features: int8
covers the decoder, and the frozen CNN is measured by bench/feature_extraction.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from seqlab import hardware, pretrained, quantize
from seqlab.strictjson import dumps


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def compare(name: str, predictor, run, metric: str, rounds: int = 2) -> dict:
    """Time `run()` with the predictor's fp32 model and its int8 copy, alternating."""
    fp32 = predictor.model
    q = quantize.int8(fp32)
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    scores: dict[str, object] = {}
    for _ in range(rounds):
        for kind, model in (("fp32", fp32), ("int8", q)):
            predictor.model = model
            dt, scores[kind] = _timed(run)
            times[kind].append(dt)
    predictor.model = fp32
    best = {k: min(v) for k, v in times.items()}
    row = {
        "model": name,
        "fp32_s": round(best["fp32"], 2),
        "int8_s": round(best["int8"], 2),
        "speedup": round(best["fp32"] / best["int8"], 2),
        f"fp32_{metric}": scores["fp32"][metric],
        f"int8_{metric}": scores["int8"][metric],
    }
    print(dumps(row), flush=True)
    return row


def translator(a) -> dict:
    from seqlab.data.pairs import read_parallel

    raw = Path(a.multi30k) / "raw"
    pairs = read_parallel(raw / "test_2016_flickr.de", raw / "test_2016_flickr.en")[: a.limit]
    src, ref = [s for s, _ in pairs], [r for _, r in pairs]
    tr = pretrained.load("translate-multi30k-de-en", device="cpu")
    return compare(
        f"translate beam {a.beam}, {len(src)} test2016 sentences",
        tr,
        lambda: tr.evaluate(src, ref, beam_size=a.beam),
        "bleu",
    )


def sentiment(a) -> dict:
    from seqlab.data.labelled import load_labelled

    data = load_labelled(Path(a.sst2) / "dev.tsv")
    pred = pretrained.load("sentiment-sst2", device="cpu")
    return compare(
        f"sentiment, {len(data.texts)} SST-2 dev sentences",
        pred,
        lambda: pred.evaluate(data),
        "accuracy",
    )


def captioner(a) -> dict:
    from seqlab.caption.data import FeatureSource
    from seqlab.caption.predict import evaluate_bleu
    from seqlab.data.captions import load_caption_set

    pred = pretrained.load("caption-flickr8k", device="cpu")
    data = load_caption_set("flickr8k", a.flickr8k, "test")
    n = min(a.limit, len(data))
    source = FeatureSource(pred.encoder, data.images, a.cache_dir, pred.device)
    source(list(range(n)))  # the features, once, before any timing

    def run():
        return evaluate_bleu(
            pred.model, source, data.captions, pred.vocab, beam_size=3, limit=n,
            max_len=pred.info["max_len"],
        )  # fmt: skip

    return compare(f"caption beam 3, {n} Flickr8k test images", pred, run, "bleu4")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--multi30k", help="Multi30k folder (raw/test_2016_flickr.*)")
    p.add_argument("--sst2", help="SST-2 folder (dev.tsv)")
    p.add_argument("--flickr8k", help="Flickr8k folder")
    p.add_argument("--cache-dir", default="data/cache/features", help="caption feature cache")
    p.add_argument("--limit", type=int, default=1000, help="test sentences/images (max)")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    print(hardware.describe_cpu(), flush=True)
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, quantized engine "
          f"{torch.backends.quantized.engine}")  # fmt: skip
    rows = []
    if a.multi30k:
        rows.append(translator(a))
    if a.sst2:
        rows.append(sentiment(a))
    if a.flickr8k:
        rows.append(captioner(a))
    if not rows:
        p.error("give at least one of --multi30k, --sst2, --flickr8k")
    print("\n| model | fp32 s | int8 s | speed-up | metric fp32 -> int8 |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        metric = next(k.removeprefix("fp32_") for k in r if k.startswith("fp32_") and k != "fp32_s")
        print(f"| {r['model']} | {r['fp32_s']} | {r['int8_s']} | {r['speedup']}x | "
              f"{metric} {r['fp32_' + metric]} -> {r['int8_' + metric]} |")  # fmt: skip


if __name__ == "__main__":
    main()
