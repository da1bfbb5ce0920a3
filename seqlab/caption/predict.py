"""Captioning a trained model's way: ``CaptionPredictor`` (beam n-best with scores, per-word
attention maps drawn over the image) and the offline demo model trained on synthetic scenes.

    pred = CaptionPredictor.from_checkpoint("runs/cap")
    for cap in pred.caption("dog.jpg", beam_size=3, n_best=3):
        print(f"{cap.score:.2f} {cap.text}")
    frames = pred.overlays(pred.view("dog.jpg"), cap)     # [(PIL image, word), ...]
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from math import inf
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from seqlab.caption.config import TASK
from seqlab.data.captions import encoder_view, image_transform, load_image, tokenize
from seqlab.data.tokenizers import BOS, EOS, UNK, Vocab
from seqlab.decoding import beam_search, greedy
from seqlab.errors import UserError
from seqlab.familiarity import Familiarity, FeatureFamiliarity
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.encoders import EncoderConfig, ImageEncoder
from seqlab.sources import load_checkpoint
from seqlab.training import autocast, count_parameters, resolve_device

if TYPE_CHECKING:
    from seqlab.caption.data import FeatureSource

log = logging.getLogger(__name__)


def without_unk(step):
    """The decoder step with ``<unk>`` ruled out: a caption never says "a man holds a <unk> sign"
    (the shipped model's beam-3 caption did for 39 of the 1000 Flickr8k test images); it takes
    the best word the model knows instead, and seqlab.decoding renormalises what is left."""

    def step_known(tokens, state):
        log_probs, state, attn = step(tokens, state)
        log_probs[:, UNK] = -inf  # (N, V), a tensor the step made for this call
        return log_probs, state, attn

    return step_known


@torch.no_grad()
def decode(
    model: Captioner,
    feats: torch.Tensor,
    beam_size: int = 1,
    n_best: int = 1,
    max_len: int = 30,
    length_penalty: float = 0.6,
):
    """Per image, the n_best hypotheses (seqlab.decoding), best first; never ``<unk>``.

    Takes encoder features ``feats`` (B, S, D) (S grid positions of D channels); returns B lists
    of ``seqlab.decoding.Hypothesis`` (tokens, score, log_prob, attention (len, S) or None).
    """
    state, step = model.init_state(feats), without_unk(model.decode_step)
    if beam_size <= 1:
        return [[h] for h in greedy(step, state, feats.size(0), BOS, EOS, max_len)]
    return beam_search(
        step,
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
    """BLEU-1..4 x 100 with nltk's corpus_bleu: each hypothesis against all its references.

    Takes each image's reference captions (strings) and each hypothesis as a list of words;
    returns ``{"bleu1": ..., "bleu4": ...}``, rounded to 2 decimals."""
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
    """BLEU-1..4 on the first ``limit`` images (0: all) with greedy or beam search.

    ``source(indices)`` gives their features (B, S, D); ``references`` each image's captions.
    Returns ``corpus_bleu_scores``' dict."""
    model.eval()
    n = len(references) if limit <= 0 else min(limit, len(references))
    hyps = []
    for s in range(0, n, batch_size):
        idx = list(range(s, min(s + batch_size, n)))
        for best, *_ in decode(model, source(idx), beam_size, max_len=max_len):
            hyps.append(vocab.tokens(best.tokens))
    return corpus_bleu_scores(references[:n], hyps)


@dataclass
class Caption:
    """One caption of one image: its text and words, its scores, where the model looked for each
    word (``attention``, (len(words), h, w) over the encoder's grid) and the image's familiarity."""

    text: str
    words: list[str]
    score: float  # length-normalised log-probability (the beam's ranking score)
    log_prob: float  # total log-probability, <eos> included
    attention: np.ndarray | None  # (len(words), h, w): where the model looked for each word
    familiarity: Familiarity | None = None  # the photo's, shared by its n-best; None: uncalibrated


class CaptionPredictor:
    """A trained captioner: image in, captions (with scores and attention maps) out."""

    def __init__(
        self,
        encoder: ImageEncoder,
        model: Captioner,
        vocab: Vocab,
        info: dict,
        device: torch.device,
        familiarity: FeatureFamiliarity | None = None,
    ):
        self.encoder, self.model = encoder.folded(), model.eval()  # BatchNorm folded in
        self.vocab, self.info, self.device = vocab, info, device
        self.transform = image_transform(encoder.cfg.image_size)  # as the training features
        self._view = encoder_view(encoder.cfg.image_size)  # its picture part
        self.familiarity = familiarity  # None for a checkpoint fitted without one

    @property
    def domain(self) -> str:
        """What the model learned from, in words a page can show."""
        return self.info.get("domain") or f"{self.info['dataset']} training photos"

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> CaptionPredictor:
        """Load a captioner: ``path`` is a run directory, a ``.pt`` checkpoint, a packed
        ``.safetensors`` file or a shipped model's name; ``device`` "auto" (cuda > mps > cpu),
        "cpu", "cuda" or "mps". A file that is not a captioner's raises ``UserError``."""
        ckpt = load_checkpoint(path, task=TASK)
        dev = resolve_device(device)
        try:
            ecfg = EncoderConfig(**ckpt["encoder_config"])
            model = Captioner(CaptionerConfig(**ckpt["model_config"]))
            model.load_state_dict(ckpt["model"])
            encoder = ImageEncoder(ecfg)
            if ckpt.get("encoder") is not None:
                encoder.load_state_dict(ckpt["encoder"])
        except (KeyError, TypeError, RuntimeError) as e:
            raise UserError(f"{path} does not match this version of the captioner: {e}") from e
        tcfg = ckpt.get("train_config", {})
        info = {
            "dataset": ckpt.get("dataset", "?"),
            "domain": ckpt.get("domain"),  # what it learned from, in words (shipped models)
            "root": tcfg.get("root"),
            "encoder": ecfg.name,
            "attention": model.cfg.attention,
            "vocab_size": len(ckpt["vocab"]),
            "step": ckpt.get("step"),
            "epoch": ckpt.get("epoch"),
            "val": ckpt.get("metrics", {}),
            "max_len": ckpt.get("max_len", 30),
            "feature_precision": tcfg.get("feature_precision", "fp32"),  # what it trained on
            "path": str(path),
            "parameters": count_parameters(model)
            + (count_parameters(encoder) if ecfg.trainable else 0),
        }
        fam = FeatureFamiliarity(ckpt["familiarity"]) if ckpt.get("familiarity") else None
        return cls(encoder.to(dev), model.to(dev), Vocab(ckpt["vocab"]), info, dev, fam)

    def view(self, source) -> Image.Image:
        """The picture the encoder sees, as the model trained on it (seqlab.data.captions.
        encoder_view: the short side resized, the centre cropped square); attention maps align
        with it. A view passes through ``view`` again unchanged, so captioning a view gives the
        caption of its file."""
        return self._view(load_image(source))

    @torch.no_grad()
    def features(self, sources: list) -> torch.Tensor:
        """(B, S, D) encoder features of the images (files, PIL images or views), in float32."""
        x = torch.stack([self.transform(load_image(s)) for s in sources]).to(self.device)
        with autocast(self.info.get("feature_precision", "fp32"), self.device):
            feats = self.encoder(x.contiguous(memory_format=torch.channels_last))  # (B, S, D)
        return feats.float()

    def familiarities(self, sources: list) -> list[Familiarity | None]:
        """How familiar each image is to the model: one ``Familiarity`` per source (None each
        for an uncalibrated model)."""
        if self.familiarity is None:
            return [None] * len(sources)
        return self.familiarity(self.features(sources).mean(1))  # (B, D) pooled

    @torch.no_grad()
    def caption_batch(
        self, sources: list, beam_size: int = 3, n_best: int = 1, max_len: int | None = None
    ) -> list[list[Caption]]:
        """Per image (file paths, PIL images or views), its ``n_best`` captions, best first
        (``beam_size`` 1: greedy), decoded together in one batch; ``max_len`` words at most
        (default: the checkpoint's)."""
        if beam_size < 1 or not 1 <= n_best <= max(beam_size, 1):
            raise UserError(f"need beam >= 1 and 1 <= n-best <= beam, got {beam_size}/{n_best}")
        feats = self.features(sources)  # (B, S, D)
        hyps = decode(self.model, feats, beam_size, n_best, max_len or self.info["max_len"])
        fams = self.familiarity(feats.mean(1)) if self.familiarity else [None] * len(hyps)
        h, w = self.encoder.grid
        out = []
        for item, fam in zip(hyps, fams, strict=True):
            caps = []
            for hyp in item:
                words = self.vocab.tokens(hyp.tokens)
                att = None
                if hyp.attention is not None and len(words):
                    att = hyp.attention.float().cpu().numpy().reshape(len(words), h, w)
                caps.append(Caption(" ".join(words), words, hyp.score, hyp.log_prob, att, fam))
            out.append(caps)
        return out

    def caption(self, source, beam_size: int = 3, n_best: int = 1) -> list[Caption]:
        """Caption one image (a file path, a PIL image or a ``view``): its ``n_best`` captions,
        best first (``beam_size`` 1: greedy). A file that is not an image raises ``UserError``."""
        return self.caption_batch([source], beam_size, n_best)[0]

    @staticmethod
    def overlays(view: Image.Image, caption: Caption, size: int = 224) -> list[tuple]:
        """One picture per word: the image lit where the model looked (its attention map,
        smoothly upsampled, as Xu et al. 2015 draw it) and dimmed to a cool dark elsewhere.

        Takes the ``view`` of the image and one of its captions; returns ``(PIL image of
        size x size, word)`` pairs, none for a model without attention."""
        if caption.attention is None:
            return []
        shade = np.array([0.03, 0.05, 0.12])  # what unattended regions fade to
        base = np.asarray(view.convert("RGB").resize((size, size), Image.BICUBIC)) / 255.0
        frames = []
        for word, grid in zip(caption.words, caption.attention, strict=True):
            a = Image.fromarray(grid.astype(np.float32), mode="F").resize(
                (size, size), Image.BICUBIC
            )
            a = np.clip(np.asarray(a), 0, None)
            a = (a / (a.max() + 1e-8))[..., None] ** 0.8  # (size, size, 1) in [0, 1]
            lit = base * (0.12 + 0.88 * a) + shade * (1 - a)
            frames.append((Image.fromarray((np.clip(lit, 0, 1) * 255).astype(np.uint8)), word))
        return frames

    def describe(self, with_val: bool = True) -> str:
        """One line on the model in use, for pages and logs (with its validation BLEU-4 unless
        a page reports a test figure instead)."""
        i = self.info
        kind = "Show, Attend and Tell (soft attention)" if i["attention"] else "Show and Tell"
        val = (i.get("val") or {}) if with_val else {}
        score = f", val BLEU-4 {val['bleu4']:.1f} (greedy)" if "bleu4" in val else ""
        return (
            f"{kind} LSTM decoder, {i['encoder']} encoder, trained on {i['dataset']} "
            f"({i['vocab_size']} words, {i['parameters'] / 1e6:.1f}M trained parameters"
            f"{score})"
        )


def evaluate_checkpoint(
    checkpoint: str | Path,
    root: str | Path,
    split: str = "test",
    beam_size: int = 3,
    dataset: str | None = None,
    limit: int = 0,
    cache_dir: str | Path = "data/cache/features",
    device: str = "auto",
    feature_precision: str | None = None,
    int8: bool = False,
) -> dict:
    """BLEU-1..4 of a checkpoint on a dataset split (features cached for frozen encoders, in
    ``feature_precision``: by default the one the checkpoint trained on); ``int8`` scores an int8
    copy of the decoder (CPU only; the encoder stays fp32)."""
    from seqlab.caption.data import FeatureSource
    from seqlab.data.captions import load_caption_set
    from seqlab.serving import use_int8

    pred = use_int8(CaptionPredictor.from_checkpoint(checkpoint, device), int8)
    data = load_caption_set(dataset or pred.info["dataset"], root, split)
    precision = feature_precision or pred.info["feature_precision"]
    source = FeatureSource(pred.encoder, data.images, cache_dir, pred.device, precision=precision)
    scores = evaluate_bleu(
        pred.model,
        source,
        data.captions,
        pred.vocab,
        beam_size=beam_size,
        limit=limit,
        max_len=pred.info["max_len"],
    )
    images = limit or len(data)
    return {
        "split": split,
        "beam": beam_size,
        "images": images,
        "features": precision,
        "int8": int8,
        **scores,
    }


def scene_examples(folder: str | Path, n: int = 6, seed: int = 7) -> list[str]:
    """Write n generated scenes as PNG files (the demo's examples) and return their paths."""
    from seqlab.toy.scenes import make_scenes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = make_scenes(n, seed=seed, image_size=256)
    paths = []
    for k, image in enumerate(images):
        path = folder / f"scene_{k}.png"
        if not path.is_file():
            image.save(path)
        paths.append(str(path))
    return paths
