"""What a newcomer gets from `seqlab charlm train` with the defaults, for a few time budgets.

    taskset -c 1 uv run python bench/charlm_budget.py \
        --text ../shared/data/tinyshakespeare/input.txt --budgets 1,3,10

For each budget it runs the shortest command (`seqlab charlm train --text FILE --max-minutes B
--threads 1`: the plan sizes the model), scores the best checkpoint with `seqlab charlm evaluate
--val-fraction 0.1` (the 90/10 split the trainer held out), and prints the plan, the validation
nats, the wall time and a sample, beside nanoGPT's documented CPU figure and, when given
--sweep, the best configuration of bench/charlm_sweep.py's sweep at that budget. Rows go to
--results as JSON lines. Run it on an otherwise idle core: the plan probes this device's speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# nanoGPT's README, "quick start" on a CPU (a MacBook): train_shakespeare_char with a 4-layer,
# 128-wide transformer, block 64, 2000 iterations, about 3 minutes, "validation loss 1.88".
NANOGPT_CPU = "nanoGPT CPU recipe: 1.88 nats after about 3 min on a MacBook (its README)"


def cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "seqlab.cli", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return proc


def sweep_best(path: str | None, text: str, budget: float) -> dict | None:
    if not path or not Path(path).is_file():
        return None
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    rows = [r for r in rows if r["text"] == text and r["budget_min"] == budget]
    return min(rows, key=lambda r: r["val_nats"]) if rows else None


def run_budget(text: str, budget: float, runs: Path, threads: int) -> dict:
    out = runs / f"{Path(text).stem}-{budget:g}min"
    t0 = time.perf_counter()
    train = cli("charlm", "train", "--text", text, "--out", str(out), "--max-minutes",
                f"{budget:g}", "--threads", str(threads))  # fmt: skip
    wall = time.perf_counter() - t0
    plan_line = next((ln for ln in train.stderr.splitlines() if ln.startswith("plan:")), "")
    summary = json.loads(train.stdout)
    scored = json.loads(
        cli("charlm", "evaluate", "--checkpoint", str(out), "--text", text,
            "--val-fraction", "0.1", "--device", "cpu").stdout.strip().splitlines()[-1]
    )  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    sample = cli("charlm", "sample", "--checkpoint", str(out), "--length", "200").stdout
    return {
        "budget_min": budget, "plan": plan_line, "plan_detail": config["train"]["plan"],
        "steps": summary["steps"], "tokens_per_s": summary.get("tokens_per_s"),
        "wall_s": round(wall, 1), "val_nats": scored["loss_nats"], "sample": sample,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", required=True, help="UTF-8 text (Tiny Shakespeare's input.txt)")
    p.add_argument("--name", default=None, help="the text's name in the sweep (default: stem)")
    p.add_argument("--budgets", default="1,3,10", help="comma-separated minutes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="runs/budget")
    p.add_argument("--sweep", default="bench/results/charlm_sweep.jsonl")
    p.add_argument("--results", default=None, help="append the rows here (JSON lines)")
    a = p.parse_args()
    from seqlab import hardware

    cpu = hardware.describe_cpu()
    print(cpu)
    print(NANOGPT_CPU, flush=True)
    name = a.name or Path(a.text).stem
    for budget in (float(b) for b in a.budgets.split(",")):
        row = {"text": name, "cpu": cpu, "threads": a.threads}
        row.update(run_budget(a.text, budget, Path(a.runs), a.threads))
        best = sweep_best(a.sweep, name, budget)
        row["sweep_best"] = best and {"config": best["config"], "val_nats": best["val_nats"]}
        gap = (
            f", {row['val_nats'] - best['val_nats']:+.3f} vs sweep best {best['config']}"
            if best
            else ""
        )
        print(f"\n{name} {budget:g} min: val {row['val_nats']:.4f} nats{gap}; "
              f"{row['steps']} steps, {row['wall_s']} s wall\n  {row['plan']}")  # fmt: skip
        print("  sample: " + row["sample"][:200].replace("\n", "\n          "), flush=True)
        if a.results:
            with open(a.results, "a") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
