"""Predictions from a trained sentiment (text) classifier: labels with probabilities, evaluation
on labelled data, and per-token attributions (integrated gradients or occlusion) for the demo.

    pred = SentimentPredictor.from_checkpoint("runs/sst2")
    pred.predict(["not good at all"])     # [{"label": "negative", "probs": {...}}]
    pred.attribute("slow start but a wonderful ending", "occlusion")
    pred.prefix_probs("it 's not a bad film")  # what it says after each token: the reading
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torch import Tensor

from seqlab.data.labelled import Labelled
from seqlab.data.tokenizers import UNK, tokenizer_from_dict
from seqlab.errors import UserError
from seqlab.familiarity import FeatureFamiliarity
from seqlab.models.classifier import ClassifierConfig, TextClassifier
from seqlab.sentiment.batches import (
    classification_metrics,
    collate,
    encode_texts,
    predict_ids,
    predict_with_features,
)
from seqlab.sentiment.config import TASK
from seqlab.sentiment.negation import has_contrast, has_negation
from seqlab.sources import load_checkpoint
from seqlab.training import resolve_device

PREFIX_BATCH = 64  # prefixes per batched forward (a bidirectional model reads each one apart)


def _share(right: Tensor) -> dict:
    n = len(right)
    return {"n": n, "accuracy": round(100 * float(right.float().mean()), 2) if n else None}


class SentimentPredictor:
    """A trained classifier: labels with probabilities, and which tokens pushed the decision."""

    def __init__(
        self,
        model: TextClassifier,
        tokenizer,
        labels: list[str],
        max_length: int,
        lower: bool,
        device: torch.device,
        info: dict | None = None,
    ):
        self.model, self.tokenizer, self.labels = model.eval(), tokenizer, labels
        self.max_length, self.lower, self.device = max_length, lower, device
        self.info = info or {}
        fam = self.info.get("familiarity")  # None for a checkpoint fitted without one
        self.familiarity = FeatureFamiliarity(fam) if fam else None

    @property
    def domain(self) -> str:
        """What the model learned from, in words a page can show."""
        return self.info.get("domain") or "training texts"

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> SentimentPredictor:
        """Load a classifier: ``path`` is a run directory, a ``.pt`` checkpoint, a packed
        ``.safetensors`` file or a shipped model's name; ``device`` "auto" (cuda > mps > cpu),
        "cpu", "cuda" or "mps". A file that is not a classifier's raises ``UserError``."""
        ckpt = load_checkpoint(path, task=TASK)
        dev = resolve_device(device)
        model = TextClassifier(ClassifierConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        info = {
            "metrics": ckpt.get("metrics", {}),
            "source": ckpt.get("source", ""),
            "model_config": ckpt["model_config"],
            "familiarity": ckpt.get("familiarity"),
            "domain": ckpt.get("domain"),  # what it learned from, in words (shipped models)
        }
        return cls(
            model.to(dev),
            tokenizer_from_dict(ckpt["tokenizer"]),
            list(ckpt["labels"]),
            int(ckpt["max_length"]),
            bool(ckpt["lower"]),
            dev,
            info,
        )

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [ids[: self.max_length] for ids in self._encode_whole(texts)]

    def _encode_whole(self, texts: list[str]) -> list[list[int]]:
        """Every token of each text; the model reads the first ``max_length`` of them."""
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise UserError("the text is empty; type a sentence to classify")
        return encode_texts(self.tokenizer, texts, sys.maxsize, self.lower)

    def predict(self, texts: list[str]) -> list[dict]:
        """For each text: {"label": best class, "probs": {class: probability}, "familiarity":
        Familiarity, or None for an uncalibrated model, "tokens": how many tokens the text has,
        "read_tokens": how many of them the model read (at most ``max_length``)}."""
        whole = self._encode_whole(texts)
        ids = [t[: self.max_length] for t in whole]
        probs, feats = predict_with_features(self.model, ids, self.device)
        fams = self.familiarity(feats.numpy()) if self.familiarity else [None] * len(texts)
        return [
            {
                "label": self.labels[int(p.argmax())],
                "probs": {n: round(float(v), 6) for n, v in zip(self.labels, p, strict=True)},
                "familiarity": fam,
                "tokens": len(w),
                "read_tokens": len(i),
            }
            for p, fam, w, i in zip(probs, fams, whole, ids, strict=True)
        ]

    def evaluate(self, data: Labelled) -> dict:
        """Score the model on labelled texts (``seqlab.data.labelled.Labelled``). Returns a dict:
        accuracy (a fraction), macro_f1, confusion (rows: true class), n, labels, and the
        accuracy in percent on the texts with a negation word ("negation") and without it
        ("no_negation"), on those with a contrast word such as "but" or "although" ("contrast"),
        and on the texts with neither ("rest"), each {"n", "accuracy"}. Labels the model lacks
        raise ``UserError``."""
        unknown = sorted(set(data.labels) - set(self.labels))
        if unknown:
            raise UserError(
                f"{data.source}: labels {unknown[:5]} are not among the model's "
                f"classes {self.labels}"
            )
        probs = predict_ids(self.model, self._encode(data.texts), self.device)
        gold = torch.tensor([self.labels.index(label) for label in data.labels])
        right = probs.argmax(-1) == gold
        negated = torch.tensor([has_negation(t) for t in data.texts])
        contrast = torch.tensor([has_contrast(t) for t in data.texts])
        return {
            **classification_metrics(probs.argmax(-1), gold, len(self.labels)),
            "labels": self.labels,
            # texts with not, n't, no, never or nothing, and the rest (seqlab.sentiment.negation)
            "negation": _share(right[negated]),
            "no_negation": _share(right[~negated]),
            "contrast": _share(right[contrast]),  # but, although, though, yet, ...
            "rest": _share(right[~negated & ~contrast]),
        }

    def attribute(
        self, text: str, method: str = "integrated_gradients", steps: int = 32
    ) -> tuple[list[str], list[float], str]:
        """Per-token contributions to the predicted class (positive: pushed towards it).

        Returns (tokens, scores, label). ``integrated_gradients`` (Sundararajan et al. 2017)
        integrates the gradient along the straight path from an all-zero embedding to the
        text's; ``occlusion`` (Zeiler and Fergus 2014) replaces each token with <unk> and
        measures how much the log-probability of the predicted class drops.
        Tokens the model does not know (``<unk>``) get 0: the model cannot have read them, and
        both methods would otherwise credit the shared ``<unk>`` embedding to whatever word it
        stands for.
        """
        ids = self._encode([text])[0]
        x, lengths = collate([ids])
        x = x.to(self.device)
        probs = predict_ids(self.model, [ids], self.device)[0]
        target = int(probs.argmax())
        if method == "occlusion":
            scores = self._occlusion(ids, target, float(probs[target]))
        elif method == "integrated_gradients":
            scores = self._integrated_gradients(x, lengths, target, steps)
        else:
            raise UserError(
                f"attribution method must be integrated_gradients or occlusion, got {method!r}"
            )
        scores = [0.0 if i == UNK else s for i, s in zip(ids, scores, strict=True)]
        return self._tokens(text, ids), scores, self.labels[target]

    def prefix_probs(self, text: str, limit: int | None = None) -> tuple[list[str], list[dict]]:
        """What the model says after each prefix of ``text``: (tokens, probabilities), where
        probabilities[t] is {class: p} for the text cut after tokens[t]. The last one is what
        ``predict`` says for the whole text. ``limit`` reads at most that many tokens (the model
        reads at most ``max_length`` in any case)."""
        ids = self._encode([text])[0][: limit or self.max_length]
        with torch.no_grad():
            h = self._prefix_sentences(ids)  # (T, D*H): the sentence vector of each prefix
            probs = torch.softmax(self.model.head(h).float(), dim=-1).cpu()  # (T, C)
        rows = [{n: round(float(v), 6) for n, v in zip(self.labels, p, strict=True)} for p in probs]
        return self._tokens(text, ids), rows

    def _prefix_sentences(self, ids: list[int]) -> Tensor:
        """The pooled sentence vector of every prefix ids[: t + 1], as a (T, D*H) tensor.

        A left-to-right network's state after token t has read only tokens 0..t, so one pass
        gives every prefix: its states pooled up to t (a running max, a running mean, or the
        state at t itself for ``final``). A bidirectional network's backward half reads each
        prefix from its own last token, so there the T prefixes go through the model as a batch,
        each packed to its own length (T(T+1)/2 steps of work, in PREFIX_BATCH-sized calls);
        so do the poolings that one pass cannot give (``max_final``, ``attention``).
        """
        model, T = self.model, len(ids)
        x = torch.tensor([ids], device=self.device)  # (1, T)
        if model.cfg.bidirectional or model.cfg.pooling not in ("final", "max", "mean"):
            return torch.cat([self._prefix_batch(x, a, T) for a in range(0, T, PREFIX_BATCH)])
        out, _ = model.rnn(model.embedding(x))  # (1, T, H): the last layer's state after each t
        h = out[0]  # (T, H)
        if model.cfg.pooling == "max":
            return torch.cummax(h, dim=0).values  # (T, H): max over the states 0..t
        if model.cfg.pooling == "mean":
            steps = torch.arange(1, T + 1, device=h.device, dtype=h.dtype)  # (T,)
            return h.cumsum(dim=0) / steps.unsqueeze(1)  # (T, H)
        return h  # "final": the state after token t is the prefix's final state

    def _prefix_batch(self, x: Tensor, start: int, T: int) -> Tensor:
        """The sentence vectors (P, D*H) of the prefixes ending at tokens start..start+P-1."""
        lengths = torch.arange(start + 1, min(start + PREFIX_BATCH, T) + 1)  # (P,)
        batch = x[:, : int(lengths[-1])].expand(len(lengths), -1)  # (P, t_max)
        return self.model.sentence(self.model.embedding(batch), lengths)  # (P, D*H)

    def _tokens(self, text: str, ids: list[int]) -> list[str]:
        tokens = self.tokenizer.pieces(text.lower() if self.lower else text)[: len(ids)]
        return tokens if len(tokens) == len(ids) else self.tokenizer.id_to_piece(ids)

    def unknown(self, text: str) -> list[str]:
        """The tokens of `text` that the model does not know (it reads them all as <unk>)."""
        ids = self._encode([text])[0]
        tokens = self._tokens(text, ids)
        return [t.replace("\u2581", "") for t, i in zip(tokens, ids, strict=True) if i == UNK]

    def spans(
        self, text: str, method: str = "integrated_gradients"
    ) -> tuple[list[tuple[str, float]], str]:
        """(display token, score in [-1, 1]) pairs for a UI, and the predicted label. Tokens the
        model does not know are shown with a trailing "(?)" and no score (None)."""
        tokens, scores, label = self.attribute(text, method)
        ids = self._encode([text])[0]
        top = max((abs(s) for s in scores), default=0.0) or 1.0
        spans = []
        for t, s, i in zip(tokens, scores, ids, strict=True):
            t = t.replace("\u2581", " ") if self.tokenizer.kind == "sentencepiece" else t + " "
            if i == UNK:  # "▁" marked a word start above; an unknown token is marked here
                spans.append((t.rstrip() + "(?) ", None))
            else:
                spans.append((t, round(s / top, 4)))
        return spans, label

    def describe(self) -> str:
        """One line on the model in use (layers, cell, pooling, tokens, classes, training data
        and dev accuracy), for pages and logs."""
        m, metrics = self.info.get("model_config", {}), self.info.get("metrics", {})
        kind = ("bi" if m.get("bidirectional") else "") + str(m.get("cell", "?")).upper()
        text = (
            f"{m.get('num_layers', '?')}-layer {kind}, hidden {m.get('hidden_size')}, "
            f"{m.get('pooling')} pooling, {self.tokenizer.kind} tokens "
            f"(vocabulary {self.tokenizer.vocab_size}), classes {', '.join(self.labels)}; "
            f"trained on {self.info.get('source', '?')}"
        )
        if "accuracy" in metrics:
            text += f"; dev accuracy {metrics['accuracy']:.1%}"
        return text

    def _occlusion(self, ids: list[int], target: int, p_full: float) -> list[float]:
        variants = [ids[:i] + [UNK] + ids[i + 1 :] for i in range(len(ids))]
        probs = predict_ids(self.model, variants, self.device)  # (T, C)
        # Drops in log-probability: a confident model (p near 1) still shows which tokens matter.
        log_full = math.log(max(p_full, 1e-12))
        return [log_full - math.log(max(float(p), 1e-12)) for p in probs[:, target]]

    def _integrated_gradients(
        self, x: Tensor, lengths: Tensor, target: int, steps: int
    ) -> list[float]:
        self.model.eval()
        with torch.no_grad():
            e = self.model.embedding(x)  # (1, T, E)
        alphas = torch.linspace(0, 1, steps + 1, device=e.device)[1:].view(-1, 1, 1)  # (S, 1, 1)
        path = (alphas * e).requires_grad_()  # (S, T, E): from the zero baseline to e
        # cuDNN only differentiates RNNs in training mode; the plain kernels do it in eval mode.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            logits = self.model.forward_embedded(path, lengths.expand(steps))  # (S, C)
            (grad,) = torch.autograd.grad(logits[:, target].sum(), path)
        return (e[0] * grad.mean(0)).sum(-1).tolist()  # (T,): sum over embedding dims
