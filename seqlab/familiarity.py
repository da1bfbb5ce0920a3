"""Familiarity: how much an input looks like what a model learned from, as a calibrated score and
a yes/no ``in_domain``, so a demo can say "this is unlike anything I was trained on".

A detector gives each input a raw score, higher for more familiar input. ``Calibration`` turns raw
scores into a percentile among the validation inputs (never the test inputs): ``score`` 0.30 means
30% of the validation inputs looked less familiar. An input is ``in_domain`` when its raw score
reaches the validation quantile at ``flag_rate`` (5%): by construction about 5% of validation
inputs are flagged, and the test split shows how that holds up on unseen in-domain data.

Detectors here, all computed from the model and its training data alone:
  - ``NearestNeighbours``: the cosine similarity of a feature vector to its nearest training
    feature vectors (deep k-nearest neighbours, Sun et al. 2022);
  - ``GaussianDensity``: the Mahalanobis distance of a feature vector to the training features
    (Lee et al. 2018), with a shared covariance kept as its top principal directions plus one
    variance for the rest (so a 1280-d encoder needs a few hundred KB, not a 1280x1280 matrix);
  - ``max_softmax``: the maximum softmax probability baseline (Hendrycks and Gimpel 2017);
  - ``ZScores``: several raw signals (for a translator: the best hypothesis's per-token
    log-probability, Malinin and Gales 2021; the source's likelihood under the subword model)
    standardised on validation data and averaged.

    cal = Calibration.fit(val_raw, method="mahalanobis")
    cal(raw)            # Familiarity(score=0.42, in_domain=True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

FLAG_RATE = 0.05  # the share of validation inputs flagged as unfamiliar
QUANTILES = 201  # points of the validation distribution kept for the percentile


@dataclass(frozen=True)
class Familiarity:
    """How familiar one input is to a model: ``score``, the share (0..1) of validation inputs that
    look less familiar, and ``in_domain``, False for the ``flag_rate`` least familiar."""

    score: float  # share of validation inputs less familiar than this one, 0..1
    in_domain: bool  # False: the model has seen little like it; treat its output as a guess

    def to_dict(self) -> dict:
        """{"score": rounded to 4 decimals, "in_domain": bool}: what ``--json`` outputs carry."""
        return {"score": round(self.score, 4), "in_domain": self.in_domain}

    @property
    def percent(self) -> str:
        """The score as every page and CLI line shows it: whole percent ("42%"), one decimal
        below 1% ("0.1%"), so that a warning and a status line beside it never disagree."""
        p = 100 * self.score
        return f"{p:.0f}%" if round(p) >= 1 else f"{p:.1f}%"


def familiarity_json(f: Familiarity | None) -> dict | None:
    """What ``--json`` outputs carry: {"score", "in_domain"}, or null for an uncalibrated model."""
    return None if f is None else f.to_dict()


def unfamiliar_note(what: str, output: str, domain: str, f: Familiarity) -> str:
    """The sentence a CLI or a page shows beside an output the model is guessing, e.g.
    ``unfamiliar_note("photo", "the caption", "6,000 Flickr photos (...)", f)``."""
    return (
        f"this {what} is unlike the {domain} this model learned from (only "
        f"{f.percent} of its validation {what}s look less familiar); {output} is a guess"
    )


@dataclass(frozen=True)
class Calibration:
    """Raw detector scores -> ``Familiarity``, from the validation inputs' raw scores."""

    method: str
    quantiles: tuple[float, ...]  # the validation raw scores at QUANTILES even steps, ascending
    threshold: float  # raw score below which an input is flagged
    flag_rate: float = FLAG_RATE

    @classmethod
    def fit(cls, val_raw, method: str, flag_rate: float = FLAG_RATE) -> Calibration:
        """Fit on the validation inputs' raw scores ``val_raw`` (N,); ``method`` names the
        detector (kept for the record); ``flag_rate``: the share of them to flag."""
        val_raw = np.asarray(val_raw, dtype=np.float64)
        qs = np.quantile(val_raw, np.linspace(0, 1, QUANTILES))
        threshold = float(np.quantile(val_raw, flag_rate))
        return cls(method, tuple(float(q) for q in qs), threshold, flag_rate)

    def __call__(self, raw: float) -> Familiarity:
        score = float(np.interp(raw, self.quantiles, np.linspace(0, 1, len(self.quantiles))))
        return Familiarity(score, bool(raw >= self.threshold))

    def to_dict(self) -> dict:
        """Plain data for a checkpoint (``from_dict`` reads it back)."""
        return {
            "method": self.method,
            "quantiles": list(self.quantiles),
            "threshold": self.threshold,
            "flag_rate": self.flag_rate,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """The calibration ``to_dict`` wrote."""
        return cls(d["method"], tuple(d["quantiles"]), float(d["threshold"]), d["flag_rate"])


class NearestNeighbours:
    """Cosine similarity to the k-th nearest training feature vector (Sun et al. 2022), after a
    projection onto the training features' top ``dim`` principal directions; the bank of
    training vectors is kept in int8 with one scale per row (seqlab.packing's scheme), so 6,000
    images of 1280-d features cost about 3 MB."""

    def __init__(self, projection, bank, bank_scale, k: int = 1):
        self.projection = torch.as_tensor(projection, dtype=torch.float32)  # (D, d)
        self.bank = torch.as_tensor(bank)  # (N, d) int8, rows of unit length once scaled
        self.bank_scale = torch.as_tensor(bank_scale, dtype=torch.float32)  # (N,)
        self.k = int(k)
        self._unit_bank = self.bank.float() * self.bank_scale[:, None]  # (N, d), once

    @classmethod
    def fit(cls, x, dim: int = 512, k: int = 1) -> NearestNeighbours:
        """Fit on the training features ``x`` (N, D): their top ``dim`` principal directions and
        the bank of projected unit vectors (N, dim) in int8; ``k``: which neighbour scores."""
        from seqlab.packing import quantize_rows

        x = torch.as_tensor(x, dtype=torch.float64)  # (N, D)
        _, _, vt = torch.linalg.svd(x - x.mean(0), full_matrices=False)
        # fp16: how the projection travels in a packed model file; fit with what is stored
        projection = vt[:dim].T.float().half().float()  # (D, d)
        q, scale = quantize_rows(cls._embed(x.float(), projection))
        return cls(projection, q, scale.half().float(), k)

    @staticmethod
    def _embed(x: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x @ projection, dim=1)  # (N, d), unit rows

    @torch.no_grad()
    def raw(self, x) -> np.ndarray:
        """(N, D) features -> (N,) cosine similarity to the k-th nearest training vector."""
        x = torch.as_tensor(x, dtype=torch.float32).cpu()  # the bank lives on the CPU
        e = self._embed(x, self.projection)  # (N, d)
        sim = e @ self._unit_bank.T  # (N, N_train)
        return sim.topk(self.k, dim=1).values[:, -1].numpy()

    def state(self) -> dict:
        """The tensors to store: projection (D, d), bank (N, d) int8, bank_scale (N,), and k."""
        return {
            "projection": self.projection,
            "bank": self.bank,
            "bank_scale": self.bank_scale,
            "k": self.k,
        }

    @classmethod
    def from_state(cls, d: dict) -> NearestNeighbours:
        """The detector ``state`` stored."""
        return cls(d["projection"], d["bank"], d["bank_scale"], d["k"])


def fit_nearest(train, val, method: str, dim: int, k: int = 1) -> dict:
    """A checkpoint's ``familiarity`` entry for feature vectors: a NearestNeighbours detector
    fitted on the training features ``train`` (N, D), calibrated on the validation features
    ``val`` (M, D). Returns {"detector": its state, "calibration": the calibration's dict}."""
    detector = NearestNeighbours.fit(train, dim=dim, k=k)
    calibration = Calibration.fit(detector.raw(val), method)
    return {"detector": detector.state(), "calibration": calibration.to_dict()}


class FeatureFamiliarity:
    """A stored ``fit_nearest`` entry as a callable: (N, D) features -> a Familiarity each
    (a list of N)."""

    def __init__(self, state: dict):
        self.detector = NearestNeighbours.from_state(state["detector"])
        self.calibration = Calibration.from_dict(state["calibration"])

    def __call__(self, feats) -> list[Familiarity]:
        return [self.calibration(float(r)) for r in self.detector.raw(feats)]


class GaussianDensity:
    """One Gaussian over training feature vectors; ``raw(x)`` is minus half the squared
    Mahalanobis distance. The covariance is kept as its top ``k`` principal directions and one
    variance for the residual (probabilistic PCA, Tipping and Bishop 1999)."""

    def __init__(self, mean, components, variances, residual_variance: float):
        self.mean = torch.as_tensor(mean, dtype=torch.float32)  # (D,)
        self.components = torch.as_tensor(components, dtype=torch.float32)  # (k, D), orthonormal
        self.variances = torch.as_tensor(variances, dtype=torch.float32)  # (k,)
        self.residual_variance = float(residual_variance)

    @classmethod
    def fit(cls, x, k: int = 128) -> GaussianDensity:
        """Fit on the training features ``x`` (N, D): their mean (D,), top ``k`` principal
        directions (k, D) with their variances (k,), and the residual variance."""
        x = torch.as_tensor(x, dtype=torch.float64)  # (N, D)
        mean = x.mean(0)
        centred = x - mean
        _, s, vt = torch.linalg.svd(centred, full_matrices=False)
        var = s**2 / (len(x) - 1)  # (min(N, D),) variances along the principal directions
        rest = var[k:].mean() if len(var) > k else var[-1]
        # fp16 is how the stats travel in a packed model file: fit with what will be stored
        half = lambda t: t.to(torch.float16).float()  # noqa: E731
        return cls(half(mean), half(vt[:k]), var[:k].float(), float(rest))

    @torch.no_grad()
    def raw(self, x) -> np.ndarray:
        """(N, D) features -> (N,) raw familiarity (higher: closer to the training features)."""
        d = torch.as_tensor(x, dtype=torch.float32).cpu() - self.mean  # (N, D)
        proj = d @ self.components.T  # (N, k)
        resid = (d * d).sum(1) - (proj * proj).sum(1)  # (N,) squared norm off the top-k space
        m2 = (proj**2 / self.variances).sum(1) + resid.clamp(min=0) / self.residual_variance
        return (-0.5 * m2).numpy()

    def state(self) -> dict:
        """The tensors to store: mean (D,), components (k, D), variances (k,), the residual."""
        return {
            "mean": self.mean,
            "components": self.components,
            "variances": self.variances,
            "residual_variance": self.residual_variance,
        }

    @classmethod
    def from_state(cls, d: dict) -> GaussianDensity:
        """The density ``state`` stored."""
        return cls(d["mean"], d["components"], d["variances"], d["residual_variance"])


@dataclass(frozen=True)
class ZScores:
    """Average of signals standardised on validation data; each signal oriented so that higher
    is more familiar before it comes here."""

    names: tuple[str, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    @classmethod
    def fit(cls, names, val_signals) -> ZScores:
        """Fit on the validation inputs' signals (N, K), one column per name in ``names``: each
        column's mean and standard deviation."""
        v = np.asarray(val_signals, dtype=np.float64)  # (N, K)
        return cls(tuple(names), tuple(v.mean(0).tolist()), tuple((v.std(0) + 1e-9).tolist()))

    def raw(self, signals) -> np.ndarray:
        """(N, K) signals (or one row of K) -> (N,) mean z-score (higher: more familiar)."""
        s = np.asarray(signals, dtype=np.float64).reshape(-1, len(self.names))  # (N, K)
        return ((s - np.array(self.means)) / np.array(self.stds)).mean(1)

    def to_dict(self) -> dict:
        """Plain data for a checkpoint (``from_dict`` reads it back)."""
        return {"names": list(self.names), "means": list(self.means), "stds": list(self.stds)}

    @classmethod
    def from_dict(cls, d: dict) -> ZScores:
        """The standardisation ``to_dict`` wrote."""
        return cls(tuple(d["names"]), tuple(d["means"]), tuple(d["stds"]))


def max_softmax(logits) -> np.ndarray:
    """The maximum softmax probability (Hendrycks and Gimpel 2017): (N, C) logits -> (N,)."""
    return torch.as_tensor(logits, dtype=torch.float32).softmax(-1).amax(-1).numpy()


def auroc(familiar, unfamiliar) -> float:
    """The chance that a random in-domain input scores above a random out-of-domain one (ties
    count half): the area under the ROC curve of the raw score as an in-domain detector.

    Takes the raw scores of the ``familiar`` (N,) and ``unfamiliar`` (M,) inputs; returns 0..1."""
    a = np.asarray(familiar, dtype=np.float64)
    b = np.asarray(unfamiliar, dtype=np.float64)
    both = np.concatenate([a, b])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for v in np.unique(both):  # average ranks over ties
        tie = both == v
        ranks[tie] = ranks[tie].mean()
    return float((ranks[: len(a)].sum() - len(a) * (len(a) + 1) / 2) / (len(a) * len(b)))
