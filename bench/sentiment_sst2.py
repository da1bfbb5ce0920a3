"""Benchmark: SST-2 dev accuracy of a bi-LSTM (and a vanilla-RNN row) within a training budget.

    flock /tmp/seqlab-bench.lock uv run python bench/sentiment_sst2.py [DATA_DIR] \
        [--cells lstm rnn] [--max-minutes 20] [--threads 1] [--device cuda]

DATA_DIR holds GLUE's train.tsv (67k phrases) and dev.tsv (872 sentences); default
../shared/data/sst2 next to the repository. Training stops at the budget and the best dev
checkpoint is kept (early stopping on dev, as Tai et al. 2015 do); the learning rate follows a
cosine over the budget. The defaults are the best LSTM recipe measured here: a 1-layer bi-LSTM
over sentencepiece pieces, with word dropout, a fresh sampled segmentation per epoch and a weight
average (EMA) that is validated and saved. ``--adversarial 2`` adds adversarial training on the
embeddings (Miyato et al. 2017; twice the cost of a step, and no better on average over three
seeds here, so it is off by default). Prints one markdown row per cell: dev accuracy,
macro-F1, steps, epochs, wall time. Target: >= 86% dev accuracy for the LSTM (Tai et al. 2015:
86.3 for a 2-layer LSTM, with GloVe vectors; none are used here by default).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from seqlab import hardware
from seqlab.config import OptimConfig
from seqlab.data.tokenizers import PRETOKENIZERS
from seqlab.models.configs import POOLINGS, ClassifierConfig
from seqlab.sentiment.config import SentimentTrainConfig
from seqlab.sentiment.counterfactual import KINDS
from seqlab.sentiment.train import train
from seqlab.strictjson import dumps

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"


def run(cell: str, args: argparse.Namespace) -> dict:
    cfg = SentimentTrainConfig(
        train=str(args.data / "train.tsv"),
        dev=str(args.data / "dev.tsv"),
        out=str(Path(args.out) / cell),
        tokenizer=args.tokenizer,
        pretokenize=args.pretokenize,
        vocab_size=args.vocab_size,
        batch_size=64,
        epochs=100,
        max_minutes=args.max_minutes,
        precision=args.precision,
        eval_every=args.eval_every,
        threads=args.threads,
        seed=args.seed,
        device=args.device,
        word_vectors=str(args.word_vectors) if args.word_vectors else None,
        word_dropout=args.word_dropout,
        sp_alpha=args.sp_alpha,
        ema=args.ema,
        negation_repeats=args.negation_repeats,
        counterfactuals=args.counterfactuals,
        teachers=args.teachers,
        teacher_weight=args.teacher_weight,
        adversarial=args.adversarial,
        label_smoothing=args.label_smoothing,
    )
    mcfg = ClassifierConfig(
        cell=cell,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        bidirectional=True,
        dropout=args.dropout,
        pooling=args.pooling,
    )
    ocfg = OptimConfig(
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        clip_norm=5.0,
    )
    t0 = time.perf_counter()
    summary = train(cfg, mcfg, ocfg)
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    summary["cell"] = cell
    return summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "data",
        nargs="?",
        type=Path,
        default=DEFAULT_DATA,
        help="folder with GLUE SST-2 train.tsv and dev.tsv",
    )
    p.add_argument("--cells", nargs="+", default=["lstm", "rnn"], help="one row per cell")
    p.add_argument("--max-minutes", type=float, default=20.0, help="training budget per cell")
    p.add_argument("--precision", default="fp32", help="fp32 (as measured here), bf16 or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: robust when other work shares the cores)",
    )
    p.add_argument("--tokenizer", default="sentencepiece", choices=["word", "sentencepiece"])
    p.add_argument(
        "--pretokenize",
        default="none",
        choices=PRETOKENIZERS,
        help="sentencepiece: Treebank words first (raw input meets SST-2's tokens)",
    )
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--embedding-size", type=int, default=200)
    p.add_argument("--hidden-size", type=int, default=150)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--pooling", default="max", choices=list(POOLINGS))
    p.add_argument("--word-dropout", type=float, default=0.1, help="tokens -> <unk> in training")
    p.add_argument(
        "--sp-alpha",
        type=float,
        default=0.3,
        help="sentencepiece sampling smoothing (0: off; larger: nearer the best split)",
    )
    p.add_argument("--ema", type=float, default=0.999, help="average the weights (0: off)")
    p.add_argument(
        "--adversarial",
        type=float,
        default=0.0,
        help="adversarial perturbation of the embeddings, L2 norm per text (0: off)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument(
        "--negation-repeats",
        type=int,
        default=0,
        help="extra showings of each training phrase with a negation word (0: off)",
    )
    p.add_argument(
        "--counterfactuals",
        default="none",
        choices=KINDS,
        help="rule-made counterfactual training texts (seqlab.sentiment.counterfactual)",
    )
    p.add_argument("--teachers", help="distil from these classifiers (comma-separated checkpoints)")
    p.add_argument("--teacher-weight", type=float, default=0.5, help="the teachers' share")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--schedule",
        default="cosine",
        choices=["cosine", "none"],
        help="cosine: anneal the learning rate over the time budget",
    )
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument(
        "--word-vectors",
        type=Path,
        help="GloVe/word2vec .txt for the embeddings (narrower vectors: the first columns)",
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", default="runs/bench_sst2")
    args = p.parse_args(argv)
    hardware.bench_device(args.device)
    print(hardware.describe(args.device), flush=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = [run(cell, args) for cell in args.cells]
    print("\n| cell | dev accuracy | dev macro-F1 | best at step | steps | epochs | wall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| bi-{r['cell'].upper()} | {r['best_dev_accuracy_pct']:.2f}% | "
            f"{r['best_dev_macro_f1']:.4f} | {r['best_step']} | {r['steps']} | {r['epochs']} | "
            f"{r['wall_s'] / 60:.1f} min |"
        )
    for r in rows:
        print(dumps(r))


if __name__ == "__main__":
    main()
