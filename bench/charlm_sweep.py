"""Char-LM sizing sweep: validation nats of model sizes against time budgets, on one CPU core.

    taskset -c 1 uv run python bench/charlm_sweep.py --name shakespeare \
        --text ../shared/data/tinyshakespeare/input.txt --budgets 1,3 --configs 2x128,2x256:d0.1
    uv run python bench/charlm_sweep.py --make-python-text runs/python_stdlib.txt  # a second text

Each (text, budget, config) trains with the unchanged CLI (`seqlab charlm train --epochs 0
--max-minutes B --threads 1` plus the config's size flags), then is scored by `seqlab charlm
evaluate --val-fraction 0.1` on its best checkpoint: the 90/10 split the trainer held out. One
JSON row per run is appended to --results (rows already there are skipped, so an interrupted
sweep resumes). The planner's sizing rule (seqlab/charlm/plan.py) is fitted on these rows.

A config is ``LxH`` (layers x hidden units) with optional ``:`` suffixes: ``d0.1`` dropout,
``w0.25`` weight dropout, ``lr5e-3`` learning rate, ``b16`` batch size, ``t128`` bptt, ``e64``
embedding size. Defaults for the suffixes: dropout 0, weight dropout 0, lr 3e-3, batch 32, bptt
64, embedding 64. Every setting the planner chooses is given, so no run is planned.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {"d": "dropout", "w": "weight_dropout", "lr": "lr", "b": "batch_size", "t": "bptt",
            "e": "embedding_size"}  # fmt: skip
FLOATS = ("dropout", "weight_dropout", "lr")
BASE = {"dropout": 0.0, "weight_dropout": 0.0, "lr": 3e-3, "batch_size": 32, "bptt": 64,
        "embedding_size": 64}  # fmt: skip


def parse_config(spec: str) -> dict:
    """'2x192:d0.1:lr5e-3' -> {'num_layers': 2, 'hidden_size': 192, 'dropout': 0.1, ...}."""
    size, *rest = spec.split(":")
    layers, hidden = size.lower().split("x")
    cfg = {**BASE, "num_layers": int(layers), "hidden_size": int(hidden)}
    for part in rest:
        key = "lr" if part.startswith("lr") else part[0]
        value = part[len(key) :]
        name = SUFFIXES[key]
        cfg[name] = float(value) if name in FLOATS else int(value)
    return cfg


def train_flags(cfg: dict) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in sorted(cfg.items())]


def cli(*args: str) -> str:
    """Run `python -m seqlab.cli ARGS` in a child process; returns its stdout."""
    cmd = [sys.executable, "-m", "seqlab.cli", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def run_one(text: str, budget: float, spec: str, runs: Path, threads: int) -> dict:
    cfg = parse_config(spec)
    out = runs / f"{Path(text).stem}-{budget:g}min-{spec.replace(':', '_')}"
    t0 = time.perf_counter()
    summary = json.loads(
        cli(
            "charlm", "train", f"--text={text}", f"--out={out}", "--epochs=0",
            f"--max-minutes={budget}", f"--threads={threads}", "--seed=1337",
            *train_flags(cfg),
        )
    )  # fmt: skip
    wall = time.perf_counter() - t0
    scored = json.loads(
        cli(
            "charlm", "evaluate", f"--checkpoint={out}", f"--text={text}",
            "--val-fraction=0.1", "--device=cpu", f"--threads={threads}",
        ).strip().splitlines()[-1]
    )  # fmt: skip
    return {
        "config": spec,
        **cfg,
        "steps": summary["steps"],
        "tokens_per_s": summary.get("tokens_per_s"),
        "train_wall_s": round(wall, 1),
        "best_val_loss_train": summary.get("best_val_loss"),
        "val_nats": scored["loss_nats"],
    }


def params(row: dict, vocab: int) -> int:
    from seqlab.charlm.plan import param_count

    return param_count(row["num_layers"], row["hidden_size"], row["embedding_size"], vocab)


def fit(results: Path, vocab: int = 65) -> None:
    """Print the sweep as a table and, for a range of minimum training lengths, how far the rule
    "the largest size that trains on at least MIN characters in the budget" lands from each
    budget's best (sizes compared by their best row; speeds as measured in the sweep)."""
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        r["chars"] = r["steps"] * r["batch_size"] * r["bptt"]
        groups.setdefault((r["text"], r["budget_min"]), []).append(r)
    print("| text | budget | config | steps | train chars | chars/param | val nats |")
    print("|---|---|---|---|---|---|---|")
    for (text, budget), rs in sorted(groups.items()):
        for r in sorted(rs, key=lambda r: r["val_nats"]):
            print(f"| {text} | {budget:g} min | {r['config']} | {r['steps']} | "
                  f"{r['chars'] / 1e6:.1f}M | {r['chars'] / params(r, vocab):.0f} | "
                  f"{r['val_nats']:.4f} |")  # fmt: skip
    print("\nMIN chars -> the rule's size and its gap to the best, per (text, budget)")
    for min_chars in (1e6, 2e6, 3e6, 4e6, 6e6):
        cells = []
        for (text, budget), rs in sorted(groups.items()):
            best = min(r["val_nats"] for r in rs)
            by_size: dict[tuple, list[dict]] = {}
            for r in rs:
                by_size.setdefault((r["num_layers"], r["hidden_size"]), []).append(r)
            fed = [s for s, g in by_size.items() if max(r["chars"] for r in g) >= min_chars]
            pick = (max if fed else min)(fed or by_size, key=lambda s: params(by_size[s][0], vocab))
            gap = min(r["val_nats"] for r in by_size[pick]) - best
            cells.append(f"{text} {budget:g}: {pick[0]}x{pick[1]} {gap:+.3f}")
        print(f"{min_chars / 1e6:g}M: " + "; ".join(cells))


def make_python_text(path: Path, size: int = 1_100_000) -> None:
    """This Python's top-level standard-library modules, in name order, cut to ``size`` chars."""
    import sysconfig

    lib = Path(sysconfig.get_paths()["stdlib"])
    parts, n = [], 0
    for f in sorted(lib.glob("*.py")):
        src = f.read_text(encoding="utf-8", errors="replace")
        parts.append(src)
        n += len(src)
        if n >= size:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts)[:size], encoding="utf-8")
    print(f"wrote {path}: {size:,} characters from {len(parts)} files of {lib}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", help="UTF-8 training text")
    p.add_argument("--name", default=None, help="the text's name in the results (default: stem)")
    p.add_argument("--budgets", default="1,3", help="comma-separated minutes")
    p.add_argument("--configs", default="2x128,2x192,2x256", help="comma-separated configs")
    p.add_argument("--results", default="bench/results/charlm_sweep.jsonl")
    p.add_argument("--runs", default="runs/sweep", help="folder for the runs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--make-python-text", default=None, help="write the second text and exit")
    p.add_argument("--fit", action="store_true", help="print the table and the rule's fit")
    a = p.parse_args()
    if a.make_python_text:
        return make_python_text(Path(a.make_python_text))
    if a.fit:
        return fit(Path(a.results))
    if not a.text:
        sys.exit("charlm_sweep: --text is required")
    from seqlab import hardware

    cpu = hardware.describe_cpu()
    print(cpu, flush=True)
    results = Path(a.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    name = a.name or Path(a.text).stem
    done = set()
    if results.exists():
        for line in results.read_text().splitlines():
            row = json.loads(line)
            done.add((row["text"], row["budget_min"], row["config"]))
    for budget in (float(b) for b in a.budgets.split(",")):
        for spec in a.configs.split(","):
            if (name, budget, spec) in done:
                continue
            row = {"text": name, "budget_min": budget, "cpu": cpu, "threads": a.threads}
            row.update(run_one(a.text, budget, spec, Path(a.runs), a.threads))
            with results.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{name:12} {budget:4g} min  {spec:18} steps {row['steps']:6}  "
                f"{row['tokens_per_s'] or 0:7} chars/s  val {row['val_nats']:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
