"""Benchmark: Multi30k German -> English with the attentional GRU seq2seq, within a time budget.

Trains on raw/train.{de,en}, early-stops on raw/val.{de,en} (greedy dev BLEU), then reports
sacreBLEU on raw/test_2016_flickr with greedy and beam search, and a no-attention baseline row.
The beam's GNMT length penalty is chosen on val among --length-penalties (never on test).
The budget covers everything inside training (epochs and per-epoch validation); the length
penalty choice and the test evaluations come after it.

    flock /tmp/seqlab-bench.lock uv run python bench/translate_multi30k.py \\
        --data /work/shared/data/multi30k --max-minutes 60 [--device cuda]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from seqlab import hardware
from seqlab.config import OptimConfig
from seqlab.data.pairs import read_parallel
from seqlab.models.configs import Seq2SeqConfig
from seqlab.strictjson import dumps
from seqlab.translate.config import TranslateTrainConfig
from seqlab.translate.predict import Translator
from seqlab.translate.train import train


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/multi30k", help="Multi30k folder")
    p.add_argument("--out", default="runs/bench_multi30k", help="where the runs go")
    p.add_argument(
        "--max-minutes", type=float, default=60.0, help="training budget (0 skips the model)"
    )
    p.add_argument(
        "--baseline-max-minutes",
        type=float,
        default=None,
        help="no-attention baseline budget (default: the same; 0 skips it)",
    )
    p.add_argument("--precision", default="fp32", help="fp32 (as measured here), bf16 or auto")
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--embedding-size", type=int, default=256)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument(
        "--length-penalties",
        type=float,
        nargs="+",
        default=[0.6, 1.0, 1.4],
        help="GNMT alphas tried on val with the beam; the best is used on test",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    args = p.parse_args(argv)
    hardware.bench_device(args.device)
    return args


def choose_length_penalty(tr: Translator, raw: Path, args) -> float:
    """The GNMT alpha with the best beam BLEU on val (ties: the first listed)."""
    pairs = read_parallel(raw / f"val.{args.src}", raw / f"val.{args.tgt}")
    src, ref = [s for s, _ in pairs], [r for _, r in pairs]
    scores = {}
    for alpha in args.length_penalties:
        scores[alpha] = tr.evaluate(src, ref, args.beam, alpha)["bleu"]
        logging.info("val beam%d, length penalty %.1f: BLEU %.2f", args.beam, alpha, scores[alpha])
    return max(args.length_penalties, key=lambda a: scores[a])


def run_one(args, name: str, attention: str, budget: float) -> dict:
    raw = Path(args.data) / "raw"
    cfg = TranslateTrainConfig(
        train_src=str(raw / f"train.{args.src}"),
        train_tgt=str(raw / f"train.{args.tgt}"),
        dev_src=str(raw / f"val.{args.src}"),
        dev_tgt=str(raw / f"val.{args.tgt}"),
        out=str(Path(args.out) / name),
        vocab_size=args.vocab_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        max_minutes=budget,
        patience=3,
        device=args.device,
        seed=1234,  # the recipe's seed (the trainers' default was 1234 before RunConfig)
        precision=args.precision,
        threads=args.threads,
    )
    mcfg = Seq2SeqConfig(
        hidden_size=args.hidden_size,
        embedding_size=args.embedding_size,
        attention=attention,
        dropout=0.3,
    )
    ocfg = OptimConfig(lr=1e-3, schedule="plateau", clip_norm=1.0)
    t0 = time.perf_counter()
    summary = train(cfg, mcfg, ocfg)
    train_min = (time.perf_counter() - t0) / 60
    tr = Translator.from_checkpoint(Path(cfg.out) / "ckpt_best.pt", args.device)
    pairs = read_parallel(
        raw / f"test_2016_flickr.{args.src}", raw / f"test_2016_flickr.{args.tgt}"
    )
    src, ref = [s for s, _ in pairs], [r for _, r in pairs]
    alpha = choose_length_penalty(tr, raw, args) if attention != "none" else 0.6
    rows = {}
    for label, beam in (("greedy", 1), (f"beam{args.beam}", args.beam)):
        t1 = time.perf_counter()
        scores = tr.evaluate(src, ref, beam, alpha)
        scores["length_penalty"] = alpha
        scores["decode_s"] = round(time.perf_counter() - t1, 1)
        rows[label] = scores
        if attention == "none":
            break  # the baseline row: greedy only
    return {
        "name": name,
        "attention": attention,
        "budget_min": budget,
        "train_min": round(train_min, 1),
        "epochs": summary["epochs"],
        "steps": summary["steps"],
        "best_val_bleu_greedy": summary["best_val_bleu_greedy"],
        "test": rows,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    print(hardware.describe(args.device), flush=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    if args.max_minutes > 0:
        results.append(run_one(args, "attention", "bahdanau", args.max_minutes))
        print(dumps(results[-1], indent=2), flush=True)
    baseline = args.max_minutes if args.baseline_max_minutes is None else args.baseline_max_minutes
    if baseline > 0:
        results.append(run_one(args, "no_attention", "none", baseline))
        print(dumps(results[-1], indent=2), flush=True)
    print("\n| model | budget (min) | epochs done | test2016 BLEU greedy | beam | test ppl |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        g, b = r["test"]["greedy"], r["test"].get(f"beam{args.beam}")
        beam = f"{b['bleu']:.1f}" if b else "-"
        print(
            f"| {r['name']} | {r['budget_min']:g} | {r['epochs']} | {g['bleu']:.1f} | {beam} | "
            f"{g['perplexity']:.1f} |"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(dumps(results, indent=2))
    print("signature:", results[0]["test"]["greedy"]["signature"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
