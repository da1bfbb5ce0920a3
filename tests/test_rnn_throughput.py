"""bench/rnn_throughput.py's interleaved mode, run on CPU at tiny sizes: every fused row carries a
ratio to its torch.nn twin (the same CharLM loop with torch.nn's layer), with a per-round range;
a CPU without a bf16 LSTM gets one line for torch.nn's, and "% peak" is "-" without a peak."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "rnn_throughput.py"


def test_interleaved_mode_rates_fused_against_its_torchnn_twin(tmp_path):
    out = tmp_path / "rows.json"
    variants = "torchnn_fp32,fused_fp32,torchnn_bf16,fused_bf16,baseline"
    tiny = ["--sizes", "16", "--batch-size", "2", "--bptt", "4", "--steps", "1", "--repeats", "2"]
    cmd = [sys.executable, str(ROOT / "bench" / "rnn_throughput.py"), "--cells", "gru"]
    cmd += [*tiny, "--interleave", "--variants", variants, "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["mode"] == "interleaved"
    rows = {r["variant"]: r for r in doc["rows"]}
    assert set(rows) == set(variants.split(","))
    for prec in ("fp32", "bf16"):
        row = rows[f"fused_{prec}"]
        assert row["vs"] == f"torchnn_{prec}"
        assert len(row["tokens_per_s_rounds"]) == 2
        lo, mid, hi = row["vs_baseline_min"], row["vs_baseline"], row["vs_baseline_max"]
        assert math.isfinite(mid) and 0 < lo <= mid <= hi
        assert row["weight_copies"] == 0
    assert rows["torchnn_fp32"]["vs"] == "baseline"  # the pytorch/examples loop, for reference
    line = next(ln for ln in res.stdout.splitlines() if " fused_fp32 " in ln)
    assert "torchnn_fp32" in line and "x (" in line, line


def _bench():
    spec = importlib.util.spec_from_file_location("rnn_throughput", ROOT / "bench" / SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_cpu_without_a_bf16_lstm_gets_one_line_not_a_onednn_error(tmp_path):
    """Issue 32, item 10: under ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN has no bf16 LSTM below
    AVX512-BF16) torchnn_bf16 printed "failed:" and oneDNN's RuntimeError. The bench asks
    seqlab.hardware, as the fused rows do, and says so in one line (SEQLAB_FUSED_BF16=0 makes
    the probe answer no on any CPU, the cap makes it true on x86)."""
    out = tmp_path / "rows.json"
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "SEQLAB_FUSED_BF16": "0"}
    tiny = ["--sizes", "8", "--batch-size", "2", "--bptt", "4", "--steps", "1", "--repeats", "1"]
    cmd = [sys.executable, str(ROOT / "bench" / SCRIPT), "--cells", "lstm", *tiny, "--interleave"]
    cmd += ["--variants", "torchnn_fp32,torchnn_bf16,fused_bf16", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "failed" not in res.stdout and "RuntimeError" not in res.stdout + res.stderr
    (said,) = [line for line in res.stdout.splitlines() if " torchnn_bf16 " in line]
    assert "torch.nn has no bf16 LSTM on this CPU" in said, res.stdout
    rows = {r["variant"] for r in json.loads(out.read_text())["rows"]}
    assert rows == {"torchnn_fp32", "fused_bf16"}


def test_percent_of_peak_is_a_dash_where_the_peak_bounds_nothing(capsys):
    """Issue 32, item 10: "% peak" printed 7171.6 for a bf16 row when the bf16 matmul peak was
    0 GFLOP/s (emulated). Such a row prints "-" (and null in --json); an fp32 row its share."""
    bench = _bench()
    results = {v: {"step_s": [1.0], "peak_mem_mb": 1.0, "warmup_s": 0.1, "weight_copies": 0}
               for v in ("fused_bf16", "fused_fp32")}  # fmt: skip
    peak = {"fp32": 100.0, "bf16": 0.3}
    for variant in results:
        row = bench.make_row("lstm", 64, variant, results, 64, 128, peak)
        bench.print_row(row, variant)
    bf16, fp32 = capsys.readouterr().out.splitlines()
    # cell, H, variant, tok/s, x base, vs, GFLOP/s, % peak, mem MB, copies
    assert bf16.split()[7] == "-" and float(fp32.split()[7]) == pytest.approx(4.0, abs=0.1)
    assert bench.pct_of_peak(5.0, 0.3) is None and bench.pct_of_peak(5.0, 4.0) is None
    assert bench.pct_of_peak(5.0, 50.0) == pytest.approx(10.0)
