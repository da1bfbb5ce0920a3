"""torchrun with 2 CPU processes (gloo) trains like one process with the same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from seqlab.training import read_metrics

ARGS = [
    "charlm",
    "train",
    "--max-steps",
    "6",
    "--eval-every",
    "3",
    "--hidden-size",
    "16",
    "--num-layers",  # every size given: one process and torchrun run the same model (no plan)
    "2",
    "--lr",
    "2e-3",
    "--embedding-size",
    "8",
    "--batch-size",
    "8",
    "--bptt",
    "12",
    "--dropout",
    "0",
    "--weight-dropout",
    "0",
    "--precision",
    "fp32",
    "--device",
    "cpu",
    "--seed",
    "5",
]


def _run(cmd, tmp_path, timeout: float = 240):
    """Run cmd in a session of its own: on a timeout the whole group goes (torchrun's workers are
    its children, and killing torchrun alone would leave them training)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {' '.join(cmd)}")
    assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_two_gloo_processes_match_one_process(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 300)
    one, two = tmp_path / "one", tmp_path / "two"
    _run(
        [sys.executable, "-m", "seqlab.cli", *ARGS, "--text", str(text), "--out", str(one)],
        tmp_path,
    )
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "seqlab.cli",
            *ARGS,
            "--text",
            str(text),
            "--out",
            str(two),
        ],
        tmp_path,
    )
    a, b = read_metrics(one / "metrics.jsonl"), read_metrics(two / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        key = "loss" if "loss" in ra else "val_loss"
        assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-6)
    assert (two / "ckpt_last.pt").is_file()
