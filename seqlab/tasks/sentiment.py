"""Sentiment (text) classification: train a many-to-one recurrent classifier, evaluate it, predict
with probabilities and per-token attributions.

    seqlab sentiment train --train sst2/train.tsv --dev sst2/dev.tsv --out runs/sst2
    seqlab sentiment train --out runs/sst2 --resume   # continue from its ckpt_last.pt
    seqlab sentiment evaluate --checkpoint runs/sst2 --data sst2/dev.tsv
    seqlab sentiment predict --checkpoint runs/sst2 "not good at all"
    torchrun --nproc_per_node 2 -m seqlab.cli sentiment train ...   # DDP, see seqlab.distributed

Prediction and attribution live in ``seqlab.tasks.sentiment_predict``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab import distributed
from seqlab.checkpoint import save_checkpoint
from seqlab.config import check
from seqlab.data.labelled import Labelled, label_names, load_labelled
from seqlab.data.tokenizers import make_tokenizer, tokenizer_from_dict
from seqlab.errors import UserError
from seqlab.models.classifier import ClassifierConfig, TextClassifier
from seqlab.resume import (
    check_same_run,
    finished,
    load_resume,
    order_state,
    restore,
    resume_point,
    rng_states,
    set_rng_states,
)
from seqlab.tasks.sentiment_batches import (
    adversarial_perturbation,
    bucketed_batches,
    classification_metrics,
    collate,
    drop_words,
    encode_texts,
    predict_ids,
)
from seqlab.training import (
    LRSchedule,
    NonFiniteGuard,
    OptimConfig,
    WeightAverage,
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

TASK = "sentiment"
log = logging.getLogger(__name__)


@dataclass
class SentimentTrainConfig:
    train: str | None = field(
        default=None,
        metadata={"help": "training data: .tsv/.csv/.jsonl file or an aclImdb split folder"},
    )
    dev: str | None = field(
        default=None,
        metadata={"help": "validation data (none: hold out --dev-fraction of the training data)"},
    )
    dev_fraction: float = field(default=0.1, metadata={"help": "held out when there is no --dev"})
    text_column: str | None = field(default=None, metadata={"help": "column/key with the text"})
    label_column: str | None = field(default=None, metadata={"help": "column/key with the label"})
    skip_bad: bool = field(default=False, metadata={"help": "skip malformed rows (and count them)"})
    tokenizer: str = field(
        default="sentencepiece",
        metadata={
            "help": "word (nltk Treebank) or sentencepiece",
            "choices": ["word", "sentencepiece"],
        },
    )
    vocab_size: int = field(default=8000, metadata={"help": "sentencepiece vocabulary size"})
    sp_model_type: str = field(
        default="unigram", metadata={"help": "sentencepiece model", "choices": ["unigram", "bpe"]}
    )
    min_freq: int = field(default=1, metadata={"help": "word tokenizer: minimum word count"})
    lower: bool = field(default=True, metadata={"help": "lower-case the text"})
    max_length: int = field(default=400, metadata={"help": "keep the first N tokens of a text"})
    word_vectors: str | None = field(
        default=None,
        metadata={
            "help": "initialise embeddings from GloVe/word2vec text vectors (word tokenizer)"
        },
    )
    word_dropout: float = field(
        default=0.0,
        metadata={
            "help": "replace each training token with <unk> with this probability (Iyyer et al. "
            "2015; 0: off)"
        },
    )
    sp_alpha: float = field(
        default=0.0,
        metadata={
            "help": "sentencepiece subword regularisation: sample a segmentation of each "
            "training text every epoch with this smoothing (Kudo 2018; 0: off)"
        },
    )
    adversarial: float = field(
        default=0.0,
        metadata={
            "help": "adversarial training: also fit each text with its embeddings moved this far "
            "(L2 norm over the text) along the loss gradient (Miyato et al. 2017; 0: off)"
        },
    )
    label_smoothing: float = field(
        default=0.0, metadata={"help": "cross-entropy label smoothing (Szegedy et al. 2016)"}
    )
    ema: float = field(
        default=0.0,
        metadata={
            "help": "validate and save an exponential moving average of the weights with this "
            "decay, e.g. 0.999 (Polyak averaging; 0: off)"
        },
    )
    batch_size: int = field(default=64, metadata={"help": "texts per batch"})
    epochs: int = field(default=10, metadata={"help": "passes over the training data"})
    max_steps: int = field(default=0, metadata={"help": "stop after N steps (0: no limit)"})
    time_budget: float = field(
        default=0.0,
        metadata={
            "help": "stop training after this many seconds, keeping the best checkpoint (0: none)"
        },
    )
    eval_every: int = field(default=0, metadata={"help": "validate every N steps (0: per epoch)"})
    log_every: int = field(default=50, metadata={"help": "log the training loss every N steps"})
    patience: int = field(
        default=0,
        metadata={"help": "stop after N validations without a better accuracy (0: never)"},
    )
    seed: int = field(default=1337, metadata={"help": "random seed"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    precision: str = precision_field()
    compile: bool = field(default=False, metadata={"help": "torch.compile the model to train"})
    threads: int = field(
        default=0,
        metadata={
            "help": "CPU threads for torch (0: torch's default; 1 is fastest on a busy machine)"
        },
    )
    out: str = field(default="runs/sentiment", metadata={"help": "run directory"})
    resume: bool = field(default=False, metadata={"help": "continue from OUT/ckpt_last.pt"})

    def __post_init__(self):
        check(self.train is not None, "--train is required (a labelled data file or folder)")
        check(0 < self.dev_fraction < 1, f"--dev-fraction must be in (0, 1): {self.dev_fraction}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        check(self.max_steps >= 0 and self.time_budget >= 0, "--max-steps/--time-budget >= 0")
        check(self.max_length >= 1, f"--max-length must be >= 1, got {self.max_length}")
        check(self.vocab_size >= 8, f"--vocab-size must be >= 8, got {self.vocab_size}")
        check(self.min_freq >= 1, f"--min-freq must be >= 1, got {self.min_freq}")
        check(self.eval_every >= 0 and self.patience >= 0, "--eval-every/--patience must be >= 0")
        check(self.log_every >= 1, f"--log-every must be >= 1, got {self.log_every}")
        check(0 <= self.word_dropout < 1, f"--word-dropout must be in [0, 1): {self.word_dropout}")
        check(0 <= self.sp_alpha <= 1, f"--sp-alpha must be in [0, 1], got {self.sp_alpha}")
        check(
            self.sp_alpha == 0 or self.tokenizer == "sentencepiece",
            "--sp-alpha needs --tokenizer sentencepiece",
        )
        check(0 <= self.ema < 1, f"--ema must be in [0, 1), got {self.ema}")
        check(self.adversarial >= 0, f"--adversarial must be >= 0, got {self.adversarial}")
        check(
            0 <= self.label_smoothing < 1,
            f"--label-smoothing must be in [0, 1), got {self.label_smoothing}",
        )


def _split(data: Labelled, fraction: float, gen: torch.Generator) -> tuple[Labelled, Labelled]:
    perm = torch.randperm(len(data), generator=gen).tolist()
    n_dev = max(1, int(len(data) * fraction))
    pick = lambda ids: Labelled([data.texts[i] for i in ids], [data.labels[i] for i in ids])  # noqa: E731
    return pick(perm[n_dev:]), pick(perm[:n_dev])


def _load_data(cfg: SentimentTrainConfig, gen: torch.Generator) -> tuple[Labelled, Labelled]:
    read = lambda p: load_labelled(p, cfg.text_column, cfg.label_column, cfg.skip_bad)  # noqa: E731
    train_data = read(cfg.train)
    if cfg.dev:
        return train_data, read(cfg.dev)
    return _split(train_data, cfg.dev_fraction, gen)


def _make_optimizer(model: TextClassifier, ocfg: OptimConfig, device) -> torch.optim.Optimizer:
    """Adam with the fused kernel where it exists: the embedding table is most of the parameters,
    and on a CPU the fused update of it is about 5x faster than the per-tensor loop."""
    if ocfg.optimizer == "adam" and device.type in ("cpu", "cuda"):
        return torch.optim.Adam(
            model.parameters(), lr=ocfg.lr, weight_decay=ocfg.weight_decay, fused=True
        )
    return make_optimizer(model.parameters(), ocfg)


def train(cfg: SentimentTrainConfig, mcfg: ClassifierConfig, ocfg: OptimConfig) -> dict:
    """Train a classifier; returns a summary. Writes config.json, metrics.jsonl, checkpoints."""
    out = Path(cfg.out)
    info, device = distributed.setup(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    check_compile(cfg.compile, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    gen = seed_everything(cfg.seed)
    resume = load_resume(out, TASK, info) if cfg.resume else None
    train_data, dev_data = _load_data(cfg, gen)
    names = label_names(train_data.labels)
    if resume is not None and resume["labels"] != names:
        raise UserError(f"--resume: {cfg.train} has labels {names}, the run had {resume['labels']}")
    unknown = sorted(set(dev_data.labels) - set(names))
    if unknown:
        raise UserError(f"validation labels {unknown[:5]} never occur in the training data")
    if len(names) < 2:
        raise UserError(f"{cfg.train}: need at least 2 classes, found {names}")
    if resume is not None:  # never rebuilt: the token ids must mean what they meant
        tok = tokenizer_from_dict(resume["tokenizer"])
    else:
        sizes = (cfg.vocab_size, cfg.min_freq, cfg.sp_model_type, cfg.lower)
        tok = make_tokenizer(cfg.tokenizer, train_data.texts, *sizes)
    if info.enabled and resume is None:  # every process encodes with rank 0's vocabulary
        tok = tokenizer_from_dict(distributed.from_main(tok.to_dict(), info))
    # with --sp-alpha each epoch samples its own segmentation (below), so none is made here
    seqs = [] if cfg.sp_alpha else encode_texts(tok, train_data.texts, cfg.max_length, cfg.lower)
    dev_seqs = encode_texts(tok, dev_data.texts, cfg.max_length, cfg.lower)
    index = {n: i for i, n in enumerate(names)}
    y = torch.tensor([index[label] for label in train_data.labels])
    dev_y = torch.tensor([index[label] for label in dev_data.labels])

    mcfg = dataclasses.replace(mcfg, vocab_size=tok.vocab_size, num_classes=len(names))
    configs = {
        k: dataclasses.asdict(c) for k, c in (("train", cfg), ("model", mcfg), ("optim", ocfg))
    }
    if resume is not None:
        check_same_run(resume, out, **configs)
    model = TextClassifier(mcfg)
    if cfg.word_vectors and resume is None:
        from seqlab.data.wordvectors import embedding_matrix, vector_size

        # vectors narrower than the embedding fill its first columns; the rest start random
        d = vector_size(cfg.word_vectors)
        if d > mcfg.embedding_size:
            raise UserError(
                f"{cfg.word_vectors} has {d} values per word, more than --embedding-size "
                f"{mcfg.embedding_size}; pass --embedding-size {d} or more"
            )
        weight, found = embedding_matrix(cfg.word_vectors, tok, d)
        model.embedding.weight.data[found, :d] = weight[found]
        log.info(
            "word vectors: %d of %d tokens initialised (%d of %d columns)",
            len(found),
            tok.vocab_size,
            d,
            mcfg.embedding_size,
        )
    model.to(device)
    avg = WeightAverage(model, cfg.ema) if cfg.ema else None  # what validation scores
    fwd = distributed.training_module(model, info, device, cfg.compile)  # `model` is saved
    optimizer = _make_optimizer(model, ocfg, device)
    scaler = make_grad_scaler(precision, device)
    steps_per_epoch = math.ceil(len(train_data.texts) / cfg.batch_size)
    total = min(cfg.max_steps or 1 << 62, cfg.epochs * steps_per_epoch)
    sched = LRSchedule(optimizer, ocfg, total)
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    step, epoch, done, best, bad_evals, elapsed = 0, 0, 0, {"accuracy": -1.0}, 0, 0.0
    if resume is not None:
        state, epoch, done = restore(resume, model, optimizer, gen, sched, scaler)
        step, best, bad_evals = resume["step"], state["best"], state["bad_evals"]
        if avg is not None:  # "model" holds the average; the trained weights are kept apart
            avg.model.load_state_dict(resume["model"])
            model.load_state_dict(state["train_model"])
            avg.updates = state["ema_updates"]
        elapsed = state["elapsed_s"]
    # rank 0 alone writes config, metrics and checkpoints
    metrics = open_run(
        out, info.is_main, step if resume else None, train=cfg, model=mcfg, optim=ocfg
    )
    log.info(
        "sentiment: %d train / %d dev texts, classes %s, %s vocab %d, %s %d params on %s (%s)",
        len(train_data.texts),
        len(dev_seqs),
        names,
        cfg.tokenizer,
        tok.vocab_size,
        mcfg.cell,
        count_parameters(model),
        device,
        precision,
    )
    if train_data.skipped or dev_data.skipped:
        log.info("skipped malformed rows: %d train, %d dev", train_data.skipped, dev_data.skipped)

    def checkpoint(name: str, result: dict, state: dict) -> None:
        if not info.is_main:
            return
        save_checkpoint(
            out / name,
            {
                "task": TASK,
                "model_config": dataclasses.asdict(mcfg),
                "model": (avg.model if avg else model).state_dict(),
                "tokenizer": tok.to_dict(),
                "labels": names,
                "max_length": cfg.max_length,
                "lower": cfg.lower,
                "optimizer": optimizer.state_dict(),
                "step": step,
                "epoch": epoch,
                "metrics": result,
                "source": str(cfg.train),
                "resume": state,
            },
        )

    def run_state(done: int, n_batches: int) -> dict:
        """What --resume needs beyond the weights (seqlab.resume); every process calls it."""
        return {
            "configs": configs,
            "position": resume_point(epoch, done, n_batches, epoch_start, order_state(gen)),
            "rng": rng_states(info),
            "best": best,
            "bad_evals": bad_evals,
            "elapsed_s": time.perf_counter() - t0,
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict() if scaler else None,
            "train_model": model.state_dict() if avg else None,
            "ema_updates": avg.updates if avg else 0,
        }

    def fit(x, lengths, target, share: float, noise) -> torch.Tensor:
        """Forward and backward one batch (its gradients add up); returns the scaled-down loss."""
        with autocast(precision, device):
            logits = fwd(x, lengths, noise)  # (B, C)
            loss = F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing) * share
        (scaler.scale(loss) if scaler else loss).backward()
        return loss

    def validate() -> dict:
        """Rank 0 scores the dev set; every process gets its result (early stopping, schedule)."""
        result = None
        if info.is_main:
            with autocast(precision, device):
                pred = predict_ids(avg.model if avg else model, dev_seqs, device).argmax(-1)
            model.train()
            result = classification_metrics(pred, dev_y, len(names))
        return distributed.from_main(result, info)

    bar = progress(
        total=total, initial=step, desc="sentiment", unit="step", disable=not info.is_main or None
    )
    stop = ""
    if resume is not None:
        stop = finished(step, total, elapsed, cfg.time_budget, bad_evals, cfg.patience)
        set_rng_states(resume["resume"]["rng"], info)  # last: nothing may draw after it
    t0 = time.perf_counter() - elapsed  # a time budget counts the interrupted run's time too
    model.train()
    while not stop:
        if cfg.sp_alpha:  # a fresh segmentation per epoch, the same after a resume
            import sentencepiece as spm

            spm.set_random_generator_seed(cfg.seed * 7919 + epoch)
            seqs = encode_texts(tok, train_data.texts, cfg.max_length, cfg.lower, cfg.sp_alpha)
        epoch_start = order_state(gen)
        batches = bucketed_batches([len(s) for s in seqs], cfg.batch_size, gen)
        for k, idx in enumerate(batches[done:], done):
            # Under torchrun each process takes its block of the same global batch (share: its
            # part of the global mean loss, so DDP's averaged gradient is the global batch's).
            block, n = distributed.shard_indices(idx, info)
            x, lengths = collate([seqs[i] for i in block])
            if cfg.word_dropout:
                x = drop_words(x, cfg.word_dropout)
            x, target = x.to(device), y[block].to(device)
            share = distributed.share(n, len(idx), info)
            # zeros that require grad: their gradient is the loss's w.r.t. the embeddings
            noise = (
                x.new_zeros(*x.shape, mcfg.embedding_size, dtype=torch.float, requires_grad=True)
                if cfg.adversarial
                else None
            )
            optimizer.zero_grad(set_to_none=True)
            loss = fit(x, lengths, target, share, noise)
            if cfg.adversarial:
                # Miyato et al. 2017: the worst-case nearby embeddings to first order; the
                # perturbation is a constant, and this loss's gradients add to the clean ones
                r = adversarial_perturbation(noise.grad, cfg.adversarial)  # (B, T, E)
                fit(x, lengths, target, share, r)
            norm, stepped = clip_and_step(list(model.parameters()), optimizer, ocfg, scaler)
            if avg is not None and stepped:
                avg.update(model)
            step += 1
            elapsed = time.perf_counter() - t0
            used = (
                distributed.from_main(elapsed / cfg.time_budget, info) if cfg.time_budget else 0.0
            )
            sched.step_batch(used)  # a cosine schedule anneals over the time budget too
            guard.update(stepped, step, fp16=scaler is not None)
            loss_value = distributed.mean(loss.item(), info)  # the global batch's loss
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", best=f"{best['accuracy']:.3f}")
            if metrics and step % cfg.log_every == 0:
                metrics.write(
                    step=step, loss=loss_value, grad_norm=norm, lr=optimizer.param_groups[0]["lr"]
                )
            if cfg.time_budget and used >= 1.0:
                stop = f"time budget of {cfg.time_budget:.0f} s reached"
            elif step >= total:
                stop = "step limit reached"
            end_of_epoch = k == len(batches) - 1
            if (
                stop
                or (cfg.eval_every and step % cfg.eval_every == 0)
                or (not cfg.eval_every and end_of_epoch)
            ):
                result = validate()
                sched.step_eval(-result["accuracy"])
                if metrics:
                    metrics.write(
                        step=step,
                        epoch=epoch,
                        val_accuracy=result["accuracy"],
                        val_macro_f1=result["macro_f1"],
                        elapsed_s=round(elapsed, 1),
                    )
                log.debug("step %d: dev accuracy %.4f", step, result["accuracy"])
                improved = result["accuracy"] > best["accuracy"]
                if improved:
                    best, bad_evals = {**result, "step": step, "elapsed_s": elapsed}, 0
                else:
                    bad_evals += 1
                    if cfg.patience and bad_evals >= cfg.patience:
                        stop = f"no better dev accuracy in {cfg.patience} validations"
                state = run_state(k + 1, len(batches))
                if improved:
                    checkpoint("ckpt_best.pt", best, state)
                checkpoint("ckpt_last.pt", result, state)
            if stop:
                break
        epoch, done = epoch + 1, 0
    bar.close()
    if metrics:
        metrics.close()
    distributed.cleanup(info)
    log.info("stopped: %s", stop)
    return {
        "steps": step,
        "epochs": round(step / steps_per_epoch, 2),
        "stopped": stop,
        "best_dev_accuracy": best["accuracy"],
        "best_dev_macro_f1": best.get("macro_f1"),
        "best_step": best.get("step"),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "params": count_parameters(model),
        "labels": names,
        "out": str(out),
        "precision": precision,
        "processes": info.world_size,
    }


def demo_model(
    folder: str | Path = "data/cache/sentiment_demo",
    time_budget: float = 120.0,
    n_train: int = 20000,
) -> Path:
    """The demo's offline model: trained once on seqlab's generated sentences, then cached.

    Returns the checkpoint path; a cached one is reused. A small word-level bi-LSTM: the budget
    (seconds of training) bounds the first launch; tests pass a few seconds.
    """
    from seqlab.data.synthetic_sentiment import write_splits

    folder = Path(folder)
    best = folder / "run" / "ckpt_best.pt"
    if best.is_file():
        return best
    train_path, dev_path = write_splits(folder, n_train=n_train, n_dev=min(1000, n_train))
    cfg = SentimentTrainConfig(
        train=str(train_path),
        dev=str(dev_path),
        out=str(folder / "run"),
        tokenizer="word",
        epochs=20,
        time_budget=time_budget,
        eval_every=100,
        seed=0,
        threads=1,  # a small model: one thread is as fast, and kind to a busy machine
        patience=5,  # the generated set is easy: stop once dev accuracy stops improving
    )
    mcfg = ClassifierConfig(embedding_size=64, hidden_size=64, dropout=0.2, pooling="final")
    train(cfg, mcfg, OptimConfig(lr=3e-3, schedule="none"))
    return best
