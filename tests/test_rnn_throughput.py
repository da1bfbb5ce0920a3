"""bench/rnn_throughput.py's interleaved mode, run on CPU at tiny sizes: every fused row carries a
ratio to its torch.nn twin (the same CharLM loop with torch.nn's layer), with a per-round range."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
