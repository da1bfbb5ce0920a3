"""Character-level language modelling: train with truncated BPTT, evaluate, sample.

seqlab charlm train --text input.txt --out runs/shakespeare
seqlab charlm sample --checkpoint runs/shakespeare --prime "ROMEO:" --length 500
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab import distributed
from seqlab.checkpoint import load_checkpoint, save_checkpoint
from seqlab.config import check
from seqlab.data.text import CharVocab, default_corpus, iter_chunks, make_streams, read_text
from seqlab.decoding import sample_next
from seqlab.errors import UserError
from seqlab.models.charlm import CharLM, CharLMConfig
from seqlab.tbptt import tbptt_forward, tbptt_windows
from seqlab.training import (
    LRSchedule,
    NonFiniteGuard,
    OptimConfig,
    autocast,
    check_compile,
    clip_and_step,
    make_grad_scaler,
    make_optimizer,
    map_state,
    open_run,
    progress,
    resolve_device,
    resolve_precision,
    seed_everything,
)

TASK = "charlm"
log = logging.getLogger(__name__)


@dataclass
class CharLMTrainConfig:
    text: str | None = field(
        default=None,
        metadata={
            "help": "UTF-8 training text; none: the Python documentation topics shipped with Python"
        },
    )
    out: str = field(default="runs/charlm", metadata={"help": "run directory"})
    bptt: int = field(default=128, metadata={"help": "steps to backpropagate through (k2)"})
    k1: int = field(default=0, metadata={"help": "update every k1 steps (TBPTT(k1, k2); 0: bptt)"})
    batch_size: int = field(default=64, metadata={"help": "parallel streams (global batch)"})
    max_steps: int = field(default=3000, metadata={"help": "optimizer steps (0: use --epochs)"})
    epochs: int = field(default=0, metadata={"help": "passes over the text (if --max-steps 0)"})
    val_fraction: float = field(default=0.1, metadata={"help": "last fraction kept for validation"})
    eval_every: int = field(default=250, metadata={"help": "validate and checkpoint every N steps"})
    seed: int = field(default=1337, metadata={"help": "random seed"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16 on AMX CPUs and bf16 GPUs, else fp32), fp32, bf16, fp16 (GPU)",
            "choices": ["auto", "fp32", "bf16", "fp16"],
        },
    )
    compile: bool = field(
        default=False,
        metadata={"help": "torch.compile the model (with --backend scratch: its step function)"},
    )
    resume: bool = field(default=False, metadata={"help": "continue from OUT/ckpt_last.pt"})
    time_limit: float = field(
        default=0.0, metadata={"help": "stop after this many minutes of training (0: no limit)"}
    )

    def __post_init__(self):
        check(self.bptt >= 1, f"--bptt must be >= 1, got {self.bptt}")
        check(0 <= self.k1 <= self.bptt, f"--k1 must be in [0, bptt={self.bptt}], got {self.k1}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.max_steps >= 0 and self.epochs >= 0, "--max-steps/--epochs must be >= 0")
        check(self.max_steps > 0 or self.epochs > 0, "set --max-steps or --epochs")
        check(
            0 < self.val_fraction < 1, f"--val-fraction must be in (0, 1), got {self.val_fraction}"
        )
        check(self.eval_every >= 1, "--eval-every must be >= 1")
        check(self.time_limit >= 0, f"--time-limit must be >= 0, got {self.time_limit}")


@torch.no_grad()
def evaluate_loss(model: CharLM, streams: torch.Tensor, bptt: int, device, precision) -> float:
    """Mean cross-entropy (nats/char) over all streams, state carried across chunks."""
    model.eval()
    total, count, state = 0.0, 0, None
    for _, x, y in iter_chunks(streams, bptt):
        x, y = x.to(device), y.to(device)
        with autocast(precision, device):
            logits, state = model(x, state)
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / max(count, 1)


def _load_corpus(cfg: CharLMTrainConfig) -> tuple[str, str]:
    if cfg.text:
        return read_text(cfg.text), str(cfg.text)
    return default_corpus()


def train(
    cfg: CharLMTrainConfig,
    mcfg: CharLMConfig,
    ocfg: OptimConfig,
    callback: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train a char-LM; returns a summary dict. Writes config.json, metrics.jsonl, checkpoints.

    ``callback(step, total, loss)`` runs after every step (progress bars in apps, tests).
    """
    out = Path(cfg.out)
    info, device = distributed.setup(cfg.device)
    distributed.check_divisible(cfg.batch_size, info)
    precision = resolve_precision(cfg.precision, device)
    check_compile(cfg.compile, device)
    seed_everything(cfg.seed)  # torch's global RNG drives dropout
    text, source = _load_corpus(cfg)
    resume = None
    if cfg.resume and (out / "ckpt_last.pt").exists():
        resume = load_checkpoint(out / "ckpt_last.pt", task=TASK)
        vocab = CharVocab(resume["vocab"])
        mcfg = CharLMConfig(**resume["model_config"])
    elif cfg.resume:
        raise UserError(f"--resume: no checkpoint at {out / 'ckpt_last.pt'}")
    else:
        vocab = CharVocab.from_text(text)
    n_train = int(len(text) * (1 - cfg.val_fraction))
    ids = vocab.encode(text, what=source)
    streams = make_streams(ids[:n_train], cfg.batch_size, info.rank, info.world_size)  # (B, L)
    val_bs = max(1, min(cfg.batch_size, (len(ids) - n_train) // (cfg.bptt + 1)))
    val_streams = make_streams(ids[n_train:], val_bs)

    mcfg = dataclasses.replace(mcfg, vocab_size=len(vocab))
    model = CharLM(mcfg).to(device)
    ddp = distributed.wrap(model, info, device)
    fwd = ddp
    if cfg.compile and mcfg.backend == "scratch":
        model.rnn.compile_step()  # compile the cell step; the loop over time stays Python
    elif cfg.compile:
        fwd = torch.compile(ddp)  # the uncompiled model is what gets saved
    optimizer = make_optimizer(model.parameters(), ocfg)
    k1, k2 = cfg.k1 or cfg.bptt, cfg.bptt
    steps_per_epoch = math.ceil((streams.size(1) - 1) / k1)
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    sched = LRSchedule(optimizer, ocfg, total)
    scaler = make_grad_scaler(precision, device)
    step, epoch, pos, carry, best = 0, 0, 0, None, math.inf
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        step, epoch, pos, best = resume["step"], resume["epoch"], resume["pos"], resume["best"]
        carry = map_state(resume["carry"], lambda c: distributed.shard_batch(c.to(device), info, 1))
        torch.set_rng_state(resume["rng"])
    metrics = open_run(  # rank 0 alone writes config, metrics and checkpoints
        out, info.is_main, step if resume else None, train=cfg, model=mcfg, optim=ocfg
    )
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    log.info(
        "charlm: %s, %d chars (%d train), vocab %d, %s on %s (%s)",
        source,
        len(text),
        n_train,
        len(vocab),
        mcfg.cell,
        device,
        precision,
    )

    def checkpoint(name: str, val_loss: float) -> None:
        # The carried TBPTT state is part of the run: save all streams' so resume is exact.
        full_carry = map_state(carry, lambda c: distributed.gather_batch(c, info, 1))
        if not info.is_main:
            return
        save_checkpoint(
            out / name,
            {
                "task": TASK,
                "model_config": dataclasses.asdict(mcfg),
                "model": model.state_dict(),
                "vocab": vocab.chars,
                "optimizer": optimizer.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "epoch": epoch,
                "pos": pos,
                "carry": map_state(full_carry, lambda c: c.cpu()),
                "best": best,
                "rng": torch.get_rng_state(),
                "metrics": {"val_loss": val_loss},
                "source": source,
            },
        )

    bar = progress(
        total=total, initial=step, desc="charlm", unit="step", disable=not info.is_main or None
    )
    t0, tokens, val_loss = time.perf_counter(), 0, math.nan
    model.train()
    out_of_time = False
    while step < total and not out_of_time:
        for s, mid, t, t_prev in tbptt_windows(streams.size(1) - 1, k1, k2, start=pos):
            x = streams[:, s:t].to(device)  # (B, T)
            y = streams[:, t_prev + 1 : t + 1].to(device)  # (B, t - t_prev): the new targets
            with autocast(precision, device):
                logits, next_carry = tbptt_forward(fwd, x, carry, s, mid, t, t_prev)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            norm, stepped = clip_and_step(list(model.parameters()), optimizer, ocfg, scaler)
            carry, pos = next_carry, t
            step += 1
            used = None  # the share of --time-limit spent, on rank 0's clock (all ranks agree)
            if cfg.time_limit > 0:
                minutes = distributed.from_main((time.perf_counter() - t0) / 60, info)
                used = minutes / cfg.time_limit
            sched.step_batch(used)  # a cosine schedule anneals over the time budget too
            guard.update(stepped, step, fp16=scaler is not None)
            tokens += y.numel() * info.world_size
            tok_s = tokens / (time.perf_counter() - t0)
            loss_value = distributed.mean(loss.item(), info)  # the global batch's loss
            if info.is_main:
                metrics.write(
                    step=step,
                    loss=loss_value,
                    grad_norm=norm,
                    stepped=stepped,
                    clipped=bool(ocfg.clip_norm and norm > ocfg.clip_norm),
                    lr=optimizer.param_groups[0]["lr"],
                    tokens_per_s=round(tok_s),
                )
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}", norm=f"{norm:.2f}", tok_s=f"{tok_s:.0f}")
            out_of_time = used is not None and used >= 1.0
            if step % cfg.eval_every == 0 or step == total or out_of_time:
                # Every process scores the whole validation text, so all agree on the result.
                val_loss = evaluate_loss(model, val_streams, cfg.bptt, device, precision)
                sched.step_eval(val_loss)
                if info.is_main:
                    metrics.write(
                        step=step,
                        val_loss=val_loss,
                        epoch=epoch,
                        elapsed_s=round(time.perf_counter() - t0, 2),
                    )
                if val_loss < best:
                    best = val_loss
                    checkpoint("ckpt_best.pt", val_loss)
                checkpoint("ckpt_last.pt", val_loss)
            if callback is not None:
                callback(step, total, loss_value)
            if step >= total or out_of_time:
                break
        else:  # the epoch ended: start the next pass from a fresh state
            epoch, pos, carry = epoch + 1, 0, None
    bar.close()
    if metrics is not None:
        metrics.close()
    elapsed = time.perf_counter() - t0
    distributed.cleanup(info)
    return {
        "steps": step,
        "best_val_loss": best,
        "last_val_loss": val_loss,
        "elapsed_s": round(elapsed, 2),
        "tokens_per_s": round(tokens / elapsed),
        "out": str(out),
        "source": source,
        "precision": precision,
        "processes": info.world_size,
    }


class CharLMPredictor:
    """A trained char-LM ready to sample and score text."""

    def __init__(self, model: CharLM, vocab: CharVocab, device: torch.device):
        self.model, self.vocab, self.device = model.eval(), vocab, device

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> CharLMPredictor:
        ckpt = load_checkpoint(path, task=TASK)
        dev = resolve_device(device)
        model = CharLM(CharLMConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        return cls(model.to(dev), CharVocab(ckpt["vocab"]), dev)

    @torch.no_grad()
    def sample(
        self,
        prime: str = "\n",
        length: int = 500,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> str:
        if length < 0:
            raise UserError(f"--length must be >= 0, got {length}")
        if temperature < 0:
            raise UserError(f"--temperature must be >= 0, got {temperature}")
        prime = prime or "\n"
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        ids = self.vocab.encode(prime, what="--prime").to(self.device)
        logits, state = self.model(ids.unsqueeze(0))  # (1, T, V)
        out = []
        for _ in range(length):
            nxt = sample_next(logits[:, -1].cpu(), temperature, top_k, top_p, gen)  # (1,)
            out.append(int(nxt))
            logits, state = self.model(nxt.view(1, 1).to(self.device), state)
        return prime + self.vocab.decode(out)

    @torch.no_grad()
    def loss(self, text: str, bptt: int = 256) -> float:
        """Mean negative log-likelihood of ``text`` in nats per character."""
        ids = self.vocab.encode(text, what="the evaluation text")
        if ids.numel() < 2:
            raise UserError("the evaluation text needs at least 2 characters")
        return evaluate_loss(self.model, ids.view(1, -1), bptt, self.device, "fp32")
