"""How familiar a text is to a sentiment classifier: the cosine similarity of its sentence vector
(what the classifier's head reads) to the nearest of the training sentences' vectors
(seqlab.familiarity.NearestNeighbours), calibrated on validation sentences.

A classifier trained on movie reviews still answers "positive" or "negative" for a line of
Shakespeare or a menu message, often with confidence; the nearest-neighbour similarity tells
those apart far better than the confidence does (the model card gives both).

    state = fit_familiarity(predictor, train_texts, val_texts)   # plain data for the checkpoint
"""

from __future__ import annotations

import random

from seqlab.familiarity import fit_nearest
from seqlab.sentiment.batches import predict_with_features

METHOD = "nearest training sentence (cosine, the classifier's sentence vector)"


def fit_familiarity(
    predictor, train_texts: list[str], val_texts: list[str], bank: int = 6000, seed: int = 0
) -> dict:
    """The checkpoint's ``familiarity`` entry: a bank of up to ``bank`` training texts of six
    words or more (SST-2's training rows are mostly short phrases), calibrated on ``val_texts``."""
    texts = [t for t in train_texts if len(t.split()) >= 6]
    random.Random(seed).shuffle(texts)
    train, val = features(predictor, texts[:bank]), features(predictor, val_texts)
    return fit_nearest(train, val, METHOD, dim=min(256, train.shape[1]), k=1)


def features(predictor, texts: list[str]):
    ids = predictor._encode(texts)
    return predict_with_features(predictor.model, ids, predictor.device)[1].numpy()
