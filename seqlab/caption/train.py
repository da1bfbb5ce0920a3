"""Image captioning: train a CNN-encoder / LSTM-decoder captioner with teacher forcing, and score
it with BLEU-1..4 (nltk's corpus BLEU over all references, as Xu et al. 2015 report).

    seqlab caption train --dataset flickr8k --root DIR --attention --out runs/cap
    seqlab caption train --out runs/cap --resume   # continue from its ckpt_last.pt
    seqlab caption evaluate --checkpoint runs/cap --root DIR --split test --beam 3
    torchrun --nproc_per_node 2 -m seqlab.cli caption train ...   # DDP, see seqlab.distributed

A frozen pretrained encoder runs once per image (features cached by seqlab.data.features), so a
training step is decoder-only; a scratch or fine-tuned encoder trains end to end on the images.
The prediction side (``Captioner``, beam n-best, attention maps) is in seqlab.caption.predict.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from seqlab import distributed, run
from seqlab.caption.config import TASK, CaptionTrainConfig
from seqlab.caption.data import FeatureSource, load_split
from seqlab.caption.predict import CaptionPredictor, evaluate_bleu
from seqlab.checkpoint import save_checkpoint
from seqlab.config import OptimConfig
from seqlab.data.captions import build_vocab, encode_caption, pad_captions
from seqlab.data.tokenizers import PAD, Vocab
from seqlab.logs import RunLog
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.encoders import EncoderConfig, ImageEncoder
from seqlab.resume import (
    check_same_run,
    load_resume,
    order_state,
    restore,
    resume_point,
    rng_states,
    set_rng_states,
)
from seqlab.training import (
    NonFiniteGuard,
    WeightAverage,
    autocast,
    clip_and_step,
    make_grad_scaler,
    make_optimizer,
    was_clipped,
)

log = logging.getLogger(__name__)


def bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, then sort by length within chunks of 50 batches: batches of similar lengths waste
    little on padding, and their order stays random."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s : s + chunk], key=lambda k: lengths[k])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def caption_loss(
    model: Captioner,
    feats: torch.Tensor,
    tokens: torch.Tensor,
    alpha_c: float,
    shares: tuple[float, float] = (1.0, 1.0),
):
    """Cross-entropy of the next words (teacher forcing) + the doubly stochastic penalty.

    ``shares`` weight the token-mean cross-entropy and the image-mean penalty by this process's
    part of the global batch (seqlab.distributed.share); 1 in a single process."""
    logits, alphas = model(feats, tokens[:, :-1])  # (B, T, V), (B, T, S) or None
    targets = tokens[:, 1:]  # (B, T)
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD) * shares[0]
    if alphas is None or alpha_c == 0:
        return ce, ce
    mask = (targets != PAD).unsqueeze(2).float()  # (B, T, 1)
    # Xu et al. eq. 14: every grid cell should get about one unit of attention over the caption
    penalty = ((1.0 - (alphas * mask).sum(1)) ** 2).mean() * shares[1]
    return ce + alpha_c * penalty, ce


def _lr_factor(progress_frac: float, step: int, warmup: int) -> float:
    """Linear warmup, then cosine down to 5% over the run's progress (steps or time, whichever
    is further along), so a time budget ends on a low learning rate as a step budget does."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress_frac, 1.0)))


def train(
    cfg: CaptionTrainConfig, mcfg: CaptionerConfig, ecfg: EncoderConfig, ocfg: OptimConfig
) -> dict:
    """Train a captioner; writes config.json, metrics.jsonl, ckpt_last.pt and ckpt_best.pt
    (best greedy validation BLEU-4). Returns a summary."""
    out = Path(cfg.out)
    info, device, precision, _ = run.start(cfg)
    rng = random.Random(cfg.seed)
    resume = load_resume(out, TASK, info) if cfg.resume else None
    train_images, train_caps = load_split(cfg, "train")
    val_images, val_caps = load_split(cfg, "val")
    # on --resume the vocabulary is the run's, never rebuilt: the word ids must keep their meaning
    vocab = Vocab(resume["vocab"]) if resume else build_vocab(train_caps, cfg.min_count)
    encoder = ImageEncoder(ecfg).to(device)
    mcfg = dataclasses.replace(mcfg, vocab_size=len(vocab), feature_size=encoder.feature_size)
    configs = {"train": cfg, "model": mcfg, "encoder": ecfg, "optim": ocfg}
    configs = {k: dataclasses.asdict(c) for k, c in configs.items()}
    if resume is not None:
        check_same_run(resume, out, **configs)
        if ecfg.trainable:
            encoder.load_state_dict(resume["encoder"])
    model = Captioner(mcfg).to(device)
    extract = {"num_workers": cfg.num_workers, "precision": cfg.feature_precision}
    train_src = FeatureSource(encoder, train_images, cfg.cache_dir, device, True, **extract)
    val_src = FeatureSource(encoder, val_images, cfg.cache_dir, device, False, **extract)
    pairs = [
        (i, encode_caption(vocab, c, cfg.max_len)) for i, cs in enumerate(train_caps) for c in cs
    ]
    avg = WeightAverage(model, cfg.ema) if cfg.ema else None  # what validation scores
    fwd = distributed.training_module(model, info, device, cfg.compile)  # `model` is saved
    if ecfg.trainable:  # the encoder trains too: DDP averages its gradients as well
        train_src.encoder = distributed.wrap(encoder, info, device)
    params = list(model.parameters()) + [p for p in encoder.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, ocfg)
    scaler = make_grad_scaler(precision, device)
    steps_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    step, epoch, done, scores, state = 0, 0, 0, {}, {}
    best = run.Best(cfg.patience)  # greedy validation BLEU-4
    if resume is not None:
        state, epoch, done = restore(resume, model, optimizer, rng, scaler=scaler)
        step, scores = resume["step"], resume["metrics"]
        best.load_state_dict({"score": state["best"], "bad_evals": state.get("bad_evals", 0)})
        if avg is not None:  # "model" holds the average; the trained weights are kept apart
            avg.model.load_state_dict(resume["model"])
            model.load_state_dict(state["train_model"])
            avg.updates = state["ema_updates"]
    budget = run.Budget(cfg, steps_per_epoch, info, state.get("elapsed_s", 0.0), step)
    # rank 0 alone writes config, metrics and checkpoints
    runlog = RunLog(
        out, cfg, info.is_main, step if resume else None,
        train=cfg, optim=ocfg, model=mcfg, encoder=ecfg,
    )  # fmt: skip
    log.info(
        "caption: %s, %d images, %d captions, vocab %d, %s encoder, %s, on %s (%s)",
        cfg.dataset,
        len(train_images),
        len(pairs),
        len(vocab),
        ecfg.name,
        "attention" if mcfg.attention else "show-and-tell",
        device,
        precision,
    )

    def checkpoint(name: str, scores: dict, state: dict) -> None:
        if not info.is_main:
            return
        save_checkpoint(
            out / name,
            {
                "task": TASK,
                "model_config": dataclasses.asdict(mcfg),
                "model": (avg.model if avg else model).state_dict(),
                "encoder_config": dataclasses.asdict(ecfg),
                "encoder": encoder.state_dict() if ecfg.trainable else None,
                "vocab": vocab.itos,
                "optimizer": optimizer.state_dict(),
                "step": step,
                "epoch": epoch,
                "metrics": scores,
                "dataset": cfg.dataset,
                "max_len": cfg.max_len,
                "train_config": dataclasses.asdict(cfg),
                "resume": state,
            },
        )

    def validate(position: dict, epochs_done: int) -> dict:
        """Rank 0 scores greedy BLEU on val; every process gets it, then the checkpoints."""
        scores = None
        if info.is_main:
            encoder.eval()  # a trainable encoder's BatchNorm must not learn from val images
            with autocast(precision, device):
                scores = evaluate_bleu(
                    avg.model if avg else model,
                    val_src,
                    val_caps,
                    vocab,
                    limit=cfg.val_images,
                    max_len=cfg.max_len,
                )
        scores = distributed.from_main(scores, info)
        model.train()
        encoder.train()
        budget.evaluated()
        runlog.val(step, epochs_done, budget.elapsed, **scores)
        log.info("epoch %d step %d: val greedy %s", epochs_done, step, scores)
        improved = best.update(scores["bleu4"])
        state = {  # what --resume needs beyond the weights (seqlab.resume)
            "configs": configs,
            "position": position,
            "rng": rng_states(info),
            "best": best.score,
            "bad_evals": best.bad_evals,
            "elapsed_s": budget.elapsed,
            "scaler": scaler.state_dict() if scaler else None,
            "train_model": model.state_dict() if avg else None,
            "ema_updates": avg.updates if avg else 0,
        }
        if improved:
            checkpoint("ckpt_best.pt", scores, state)
        checkpoint("ckpt_last.pt", scores, state)
        return scores

    bar = run.progress_bar(budget, info, "caption")
    stop, words_seen = budget.stop_reason() or best.stop_reason(), 0
    if resume is not None:
        set_rng_states(resume["resume"]["rng"], info)  # last: nothing may draw after it
    while not stop:
        model.train()
        encoder.train()
        epoch_start = order_state(rng)
        batches = bucketed_batches([len(p[1]) for p in pairs], cfg.batch_size, rng)
        for k, batch in enumerate(batches[done:], done):
            if ocfg.schedule == "cosine":  # over steps or time, whichever is further along
                factor = _lr_factor(budget.progress, step, ocfg.warmup_steps)
                for group in optimizer.param_groups:
                    group["lr"] = ocfg.lr * factor
            # Under torchrun each process takes its block of the same global batch, weighted by
            # its share of the batch's target words (cross-entropy) and images (penalty).
            block, n = distributed.shard_indices(batch, info)
            words = lambda ks: sum(len(pairs[k][1]) - 1 for k in ks)  # noqa: E731
            batch_words = words(batch)
            shares = (
                distributed.share(words(block[:n]), batch_words, info),
                distributed.share(n, len(batch), info),
            )
            tokens = pad_captions([pairs[k][1] for k in block]).to(device)  # (B, T+1)
            with autocast(precision, device):
                feats = train_src([pairs[k][0] for k in block])  # (B, S, D)
                loss, ce = caption_loss(fwd, feats, tokens, cfg.alpha_c, shares)
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            norm, stepped = clip_and_step(params, optimizer, ocfg, scaler)
            if avg is not None and stepped:
                avg.update(model)
            step += 1
            budget.tick(step)
            guard.update(stepped, step, fp16=scaler is not None)
            loss_value, ce_value = (distributed.mean(v.item(), info) for v in (loss, ce))
            words_seen += batch_words
            runlog.train(
                step, loss=loss_value, grad_norm=norm, lr=optimizer.param_groups[0]["lr"],
                clipped=was_clipped(norm, ocfg), tokens=batch_words, ce=ce_value,
            )  # fmt: skip
            bar.update(1)
            bar.set_postfix(ce=f"{ce_value:.3f}", norm=f"{norm:.2f}", epoch=epoch)
            end_of_epoch = k == len(batches) - 1
            if budget.eval_due(end_of_epoch):
                position = resume_point(epoch, k + 1, len(batches), epoch_start, order_state(rng))
                scores = validate(position, epoch + end_of_epoch)
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
        tokens=words_seen,
        stopped=stop,
        epochs=round(step / steps_per_epoch, 2),
        best_val_bleu4=best.score,
        last_val=scores,
    )


# --------------------------------------------------------------------------- offline demo model


def scenes_demo_predictor(
    cache_dir: str | Path, steps: int = 700, max_minutes: float = 6.0, device: str = "auto"
) -> tuple[CaptionPredictor, bool]:
    """The demo's offline model: trained on synthetic scenes on first use (``steps`` steps, about
    two minutes on an idle 2-core CPU, at most ``max_minutes`` on a busy one; with a progress
    bar), then loaded from ``cache_dir``. Returns (predictor, whether it was trained now)."""
    ckpt = Path(cache_dir) / "ckpt_best.pt"
    if ckpt.is_file():
        return CaptionPredictor.from_checkpoint(ckpt, device), False
    log.info(
        "no captioner checkpoint given: training one on synthetic scenes (%d steps, about "
        "2 minutes, once; cached in %s)",
        steps,
        cache_dir,
    )
    cfg = CaptionTrainConfig(
        dataset="scenes",
        out=str(cache_dir),
        min_count=1,
        batch_size=32,
        epochs=100,
        max_steps=steps,
        max_minutes=max_minutes,
        precision="fp32",
        val_images=100,
        scenes=4000,
        threads=1,
        device=device,
    )
    mcfg = CaptionerConfig(
        attention=True,
        embedding_size=64,
        hidden_size=128,
        projection_size=64,
        attention_size=64,
        dropout=0.1,
    )
    ecfg = EncoderConfig(name="scratch", image_size=64, grid_size=8, channels=64)
    train(cfg, mcfg, ecfg, OptimConfig(lr=3e-3, warmup_steps=50))
    return CaptionPredictor.from_checkpoint(ckpt, device), True
