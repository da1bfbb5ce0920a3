"""The hardware probe and what follows from it: bf16 runs on every CPU (natively or with the
recurrent layers in fp32), 'auto' never picks a failing path, --compile without a compiler is one
sentence. The forced-off probe (SEQLAB_FUSED_BF16=0) stands in for an AVX2-only CPU anywhere."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from seqlab import hardware
from seqlab.cli import main
from seqlab.rnn import GRU, LSTM, RNN
from seqlab.training import read_metrics, resolve_precision

CPU = torch.device("cpu")


def test_cpu_description_names_the_model_and_the_isa():
    line = hardware.describe_cpu()
    assert hardware.cpu_info().model in line
    for flag in ("avx2=", "avx512f=", "avx512_bf16=", "amx_bf16=", "lstm="):
        assert flag in line


def test_probe_can_be_forced_off(no_fused_bf16):
    assert not any(hardware.fused_bf16_ok(m) for m in hardware.RNN_MODES)


def test_probe_answers_what_the_kernel_does():
    """The probe's answer for the LSTM is what a real bf16 autocast call does on this CPU."""
    lstm = torch.nn.LSTM(4, 8, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.randn(2, 3, 4))
        works = True
    except RuntimeError:
        works = False
    assert hardware.fused_bf16_ok("lstm") == works


@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_fp32_fallback_matches_fp32_and_logs_once(cls, no_fused_bf16, caplog):
    """Without bf16 kernels the recurrent layers run in fp32 inside autocast: fp32's numbers."""
    layer = cls(4, 8, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.randn(3, 5, 4, requires_grad=True)
    ref, _ = layer(x)
    with caplog.at_level(logging.WARNING, logger="seqlab.rnn"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, state = layer(x)
            layer(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert len([r for r in caplog.records if "no bf16 version" in r.message]) == 1


def test_auto_never_picks_bf16_without_the_kernels(no_fused_bf16):
    assert resolve_precision("auto", CPU) == "fp32"


def test_auto_is_fp32_when_onednn_is_capped_below_amx(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not hardware.cpu_has_fast_bf16()
    assert resolve_precision("auto", CPU) == "fp32"


def _charlm_bf16(tmp_path) -> list[str]:
    text = tmp_path / "input.txt"
    text.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 30)
    return ["charlm", "train", "--text", str(text), "--out", str(tmp_path / "run"),
            "--max-steps", "4", "--eval-every", "2", "--hidden-size", "16", "--embedding-size",
            "8", "--num-layers", "1", "--batch-size", "4", "--bptt", "16", "--device", "cpu",
            "--precision", "bf16"]  # fmt: skip


@pytest.mark.parametrize("kernels", ["probed", "no_fused_bf16"])
def test_charlm_bf16_trains_on_any_cpu(tmp_path, kernels, request):
    if kernels == "no_fused_bf16":
        request.getfixturevalue("no_fused_bf16")
    assert main(_charlm_bf16(tmp_path)) == 0
    out = tmp_path / "run"
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    weights = torch.load(out / "ckpt_last.pt", weights_only=True)["model"]
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float32}
    assert json.loads((out / "config.json").read_text())["train"]["precision"] == "bf16"


def test_compile_without_a_compiler_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CXX", raising=False)
    argv = [*_charlm_bf16(tmp_path)[:-1], "fp32", "--compile"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--compile on CPU needs a C++ compiler" in err[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flags", "speedup", "cap", "fast"),
    [
        ({"avx512_bf16", "amx_bf16"}, 0.1, None, True),  # AMX: no probe needed
        ({"avx512_bf16", "amx_bf16"}, 0.6, "AVX512_CORE_BF16", False),  # AMX capped: probed
        ({"avx512_bf16"}, 2.3, None, True),  # a Zen 4 EPYC
        ({"avx512_bf16"}, 0.6, None, False),  # a Xeon whose AVX512-BF16 is slow
        ({"avx512_bf16"}, 2.3, "AVX512_CORE", False),  # capped below bf16
        ({"avx2"}, 9.0, None, False),  # emulated: never asked
    ],
)
def test_fast_bf16_is_amx_or_a_measured_speedup(monkeypatch, flags, speedup, cap, fast):
    monkeypatch.setattr(hardware, "cpu_info", lambda: hardware.CpuInfo("test", frozenset(flags)))
    monkeypatch.setattr(hardware, "bf16_matmul_speedup", lambda: speedup)
    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    else:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert hardware.cpu_has_fast_bf16() is fast


def test_bf16_speedup_probe_measures_something():
    assert 0.01 < hardware.bf16_matmul_speedup() < 100
