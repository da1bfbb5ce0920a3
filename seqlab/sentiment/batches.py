"""Batches for the sentiment classifier: encoding, word dropout, adversarial perturbations,
padding, length-bucketed shuffling, batched prediction and the classification metrics.

Shared by training (``seqlab.sentiment.train``) and prediction (``seqlab.sentiment.predict``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.data.tokenizers import PAD, UNK
from seqlab.models.classifier import TextClassifier


def encode_texts(
    tokenizer, texts: list[str], max_length: int, lower: bool, alpha: float = 0.0
) -> list[list[int]]:
    """Token ids per text, cut at ``max_length``; an empty result becomes [<unk>] (length >= 1).
    alpha > 0 samples a sentencepiece segmentation per text (subword regularisation)."""
    encode = (lambda t: tokenizer.sample(t, alpha)) if alpha else tokenizer.encode  # noqa: E731
    return [encode(t.lower() if lower else t)[:max_length] or [UNK] for t in texts]


def drop_words(x: Tensor, p: float) -> Tensor:
    """Word dropout: each real token of x (B, T) becomes <unk> with probability p."""
    hit = (torch.rand(x.shape) < p) & (x != PAD)
    return x.masked_fill(hit, UNK)  # (B, T)


def adversarial_perturbation(grad: Tensor, eps: float) -> Tensor:
    """grad (B, T, E) of the loss w.r.t. the embeddings -> the perturbation of L2 norm ``eps`` per
    text along it (B, T, E); padding positions get zero gradient, so they stay unmoved."""
    g = grad.detach().float()
    norm = g.flatten(1).norm(dim=1).clamp_min(1e-12)  # (B,)
    return eps * g / norm[:, None, None]


def collate(seqs: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Pad to the longest: ids (B, T) with PAD=0, and lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs])
    x = torch.full((len(seqs), int(lengths.max())), PAD, dtype=torch.long)  # (B, T)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.tensor(s)
    return x, lengths


def bucketed_batches(lengths: list[int], batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, sort within pools of 50 batches, then shuffle
    the batches. Each step then runs about as many time steps as its texts have (torchtext's
    BucketIterator does the same)."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    pool = 50 * batch_size
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: lengths[j])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]


@torch.no_grad()
def predict_ids(
    model: TextClassifier, seqs: list[list[int]], device, batch_size: int = 256
) -> Tensor:
    """Class probabilities (N, C) for encoded texts, in their order."""
    return predict_with_features(model, seqs, device, batch_size)[0]


@torch.no_grad()
def predict_with_features(
    model: TextClassifier, seqs: list[list[int]], device, batch_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Class probabilities (N, C) and the sentence vectors the head read (N, D*H), in order."""
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    probs = torch.empty(len(seqs), model.cfg.num_classes)
    feats = torch.empty(len(seqs), model.head.in_features)
    for k in range(0, len(order), batch_size):
        idx = order[k : k + batch_size]
        x, lengths = collate([seqs[i] for i in idx])
        h = model.sentence(model.embedding(x.to(device)), lengths)  # (B, D*H)
        probs[idx] = F.softmax(model.head(h).float(), dim=-1).cpu()
        feats[idx] = h.float().cpu()
    return probs, feats


def classification_metrics(pred: Tensor, gold: Tensor, num_classes: int) -> dict:
    """Accuracy, macro-F1 (mean of per-class F1) and the confusion matrix (rows: true class)."""
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    conf.index_put_((gold, pred), torch.ones_like(gold), accumulate=True)
    tp = conf.diag().float()
    precision = tp / conf.sum(0).clamp(min=1)
    recall = tp / conf.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {
        "accuracy": tp.sum().item() / max(len(gold), 1),
        "macro_f1": f1.mean().item(),
        "confusion": conf.tolist(),
        "n": len(gold),
    }
