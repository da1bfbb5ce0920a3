"""Crash safety: kill -9 a training run at random points, resume, and get the uninterrupted run's
losses exactly; a full disk or unwritable folder leaves the previous checkpoint intact."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from seqlab.checkpoint import save_checkpoint
from seqlab.errors import UserError
from seqlab.sources import load_checkpoint
from seqlab.training import read_metrics

ARGS = [
    "charlm",
    "train",
    "--max-steps",
    "40",
    "--eval-every",
    "4",
    "--hidden-size",
    "24",
    "--embedding-size",
    "8",
    "--batch-size",
    "4",
    "--bptt",
    "16",
    "--dropout",
    "0.2",
    "--num-layers",  # every size given: no plan, so the runs compared are the same model
    "2",
    "--lr",
    "2e-3",
    "--weight-dropout",
    "0",
    "--precision",
    "fp32",
    "--device",
    "cpu",
]


def _cmd(text, out, *extra):
    return [
        sys.executable,
        "-m",
        "seqlab.cli",
        *ARGS,
        "--text",
        str(text),
        "--out",
        str(out),
        *extra,
    ]


def _lines(run) -> int:
    try:
        return (run / "metrics.jsonl").read_text().count("\n")
    except FileNotFoundError:
        return 0


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_reproduces_losses(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("Now is the winter of our discontent made glorious summer. " * 200)
    full = tmp_path / "full"
    subprocess.run(_cmd(text, full), check=True, env=_env(), capture_output=True, timeout=300)

    cut = tmp_path / "cut"
    rng = random.Random(0)
    kills = 0
    for _ in range(30):
        extra = ["--resume"] if (cut / "ckpt_last.pt").exists() else []
        proc = subprocess.Popen(
            _cmd(text, cut, *extra),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Let it run a random number of steps past where it is, then kill at a random instant.
        target = _lines(cut) + rng.randint(1, 9)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _lines(cut) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.15))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            # whatever was on disk at the kill must load cleanly
            if (cut / "ckpt_last.pt").exists():
                load_checkpoint(cut / "ckpt_last.pt", task="charlm")
        elif proc.returncode == 0:
            break
    else:
        pytest.fail("the run never finished")
    assert kills >= 1
    assert not list(cut.glob(".*.tmp")), "a temp file was left behind"

    def losses(run):
        return [
            (r["step"], r.get("loss"), r.get("val_loss"))
            for r in read_metrics(run / "metrics.jsonl")
        ]

    assert losses(cut) == losses(full)
    a = torch.load(full / "ckpt_last.pt", weights_only=True)["model"]
    b = torch.load(cut / "ckpt_last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt_last.pt"
    save_checkpoint(path, {"task": "charlm", "step": 1, "w": torch.ones(3)})

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(UserError, match="No space left on device.*intact"):
        save_checkpoint(path, {"task": "charlm", "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_unwritable_output_folder_is_one_clear_line(tmp_path, capsys):
    from seqlab.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    text = tmp_path / "t.txt"
    text.write_text("abcdefghij" * 200)
    rc = main(
        [
            "charlm",
            "train",
            "--text",
            str(text),
            "--out",
            str(blocker / "run"),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--bptt",
            "8",
            "--hidden-size",
            "8",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "cannot" in err and "Traceback" not in err
