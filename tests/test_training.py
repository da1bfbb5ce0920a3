"""Clipping, non-finite gradients, schedules, precision and checkpoints."""

from __future__ import annotations

import logging
import math
import os
import pickle

import pytest
import torch
from torch import nn

from seqlab.checkpoint import save_checkpoint
from seqlab.errors import UserError
from seqlab.sources import load_checkpoint
from seqlab.training import (
    LRSchedule,
    MetricsLog,
    NonFiniteGuard,
    OptimConfig,
    clip_and_step,
    make_optimizer,
    read_metrics,
    resolve_precision,
)


def _model_with_grads(scale=1.0):
    torch.manual_seed(0)
    m = nn.Linear(4, 3)
    (m(torch.randn(8, 4)).sum() * scale).backward()
    return m


def test_clip_by_global_norm_returns_pre_clip_norm():
    m = _model_with_grads(100.0)
    expected = torch.cat([p.grad.flatten() for p in m.parameters()]).norm().item()
    opt = torch.optim.SGD(m.parameters(), lr=0.0)
    norm, stepped = clip_and_step(list(m.parameters()), opt, OptimConfig(clip_norm=1.0))
    assert stepped and math.isclose(norm, expected, rel_tol=1e-5)
    after = torch.cat([p.grad.flatten() for p in m.parameters()]).norm().item()
    assert math.isclose(after, 1.0, rel_tol=1e-4)


def test_clip_by_value():
    m = _model_with_grads(100.0)
    opt = torch.optim.SGD(m.parameters(), lr=0.0)
    clip_and_step(list(m.parameters()), opt, OptimConfig(clip_value=0.5))
    assert max(p.grad.abs().max().item() for p in m.parameters()) <= 0.5


def test_non_finite_gradient_skips_the_step_and_guard_stops():
    m = _model_with_grads()
    before = [p.detach().clone() for p in m.parameters()]
    m.weight.grad[0, 0] = float("nan")
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    norm, stepped = clip_and_step(list(m.parameters()), opt, OptimConfig())
    assert not stepped and not math.isfinite(norm)
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters(), strict=True))
    guard = NonFiniteGuard(max_bad_steps=2)
    with pytest.warns(UserWarning, match="non-finite"):
        guard.update(False, 1)
    with pytest.warns(UserWarning), pytest.raises(UserError, match="diverged"):
        guard.update(False, 2)


def test_schedules():
    p = [nn.Parameter(torch.zeros(1))]
    opt = make_optimizer(p, OptimConfig(lr=1.0, warmup_steps=10))
    sched = LRSchedule(opt, OptimConfig(lr=1.0, warmup_steps=10), total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step_batch()
    assert lrs[0] < lrs[9] and math.isclose(max(lrs), 1.0) and lrs[-1] < 0.1
    opt = make_optimizer(p, OptimConfig(optimizer="sgd", lr=1.0, schedule="plateau"))
    sched = LRSchedule(opt, OptimConfig(schedule="plateau"), 0)
    for loss in (3.0, 2.0, 2.5):
        sched.step_eval(loss)
    assert math.isclose(opt.param_groups[0]["lr"], 0.1)


def test_cosine_follows_a_time_budget():
    p = [nn.Parameter(torch.zeros(1))]
    opt = make_optimizer(p, OptimConfig(lr=1.0))
    sched = LRSchedule(opt, OptimConfig(lr=1.0, warmup_steps=0), total_steps=10**9)
    lrs = []
    for used in (0.0, 0.5, 1.0):  # the clock, not the (huge) step count, sets the decay
        opt.step()
        sched.step_batch(used)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] > 0.99 and math.isclose(lrs[1], 0.525, rel_tol=1e-6)
    assert math.isclose(lrs[2], 0.05, rel_tol=1e-6)


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", cpu) in ("fp32", "bf16")
    with pytest.raises(UserError):
        resolve_precision("fp16", cpu)


def test_metrics_log_truncates_on_resume(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    for s in range(1, 6):
        log.write(step=s, loss=float(s))
    log.close()
    with open(tmp_path / "m.jsonl", "a") as f:
        f.write('{"step": 6, "lo')  # a torn line from a crash
    log = MetricsLog(tmp_path / "m.jsonl", resume_step=3)
    log.write(step=4, loss=0.0)
    log.close()
    assert [r["step"] for r in read_metrics(tmp_path / "m.jsonl")] == [1, 2, 3, 4]


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused(tmp_path):
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "task": "charlm", "payload": evil}, path)
    with pytest.raises(UserError, match="refusing to load"):
        load_checkpoint(path)
    assert not evil.marker.exists()


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    save_checkpoint(tmp_path / "a.pt", {"task": "charlm", "model": {"w": torch.ones(2)}})
    ck = load_checkpoint(tmp_path / "a.pt", task="charlm")
    assert ck["format_version"] == 1 and torch.equal(ck["model"]["w"], torch.ones(2))
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "trunc.pt").write_bytes((tmp_path / "a.pt").read_bytes()[:100])
    with pytest.raises(UserError):
        load_checkpoint(tmp_path / "trunc.pt")
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "new.pt", {"task": "charlm"})
    ck = torch.load(tmp_path / "new.pt", weights_only=True)
    ck["format_version"] = 99
    torch.save(ck, tmp_path / "new.pt")
    with pytest.raises(UserError, match="newer"):
        load_checkpoint(tmp_path / "new.pt")


def test_unwritable_directory_keeps_previous_checkpoint(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere; permissions cannot be tested")
    save_checkpoint(tmp_path / "c.pt", {"task": "charlm", "step": 1})
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(UserError, match="intact|cannot write"):
            save_checkpoint(tmp_path / "c.pt", {"task": "charlm", "step": 2})
    finally:
        tmp_path.chmod(0o700)
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 1


def test_pickle_module_not_needed_for_plain_checkpoints():
    assert pickle.HIGHEST_PROTOCOL >= 2  # plain dicts of tensors load under weights_only


@pytest.mark.parametrize("task", ["charlm", "sentiment", "translate", "caption", "grads"])
def test_help_names_each_default_once(task, capsys):
    from seqlab.cli import main

    argv = {"caption": ["caption", "train"], "grads": ["grads", "temporal"]}.get(task)
    assert main([*(argv or [task, "train"]), "--help"]) == 0
    out = capsys.readouterr().out
    assert "--hidden-size" in out and "(default: None)" not in out


def test_progress_without_a_terminal_logs_lines(caplog):
    """A run whose stderr is a file or a pipe (pytest's capture) logs its progress instead of
    printing nothing; log_seconds=0 logs every step."""
    from seqlab.training import LogProgress, progress

    bar = progress(total=4, desc="train", log_seconds=0)
    assert isinstance(bar, LogProgress)
    with caplog.at_level(logging.INFO, logger="seqlab.progress"):
        for step in range(4):
            bar.set_postfix(loss=f"{1.0 / (step + 1):.3f}")
            bar.update(1)
        bar.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "seqlab.progress"]
    assert lines[0].startswith("train: step 1/4 (25%) loss=1.000")
    assert "ETA" in lines[0] and "steps/min" in lines[0]
    assert lines[-1].startswith("train: step 4/4 (100%) loss=0.250")
    resumed = progress(total=10, initial=6, desc="train", log_seconds=0)
    resumed.update(1)
    assert resumed.n == 7  # a resumed run counts on from its checkpoint's step


def test_with_a_time_budget_the_eta_is_the_budgets_end(caplog):
    """A 1-minute char-LM run once printed "ETA 121.7 min" (its epochs' steps at its rate): with
    --max-minutes the ETA is the budget's end, the clock and the share are the run's."""
    from seqlab import run
    from seqlab.config import RunConfig
    from seqlab.distributed import DistInfo
    from seqlab.training import LogProgress

    cfg = RunConfig(epochs=0, max_steps=10**9, max_minutes=1.0)
    budget = run.Budget(cfg, 100, DistInfo(), elapsed_s=30.0, step=10)  # half the minute used
    bar = LogProgress(cfg.max_steps, "charlm", log_seconds=0, budget=budget)
    bar.n = bar.start_n = 10
    with caplog.at_level(logging.INFO, logger="seqlab.progress"):
        budget.tick(11)
        bar.update(1)
    line = caplog.records[-1].getMessage()
    assert "(50%)" in line and "| 0.5 min" in line and line.endswith("ETA 0.5 min"), line
