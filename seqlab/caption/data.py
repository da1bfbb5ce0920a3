"""What the captioner trains and is scored on: a dataset split (images and their references)
and the decoder's inputs for them (features cached once for a frozen encoder, or the encoder run
on the images when it trains)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqlab.caption.config import CaptionTrainConfig
from seqlab.data.captions import image_transform, load_caption_set, load_image
from seqlab.data.features import cached_features
from seqlab.models.encoders import ImageEncoder
from seqlab.toy.scenes import make_scenes
from seqlab.training import autocast


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
        precision: str = "fp32",
    ):
        self.encoder, self.images, self.device = encoder, images, device
        self.transform = image_transform(encoder.cfg.image_size, train=train)
        self.cached = None
        if encoder.cfg.trainable:
            return
        if isinstance(images[0], str | Path):
            self.cached = cached_features(
                encoder, images, cache_dir, device=device, num_workers=num_workers,
                precision=precision,
            )  # fmt: skip
        else:  # images in memory (synthetic scenes): encode them once, no disk cache
            with torch.no_grad(), autocast(precision, torch.device(device)):
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
