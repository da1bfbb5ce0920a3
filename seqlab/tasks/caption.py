"""Image captioning: train a CNN-encoder / LSTM-decoder captioner with teacher forcing, and score
it with BLEU-1..4 (nltk's corpus BLEU over all references, as Xu et al. 2015 report).

    seqlab caption train --dataset flickr8k --root DIR --attention --out runs/cap
    seqlab caption train --out runs/cap --resume   # continue from its ckpt_last.pt
    seqlab caption evaluate --checkpoint runs/cap --root DIR --split test --beam 3
    torchrun --nproc_per_node 2 -m seqlab.cli caption train ...   # DDP, see seqlab.distributed

A frozen pretrained encoder runs once per image (features cached by seqlab.data.features), so a
training step is decoder-only; a scratch or fine-tuned encoder trains end to end on the images.
The prediction side (``Captioner``, beam n-best, attention maps) is in seqlab.tasks.caption_predict.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqlab import distributed
from seqlab.checkpoint import save_checkpoint
from seqlab.config import check
from seqlab.data.captions import (
    build_vocab,
    encode_caption,
    image_transform,
    load_caption_set,
    load_image,
    pad_captions,
    tokenize,
)
from seqlab.data.features import cached_features
from seqlab.data.scenes import make_scenes
from seqlab.data.tokenizers import BOS, EOS, PAD, Vocab
from seqlab.decoding import beam_search, greedy
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.encoders import EncoderConfig, ImageEncoder
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
from seqlab.training import (
    NonFiniteGuard,
    OptimConfig,
    autocast,
    check_compile,
    clip_and_step,
    make_grad_scaler,
    make_optimizer,
    open_run,
    precision_field,
    progress,
    resolve_precision,
    seed_everything,
)

TASK = "caption"
DATASETS = ("flickr8k", "flickr30k", "coco", "scenes")
log = logging.getLogger(__name__)


@dataclass
class CaptionTrainConfig:
    dataset: str = field(
        default="flickr8k",
        metadata={
            "help": "dataset (scenes: synthetic shapes, made on the fly)",
            "choices": list(DATASETS),
        },
    )
    root: str | None = field(default=None, metadata={"help": "dataset folder"})
    out: str = field(default="runs/caption", metadata={"help": "run directory"})
    min_count: int = field(default=5, metadata={"help": "keep words seen this often in training"})
    max_len: int = field(default=30, metadata={"help": "longest training caption, in words"})
    batch_size: int = field(default=64, metadata={"help": "captions per batch"})
    epochs: int = field(default=10, metadata={"help": "passes over the training captions"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps (0: epochs)"})
    time_budget_min: float = field(
        default=0.0,
        metadata={"help": "stop after this many minutes, annealing the LR over them (0: no limit)"},
    )
    alpha_c: float = field(
        default=1.0,
        metadata={"help": "doubly stochastic attention regularisation weight (Xu et al. 2015)"},
    )
    val_images: int = field(
        default=500,
        metadata={"help": "validation images scored with greedy BLEU-4 each epoch (0: all)"},
    )
    scenes: int = field(default=6000, metadata={"help": "synthetic scenes to train on (scenes)"})
    cache_dir: str = field(default="data/cache/features", metadata={"help": "feature cache"})
    num_workers: int = field(default=0, metadata={"help": "data loader worker processes"})
    threads: int = field(
        default=0,
        metadata={
            "help": "CPU threads for torch (0: its default; 1 is faster for small models on a busy "
            "machine)"
        },
    )
    seed: int = field(default=1234, metadata={"help": "random seed"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    precision: str = precision_field()
    compile: bool = field(default=False, metadata={"help": "torch.compile the decoder to train"})
    resume: bool = field(default=False, metadata={"help": "continue from OUT/ckpt_last.pt"})

    def __post_init__(self):
        check(self.dataset in DATASETS, f"--dataset must be one of {', '.join(DATASETS)}")
        check(
            self.dataset == "scenes" or bool(self.root), f"--root DIR is needed for {self.dataset}"
        )
        check(self.batch_size >= 1 and self.epochs >= 1, "--batch-size/--epochs must be >= 1")
        check(self.min_count >= 1 and self.max_len >= 1, "--min-count/--max-len must be >= 1")
        check(self.time_budget_min >= 0 and self.max_steps >= 0, "budgets must be >= 0")
        check(self.alpha_c >= 0, f"--alpha-c must be >= 0, got {self.alpha_c}")


def load_split(cfg: CaptionTrainConfig, split: str) -> tuple[list, list[list[str]]]:
    """(images: paths or PIL images, captions: list of reference strings per image)."""
    if cfg.dataset == "scenes":
        n = cfg.scenes if split == "train" else min(200, max(16, cfg.scenes // 10))
        images, caps = make_scenes(n, seed={"train": cfg.seed, "val": 1, "test": 2}[split])
        return images, [[c] for c in caps]
    s = load_caption_set(cfg.dataset, cfg.root, split)
    return s.images, s.captions


class FeatureSource:
    """Maps image indices to decoder inputs: cached features (frozen encoder) or encoder(images)."""

    def __init__(
        self,
        encoder: ImageEncoder,
        images: list,
        cache_dir: str | Path,
        device: torch.device,
        train: bool = False,
        num_workers: int = 0,
    ):
        self.encoder, self.images, self.device = encoder, images, device
        self.transform = image_transform(encoder.cfg.image_size, train=train)
        self.cached = None
        if encoder.cfg.trainable:
            return
        if isinstance(images[0], str | Path):
            self.cached = cached_features(
                encoder, images, cache_dir, device=device, num_workers=num_workers
            )
        else:  # images in memory (synthetic scenes): encode them once, no disk cache
            with torch.no_grad():
                self.cached = (
                    torch.cat(
                        [
                            self._encode(range(s, min(s + 64, len(images))))
                            for s in range(0, len(images), 64)
                        ]
                    )
                    .half()
                    .numpy()
                )

    def _encode(self, idx) -> torch.Tensor:
        x = torch.stack([self.transform(load_image(self.images[i])) for i in idx])
        return self.encoder(x.to(self.device))  # (B, S, D)

    def __call__(self, idx: list[int]) -> torch.Tensor:
        if self.cached is not None:
            return torch.from_numpy(self.cached[np.asarray(idx)]).float().to(self.device)  # (B,S,D)
        return self._encode(idx)


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


@torch.no_grad()
def decode(
    model: Captioner,
    feats: torch.Tensor,
    beam_size: int = 1,
    n_best: int = 1,
    max_len: int = 30,
    length_penalty: float = 0.6,
):
    """Per image, the n_best hypotheses (seqlab.decoding), best first."""
    state = model.init_state(feats)
    if beam_size <= 1:
        return [[h] for h in greedy(model.decode_step, state, feats.size(0), BOS, EOS, max_len)]
    return beam_search(
        model.decode_step,
        state,
        feats.size(0),
        BOS,
        EOS,
        beam_size=beam_size,
        max_len=max_len,
        length_penalty=length_penalty,
        n_best=n_best,
    )


def corpus_bleu_scores(references: list[list[str]], hypotheses: list[list[str]]) -> dict:
    """BLEU-1..4 x 100 with nltk's corpus_bleu: each hypothesis against all its references."""
    from nltk.translate.bleu_score import corpus_bleu

    refs = [[tokenize(r) for r in rs] for rs in references]
    weights = [(1.0,), (0.5, 0.5), (1 / 3,) * 3, (0.25,) * 4]
    with warnings.catch_warnings():  # nltk warns on every zero n-gram count of a weak model
        warnings.simplefilter("ignore")
        scores = corpus_bleu(refs, hypotheses, weights=weights)
    return {f"bleu{n}": round(100 * s, 2) for n, s in enumerate(scores, 1)}


@torch.no_grad()
def evaluate_bleu(
    model: Captioner,
    source: FeatureSource,
    references: list[list[str]],
    vocab: Vocab,
    beam_size: int = 1,
    batch_size: int = 50,
    limit: int = 0,
    max_len: int = 30,
) -> dict:
    """BLEU-1..4 on the first ``limit`` images (0: all) with greedy or beam search."""
    model.eval()
    n = len(references) if limit <= 0 else min(limit, len(references))
    hyps = []
    for s in range(0, n, batch_size):
        idx = list(range(s, min(s + batch_size, n)))
        for best, *_ in decode(model, source(idx), beam_size, max_len=max_len):
            hyps.append(vocab.tokens(best.tokens))
    return corpus_bleu_scores(references[:n], hyps)


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
    t0 = time.perf_counter()
    out = Path(cfg.out)
    info, device = distributed.setup(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    check_compile(cfg.compile, device)
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
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
    train_src = FeatureSource(encoder, train_images, cfg.cache_dir, device, True, cfg.num_workers)
    val_src = FeatureSource(encoder, val_images, cfg.cache_dir, device, False, cfg.num_workers)
    pairs = [
        (i, encode_caption(vocab, c, cfg.max_len)) for i, cs in enumerate(train_caps) for c in cs
    ]
    fwd = distributed.training_module(model, info, device, cfg.compile)  # `model` is saved
    if ecfg.trainable:  # the encoder trains too: DDP averages its gradients as well
        train_src.encoder = distributed.wrap(encoder, info, device)
    params = list(model.parameters()) + [p for p in encoder.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, ocfg)
    scaler = make_grad_scaler(precision, device)
    steps_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    budget_s = cfg.time_budget_min * 60
    guard = NonFiniteGuard(ocfg.max_bad_steps)
    step, epoch, done, best, scores, elapsed = 0, 0, 0, -1.0, {}, 0.0
    if resume is not None:
        state, epoch, done = restore(resume, model, optimizer, rng, scaler=scaler)
        step, best, scores = resume["step"], state["best"], resume["metrics"]
        elapsed = state["elapsed_s"]
    # rank 0 alone writes config, metrics and checkpoints
    metrics = open_run(
        out, info.is_main, step if resume else None, train=cfg, optim=ocfg, model=mcfg, encoder=ecfg
    )
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
                "model": model.state_dict(),
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

    bar = progress(
        total=total, initial=step, desc="caption", unit="step", disable=not info.is_main or None
    )
    stop = False
    if resume is not None:
        stop = bool(finished(step, total, elapsed, budget_s, 0, 0))
        set_rng_states(resume["resume"]["rng"], info)  # last: nothing may draw after it
    train_start = time.perf_counter() - elapsed  # a time budget counts the interrupted run's too
    t0 -= elapsed
    while not stop:
        model.train()
        encoder.train()
        epoch_start = order_state(rng)
        batches = bucketed_batches([len(p[1]) for p in pairs], cfg.batch_size, rng)
        for batch in batches[done:]:
            elapsed = time.perf_counter() - train_start
            if budget_s:  # the LR follows the time: all processes take rank 0's clock
                elapsed = distributed.from_main(elapsed, info)
            frac = max(step / total, elapsed / budget_s if budget_s else 0.0)
            if frac >= 1.0:
                stop = True
                break
            for group in optimizer.param_groups:
                group["lr"] = ocfg.lr * (
                    _lr_factor(frac, step, ocfg.warmup_steps) if ocfg.schedule == "cosine" else 1.0
                )
            # Under torchrun each process takes its block of the same global batch, weighted by
            # its share of the batch's target words (cross-entropy) and images (penalty).
            block, n = distributed.shard_indices(batch, info)
            words = lambda ks: sum(len(pairs[k][1]) - 1 for k in ks)  # noqa: E731
            shares = (
                distributed.share(words(block[:n]), words(batch), info),
                distributed.share(n, len(batch), info),
            )
            tokens = pad_captions([pairs[k][1] for k in block]).to(device)  # (B, T+1)
            with autocast(precision, device):
                feats = train_src([pairs[k][0] for k in block])  # (B, S, D)
                loss, ce = caption_loss(fwd, feats, tokens, cfg.alpha_c, shares)
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            norm, stepped = clip_and_step(params, optimizer, ocfg, scaler)
            step += 1
            guard.update(stepped, step, fp16=scaler is not None)
            loss_value, ce_value = (distributed.mean(v.item(), info) for v in (loss, ce))
            if metrics:
                metrics.write(
                    step=step,
                    loss=loss_value,
                    ce=ce_value,
                    grad_norm=norm,
                    lr=optimizer.param_groups[0]["lr"],
                )
            bar.update(1)
            bar.set_postfix(ce=f"{ce_value:.3f}", norm=f"{norm:.2f}", epoch=epoch)
            done += 1
        position = resume_point(epoch, done, len(batches), epoch_start, order_state(rng))
        epoch, done = epoch + 1, 0
        stop = stop or step >= total or (epoch >= cfg.epochs and not cfg.max_steps)
        scores = None  # rank 0 scores; every process gets the result
        if info.is_main:
            encoder.eval()  # a trainable encoder's BatchNorm must not learn from val images
            with autocast(precision, device):
                scores = evaluate_bleu(
                    model, val_src, val_caps, vocab, limit=cfg.val_images, max_len=cfg.max_len
                )
            metrics.write(
                step=step,
                epoch=epoch,
                elapsed_s=round(time.perf_counter() - t0, 1),
                **{f"val_{k}": v for k, v in scores.items()},
            )
        scores = distributed.from_main(scores, info)
        log.info("epoch %d step %d: val greedy %s", epoch, step, scores)
        improved, best = scores["bleu4"] > best, max(best, scores["bleu4"])
        state = {  # what --resume needs beyond the weights (seqlab.resume)
            "configs": configs,
            "position": position,
            "rng": rng_states(info),
            "best": best,
            "elapsed_s": time.perf_counter() - train_start,
            "scaler": scaler.state_dict() if scaler else None,
        }
        if improved:
            checkpoint("ckpt_best.pt", scores, state)
        checkpoint("ckpt_last.pt", scores, state)
    bar.close()
    if metrics:
        metrics.close()
    distributed.cleanup(info)
    return {
        "steps": step,
        "epochs": epoch,
        "best_val_bleu4": best,
        "last_val": scores,
        "train_s": round(time.perf_counter() - train_start, 1),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "out": str(out),
        "precision": precision,
        "processes": info.world_size,
    }
