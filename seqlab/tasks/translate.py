"""Translation with an attentional encoder-decoder: train, evaluate (BLEU, perplexity), translate.

    seqlab translate train --train-src raw/train.de --train-tgt raw/train.en \\
        --dev-src raw/val.de --dev-tgt raw/val.en --out runs/de-en
    seqlab translate evaluate --checkpoint runs/de-en --src test.de --ref test.en --beam 5
    seqlab translate "Ein Hund rennt." --checkpoint runs/de-en
    torchrun --nproc_per_node 2 -m seqlab.cli translate train ...   # DDP, see seqlab.distributed

sentencepiece vocabularies are trained at train time and stored in the checkpoint (as the
model's bytes), so a checkpoint alone translates raw text.
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
from seqlab.data.pairs import bucket_batches, read_parallel, read_tsv_pairs, split_pairs
from seqlab.data.tokenizers import BOS, EOS, PAD, make_tokenizer, tokenizer_from_dict
from seqlab.errors import UserError
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.resume import rng_states, set_rng_states
from seqlab.tasks.translator import TASK, corpus_bleu, translate_ids
from seqlab.training import (
    LRSchedule,
    NonFiniteGuard,
    OptimConfig,
    autocast,
    check_compile,
    clip_and_step,
    count_parameters,
    make_grad_scaler,
    make_optimizer,
    open_run,
    precision_field,
    progress,
    resolve_precision,
    seed_everything,
)

log = logging.getLogger(__name__)


@dataclass
class TranslateTrainConfig:
    train_src: str | None = field(default=None, metadata={"help": "source sentences, one a line"})
    train_tgt: str | None = field(default=None, metadata={"help": "target sentences, aligned"})
    dev_src: str | None = field(default=None, metadata={"help": "validation source sentences"})
    dev_tgt: str | None = field(default=None, metadata={"help": "validation target sentences"})
    pairs: str | None = field(
        default=None,
        metadata={"help": "source<TAB>target[<TAB>attribution] file instead of aligned files"},
    )
    reverse: bool = field(default=False, metadata={"help": "--pairs: translate column 2 -> 1"})
    dev_size: int = field(default=1000, metadata={"help": "--pairs: pairs held out for dev"})
    out: str = field(default="runs/translate", metadata={"help": "run directory"})
    vocab_size: int = field(default=8000, metadata={"help": "sentencepiece vocabulary size"})
    tgt_vocab_size: int = field(
        default=0, metadata={"help": "target vocabulary size if not joint (0: --vocab-size)"}
    )
    joint_vocab: bool = field(default=True, metadata={"help": "one vocabulary for both sides"})
    max_tokens: int = field(default=80, metadata={"help": "drop training pairs longer than this"})
    batch_size: int = field(default=64, metadata={"help": "sentences per batch"})
    epochs: int = field(default=20, metadata={"help": "passes over the training pairs"})
    max_minutes: float = field(default=0.0, metadata={"help": "stop training after this (0: off)"})
    label_smoothing: float = field(default=0.1, metadata={"help": "Szegedy et al. 2016"})
    teacher_forcing: float = field(default=1.0, metadata={"help": "prob. of feeding the truth"})
    patience: int = field(default=3, metadata={"help": "stop after N evals without a better BLEU"})
    seed: int = field(default=1234, metadata={"help": "random seed"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    precision: str = precision_field()
    compile: bool = field(default=False, metadata={"help": "torch.compile the model to train"})
    resume: bool = field(default=False, metadata={"help": "continue from OUT/ckpt_last.pt"})

    def __post_init__(self):
        aligned = [self.train_src, self.train_tgt]
        check(bool(self.pairs) or all(aligned), "give --train-src and --train-tgt, or --pairs")
        check(bool(self.dev_src) == bool(self.dev_tgt), "give both --dev-src and --dev-tgt")
        check(self.batch_size >= 1 and self.epochs >= 1, "--batch-size/--epochs must be >= 1")
        check(self.vocab_size >= 8, f"--vocab-size must be >= 8, got {self.vocab_size}")
        check(0 <= self.label_smoothing < 1, "--label-smoothing must be in [0, 1)")
        check(0 <= self.teacher_forcing <= 1, "--teacher-forcing must be in [0, 1]")
        check(self.max_tokens >= 2 and self.patience >= 1, "--max-tokens >= 2, --patience >= 1")


def load_pairs(cfg: TranslateTrainConfig) -> tuple[list, list]:
    """(train pairs, dev pairs) from aligned files or a TSV file (dev held out if not given)."""
    if cfg.pairs:
        data = read_tsv_pairs(cfg.pairs, reverse=cfg.reverse)
    else:
        data = read_parallel(cfg.train_src, cfg.train_tgt)
    if cfg.dev_src:
        return data, read_parallel(cfg.dev_src, cfg.dev_tgt)
    return split_pairs(data, min(cfg.dev_size, len(data) // 10 or 1), cfg.seed)


def build_tokenizers(pairs: list, vocab_size: int, joint: bool, tgt_vocab_size: int = 0) -> tuple:
    """sentencepiece unigram models trained now: one joint model, or one per language."""
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    if joint:
        tok = make_tokenizer("sentencepiece", src + tgt, vocab_size=vocab_size)
        return tok, tok
    return (
        make_tokenizer("sentencepiece", src, vocab_size=vocab_size),
        make_tokenizer("sentencepiece", tgt, vocab_size=tgt_vocab_size or vocab_size),
    )


def encode_pairs(pairs, src_tok, tgt_tok, max_tokens: int | None = None) -> list:
    out = []
    for s, t in pairs:
        x, y = src_tok.encode(s)[: max_tokens or None], tgt_tok.encode(t)
        if max_tokens and len(y) > max_tokens:
            continue
        out.append((x or [EOS], y))
    return out


def collate(examples: list, device) -> tuple:
    """(src (B, S), src_lengths (B,), tgt_in (B, T) = <bos> y, tgt_out (B, T) = y <eos>)."""
    B = len(examples)
    S, T = max(len(x) for x, _ in examples), max(len(y) for _, y in examples) + 1
    src = torch.full((B, S), PAD, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD, dtype=torch.long)
    for i, (x, y) in enumerate(examples):
        src[i, : len(x)] = torch.tensor(x)
        tgt_in[i, : len(y) + 1] = torch.tensor([BOS] + y)
        tgt_out[i, : len(y) + 1] = torch.tensor(y + [EOS])
    lengths = torch.tensor([len(x) for x, _ in examples])
    return src.to(device), lengths, tgt_in.to(device), tgt_out.to(device)


@torch.no_grad()
def evaluate_nll(model: Seq2Seq, examples: list, device, batch_size: int = 100) -> float:
    """Mean negative log-likelihood per target token (with <eos>), no smoothing: log perplexity."""
    model.eval()
    total, count = 0.0, 0
    for idx in bucket_batches([len(x) for x, _ in examples], batch_size):
        src, lengths, tgt_in, tgt_out = collate([examples[i] for i in idx], device)
        logits = model(src, lengths, tgt_in)
        total += F.cross_entropy(
            logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD, reduction="sum"
        ).item()
        count += int((tgt_out != PAD).sum())
    model.train()
    return total / max(count, 1)


def train(
    cfg: TranslateTrainConfig,
    mcfg: Seq2SeqConfig,
    ocfg: OptimConfig,
    callback: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train a translator; returns a summary. Writes config.json, metrics.jsonl, checkpoints.
    ``callback(step, total, loss)`` runs after every step (progress in apps and tests)."""
    out = Path(cfg.out)
    info, device = distributed.setup(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    check_compile(cfg.compile, device)
    gen = seed_everything(cfg.seed)
    train_pairs, dev_pairs = load_pairs(cfg)
    resume = None
    if cfg.resume:
        if not (out / "ckpt_last.pt").exists():
            raise UserError(f"--resume: no checkpoint at {out / 'ckpt_last.pt'}")
        resume = load_checkpoint(out / "ckpt_last.pt", task=TASK)
        src_tok = tokenizer_from_dict(resume["src_tokenizer"])
        tgt_tok = tokenizer_from_dict(resume["tgt_tokenizer"])
        mcfg = Seq2SeqConfig(**resume["model_config"])
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
    fwd = distributed.training_module(model, info, device, cfg.compile)  # `model` is saved
    optimizer = make_optimizer(model.parameters(), ocfg)
    scaler = make_grad_scaler(precision, device)
    steps_per_epoch = math.ceil(len(train_ex) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = LRSchedule(optimizer, ocfg, total)
    step, epoch, best, bad_evals = 0, 0, -1.0, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        step, epoch, best, bad_evals = (resume[k] for k in ("step", "epoch", "best", "bad_evals"))
    # rank 0 alone writes config, metrics and checkpoints
    metrics = open_run(
        out, info.is_main, step if resume else None, train=cfg, model=mcfg, optim=ocfg
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
                "best": best,
                "bad_evals": bad_evals,
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
        bleu = corpus_bleu([tgt_tok.decode(h[0].tokens) for h in hyps], [t for _, t in dev_pairs])
        scores = {
            "dev_nll": round(nll, 4),
            "dev_ppl": round(math.exp(nll), 2),
            "dev_bleu_greedy": round(bleu["bleu"], 2),
        }
        return distributed.from_main(scores, info)

    def target_tokens(ids: list[int]) -> int:
        return sum(len(train_ex[i][1]) + 1 for i in ids)  # y <eos>

    if resume is not None and "rng" in resume:
        set_rng_states(resume["rng"], info)  # last: nothing may draw after it
    t0, stop, scores, minutes = time.perf_counter(), False, {}, 0.0
    bar = progress(
        total=total, initial=step, desc="translate", unit="step", disable=not info.is_main or None
    )
    while epoch < cfg.epochs and not stop:
        model.train()  # every epoch: validation's decoding leaves the model in eval mode
        if resume is not None:  # replay this epoch's batch order and skip the batches done
            gen.set_state(resume["gen_state"])
        epoch_gen_state = gen.get_state()
        batches = bucket_batches([len(x) for x, _ in train_ex], cfg.batch_size, gen)
        done = step - epoch * steps_per_epoch if resume is not None else 0
        resume = None
        for idx in batches[done:]:
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
            loss = loss * distributed.share(target_tokens(block[:n]), target_tokens(idx), info)
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            norm, stepped = clip_and_step(list(model.parameters()), optimizer, ocfg, scaler)
            step += 1
            sched.step_batch()
            guard.update(stepped, step, fp16=scaler is not None)
            minutes = (time.perf_counter() - t0) / 60
            if cfg.max_minutes:  # every process must stop at the same step: rank 0's clock
                minutes = distributed.from_main(minutes, info)
            loss_value = distributed.mean(loss.item(), info)  # the global batch's loss
            if metrics:
                metrics.write(
                    step=step,
                    epoch=epoch,
                    loss=loss_value,
                    grad_norm=norm,
                    lr=optimizer.param_groups[0]["lr"],
                    minutes=round(minutes, 3),
                )
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", norm=f"{norm:.2f}")
            if callback:
                callback(step, total, loss_value)
            if cfg.max_minutes and minutes >= cfg.max_minutes:
                log.info("time budget of %.1f minutes reached", cfg.max_minutes)
                stop = True
                break
        else:
            epoch += 1
            epoch_gen_state = gen.get_state()  # a resume starts the next epoch afresh
        scores = validate()
        sched.step_eval(scores["dev_nll"])
        improved = scores["dev_bleu_greedy"] > best
        best, bad_evals = max(best, scores["dev_bleu_greedy"]), 0 if improved else bad_evals + 1
        if metrics:
            metrics.write(step=step, epoch=epoch, **scores, minutes=round(minutes, 3))
        log.info("step %d, epoch %d: %s (%.1f min)", step, epoch, scores, minutes)
        rng = rng_states(info)  # a collective under torchrun: every process takes part
        checkpoint("ckpt_last.pt", scores, epoch_gen_state, rng)
        if improved:
            checkpoint("ckpt_best.pt", scores, epoch_gen_state, rng)
        if bad_evals >= cfg.patience:
            log.info("no better dev BLEU in %d evaluations: early stop", cfg.patience)
            stop = True
    bar.close()
    if metrics:
        metrics.close()
    distributed.cleanup(info)
    return {
        "steps": step,
        "epochs": epoch,
        "best_dev_bleu_greedy": best,
        "last": scores,
        "minutes": round((time.perf_counter() - t0) / 60, 2),
        "out": str(out),
        "precision": precision,
        "processes": info.world_size,
    }


def train_demo_model(
    folder: str | Path,
    callback: Callable[[int, int, float], None] | None = None,
    minutes: float = 2.0,
) -> Path:
    """Train the offline demo model on generated dates (seqlab.data.synthetic_dates) into
    ``folder`` unless it is there already; returns its checkpoint path."""
    from seqlab.data.synthetic_dates import make_date_pairs

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
    )
    mcfg = Seq2SeqConfig(cell="gru", embedding_size=64, hidden_size=128, dropout=0.1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from more, and loses a lot
    try:  # when the cores are shared with other work (measured: 2.5x faster here)
        train(cfg, mcfg, OptimConfig(lr=3e-3, schedule="none", clip_norm=1.0), callback)
    finally:
        torch.set_num_threads(threads)
    done.touch()
    return ckpt
