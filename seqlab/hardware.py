"""What this machine can do, probed once per process: CPU model and ISA, bf16 kernels, compilers.

seqlab meets AMX Xeons, AVX-512 Xeons without AMX, Zen 4 EPYCs with AVX512-BF16 and AVX2-only
EPYCs (and sometimes a GPU). Nothing here assumes one of them: the CPU's flags are read from
/proc/cpuinfo, what oneDNN's fused recurrent kernels accept under bf16 autocast is found out by
running them on a tiny input, and whether bf16 is fast without AMX by timing a matmul.

    >>> from seqlab import hardware
    >>> print(hardware.describe_cpu())        # one line for the top of every bench's output
    >>> hardware.fused_bf16_ok("lstm")        # False on an AVX2-only CPU: oneDNN has no bf16 LSTM
    >>> device = hardware.bench_device("cuda")  # a bench's --device: one line and exit 2 if absent
    >>> print(hardware.describe(device))        # the CPU line, and the GPU's on CUDA

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
    """True where bf16 matmuls beat fp32 clearly: on CPUs whose AMX tiles oneDNN may use (about
    6x), and on other AVX512-BF16 CPUs where a one-off probe (``bf16_matmul_speedup``) finds bf16
    at least 1.5x fp32 (an AMD EPYC Zen 4: 2.3x). Not on Xeons whose AVX512-BF16 runs at about
    0.6x fp32 (bench/rnn_throughput.py), nor on AVX2 CPUs, which emulate it. A oneDNN cap below
    AVX512-BF16 turns bf16 off; a cap below AMX leaves the probe to decide.
    """
    cap = (onednn_cap() or "ALL").upper()
    flags = cpu_info().flags
    if "amx_bf16" in flags and ("AMX" in cap or cap == "ALL"):
        return True
    if "avx512_bf16" not in flags or not ("BF16" in cap or "AMX" in cap or cap == "ALL"):
        return False
    return bf16_matmul_speedup() >= 1.5


@functools.cache
def bf16_matmul_speedup() -> float:
    """How many times faster a 512x512 matmul runs in bf16 than in fp32 here, on the threads
    torch uses now (best of five each; about 50 ms, once per process)."""
    import time

    import torch  # here, not at import: `seqlab --help` must not pay for torch

    seconds = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(512, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
        a @ b  # oneDNN builds its kernel on the first call
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        seconds[dtype] = best
    return seconds[torch.float32] / seconds[torch.bfloat16]


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
        + (f"; bf16 matmul {bf16_matmul_speedup():.1f}x fp32" if info.isa["avx512_bf16"] else "")
    )


def bench_device(name: str):
    """A bench script's ``--device`` as a torch.device; where CUDA is asked for and absent, one
    line on stderr and exit status 2 (no traceback)."""
    import sys

    import torch

    if name == "cuda" and not torch.cuda.is_available():
        print("bench: --device cuda: no CUDA device on this machine", file=sys.stderr)
        sys.exit(2)
    return torch.device(name)


def describe(device) -> str:
    """``describe_cpu()``, and on CUDA a second line naming the GPU and torch's version."""
    import torch

    if torch.device(device).type != "cuda":
        return describe_cpu()
    return f"{describe_cpu()}\nGPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}"
