"""Train a translator: an attentional encoder-decoder on sentence pairs.

    seqlab translate train --train-src raw/train.de --train-tgt raw/train.en \\
        --dev-src raw/val.de --dev-tgt raw/val.en --out runs/de-en --max-minutes 60
    seqlab translate train --out runs/de-en --resume      # continue exactly where it stopped
    seqlab translate train ... --init-from runs/de-en --lr 1e-4   # fine-tune, fresh optimizer
    torchrun --nproc_per_node 2 -m seqlab.cli translate train ...   # DDP, see seqlab.distributed

sentencepiece vocabularies are trained at train time and stored in the checkpoint (as the
model's bytes), so a checkpoint alone translates raw text. Evaluation and translation are in
seqlab.translate.predict.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab import distributed, run
from seqlab.checkpoint import save_checkpoint
from seqlab.config import OptimConfig
from seqlab.data.pairs import bucket_batches
from seqlab.data.tokenizers import PAD, tokenizer_from_dict
from seqlab.errors import UserError
from seqlab.logs import RunLog
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.resume import rng_states, set_rng_states
from seqlab.sources import load_checkpoint
from seqlab.training import (
    LRSchedule,
    NonFiniteGuard,
    autocast,
    clip_and_step,
    count_parameters,
    make_grad_scaler,
    make_optimizer,
    was_clipped,
)
from seqlab.translate.config import TASK, TranslateTrainConfig
from seqlab.translate.data import build_tokenizers, collate, encode_pairs, load_pairs
from seqlab.translate.predict import corpus_bleu, evaluate_nll, translate_ids

log = logging.getLogger(__name__)


def train(
    cfg: TranslateTrainConfig,
    mcfg: Seq2SeqConfig,
    ocfg: OptimConfig,
    callback: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train a translator; returns a summary. Writes config.json, metrics.jsonl, checkpoints.
    ``callback(step, total, loss)`` runs after every step (progress in apps and tests)."""
    out = Path(cfg.out)
    info, device, precision, gen = run.start(cfg)
    train_pairs, dev_pairs = load_pairs(cfg)
    resume = init = None
    if cfg.resume:
        if not (out / "ckpt_last.pt").exists():
            raise UserError(f"--resume: no checkpoint at {out / 'ckpt_last.pt'}")
        resume = load_checkpoint(out / "ckpt_last.pt", task=TASK)
        src_tok = tokenizer_from_dict(resume["src_tokenizer"])
        tgt_tok = tokenizer_from_dict(resume["tgt_tokenizer"])
        mcfg = Seq2SeqConfig(**resume["model_config"])
    elif cfg.init_from:  # its vocabularies and architecture; this run's dropout
        init = load_checkpoint(cfg.init_from, task=TASK)
        src_tok = tokenizer_from_dict(init["src_tokenizer"])
        tgt_tok = tokenizer_from_dict(init["tgt_tokenizer"])
        mcfg = dataclasses.replace(Seq2SeqConfig(**init["model_config"]), dropout=mcfg.dropout)
    else:
        src_tok, tgt_tok = build_tokenizers(
            train_pairs, cfg.vocab_size, cfg.joint_vocab, cfg.tgt_vocab_size
        )
        if info.enabled:  # every process encodes with rank 0's vocabularies
            dicts = distributed.from_main((src_tok.to_dict(), tgt_tok.to_dict()), info)
            src_tok, tgt_tok = (tokenizer_from_dict(d) for d in dicts)
    train_ex = encode_pairs(train_pairs, src_tok, tgt_tok, cfg.max_tokens)
    dev_ex = encode_pairs(dev_pairs, src_tok, tgt_tok)
    if not train_ex:
        raise UserError(f"no training pair is at most --max-tokens {cfg.max_tokens} tokens long")
    mcfg = dataclasses.replace(
        mcfg, src_vocab_size=src_tok.vocab_size, tgt_vocab_size=tgt_tok.vocab_size
    )
    model = Seq2Seq(mcfg).to(device)
    if init is not None:
        model.load_state_dict(init["model"])
    fwd = distributed.training_module(model, info, device, cfg.compile)  # `model` is saved
    optimizer = make_optimizer(model.parameters(), ocfg)
    scaler = make_grad_scaler(precision, device)
    steps_per_epoch = math.ceil(len(train_ex) / cfg.batch_size)
    step, epoch = 0, 0
    best = run.Best(cfg.patience)  # greedy dev BLEU
    if resume is not None:
        step, epoch = resume["step"], resume["epoch"]
    budget = run.Budget(cfg, steps_per_epoch, info, (resume or {}).get("elapsed_s", 0.0), step)
    sched = LRSchedule(optimizer, ocfg, budget.total_steps)
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        best.load_state_dict({"score": resume["best"], "bad_evals": resume["bad_evals"]})
    # rank 0 alone writes config, metrics and checkpoints
    runlog = RunLog(
        out, cfg, info.is_main, step if resume else None, train=cfg, model=mcfg, optim=ocfg
    )
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    log.info(
        "translate: %d train / %d dev pairs, vocab %d/%d, %d parameters, on %s (%s)",
        len(train_ex),
        len(dev_ex),
        src_tok.vocab_size,
        tgt_tok.vocab_size,
        count_parameters(model),
        device,
        precision,
    )

    def checkpoint(name: str, scores: dict, gen_state: torch.Tensor, rng: list) -> None:
        if not info.is_main:
            return
        save_checkpoint(
            out / name,
            {
                "task": TASK,
                "model_config": dataclasses.asdict(mcfg),
                "model": model.state_dict(),
                "src_tokenizer": src_tok.to_dict(),
                "tgt_tokenizer": tgt_tok.to_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "epoch": epoch,
                "best": best.score,
                "bad_evals": best.bad_evals,
                "elapsed_s": budget.elapsed,
                "metrics": scores,
                "gen_state": gen_state,
                "rng": rng,  # every process's global generators: dropout resumes exactly
            },
        )

    def validate() -> dict:
        """Rank 0 scores the dev set; every process gets its result (early stopping, schedule)."""
        if not info.is_main:
            return distributed.from_main(None, info)
        with autocast(precision, device):
            nll = evaluate_nll(model, dev_ex, device)
            hyps = translate_ids(model, [x for x, _ in dev_ex], device, beam_size=1)
        model.train()
        bleu = corpus_bleu([tgt_tok.decode(h[0].tokens) for h in hyps], [t for _, t in dev_pairs])
        scores = {
            "nll": round(nll, 4),
            "ppl": round(math.exp(nll), 2),
            "bleu_greedy": round(bleu["bleu"], 2),
        }
        return distributed.from_main(scores, info)

    def target_tokens(ids: list[int]) -> int:
        return sum(len(train_ex[i][1]) + 1 for i in ids)  # y <eos>

    if resume is not None and "rng" in resume:
        set_rng_states(resume["rng"], info)  # last: nothing may draw after it
    scores, tokens, stop = {}, 0, budget.stop_reason() or best.stop_reason()
    bar = run.progress_bar(budget, info, "translate")
    model.train()
    while not stop:
        if resume is not None:  # replay this epoch's batch order and skip the batches done
            gen.set_state(resume["gen_state"])
        epoch_gen_state = gen.get_state()
        batches = bucket_batches([len(x) for x, _ in train_ex], cfg.batch_size, gen)
        done = step - epoch * steps_per_epoch if resume is not None else 0
        resume = None
        for k, idx in enumerate(batches[done:], done):
            # Under torchrun each process takes its block of the same global batch; the loss is
            # a mean over target tokens, so its share is weighted by the block's token count.
            block, n = distributed.shard_indices(idx, info)
            src, lengths, tgt_in, tgt_out = collate([train_ex[i] for i in block], device)
            with autocast(precision, device):
                logits = fwd(src, lengths, tgt_in, teacher_forcing=cfg.teacher_forcing)  # (B,T,V)
                loss = F.cross_entropy(
                    logits.flatten(0, 1),
                    tgt_out.flatten(),
                    ignore_index=PAD,
                    label_smoothing=cfg.label_smoothing,
                )
            n_tokens = target_tokens(idx)
            loss = loss * distributed.share(target_tokens(block[:n]), n_tokens, info)
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            norm, stepped = clip_and_step(list(model.parameters()), optimizer, ocfg, scaler)
            step += 1
            sched.step_batch(budget.tick(step))
            guard.update(stepped, step, fp16=scaler is not None)
            loss_value = distributed.mean(loss.item(), info)  # the global batch's loss
            lr = optimizer.param_groups[0]["lr"]
            tokens += n_tokens
            runlog.train(
                step, loss=loss_value, grad_norm=norm, lr=lr, clipped=was_clipped(norm, ocfg),
                tokens=n_tokens, epoch=epoch,
            )  # fmt: skip
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", norm=f"{norm:.2f}")
            if callback:
                callback(step, budget.total_steps, loss_value)
            end_of_epoch = k == len(batches) - 1
            if end_of_epoch:
                epoch += 1
                epoch_gen_state = gen.get_state()  # a resume starts the next epoch afresh
            if budget.eval_due(end_of_epoch):
                scores = validate()
                sched.step_eval(scores["nll"])
                budget.evaluated()
                improved = best.update(scores["bleu_greedy"])
                runlog.val(step, epoch, budget.elapsed, **scores)
                log.info(
                    "step %d, epoch %d: %s (%.1f min)", step, epoch, scores, budget.elapsed / 60
                )
                rng = rng_states(info)  # a collective under torchrun: every process takes part
                checkpoint("ckpt_last.pt", scores, epoch_gen_state, rng)
                if improved:
                    checkpoint("ckpt_best.pt", scores, epoch_gen_state, rng)
            stop = budget.stop_reason() or best.stop_reason()
            if stop:
                break
    return run.finish(
        bar,
        runlog,
        info,
        budget,
        out,
        precision,
        tokens=tokens,
        stopped=stop,
        epochs=epoch,
        best_val_bleu_greedy=best.score,
        last_val=scores,
    )


def train_demo_model(
    folder: str | Path,
    callback: Callable[[int, int, float], None] | None = None,
    minutes: float = 2.0,
) -> Path:
    """Train the offline demo model on generated dates (seqlab.toy.dates) into
    ``folder`` unless it is there already; returns its checkpoint path."""
    from seqlab.toy.dates import make_date_pairs

    folder = Path(folder)
    ckpt, done = folder / "ckpt_best.pt", folder / "complete"
    if ckpt.exists() and done.exists():  # an interrupted run trains again
        return ckpt
    folder.mkdir(parents=True, exist_ok=True)
    pairs = folder / "dates.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in make_date_pairs(8000, seed=0)))
    cfg = TranslateTrainConfig(
        pairs=str(pairs),
        dev_size=300,
        out=str(folder),
        vocab_size=250,
        tgt_vocab_size=16,
        joint_vocab=False,
        batch_size=64,
        epochs=100,
        max_minutes=minutes,
        patience=3,
        device="cpu",
        precision="fp32",
        threads=1,  # a model this small gains nothing from more, and loses a lot when the
    )  # cores are shared with other work (measured: 2.5x faster here)
    mcfg = Seq2SeqConfig(cell="gru", embedding_size=64, hidden_size=128, dropout=0.1)
    threads = torch.get_num_threads()
    try:
        train(cfg, mcfg, OptimConfig(lr=3e-3, schedule="none", clip_norm=1.0), callback)
    finally:
        torch.set_num_threads(threads)
    done.touch()
    return ckpt
