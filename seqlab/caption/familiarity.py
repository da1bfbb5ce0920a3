"""How familiar a photo is to a captioner: the cosine similarity of its encoder features to the
nearest training photo's (seqlab.familiarity.NearestNeighbours), calibrated on validation photos.

    state = fit_familiarity(pred, train_images, val_images)   # plain data for the checkpoint
    ckpt["familiarity"] = state                               # then `seqlab pretrained export`

The shipped captioner carries this state in its packed file, so ``CaptionPredictor`` flags a
photo unlike the Flickr photos it learned from (a lion, a galaxy, a chart) without any dataset
at hand. Only the training and validation photos are used; the test photos report the result.
"""

from __future__ import annotations

import logging

import numpy as np

from seqlab.familiarity import fit_nearest

log = logging.getLogger(__name__)
METHOD = "nearest training photo (cosine, encoder features)"


def pooled_features(pred, images, batch_size: int = 32) -> np.ndarray:
    """(N, D) mean encoder features of the images, as the predictor computes them."""
    out = []
    for s in range(0, len(images), batch_size):
        feats = pred.features(images[s : s + batch_size])  # (B, S, D)
        out.append(feats.mean(1).cpu().numpy())  # (B, D)
        if s // batch_size % 20 == 0:
            log.info("features: %d/%d images", min(s + batch_size, len(images)), len(images))
    return np.concatenate(out)


def fit_from_features(train: np.ndarray, val: np.ndarray, dim: int = 512, k: int = 1) -> dict:
    """The checkpoint's ``familiarity`` entry from training and validation features."""
    return fit_nearest(train, val, METHOD, dim, k)


def fit_familiarity(pred, train_images, val_images, dim: int = 512, k: int = 1) -> dict:
    return fit_from_features(
        pooled_features(pred, train_images), pooled_features(pred, val_images), dim, k
    )
