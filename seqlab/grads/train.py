"""Long-range dependency tasks and a training comparison across cells, lengths and clipping.

The adding problem and the copy task (Hochreiter and Schmidhuber 1997; in the form of Le et al.
2015 and Arjovsky et al. 2016) need information from far back in the sequence. Training each cell
on them at increasing T, with and without clipping by global norm (Pascanu, Mikolov and Bengio
2013), shows the vanilla RNN failing where LSTM and GRU succeed, and clipping taming the spikes.

    seqlab grads train --task adding --cells rnn,lstm,gru --seq-len 50,100,200 --out runs/grads

Each run logs loss, accuracy, the pre-clip global gradient norm and per-layer norms every step.
"""

from __future__ import annotations

import logging
import math
import re
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.gradients import gradient_reach, init_recurrent

# the settings live in a torch-free module (fast --help); these names stay importable here
from seqlab.grads.config import TASKS, GradTrainConfig, parse_list  # noqa: F401
from seqlab.models.longrange import LongRangeConfig, LongRangeModel
from seqlab.training import OptimConfig, clip_and_step, make_optimizer, resolve_device

log = logging.getLogger(__name__)
ADDING_TOLERANCE = 0.04  # Hochreiter and Schmidhuber (1997): a sum is right within 0.04


# --------------------------------------------------------------------------- data


def adding_batch(T: int, B: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Adding problem: x (B, T, 2) = (value in U(0, 1), marker); y (B,) = the 2 marked values' sum.

    One marker falls in each half of the sequence, so the first one is about T/2 to T steps back.
    """
    values = torch.rand(B, T, generator=gen)  # (B, T)
    first = torch.randint(0, T // 2, (B,), generator=gen)
    second = torch.randint(T // 2, T, (B,), generator=gen)
    marks = torch.zeros(B, T)
    marks[torch.arange(B), first] = 1.0
    marks[torch.arange(B), second] = 1.0
    return torch.stack([values, marks], -1), (values * marks).sum(1)  # (B, T, 2), (B,)


def copy_batch(
    T: int, B: int, gen: torch.Generator, symbols: int = 5, alphabet: int = 8
) -> tuple[Tensor, Tensor]:
    """Copy task: S symbols, T - 1 blanks, a delimiter, then S steps in which to recall them.

    Input ids: 0 blank, 1..K symbols, K + 1 delimiter, one-hot: x (B, T + 2S, K + 2);
    targets y (B, S) in 0..K-1 for the last S steps.
    """
    S, K = symbols, alphabet
    seq = torch.randint(1, K + 1, (B, S), generator=gen)  # (B, S)
    ids = torch.zeros(B, T + 2 * S, dtype=torch.long)
    ids[:, :S] = seq
    ids[:, S + T - 1] = K + 1
    return F.one_hot(ids, K + 2).float(), seq - 1  # (B, L, K + 2), (B, S)


def make_batch(cfg: GradTrainConfig, T: int, B: int, gen: torch.Generator):
    if cfg.task == "adding":
        return adding_batch(T, B, gen)
    return copy_batch(T, B, gen, cfg.copy_symbols, cfg.copy_alphabet)


def task_sizes(cfg: GradTrainConfig) -> tuple[int, int]:
    """(input_size, output_size) of the probe model."""
    return (2, 1) if cfg.task == "adding" else (cfg.copy_alphabet + 2, cfg.copy_alphabet)


def baseline_loss(cfg: GradTrainConfig) -> float:
    """The loss of a model that ignores the inputs: predict 1 (variance of the sum, 1/6) or guess
    uniformly among K symbols (log K)."""
    return 1 / 6 if cfg.task == "adding" else math.log(cfg.copy_alphabet)


def task_loss(cfg: GradTrainConfig, out: Tensor, y: Tensor) -> tuple[Tensor, float]:
    """Loss on the steps that matter and accuracy (adding: |error| < 0.04; copy: symbols right)."""
    if cfg.task == "adding":
        pred = out[:, -1, 0]  # (B,): read out at the last step only
        acc = ((pred - y).abs() < ADDING_TOLERANCE).float().mean()
        return F.mse_loss(pred, y), float(acc)
    S = cfg.copy_symbols
    logits = out[:, -S:]  # (B, S, K)
    acc = (logits.argmax(-1) == y).float().mean()
    return F.cross_entropy(logits.flatten(0, 1), y.flatten()), float(acc)


# --------------------------------------------------------------------------- training


def layer_grad_norms(model: nn.Module) -> dict[str, float]:
    """Gradient norm of each recurrent layer's parameters (*_l{k}) and of the head."""
    sq: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        m = re.search(r"_l(\d+)", name)
        key = f"grad_norm_l{m.group(1)}" if m and name.startswith("rnn.") else "grad_norm_head"
        sq[key] = sq.get(key, 0.0) + float(p.grad.detach().float().pow(2).sum())
    return {k: math.sqrt(v) for k, v in sorted(sq.items())}


def run_name(cell: str, T: int, clip: float) -> str:
    return f"{cell}_T{T}_" + (f"clip{clip:g}" if clip > 0 else "noclip")


def train_run(
    cfg: GradTrainConfig, cell: str, T: int, clip: float, on_step=None
) -> tuple[list[dict], dict]:
    """Train one cell at one length; returns (per-step records, final summary).

    Every run with the same seed sees the same batches, so runs differ only in cell and clipping.
    """
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    inp, outp = task_sizes(cfg)
    model = LongRangeModel(
        LongRangeConfig(
            cell=cell,
            input_size=inp,
            output_size=outp,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
        )
    )
    init_recurrent(model.rnn, forget_bias=cfg.forget_bias)  # only the LSTM has a forget gate
    model = model.to(device)
    probe = make_batch(cfg, T, 32, torch.Generator().manual_seed(cfg.seed + 1))[0]  # (32, L, I)
    reach_init = gradient_reach(model.rnn, probe)
    ocfg = OptimConfig(optimizer=cfg.optimizer, lr=cfg.lr, schedule="none", clip_norm=clip)
    optimizer = make_optimizer(model.parameters(), ocfg)
    params = list(model.parameters())
    base = {"task": cfg.task, "cell": cell, "seq_len": T, "clip_norm": clip}
    records, t0 = [], time.perf_counter()
    model.train()
    for step in range(1, cfg.steps + 1):
        x, y = make_batch(cfg, T, cfg.batch_size, gen)
        out, _ = model(x.to(device))  # (B, L, O)
        loss, acc = task_loss(cfg, out, y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        per_layer = layer_grad_norms(model)  # before clipping, like the global norm
        norm, stepped = clip_and_step(params, optimizer, ocfg)
        records.append(
            {
                **base,
                "step": step,
                "loss": loss.item(),
                "accuracy": acc,
                "grad_norm": norm,
                "clipped": bool(clip and norm > clip),
                "stepped": stepped,
                **per_layer,
            }
        )
        if on_step is not None:
            on_step()
    summary = {
        **base,
        **evaluate(cfg, model, T, device),
        "baseline_loss": baseline_loss(cfg),
        "max_grad_norm": max(r["grad_norm"] for r in records),
        "clip_rate": sum(r["clipped"] for r in records) / len(records),
        "skipped_steps": sum(not r["stepped"] for r in records),
        "seconds": round(time.perf_counter() - t0, 2),
        # Does training teach the gates to keep the signal? ||dL/dh_0|| / ||dL/dh_T||, before/after
        "reach_init": reach_init,
        "reach_trained": gradient_reach(model.rnn, probe),
    }
    return records, summary


@torch.no_grad()
def evaluate(cfg: GradTrainConfig, model: nn.Module, T: int, device) -> dict:
    """Loss and accuracy on held-out sequences (a fixed seed, apart from the training stream)."""
    model.eval()
    x, y = make_batch(cfg, T, cfg.eval_size, torch.Generator().manual_seed(cfg.seed + 10_007))
    out, _ = model(x.to(device))
    loss, acc = task_loss(cfg, out, y.to(device))
    model.train()
    return {"final_loss": float(loss), "accuracy": acc}


def compare(cfg: GradTrainConfig, progress=None) -> tuple[list[dict], list[dict]]:
    """Every cell x length x clipping; ``progress(fraction, text)`` after each step if given."""
    runs = [
        (c, T, clip)
        for T in parse_list(cfg.seq_len, int)
        for c in parse_list(cfg.cells)
        for clip in cfg.clip_values()
    ]
    total, done = len(runs) * cfg.steps, 0
    records, summaries = [], []
    for cell, T, clip in runs:
        name = run_name(cell, T, clip)

        def tick(name=name):
            nonlocal done
            done += 1
            if progress is not None and (done % 10 == 0 or done == total):
                progress(done / total, name)

        recs, summary = train_run(cfg, cell, T, clip, tick)
        log.info(
            "%s: loss %.4f, accuracy %.3f (baseline loss %.4f), max norm %.3g, "
            "reach %.2g -> %.2g, %.1fs",
            name,
            summary["final_loss"],
            summary["accuracy"],
            summary["baseline_loss"],
            summary["max_grad_norm"],
            summary["reach_init"],
            summary["reach_trained"],
            summary["seconds"],
        )
        records += recs
        summaries.append(summary)
    return records, summaries
