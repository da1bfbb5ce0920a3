"""Training throughput of seqlab's recurrent layers against torch.nn's, in the same training loop.

    uv run python bench/rnn_throughput.py                      # CPU: all cells, sizes 256 and 512
    uv run python bench/rnn_throughput.py --cells lstm --variants torchnn_fp32,fused_fp32
    uv run python bench/rnn_throughput.py --device cuda --cells lstm,gru --sizes 512 \
        --batch-size 64 --variants torchnn_fp32,fused_fp32,torchnn_bf16,fused_bf16,baseline

A row is one training step (embedding -> 2-layer recurrent net -> linear over a 65-character
vocabulary; forward, backward, clipping, optimizer step) on a fixed random batch. Variants:

  torchnn_fp32    seqlab's CharLM step (Adam, clip_and_step) with model.rnn replaced by torch.nn's
                  LSTM/GRU/RNN (num_layers=2, batch_first=True): a drop-in, no wrapper needed
  fused_fp32      the same step with seqlab's layer, backend="fused" (the kernels torch.nn calls)
  torchnn_bf16, fused_bf16   the same two under bf16 autocast
  scratch, scratch_compiled  backend="scratch": the per-step Python loop, eager / torch.compile'd
  baseline        reference: nn.Embedding/nn.LSTM/nn.Linear trained as pytorch/examples
                  word_language_model does (time-major, manual SGD, clip 0.25); baseline_bf16 too

"x base" of fused_* is against torchnn_* of the same precision when that ran (same loop, layer for
layer); every other row against baseline (bf16 rows: baseline_bf16 when it ran); "vs" names it.

Subprocess mode (the CPU default; --no-interleave) runs each variant in a fresh process, so its
peak memory (RSS growth; on CUDA the allocator's peak) is its own. Interleaved mode (the CUDA
default; --interleave on CPU) builds and warms up every variant of one (cell, size) in one
process, then times each for --steps steps in turn, --repeats rounds with the order rotated,
synchronising the GPU before and after each timing: tok/s is the median over the rounds, "x base"
the median of the per-round ratios (min-max). Its memory is informative only: the allocator's
peak while a variant is built and warmed up, above what the variants before it hold (none on CPU).

Also printed: this machine's fp32/bf16 matmul peak and the GFLOP/s of each variant's recurrent
matmuls (3 x 2 x G*H*(I+H) per token and layer: forward, two backward products) as a share of it.
Run it on an idle machine. "copies" counts cuDNN's "weights are not part of single contiguous
chunk" warnings per variant (one per call that copied the weights; 0 expected). Where a CPU has no
bf16 LSTM kernel (seqlab.hardware probes it), torch.nn's bf16 LSTM is not run (one line says so)
and seqlab's runs in fp32 (*); "% peak" is "-" where the peak bounds nothing (pct_of_peak).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqlab import hardware
from seqlab.models.charlm import CharLM, CharLMConfig
from seqlab.strictjson import dumps
from seqlab.training import OptimConfig, autocast, clip_and_step

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
MODES = {"lstm": "lstm", "gru": "gru", "rnn": "rnn_tanh"}  # seqlab cell -> fused kernel
TORCH_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
VARIANTS = ["torchnn_fp32", "fused_fp32", "torchnn_bf16", "fused_bf16", "baseline", "scratch"]
CPU_VARIANTS = [*VARIANTS, "scratch_compiled"]
CUDA_VARIANTS = [*VARIANTS[:5], "baseline_bf16", "scratch"]
VOCAB, EMB = 65, 128
COPY_WARNING = "not part of single contiguous chunk of memory"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precision_of(variant: str) -> str:
    return "bf16" if variant.endswith("bf16") else "fp32"


def _matmul_s(a: torch.Tensor, b: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    a @ b
    _sync(device)
    return time.perf_counter() - t


def matmul_peak(dtype: torch.dtype, device: torch.device, reps: int = 5, slow_s=0.25) -> float:
    """Best GFLOP/s of an n x n x n matmul, n = 2048 on CPU (8192 on a GPU): n doubles from 256
    while one product takes under ``slow_s``, so that a dtype the CPU emulates (bf16 without
    AVX512-BF16: under 1 GFLOP/s) is measured in seconds where n = 2048 took minutes."""
    top, n = (8192 if device.type == "cuda" else 2048), 256
    while True:
        a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
        a @ b  # the kernel is built on the first call
        best = _matmul_s(a, b, device)
        if best > slow_s or n >= top:
            break
        n *= 2
    if best <= slow_s:
        best = min([best] + [_matmul_s(a, b, device) for _ in range(reps - 1)])
    return 2 * n**3 / best / 1e9


class Baseline(nn.Module):
    """pytorch/examples word_language_model's RNNModel, reduced to what the benchmark needs."""

    def __init__(self, cell: str, hidden: int, layers: int):
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = TORCH_LAYERS[cell](EMB, hidden, layers)
        self.decoder = nn.Linear(hidden, VOCAB)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.encoder(x), hidden)  # time-major, as the example is
        return self.decoder(out), hidden


def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)


def examples_step(cell: str, hidden: int, x, y, precision: str, device) -> Callable[[], None]:
    """word_language_model's training step: time-major, clip 0.25, SGD by hand (lr 20)."""
    model = Baseline(cell, hidden, 2).to(device)
    xt, yt = x.t().contiguous(), y.t().contiguous()  # (T, B)
    state = None

    def step():
        nonlocal state
        state = repackage_hidden(state) if state is not None else None
        model.zero_grad()
        with autocast(precision, device):
            out, state = model(xt, state)  # (T, B, V)
        F.cross_entropy(out.float().view(-1, VOCAB), yt.view(-1)).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-20.0)

    return step


def charlm_model(variant: str, cell: str, hidden: int) -> nn.Module:
    """seqlab's CharLM for ``variant``; for torchnn_* its recurrent layer is torch.nn's."""
    cfg = CharLMConfig(
        vocab_size=VOCAB,
        cell=cell,
        embedding_size=EMB,
        hidden_size=hidden,
        num_layers=2,
        dropout=0.0,
        backend="scratch" if variant.startswith("scratch") else "fused",
    )
    model = CharLM(cfg)
    if variant.startswith("torchnn"):
        # CharLM calls self.rnn(e, state) with e (B, T, E) and state None or the layer's own
        # last state ((h, c) for an LSTM): torch.nn's layer takes both as they are.
        model.rnn = TORCH_LAYERS[cell](EMB, hidden, 2, batch_first=True)
    if variant == "scratch_compiled":
        model.rnn.compile_step()
    return model


def charlm_step(variant: str, cell: str, hidden: int, x, y, device) -> Callable[[], None]:
    """seqlab's char-LM training step: batch-first, Adam, global-norm clip_and_step."""
    model = charlm_model(variant, cell, hidden).to(device)
    opt, ocfg = torch.optim.Adam(model.parameters(), lr=1e-3), OptimConfig()
    params = list(model.parameters())
    precision = precision_of(variant)
    state = None

    def step():
        nonlocal state
        with autocast(precision, device):
            out, state = model(x, state)  # (B, T, V)
        state = repackage_hidden(state)  # TBPTT: the next step starts from here, no gradient
        loss = F.cross_entropy(out.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_and_step(params, opt, ocfg)

    return step


def build_step(variant: str, cell: str, hidden: int, batch: int, bptt: int, device):
    """One ready-to-call training step of ``variant`` on a fixed random batch."""
    torch.manual_seed(0)
    x = torch.randint(0, VOCAB, (batch, bptt), device=device)  # (B, T)
    y = torch.randint(0, VOCAB, (batch, bptt), device=device)  # (B, T)
    if variant.startswith("baseline"):
        return examples_step(cell, hidden, x, y, precision_of(variant), device)
    return charlm_step(variant, cell, hidden, x, y, device)


def count_copies(fn: Callable):
    """fn()'s result and the number of cuDNN weight-copy warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, sum(COPY_WARNING in str(w.message) for w in caught)


def time_round(step: Callable, steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` steps, the GPU's queue drained before and after."""
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - t) / steps


def run_variant(variant, cell, hidden, batch, bptt, steps, repeats, device) -> dict:
    """Warm up, then ``repeats`` timings of ``steps`` steps; runs inside the subprocess."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step = build_step(variant, cell, hidden, batch, bptt, device)
    warmup_s, copies = count_copies(lambda: 2 * time_round(step, 2, device))
    step_s = []
    for _ in range(repeats):
        dt, n = count_copies(lambda: time_round(step, steps, device))
        step_s.append(dt)
        copies += n
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    mem_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else rss_mb
    return {"step_s": step_s, "warmup_s": warmup_s, "peak_mem_mb": mem_mb, "weight_copies": copies}


def run_child(a: argparse.Namespace, variant: str, cell: str, hidden: int) -> dict:
    """run_variant in a fresh process; {"error": ...} when it fails."""
    opts = {"--batch-size": a.batch_size, "--bptt": a.bptt, "--steps": a.steps}
    opts |= {"--repeats": a.repeats, "--device": a.device}
    cmd = [sys.executable, __file__, "--child", f"{variant}:{cell}:{hidden}", "--no-interleave"]
    res = subprocess.run(cmd + [str(s) for kv in opts.items() for s in kv], capture_output=True)
    if res.returncode != 0:  # the exception's own line, not the traceback around it
        return {"error": (res.stderr.decode().strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(res.stdout.decode().strip().splitlines()[-1])


def prepare(variant, cell, hidden, batch, bptt, device) -> tuple[Callable, dict]:
    """Build and warm up one variant in this process; on CUDA, the allocator peak it adds."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        held = torch.cuda.memory_allocated(device)  # the variants built before this one
    step = build_step(variant, cell, hidden, batch, bptt, device)
    warmup_s, copies = count_copies(lambda: 2 * time_round(step, 2, device))
    info = {"step_s": [], "warmup_s": warmup_s, "weight_copies": copies}
    info["peak_mem_mb"] = (torch.cuda.max_memory_allocated(device) - held) / 2**20 if cuda else None
    return step, info


def run_interleaved(variants, cell, hidden, batch, bptt, steps, repeats, device) -> dict:
    """Every variant of one (cell, size) in this process, timed in turn for ``repeats`` rounds
    with the order rotated each round, so slow drifts of the clock hit every variant alike."""
    fns, results = {}, {}
    for v in variants:
        try:
            fns[v], results[v] = prepare(v, cell, hidden, batch, bptt, device)
        except RuntimeError as e:  # reported on the variant's row; the others still run
            results[v] = {"error": str(e).strip().splitlines()[0][:200]}
    ready = list(fns)
    for r in range(repeats):
        k = r % max(len(ready), 1)
        for v in ready[k:] + ready[:k]:
            dt, n = count_copies(lambda v=v: time_round(fns[v], steps, device))
            results[v]["step_s"].append(dt)
            results[v]["weight_copies"] += n
    return results


def base_of(variant: str, ran: set[str]) -> str | None:
    """The variant whose tok/s divides this one's in "x base" (module docstring)."""
    prec = precision_of(variant)
    twin = f"torchnn_{prec}"
    if variant.startswith("fused") and twin in ran:
        return twin
    candidates = ["baseline_bf16", "baseline"] if prec == "bf16" else ["baseline"]
    return next((b for b in candidates if b in ran), None)


def make_row(cell, hidden, variant, results, batch, bptt, peak) -> dict:
    """One table row: median tok/s over the rounds, per-round ratios to its base, GFLOP/s."""
    r = results[variant]
    tok = [batch * bptt / s for s in r["step_s"]]  # one per round
    ran = {v for v, res in results.items() if "error" not in res}
    base = base_of(variant, ran)
    base_tok = [batch * bptt / s for s in results[base]["step_s"]] if base else []
    ratios = [t / b for t, b in zip(tok, base_tok, strict=True)] if base else []
    flops = sum(3 * 2 * GATES[cell] * hidden * (i + hidden) for i in (EMB, hidden)) * batch * bptt
    gflops = flops * statistics.median(tok) / (batch * bptt) / 1e9
    nan = float("nan")
    return {
        "cell": cell,
        "hidden": hidden,
        "variant": variant,
        "vs": base,
        "vs_baseline": statistics.median(ratios) if ratios else nan,
        "vs_baseline_min": min(ratios, default=nan),
        "vs_baseline_max": max(ratios, default=nan),
        "tokens_per_s": statistics.median(tok),
        "tokens_per_s_rounds": tok,
        "gflops": gflops,
        "pct_peak": pct_of_peak(gflops, peak[precision_of(variant)]),
        **{k: r[k] for k in ("peak_mem_mb", "warmup_s", "weight_copies")},
    }


def pct_of_peak(gflops: float, peak: float) -> float | None:
    """``gflops`` as a percentage of the matmul peak, or None (printed "-") where that peak bounds
    nothing: under 1 GFLOP/s (a dtype the CPU emulates, as bf16 without AVX512-BF16; the share
    printed 7171%) or below the row's own rate (a bf16 row whose layers ran in fp32, *)."""
    pct = 100 * gflops / peak if peak >= 1 else None
    return pct if pct is not None and pct <= 100 else None


def gflops_text(x: float) -> str:
    """A GFLOP/s figure: whole numbers, two digits under 10 (an emulated 0.4 printed as 0)."""
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def torch_lacks_bf16(variant: str, cell: str, device: torch.device) -> bool:
    """True where ``variant`` runs torch.nn's layer under bf16 autocast on a CPU whose oneDNN has
    no bf16 kernel for ``cell`` (the LSTM without AVX512-BF16): the probe that makes the fused
    rows run in fp32 (*) answers for torch.nn's layer too, which calls the same kernel."""
    torch_layer = variant.startswith(("torchnn", "baseline"))
    bf16_cpu = precision_of(variant) == "bf16" and device.type == "cpu"
    return torch_layer and bf16_cpu and not hardware.fused_bf16_ok(MODES[cell])


def format_ratio(row: dict) -> str:
    """'1.01x (0.98-1.03)': median of the per-round ratios and their range; '-' without a base."""
    if row["vs"] is None:
        return "-"
    text = f"{row['vs_baseline']:.2f}x"
    if len(row["tokens_per_s_rounds"]) > 1:
        text += f" ({row['vs_baseline_min']:.2f}-{row['vs_baseline_max']:.2f})"
    return text


def print_header(interleave: bool, steps: int, repeats: int) -> None:
    mode = "interleaved in one process, order rotated" if interleave else "a subprocess each"
    mem = "informative only" if interleave else "each variant's own peak"
    print(f"variants {mode}: {repeats} round(s) of {steps} steps; mem MB: {mem}")
    print("tok/s: median over rounds; x base: median of the per-round ratios (min-max) to 'vs':")
    print("  fused_* vs torchnn_* of the same precision (same CharLM loop, layer for layer) when")
    print("  it ran, other rows vs baseline (bf16: baseline_bf16), the pytorch/examples loop")
    print(
        f"{'cell':5} {'H':>4} {'variant':17} {'tok/s':>9} {'x base':>18} {'vs':13} "
        f"{'GFLOP/s':>8} {'% peak':>7} {'mem MB':>7} {'copies':>6}"
    )


def label_of(variant: str, cell: str, device: torch.device) -> str:
    """The variant's name, with * where seqlab's bf16 layer ran in fp32 on this CPU."""
    cpu_fp32 = device.type == "cpu" and not hardware.fused_bf16_ok(MODES[cell])
    return f"{variant}*" if variant == "fused_bf16" and cpu_fp32 else variant


def print_row(row: dict, label: str) -> None:
    mem = "-" if row["peak_mem_mb"] is None else f"{row['peak_mem_mb']:.0f}"
    pct = "-" if row["pct_peak"] is None else f"{row['pct_peak']:.1f}"
    print(
        f"{row['cell']:5} {row['hidden']:4d} {label:17} {row['tokens_per_s']:9.0f} "
        f"{format_ratio(row):>18} {row['vs'] or '-':13} {row['gflops']:8.1f} "
        f"{pct:>7} {mem:>7} {row['weight_copies']:6d}",
        flush=True,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="rnn,lstm,gru")
    p.add_argument("--sizes", default="256,512")
    p.add_argument(
        "--variants",
        help=f"default: {','.join(CPU_VARIANTS)}; cuda: {','.join(CUDA_VARIANTS)}",
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--steps", type=int, help="timed steps per round (default: 5; cuda: 30)")
    p.add_argument("--repeats", type=int, help="timed rounds (default: 1; interleaved: 3; cuda: 5)")
    p.add_argument(
        "--interleave",
        action=argparse.BooleanOptionalAction,
        help="all variants in this process, timed in rotated rounds (default on cuda)",
    )
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.variants and (bad := set(a.variants.split(",")) - {*CPU_VARIANTS, "baseline_bf16"}):
        p.error(f"--variants: unknown {','.join(sorted(bad))}; see the module docstring")
    cuda = a.device == "cuda"
    a.interleave = cuda if a.interleave is None else a.interleave
    a.steps = a.steps or (30 if cuda else 5)
    a.repeats = a.repeats or (5 if cuda else 3 if a.interleave else 1)
    a.variants = a.variants or ",".join(CUDA_VARIANTS if cuda else CPU_VARIANTS)
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    device = hardware.bench_device(a.device)
    if a.child:  # inside the per-variant subprocess
        v, cell, h = a.child.split(":")
        res = run_variant(v, cell, int(h), a.batch_size, a.bptt, a.steps, a.repeats, device)
        print(dumps(res))
        return
    variants = a.variants.split(",")
    print(hardware.describe(device), flush=True)
    peak = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    print(
        f"matmul peak on {a.device} ({torch.get_num_threads()} CPU threads): fp32 "
        f"{gflops_text(peak['fp32'])} GFLOP/s, bf16 {gflops_text(peak['bf16'])} GFLOP/s"
    )
    print_header(a.interleave, a.steps, a.repeats)
    rows, labels = [], set()
    for cell in a.cells.split(","):
        runnable = [v for v in variants if not torch_lacks_bf16(v, cell, device)]
        for h in map(int, a.sizes.split(",")):
            if a.interleave:
                args = (a.batch_size, a.bptt, a.steps, a.repeats, device)
                results = run_interleaved(runnable, cell, h, *args)
            else:
                results = {v: run_child(a, v, cell, h) for v in runnable}
            for v in variants:
                if v not in runnable:
                    print(f"{cell:5} {h:4d} {v:17} not run: torch.nn has no bf16 {cell.upper()} "
                          "on this CPU (oneDNN; the fused rows run it in fp32, *)")  # fmt: skip
                    continue
                if "error" in results[v]:
                    print(f"{cell:5} {h:4d} {v:17} failed: {results[v]['error']}")
                    continue
                row = make_row(cell, h, v, results, a.batch_size, a.bptt, peak)
                rows.append(row)
                labels.add(label := label_of(v, cell, device))
                print_row(row, label)
    if "fused_bf16*" in labels:
        print("* no fused bf16 kernel for this cell here: its recurrent layers ran in fp32")
    if a.json:
        meta = {"mode": "interleaved" if a.interleave else "subprocess"}
        meta |= {"steps": a.steps, "repeats": a.repeats, "batch_size": a.batch_size}
        with open(a.json, "w") as f:
            f.write(dumps({"peak_gflops": peak, **meta, "bptt": a.bptt, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
