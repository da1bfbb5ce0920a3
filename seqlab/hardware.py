"""What this machine can do, probed once per process: CPU model and ISA, bf16 kernels, compilers.

seqlab meets AMX Xeons, AVX-512 Xeons without AMX and AVX2-only EPYCs (and sometimes a GPU). Nothing
here assumes one of them: the CPU's flags are read from /proc/cpuinfo, and what oneDNN's fused
recurrent kernels accept under bf16 autocast is found out by running them on a tiny input.

    >>> from seqlab import hardware
    >>> print(hardware.describe_cpu())        # one line for the top of every bench's output
    >>> hardware.fused_bf16_ok("lstm")        # False on an AVX2-only CPU: oneDNN has no bf16 LSTM

``SEQLAB_FUSED_BF16=0`` forces the probe to answer "no" (tests use it to exercise the fp32
fallback on CPUs where bf16 works); ``ONEDNN_MAX_CPU_ISA`` caps oneDNN as usual, and the probe
sees the cap.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

# The flags that decide how fast (or whether) the recurrent and matmul kernels run.
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
RNN_MODES = ("lstm", "gru", "rnn_tanh")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]

    @property
    def isa(self) -> dict[str, bool]:
        return {f: f in self.flags for f in ISA_FLAGS}


@functools.cache
def cpu_info() -> CpuInfo:
    """Model name and flags from /proc/cpuinfo (platform.processor() elsewhere)."""
    model, flags = platform.processor() or platform.machine(), frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return CpuInfo(model, flags)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "flags":
            flags = frozenset(value.split())
            break  # every core reports the same flags
    return CpuInfo(model, flags)


def onednn_cap() -> str | None:
    """The user's cap on oneDNN's instruction set (ONEDNN_MAX_CPU_ISA or its old DNNL_ name)."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or None


def cpu_has_fast_bf16() -> bool:
    """True on CPUs whose AMX tiles oneDNN may use, where bf16 matmuls beat fp32 several times.

    AVX512-BF16 alone is not enough: on such a CPU oneDNN's bf16 matmuls run at about 0.6x the fp32
    rate (bench/rnn_throughput.py), and on AVX2 they are emulated. A cap below AMX turns AMX off.
    """
    cap = onednn_cap()
    if cap is not None and "AMX" not in cap.upper() and cap.upper() != "ALL":
        return False
    return "amx_bf16" in cpu_info().flags


@functools.cache
def fused_bf16_ok(mode: str) -> bool:
    """Does the fused CPU kernel of `mode` ('lstm', 'gru', 'rnn_tanh') run under bf16 autocast?

    Probed once per process with a tiny forward and backward. oneDNN builds its LSTM primitive for
    the CPU it finds, and on CPUs without AVX-512 BF16 it has none for bf16 ("could not create a
    primitive descriptor"); GRU and tanh RNN fall back to other paths and run everywhere.
    """
    if mode not in RNN_MODES and not mode.startswith("rnn_"):
        raise ValueError(f"unknown recurrent mode {mode!r}")
    if os.environ.get("SEQLAB_FUSED_BF16", "").strip() == "0":
        return False
    import torch  # here, not at import: `seqlab --help` must not pay for torch

    fn = getattr(torch, mode)
    weights = [torch.randn(*s, requires_grad=True) for s in _probe_shapes(mode)]
    x = torch.randn(2, 3, 4, requires_grad=True)  # (B, T, I)
    h = torch.zeros(1, 2, 8)
    hx = (h, h) if mode == "lstm" else h
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = fn(x, hx, weights, True, 1, 0.0, True, False, True)[0]
        out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def _probe_shapes(mode: str) -> list[tuple[int, ...]]:
    gates = {"lstm": 4, "gru": 3}.get(mode, 1)
    return [(gates * 8, 4), (gates * 8, 8), (gates * 8,), (gates * 8,)]


def cxx_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend (Inductor) would call, or None."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def describe_cpu() -> str:
    """One line naming the CPU and what matters for speed: printed at the top of every bench."""
    info = cpu_info()
    isa = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in info.isa.items())
    cap = onednn_cap()
    fused = ", ".join(f"{m}={'yes' if fused_bf16_ok(m) else 'no'}" for m in RNN_MODES)
    return (
        f"CPU: {info.model} ({os.cpu_count()} logical cores); {isa}"
        + (f"; ONEDNN_MAX_CPU_ISA={cap}" if cap else "")
        + f"; fused bf16 kernels: {fused}"
    )
