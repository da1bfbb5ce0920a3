"""Train a character-level language model with truncated BPTT.

seqlab charlm train --text input.txt --out runs/shakespeare --max-minutes 30
seqlab charlm train --out runs/shakespeare --resume   # continue exactly where it stopped
seqlab charlm sample --checkpoint runs/shakespeare --prime "ROMEO:" --length 500
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqlab import distributed, run
from seqlab.charlm.config import TASK, CharLMTrainConfig
from seqlab.charlm.corpus import load_corpus
from seqlab.charlm.predict import CharLMPredictor, evaluate_loss
from seqlab.checkpoint import save_checkpoint
from seqlab.config import OptimConfig
from seqlab.data.text import CharVocab, make_streams
from seqlab.data.tokencache import UNK
from seqlab.errors import UserError
from seqlab.logs import RunLog
from seqlab.models.charlm import CharLM, CharLMConfig
from seqlab.sources import load_checkpoint
from seqlab.tbptt import tbptt_forward, tbptt_windows
from seqlab.training import (
    LRSchedule,
    NonFiniteGuard,
    autocast,
    clip_and_step,
    make_grad_scaler,
    make_optimizer,
    map_state,
    was_clipped,
)

log = logging.getLogger(__name__)


def long_ids(a) -> torch.Tensor:
    """A slice of the uint8/uint16 token streams as the int64 ids embeddings and losses take."""
    return torch.from_numpy(np.asarray(a, dtype=np.int64))


# At each validation the run prints and logs a short sample, as char-rnn did: the same seed and
# temperature every time, so the samples show what the model learned between validations.
SAMPLE_CHARS, SAMPLE_TEMPERATURE, SAMPLE_SEED = 200, 0.8, 1337
# Validation during training scores at most this many characters of the held-out split, so an
# evaluation costs what a short budget can afford (`charlm evaluate` scores all of it).
VAL_MAX_CHARS = 200_000


def eval_sample(model: CharLM, vocab: CharVocab, device: torch.device) -> str:
    """SAMPLE_CHARS characters from the model, starting after a newline (or the first character
    of the vocabulary, for a text without one); leaves the model training."""
    prime = "\n" if "\n" in vocab.index else vocab.chars[0]
    pred = CharLMPredictor(model, vocab, device)
    text = pred.sample(prime, SAMPLE_CHARS, SAMPLE_TEMPERATURE, seed=SAMPLE_SEED)
    model.train()
    return text[1:]


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
    info, device, precision, _ = run.start(cfg)  # torch's global RNG drives dropout
    distributed.check_divisible(cfg.batch_size, info)
    corpus, source = load_corpus(cfg, info)  # a TokenCache
    vocab = CharVocab(corpus.chars)
    resume = None
    if cfg.resume and (out / "ckpt_last.pt").exists():
        resume = load_checkpoint(out / "ckpt_last.pt", task=TASK)
        mcfg = CharLMConfig(**resume["model_config"])
        if resume["vocab"] != vocab.chars:
            raise UserError(f"--resume: {source} is not the text {out} was trained on")
    elif cfg.resume:
        raise UserError(f"--resume: no checkpoint at {out / 'ckpt_last.pt'}")
    n_train = int(len(corpus) * (1 - cfg.val_fraction))
    ids = corpus.ids  # (N,) uint8/uint16, memory-mapped
    streams = make_streams(ids[:n_train], cfg.batch_size, info.rank, info.world_size)  # (B, L)
    # a bounded, fixed validation sample: its first VAL_MAX_CHARS characters
    val_ids = long_ids(ids[n_train : n_train + VAL_MAX_CHARS])
    val_bs = max(1, min(cfg.batch_size, len(val_ids) // (cfg.bptt + 1)))
    val_streams = make_streams(val_ids, val_bs)

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
    steps_per_epoch = math.ceil((streams.shape[1] - 1) / k1)
    step, epoch, pos, carry = 0, 0, 0, None
    best = run.Best(cfg.patience, higher_is_better=False)
    if resume is not None:
        step, epoch, pos = resume["step"], resume["epoch"], resume["pos"]
    budget = run.Budget(cfg, steps_per_epoch, info, (resume or {}).get("elapsed_s", 0.0), step)
    sched = LRSchedule(optimizer, ocfg, budget.total_steps)
    scaler = make_grad_scaler(precision, device)
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        best.load_state_dict(resume.get("best_state", {"score": resume["best"], "bad_evals": 0}))
        carry = map_state(resume["carry"], lambda c: distributed.shard_batch(c.to(device), info, 1))
        torch.set_rng_state(resume["rng"])
    # rank 0 alone writes config, metrics and checkpoints
    runlog = RunLog(
        out, cfg, info.is_main, step if resume else None, train=cfg, model=mcfg, optim=ocfg
    )
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    log.info(
        "charlm: %s, %d chars (%d train), vocab %d, %s on %s (%s)",
        source,
        len(corpus),
        n_train,
        len(vocab),
        mcfg.cell,
        device,
        precision,
    )
    if corpus.unknown:
        log.info(
            "charlm: %d characters of the text (%d distinct, the rarest) are past --max-vocab "
            "%d and map to %r",
            corpus.unknown, corpus.unknown_distinct, cfg.max_vocab, UNK,
        )  # fmt: skip

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
                "best": best.score,
                "best_state": best.state_dict(),
                "elapsed_s": budget.elapsed,
                "rng": torch.get_rng_state(),
                "metrics": {"val_loss": val_loss},
                "source": source,
            },
        )

    total = budget.total_steps
    bar = run.progress_bar(budget, info, "charlm")
    # the last validation so far: the checkpoint's when resumed (it may stop before validating)
    val_loss = resume["metrics"]["val_loss"] if resume is not None else math.nan
    tokens, stop = 0, budget.stop_reason() or best.stop_reason()
    model.train()
    while not stop:
        windows = list(tbptt_windows(streams.shape[1] - 1, k1, k2, start=pos))
        for k, (s, mid, t, t_prev) in enumerate(windows):
            x = long_ids(streams[:, s:t]).to(device)  # (B, T)
            y = long_ids(streams[:, t_prev + 1 : t + 1]).to(device)  # (B, t - t_prev): new targets
            with autocast(precision, device):
                logits, next_carry = tbptt_forward(fwd, x, carry, s, mid, t, t_prev)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            norm, stepped = clip_and_step(list(model.parameters()), optimizer, ocfg, scaler)
            carry, pos = next_carry, t
            step += 1
            sched.step_batch(budget.tick(step))  # a cosine schedule anneals over the budget
            guard.update(stepped, step, fp16=scaler is not None)
            loss_value = distributed.mean(loss.item(), info)  # the global batch's loss
            lr = optimizer.param_groups[0]["lr"]
            clipped = was_clipped(norm, ocfg)
            tokens += y.numel() * info.world_size
            runlog.train(
                step, loss=loss_value, grad_norm=norm, lr=lr, clipped=clipped,
                tokens=y.numel() * info.world_size, stepped=stepped,
            )  # fmt: skip
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", norm=f"{norm:.2f}")
            end_of_epoch = k == len(windows) - 1
            if end_of_epoch:  # the next pass starts from a fresh state
                epoch, pos, carry = epoch + 1, 0, None
            if budget.eval_due(end_of_epoch):
                # Every process scores the whole validation text, so all agree on the result.
                val_loss = evaluate_loss(model, val_streams, cfg.bptt, device, precision)
                sched.step_eval(val_loss)
                budget.evaluated()
                sample = eval_sample(model, vocab, device) if info.is_main else ""
                runlog.val(step, epoch, budget.elapsed, loss=val_loss, sample=sample)
                if info.is_main:
                    log.info("step %d: val %.4f nats; sample:\n%s\n", step, val_loss, sample)
                if best.update(val_loss):
                    checkpoint("ckpt_best.pt", val_loss)
                checkpoint("ckpt_last.pt", val_loss)
            if callback is not None:
                callback(step, total, loss_value)
            stop = budget.stop_reason() or best.stop_reason()
            if stop or end_of_epoch:
                break
    return run.finish(
        bar,
        runlog,
        info,
        budget,
        out,
        precision,
        stopped=stop,
        best_val_loss=best.score,
        last_val_loss=val_loss,
        tokens=tokens,
        source=source,
    )
