"""Char-LM quality benchmark: best validation loss on Tiny Shakespeare within a CPU time budget.

    uv run python bench/charlm_shakespeare.py --text ../shared/data/tinyshakespeare/input.txt

Uses the 90/10 split (last 10% is validation, as nanoGPT and char-rnn do). The run trains until
--max-minutes are spent (seqlab.run.Budget): the cosine schedule follows the clock, so it ends on
a low learning rate whatever the CPU's speed, and it validates at least every fifth of the budget
(or every --eval-every steps). Target: <= 1.50 nats/char in 20 minutes on a 2-core CPU
(nanoGPT's char-level CPU config reaches 1.88; its GPU run 1.47).
Run it on an otherwise idle machine: timings taken beside other work are not comparable.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from seqlab import hardware
from seqlab.charlm.config import CharLMTrainConfig
from seqlab.charlm.train import train
from seqlab.config import OptimConfig
from seqlab.models.configs import CharLMConfig
from seqlab.strictjson import dumps

DEFAULT_TEXT = Path(__file__).resolve().parents[2] / "shared/data/tinyshakespeare/input.txt"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", default=str(DEFAULT_TEXT), help="Tiny Shakespeare input.txt")
    p.add_argument("--max-minutes", type=float, default=20.0, help="training budget")
    p.add_argument("--out", default="runs/bench_charlm")
    p.add_argument("--cell", default="lstm")
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--embedding-size", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--precision", default="auto")
    p.add_argument(
        "--eval-every", type=int, default=0, help="0: at least every fifth of the budget"
    )
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args()


def main() -> None:
    a = parse_args()
    print(hardware.describe_cpu(), flush=True)
    mcfg = CharLMConfig(
        cell=a.cell,
        embedding_size=a.embedding_size,
        hidden_size=a.hidden_size,
        num_layers=a.num_layers,
        dropout=a.dropout,
    )
    cfg = CharLMTrainConfig(
        text=a.text,
        out=a.out,
        bptt=a.bptt,
        batch_size=a.batch_size,
        precision=a.precision,
        epochs=0,  # the clock alone ends the run
        max_minutes=a.max_minutes,
        eval_every=a.eval_every,
        threads=a.threads,
    )
    summary = train(cfg, mcfg, OptimConfig(lr=a.lr, warmup_steps=a.warmup_steps))
    wall = summary["elapsed_s"]
    best = summary["best_val_loss"]
    result = {
        "best_val_loss_nats": round(best, 4),
        "best_val_bpc": round(best / math.log(2), 4),
        "wall_min": round(wall / 60, 2),
        "steps": summary["steps"],
        "tokens_per_s": summary["tokens_per_s"],
        "precision": summary["precision"],
        "threads": torch.get_num_threads(),
        "config": vars(a),
        "target": "<= 1.50 nats in 20 min",
        "met": best <= 1.50 and a.max_minutes <= 20,
    }
    print(dumps(result, indent=2))


if __name__ == "__main__":
    main()
