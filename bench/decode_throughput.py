"""Decoding throughput: greedy against batched beam search, for the translator and the captioner.

    uv run python bench/decode_throughput.py                 # shipped models on the test sets
    uv run python bench/decode_throughput.py --device cuda   # the same on a GPU
    uv run python bench/decode_throughput.py --synthetic     # untrained models, random inputs
    uv run python bench/decode_throughput.py --tasks caption --sentences 128 \
        --save-caption-features feats.npy    # then, where the photos or the encoder are not:
    uv run python bench/decode_throughput.py --tasks caption --caption-features feats.npy
    uv run python bench/decode_throughput.py --translate-checkpoint runs/de-en \
        --caption-checkpoint runs/flickr8k

Reports sentences/s for greedy and for beam search (beam 5) over the same inputs, and the cost of a
beam sentence relative to a greedy one (targets: <= 3x on a CPU, <= 2x on a GPU, by batching the
beams into one step call rather than looping over them, and one copy to the host per step). By
default the shipped models decode the real test sets (Multi30k test2016 German sentences, Flickr8k
test images' features) from --multi30k and --flickr8k, which give the realistic mix of lengths;
--synthetic uses untrained models on random inputs instead, where every hypothesis runs to
--max-len, the most work beam search can do.
On CUDA the clock stops after torch.cuda.synchronize().
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seqlab import hardware
from seqlab.decoding import beam_search, greedy
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.sources import load_checkpoint

BOS, EOS = 2, 3


def require_folder(flag: str, folder: str, inside: str) -> Path:
    """The test set's folder, or one clear line and a non-zero exit."""
    if not (Path(folder) / inside).is_file():
        print(
            f"bench: {flag} {folder}: no {inside} there; pass the dataset's folder "
            "(seqlab fetch), or --synthetic for random inputs",
            file=sys.stderr,
        )
        sys.exit(2)
    return Path(folder)


def _model(cls, cfg_cls, checkpoint: str | None, **defaults):
    if checkpoint:
        ck = load_checkpoint(checkpoint)
        model = cls(cfg_cls(**ck["model_config"]))
        model.load_state_dict(ck["model"])
    else:
        model = cls(cfg_cls(**defaults))
    return model.eval()


def _time_in_turn(fns: list, reps: int) -> list[float]:
    """Each fn's fastest of ``reps`` runs, the fns taking turns (a busy moment on a shared CPU
    then hurts neither side alone); one warm-up run each first."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


@torch.no_grad()
def bench(name, step, make_state, n: int, batch: int, beam: int, max_len: int, reps: int):
    def run(kind):
        for start in range(0, n, batch):
            B = min(batch, n - start)
            state = make_state(start, B)
            if kind == "greedy":
                greedy(step, state, B, BOS, EOS, max_len)
            else:
                beam_search(step, state, B, BOS, EOS, beam_size=beam, max_len=max_len)

    def timed(kind):
        run(kind)
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    g, b = _time_in_turn([lambda: timed("greedy"), lambda: timed("beam")], reps)
    print(
        f"{name:10} greedy {n / g:8.1f} sent/s   beam {beam} {n / b:8.1f} sent/s   "
        f"beam/greedy cost {b / g:5.2f}x  (target <= 3x on a CPU, <= 2x on a GPU)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--translate-checkpoint", default="translate-multi30k-de-en")
    p.add_argument("--caption-checkpoint", default="caption-flickr8k")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--synthetic", action="store_true", help="untrained models, random inputs")
    p.add_argument("--tasks", default="translate,caption", help="which decoders to time")
    p.add_argument("--sentences", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--max-len", type=int, default=30)
    p.add_argument("--src-len", type=int, default=14, help="source tokens (Multi30k: ~13)")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--multi30k",
        default="../shared/data/multi30k",
        help="Multi30k folder: decode its test2016 German sentences",
    )
    p.add_argument(
        "--flickr8k",
        default="../shared/data/flickr8k",
        help="Flickr8k folder: caption its test images' features",
    )
    p.add_argument("--cache-dir", default="data/cache/features", help="caption feature cache")
    p.add_argument(
        "--caption-features",
        help="an .npy of (N, 49, 1280) test-image features (from --save-caption-features): "
        "caption without the photos or the encoder's packages",
    )
    p.add_argument("--save-caption-features", help="write the test images' features here (.npy)")
    a = p.parse_args()
    device = hardware.bench_device(a.device)
    if a.synthetic:
        a.translate_checkpoint = a.caption_checkpoint = a.multi30k = a.flickr8k = None
        a.caption_features = a.save_caption_features = None  # random inputs, nothing saved
    tasks = a.tasks.split(",")
    if not a.synthetic and "translate" in tasks:
        require_folder("--multi30k", a.multi30k, "raw/test_2016_flickr.de")
    if a.caption_features and not Path(a.caption_features).is_file():
        print(f"bench: --caption-features {a.caption_features}: no such file", file=sys.stderr)
        sys.exit(2)
    if not a.synthetic and "caption" in tasks and not a.caption_features:
        require_folder("--flickr8k", a.flickr8k, "Flickr_8k.testImages.txt")
    print(hardware.describe(device), flush=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(
        f"{a.sentences} inputs, batches of {a.batch_size}, max length {a.max_len}, "
        f"{torch.get_num_threads()} threads"
    )

    if "translate" in tasks:
        bench_translate(a, device)
    if "caption" in tasks:
        bench_caption(a, device)


def bench_translate(a: argparse.Namespace, device: torch.device) -> None:
    s2s = _model(
        Seq2Seq,
        Seq2SeqConfig,
        a.translate_checkpoint,
        src_vocab_size=8000,
        tgt_vocab_size=8000,
        encoder_layers=2,
    ).to(device)
    V = s2s.cfg.src_vocab_size

    sources = None
    if a.multi30k:  # real test2016 sentences, in the shipped model's vocabulary
        from seqlab.translate.predict import Translator

        tok = Translator.from_checkpoint(a.translate_checkpoint, "cpu").src_tok
        lines = (Path(a.multi30k) / "raw" / "test_2016_flickr.de").read_text().splitlines()
        sources = [tok.encode(line) for line in lines[: a.sentences]]
        a.sentences = len(sources)

    def s2s_state(start, B):
        if sources is None:
            src = torch.randint(4, V, (B, a.src_len))
            return s2s.init_state(src.to(device), torch.full((B,), a.src_len))
        rows = sources[start : start + B]
        lengths = torch.tensor([len(r) for r in rows])
        src = torch.zeros(B, int(lengths.max()), dtype=torch.long)
        for i, r in enumerate(rows):
            src[i, : len(r)] = torch.tensor(r)
        return s2s.init_state(src.to(device), lengths)

    bench(
        "translate",
        s2s.decode_step,
        s2s_state,
        a.sentences,
        a.batch_size,
        a.beam,
        a.max_len,
        a.reps,
    )


def bench_caption(a: argparse.Namespace, device: torch.device) -> None:
    cap = _model(
        Captioner,
        CaptionerConfig,
        a.caption_checkpoint,
        vocab_size=3000,
        feature_size=320,
        attention=True,
    ).to(device)
    S, D = 49, cap.cfg.feature_size  # a 7x7 feature map, as EfficientNet-Lite0 gives at 224px
    feats = None
    if a.caption_features:  # saved by --save-caption-features
        feats = torch.from_numpy(np.load(a.caption_features))[: a.sentences].float()  # (N, S, D)
        a.sentences = len(feats)
    elif a.flickr8k:  # the Flickr8k test images' features (extracted once into --cache-dir)
        from seqlab.caption.data import FeatureSource
        from seqlab.caption.predict import CaptionPredictor
        from seqlab.data.captions import load_caption_set

        pred = CaptionPredictor.from_checkpoint(a.caption_checkpoint, a.device)
        images = load_caption_set("flickr8k", a.flickr8k, "test").images[: a.sentences]
        feats = FeatureSource(pred.encoder, images, a.cache_dir, pred.device)(
            list(range(len(images)))
        )  # (N, S, D)
        a.sentences = len(images)
        if a.save_caption_features:
            np.save(a.save_caption_features, feats.half().cpu().numpy())

    def cap_state(start, B):
        x = torch.randn(B, S, D) if feats is None else feats[start : start + B]
        return cap.init_state(x.to(device))

    bench(
        "caption", cap.decode_step, cap_state, a.sentences, a.batch_size, a.beam, a.max_len, a.reps
    )


if __name__ == "__main__":
    main()
