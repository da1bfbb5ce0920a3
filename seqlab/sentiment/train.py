"""Sentiment (text) classification: train a many-to-one recurrent classifier, evaluate it, predict
with probabilities and per-token attributions.

    seqlab sentiment train --train sst2/train.tsv --dev sst2/dev.tsv --out runs/sst2
    seqlab sentiment train --out runs/sst2 --resume   # continue from its ckpt_last.pt
    seqlab sentiment evaluate --checkpoint runs/sst2 --data sst2/dev.tsv
    seqlab sentiment predict --checkpoint runs/sst2 "not good at all"
    torchrun --nproc_per_node 2 -m seqlab.cli sentiment train ...   # DDP, see seqlab.distributed

Prediction and attribution live in ``seqlab.sentiment.predict``, batching in
``seqlab.sentiment.batches``, the settings in ``seqlab.sentiment.config``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab import distributed, run
from seqlab.checkpoint import save_checkpoint
from seqlab.config import OptimConfig
from seqlab.data.labelled import Labelled, label_names, load_labelled
from seqlab.data.tokenizers import make_tokenizer, tokenizer_from_dict
from seqlab.errors import UserError
from seqlab.logs import RunLog
from seqlab.models.classifier import ClassifierConfig, TextClassifier
from seqlab.resume import (
    check_same_run,
    load_resume,
    order_state,
    restore,
    resume_point,
    rng_states,
    set_rng_states,
)
from seqlab.sentiment.batches import (
    adversarial_perturbation,
    bucketed_batches,
    classification_metrics,
    collate,
    drop_words,
    encode_texts,
    predict_ids,
)
from seqlab.sentiment.config import TASK, SentimentTrainConfig
from seqlab.sentiment.counterfactual import counterfactuals
from seqlab.sentiment.negation import repeat_negated
from seqlab.training import (
    LRSchedule,
    NonFiniteGuard,
    WeightAverage,
    autocast,
    clip_and_step,
    count_parameters,
    make_grad_scaler,
    make_optimizer,
    was_clipped,
)

log = logging.getLogger(__name__)


def _split(data: Labelled, fraction: float, gen: torch.Generator) -> tuple[Labelled, Labelled]:
    perm = torch.randperm(len(data), generator=gen).tolist()
    n_dev = max(1, int(len(data) * fraction))
    pick = lambda ids: Labelled([data.texts[i] for i in ids], [data.labels[i] for i in ids])  # noqa: E731
    return pick(perm[n_dev:]), pick(perm[:n_dev])


def _load_data(cfg: SentimentTrainConfig, gen: torch.Generator) -> tuple[Labelled, Labelled, int]:
    """The training and validation data, and how many rule-made texts end the training data."""
    read = lambda p: load_labelled(p, cfg.text_column, cfg.label_column, cfg.skip_bad)  # noqa: E731
    train_data, dev_data = read(cfg.train), None
    if cfg.dev:
        dev_data = read(cfg.dev)
    else:
        train_data, dev_data = _split(train_data, cfg.dev_fraction, gen)
    # both after the split: dev keeps its texts once, and nothing is made from them
    texts, labels = train_data.texts, train_data.labels
    if cfg.negation_repeats:
        texts, labels = repeat_negated(texts, labels, cfg.negation_repeats)
    n_made = 0
    if cfg.counterfactuals != "none":  # made from the data's own texts, appended last
        n = len(train_data.texts)
        made = counterfactuals(train_data.texts, train_data.labels, cfg.counterfactuals, cfg.seed)
        texts, labels, n_made = texts + made[0][n:], list(labels) + made[1][n:], len(made[0]) - n
        log.info("counterfactuals: %d texts added", n_made)
    return Labelled(texts, labels, train_data.skipped, train_data.source), dev_data, n_made


def soft_targets(
    teachers: str,
    texts: list[str],
    y: torch.Tensor,
    names: list[str],
    weight: float,
    device,
    n_made: int = 0,
) -> torch.Tensor:
    """(N, C) training targets for distillation: ``weight`` times the mean class probabilities
    of the ``teachers`` (comma-separated checkpoints) on each text, plus the rest on its label.
    The last ``n_made`` texts (rule-made counterfactuals) keep their labels alone: they are there
    to teach what the teachers get wrong."""
    from seqlab.sentiment.predict import SentimentPredictor

    paths = [p.strip() for p in teachers.split(",") if p.strip()]
    if not paths:
        raise UserError(f"--teachers names no checkpoint: {teachers!r}")
    probs = torch.zeros(len(texts), len(names))  # (N, C)
    for path in paths:
        teacher = SentimentPredictor.from_checkpoint(path, str(device))
        if teacher.labels != names:
            raise UserError(f"--teachers: {path} has labels {teacher.labels}, the data {names}")
        ids = encode_texts(teacher.tokenizer, texts, teacher.max_length, teacher.lower)
        probs += predict_ids(teacher.model, ids, device)
        log.info("teacher %s: read %d texts", path, len(texts))
    labels = F.one_hot(y, len(names)).float()  # (N, C)
    targets = (1 - weight) * labels + weight * probs / len(paths)
    if n_made:
        targets[len(texts) - n_made :] = labels[len(texts) - n_made :]
    return targets


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
    info, device, precision, gen = run.start(cfg)
    resume = load_resume(out, TASK, info) if cfg.resume else None
    train_data, dev_data, n_made = _load_data(cfg, gen)
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
        sizes = (cfg.vocab_size, cfg.min_freq, cfg.sp_model_type, cfg.lower, cfg.pretokenize)
        tok = make_tokenizer(cfg.tokenizer, train_data.texts, *sizes)
    if info.enabled and resume is None:  # every process encodes with rank 0's vocabulary
        tok = tokenizer_from_dict(distributed.from_main(tok.to_dict(), info))
    # with --sp-alpha each epoch samples its own segmentation (below), so none is made here
    seqs = [] if cfg.sp_alpha else encode_texts(tok, train_data.texts, cfg.max_length, cfg.lower)
    dev_seqs = encode_texts(tok, dev_data.texts, cfg.max_length, cfg.lower)
    index = {n: i for i, n in enumerate(names)}
    y = torch.tensor([index[label] for label in train_data.labels])
    dev_y = torch.tensor([index[label] for label in dev_data.labels])
    if cfg.teachers:  # the same targets after a resume: the teachers are read again
        w = cfg.teacher_weight
        y = soft_targets(cfg.teachers, train_data.texts, y, names, w, device, n_made)

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
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    step, epoch, done, best_scores = 0, 0, 0, {"accuracy": -1.0}
    best = run.Best(cfg.patience)  # dev accuracy
    state = resume["resume"] if resume is not None else {}
    if resume is not None:
        step, best_scores = resume["step"], state["best"]
        best.load_state_dict({"score": best_scores["accuracy"], "bad_evals": state["bad_evals"]})
    budget = run.Budget(cfg, steps_per_epoch, info, state.get("elapsed_s", 0.0), step)
    sched = LRSchedule(optimizer, ocfg, budget.total_steps)
    if resume is not None:
        state, epoch, done = restore(resume, model, optimizer, gen, sched, scaler)
        if avg is not None:  # "model" holds the average; the trained weights are kept apart
            avg.model.load_state_dict(resume["model"])
            model.load_state_dict(state["train_model"])
            avg.updates = state["ema_updates"]
    # rank 0 alone writes config, metrics and checkpoints
    runlog = RunLog(
        out, cfg, info.is_main, step if resume else None, train=cfg, model=mcfg, optim=ocfg
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
            "best": best_scores,
            "bad_evals": best.bad_evals,
            "elapsed_s": budget.elapsed,
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

    bar = run.progress_bar(budget, info, "sentiment")
    stop, tokens = budget.stop_reason() or best.stop_reason(), 0
    if resume is not None:
        set_rng_states(resume["resume"]["rng"], info)  # last: nothing may draw after it
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
            sched.step_batch(budget.tick(step))  # a cosine schedule anneals over the budget
            guard.update(stepped, step, fp16=scaler is not None)
            loss_value = distributed.mean(loss.item(), info)  # the global batch's loss
            n_tokens = int(sum(len(seqs[i]) for i in idx))
            tokens += n_tokens
            runlog.train(
                step, loss=loss_value, grad_norm=norm, lr=optimizer.param_groups[0]["lr"],
                clipped=was_clipped(norm, ocfg), tokens=n_tokens,
            )  # fmt: skip
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", best=f"{best_scores['accuracy']:.3f}")
            end_of_epoch = k == len(batches) - 1
            if budget.eval_due(end_of_epoch):
                result = validate()
                sched.step_eval(-result["accuracy"])
                budget.evaluated()
                runlog.val(
                    step, epoch, budget.elapsed,
                    accuracy=result["accuracy"], macro_f1=result["macro_f1"],
                )  # fmt: skip
                log.debug("step %d: dev accuracy %.4f", step, result["accuracy"])
                improved = best.update(result["accuracy"])
                if improved:
                    best_scores = {**result, "step": step, "elapsed_s": budget.elapsed}
                state = run_state(k + 1, len(batches))
                if improved:
                    checkpoint("ckpt_best.pt", best_scores, state)
                checkpoint("ckpt_last.pt", result, state)
            stop = budget.stop_reason() or best.stop_reason()
            if stop:
                break
        epoch, done = epoch + 1, 0
    return run.finish(
        bar,
        runlog,
        info,
        budget,
        out,
        precision,
        tokens=tokens,
        stopped=stop,
        epochs=round(step / steps_per_epoch, 2),
        best_dev_accuracy_pct=round(100 * best_scores["accuracy"], 2),  # as evaluate, the cards
        best_dev_macro_f1=best_scores.get("macro_f1"),
        best_step=best_scores.get("step"),
        params=count_parameters(model),
        labels=names,
    )


def demo_model(
    folder: str | Path = "data/cache/sentiment_demo",
    max_minutes: float = 2.0,
    n_train: int = 20000,
) -> Path:
    """The demo's offline model: trained once on seqlab's generated sentences, then cached.

    Returns the checkpoint path; a cached one is reused. A small word-level bi-LSTM: the budget
    (minutes of training) bounds the first launch; tests pass a few seconds.
    """
    from seqlab.toy.sentiment import write_splits

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
        max_minutes=max_minutes,
        eval_every=100,
        precision="fp32",
        seed=0,
        threads=1,  # a small model: one thread is as fast, and kind to a busy machine
        patience=5,  # the generated set is easy: stop once dev accuracy stops improving
    )
    mcfg = ClassifierConfig(embedding_size=64, hidden_size=64, dropout=0.2, pooling="final")
    train(cfg, mcfg, OptimConfig(lr=3e-3, schedule="none"))
    return best
