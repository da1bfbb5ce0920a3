"""Training throughput of seqlab's recurrent paths against a pytorch/examples-style baseline.

    uv run python bench/rnn_throughput.py                      # all cells, sizes 256 and 512
    uv run python bench/rnn_throughput.py --cells lstm --sizes 512 --variants baseline,fused_fp32
    uv run python bench/rnn_throughput.py --device cuda         # cuDNN on a GPU (timed with syncs)

Each row is one training step (embedding -> 2-layer recurrent net -> linear over a 65-character
vocabulary; forward, backward, clipping, optimizer step) timed in a fresh subprocess, so peak
memory (RSS growth over the idle process) is per variant. Variants:

  baseline        nn.Embedding/nn.LSTM/nn.Linear in float32, trained the way pytorch/examples
                  word_language_model does (manual SGD update, clip 0.25, repackage_hidden)
  baseline_bf16   the same under bf16 autocast (the "x base" of the bf16 variants)
  fused_fp32      seqlab CharLM, backend="fused", float32 (Adam, global-norm clipping)
  fused_bf16      the same under bf16 autocast
  scratch         backend="scratch", eager: the readable per-step Python loop
  scratch_compiled  the scratch backend with its step function under torch.compile

Also measured in the same run: the fp32 and bf16 matmul peak of this machine, and the GFLOP/s that
each variant achieves in its recurrent matmuls (3 x 2 x G*H*(I+H) per token and layer: forward,
and the two backward products) as a fraction of that peak. Run it on an otherwise idle machine.
On CUDA the clock stops after torch.cuda.synchronize(), memory is the allocator's peak, and the
"copies" column counts cuDNN's "weights are not part of single contiguous chunk" warnings (one
per call that copied the weights; 0 expected).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from seqlab import hardware
from seqlab.strictjson import dumps

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
MODES = {"lstm": "lstm", "gru": "gru", "rnn": "rnn_tanh"}  # seqlab cell -> fused kernel
VARIANTS = ["baseline", "fused_fp32", "fused_bf16", "scratch", "scratch_compiled"]
CUDA_VARIANTS = ["baseline", "fused_fp32", "baseline_bf16", "fused_bf16", "scratch"]
VOCAB, EMB = 65, 128
COPY_WARNING = "not part of single contiguous chunk of memory"


def require_device(device: str) -> None:
    """One clear line and a non-zero exit when --device cuda meets a machine without CUDA."""
    if device == "cuda" and not torch.cuda.is_available():
        print("bench: --device cuda: no CUDA device on this machine", file=sys.stderr)
        sys.exit(2)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, reps: int = 5) -> float:
    """Best GFLOP/s of an n x n x n matmul (n = 2048 on CPU, 8192 on a GPU)."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    a @ b
    best = 0.0
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


class Baseline(nn.Module):
    """pytorch/examples word_language_model's RNNModel, reduced to what the benchmark needs."""

    def __init__(self, cell: str, hidden: int, layers: int):
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](EMB, hidden, layers)
        self.decoder = nn.Linear(hidden, VOCAB)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.encoder(x), hidden)  # time-major, as the example is
        return self.decoder(out), hidden


def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)


def run_variant(
    variant: str, cell: str, hidden: int, batch: int, bptt: int, steps: int, device: torch.device
) -> dict:
    """Time ``steps`` training steps after two warm-up steps; runs inside the subprocess."""
    from seqlab.models.charlm import CharLM, CharLMConfig
    from seqlab.training import OptimConfig, autocast, clip_and_step

    torch.manual_seed(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    x = torch.randint(0, VOCAB, (batch, bptt), device=device)
    y = torch.randint(0, VOCAB, (batch, bptt), device=device)
    precision = "bf16" if variant.endswith("bf16") else "fp32"
    if variant.startswith("baseline"):
        model = Baseline(cell, hidden, 2).to(device)
        xt, yt = x.t().contiguous(), y.t().contiguous()  # (T, B)
        state = None

        def step():
            nonlocal state
            state = repackage_hidden(state) if state is not None else None
            model.zero_grad()
            with autocast(precision, device):
                out, state = model(xt, state)
            out = out.float()
            F.cross_entropy(out.view(-1, VOCAB), yt.view(-1)).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-20.0)
    else:
        backend = "scratch" if variant.startswith("scratch") else "fused"
        model = CharLM(
            CharLMConfig(
                vocab_size=VOCAB,
                cell=cell,
                embedding_size=EMB,
                hidden_size=hidden,
                num_layers=2,
                dropout=0.0,
                backend=backend,
            )
        ).to(device)
        if variant == "scratch_compiled":
            model.rnn.compile_step()
        opt, ocfg = torch.optim.Adam(model.parameters(), lr=1e-3), OptimConfig()
        state = None
        params = list(model.parameters())

        def step():
            nonlocal state
            with autocast(precision, device):
                out, state = model(x, state)
            state = repackage_hidden(state)
            loss = F.cross_entropy(out.float().flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_and_step(params, opt, ocfg)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_compile = time.perf_counter()
        for _ in range(2):
            step()
        _sync(device)
        warmup_s = time.perf_counter() - t_compile
        t = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        dt = (time.perf_counter() - t) / steps
    G = GATES[cell]
    flops = sum(3 * 2 * G * hidden * (i + hidden) for i in (EMB, hidden)) * batch * bptt
    if device.type == "cuda":
        mem_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        mem_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return {
        "tokens_per_s": batch * bptt / dt,
        "gflops": flops / dt / 1e9,
        "peak_mem_mb": mem_mb,
        "warmup_s": warmup_s,
        "weight_copies": sum(COPY_WARNING in str(w.message) for w in caught),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="rnn,lstm,gru")
    p.add_argument("--sizes", default="256,512")
    p.add_argument(
        "--variants", help=f"default: {','.join(VARIANTS)} (cuda: the baselines, fused and scratch)"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    require_device(a.device)
    device = torch.device(a.device)
    if a.child:  # inside the per-variant subprocess
        v, cell, h = a.child.split(":")
        print(dumps(run_variant(v, cell, int(h), a.batch_size, a.bptt, a.steps, device)))
        return
    variants = a.variants or ",".join(CUDA_VARIANTS if device.type == "cuda" else VARIANTS)
    print(hardware.describe_cpu(), flush=True)
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}", flush=True)
    peak = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    print(
        f"matmul peak on {a.device} ({torch.get_num_threads()} CPU threads): fp32 "
        f"{peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s"
    )
    rows = []
    print(
        f"{'cell':5} {'H':>4} {'variant':17} {'tok/s':>8} {'x base':>7} {'GFLOP/s':>8} "
        f"{'% peak':>7} {'mem MB':>7} {'copies':>6}"
    )
    for cell in a.cells.split(","):
        for h in map(int, a.sizes.split(",")):
            base: dict[str, float] = {}
            for v in variants.split(","):
                prec = "bf16" if v.endswith("bf16") else "fp32"
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    f"{v}:{cell}:{h}",
                    "--batch-size",
                    str(a.batch_size),
                    "--bptt",
                    str(a.bptt),
                    "--steps",
                    str(a.steps),
                    "--device",
                    a.device,
                ]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode != 0:
                    print(f"{cell:5} {h:4d} {v:17} failed: {res.stderr.strip()[-200:]}")
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                if v.startswith("baseline"):
                    base[prec] = r["tokens_per_s"]
                b = base.get(prec, base.get("fp32"))  # bf16 against baseline_bf16 when it ran
                ratio = r["tokens_per_s"] / b if b else float("nan")
                pk = peak[prec]
                rows.append(
                    {
                        "cell": cell,
                        "hidden": h,
                        "variant": v,
                        "vs_baseline": ratio,
                        "pct_peak": 100 * r["gflops"] / pk,
                        **r,
                    }
                )
                fallback = (
                    v == "fused_bf16"
                    and device.type == "cpu"
                    and not hardware.fused_bf16_ok(MODES[cell])
                )
                label = f"{v}*" if fallback else v
                print(
                    f"{cell:5} {h:4d} {label:17} {r['tokens_per_s']:8.0f} {ratio:7.2f} "
                    f"{r['gflops']:8.1f} {100 * r['gflops'] / pk:7.1f} {r['peak_mem_mb']:7.0f} "
                    f"{r['weight_copies']:6d}"
                )
    print("* no fused bf16 kernel for this cell here: its recurrent layers ran in fp32")
    if a.json:
        with open(a.json, "w") as f:
            f.write(dumps({"peak_gflops": peak, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
