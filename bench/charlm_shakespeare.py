"""Char-LM quality benchmark: best validation loss on Tiny Shakespeare within a CPU time budget.

    uv run python bench/charlm_shakespeare.py --text ../shared/data/tinyshakespeare/input.txt

Uses the 90/10 split (last 10% is validation, as nanoGPT and char-rnn do). The budget covers the
whole training run: a short calibration measures the step time, the cosine schedule is sized to
fit the budget, and training stops at the budget regardless. Target: <= 1.50 nats/char in 20
minutes on a 2-core CPU (nanoGPT's char-level CPU config reaches 1.88; its GPU run 1.47).
Run it on an otherwise idle machine: timings taken beside other work are not comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from seqlab import hardware
from seqlab.models.charlm import CharLMConfig
from seqlab.tasks.charlm import CharLMTrainConfig, train
from seqlab.training import OptimConfig

DEFAULT_TEXT = Path(__file__).resolve().parents[2] / "shared/data/tinyshakespeare/input.txt"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", default=str(DEFAULT_TEXT), help="Tiny Shakespeare input.txt")
    p.add_argument("--minutes", type=float, default=20.0, help="training budget")
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
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--calibrate-steps", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args()


def main() -> None:
    a = parse_args()
    print(hardware.describe_cpu(), flush=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    mcfg = CharLMConfig(
        cell=a.cell,
        embedding_size=a.embedding_size,
        hidden_size=a.hidden_size,
        num_layers=a.num_layers,
        dropout=a.dropout,
    )
    common = dict(text=a.text, bptt=a.bptt, batch_size=a.batch_size, precision=a.precision)
    # Calibrate: time a few steps (after one warm-up step) to size the schedule to the budget.
    cal = train(
        CharLMTrainConfig(
            out=a.out + "_calibrate", max_steps=a.calibrate_steps, eval_every=10**6, **common
        ),
        mcfg,
        OptimConfig(lr=a.lr),
    )
    step_s = cal["elapsed_s"] / a.calibrate_steps
    steps = int(a.minutes * 60 * 0.95 / step_s)  # 5% for the periodic validation passes
    print(f"calibration: {step_s:.3f} s/step -> {steps} steps in {a.minutes} min")
    t0 = time.perf_counter()
    cfg = CharLMTrainConfig(
        out=a.out, max_steps=steps, eval_every=a.eval_every, time_limit=a.minutes, **common
    )
    summary = train(cfg, mcfg, OptimConfig(lr=a.lr, warmup_steps=min(200, steps // 10)))
    wall = time.perf_counter() - t0
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
        "met": best <= 1.50 and wall <= 20 * 60 + 30,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
