"""A big text for `seqlab charlm train`: peak memory, the cache's build, and the first step.

    taskset -c 1 uv run python bench/charlm_bigtext.py \
        --text ../shared/data/tinyshakespeare/input.txt --mb 100

It repeats --text up to --mb megabytes, then trains on it three times, each a fresh process
with the same small model and 20 steps: on the text itself (the baseline), on the big file
with no cache (the token cache is built in the run folder), and on the big file again (the
cache is reused). For each it prints the seconds from the process start to the first optimizer
step (from metrics.jsonl's first record) and the peak resident memory, and the big runs' extra
memory against the baseline as a multiple of the file size (target: at most 3x; first step of a
cached run: within 15 s). Default sizes are planned: the plan's probe counts in the wait.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import resource, sys
from seqlab.cli import main
rc = main(sys.argv[1:])
print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
sys.exit(rc)
"""


def make_big(text: Path, mb: int, out: Path) -> Path:
    chunk = text.read_bytes()
    with open(out, "wb") as f:
        for _ in range(max(1, mb * 2**20 // len(chunk))):
            f.write(chunk)
    return out


def run(text: Path, out: Path, threads: int) -> dict:
    """One 20-step run with the plan's sizes; the first step is the first line of its
    metrics.jsonl, watched from here."""
    log = out / "metrics.jsonl"
    log.unlink(missing_ok=True)  # keep the token cache, not the last run's records
    argv = ["charlm", "train", "--text", str(text), "--out", str(out), "--max-steps", "20",
            "--eval-every", "20", "--threads", str(threads)]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    first = None
    while proc.poll() is None:
        if first is None and log.is_file() and '"loss"' in log.read_text():
            first = time.perf_counter() - t0
        time.sleep(0.05)
    out_text, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(err[-800:])
    return {"peak_mb": round(float(out_text.split("PEAK_MB")[-1])),
            "first_step_s": round(first or math.nan, 1),
            "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", required=True, help="a UTF-8 text to repeat")
    p.add_argument("--mb", type=int, default=100, help="size of the big file in MB")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default=None, help="folder for the big file and runs (default: tmp)")
    a = p.parse_args()
    from seqlab import hardware

    print(hardware.describe_cpu(), flush=True)
    work = Path(a.work or tempfile.mkdtemp(prefix="charlm_bigtext_"))
    work.mkdir(parents=True, exist_ok=True)
    big = make_big(Path(a.text), a.mb, work / "big.txt")
    size_mb = big.stat().st_size / 2**20
    base = run(Path(a.text), work / "base", a.threads)
    cold = run(big, work / "big", a.threads)
    warm = run(big, work / "big", a.threads)
    for name, r in (("text itself", base), ("big, no cache", cold), ("big, cached", warm)):
        extra = (r["peak_mb"] - base["peak_mb"]) / size_mb
        print(f"{name:14} peak {r['peak_mb']:5} MB ({extra:.2f}x the {size_mb:.0f} MB file above "
              f"the baseline), first step {r['first_step_s']} s, wall {r['wall_s']} s")  # fmt: skip
    if not a.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
