"""Sample-quality and VAE metrics as pure functions of features, probabilities or tensors.

No models live here: callers run a classifier or a VAE and pass its outputs. Inputs may be numpy
arrays or torch tensors (any device); everything is computed in float64 numpy and returned as
Python floats or numpy arrays.
"""
from __future__ import annotations

import numpy as np


def _np(x) -> np.ndarray:
    """numpy float64 copy of an array or tensor (detached, on CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _per_item(x: np.ndarray) -> np.ndarray:
    """``[N, ...]`` -> ``[N, prod(...)]``."""
    return x.reshape(len(x), -1)


def gaussian_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (ddof 1) of features ``[N, D]``, N >= 2."""
    feats = _np(feats)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"features must be [N, D] with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative eigenvalues clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    """``|mu_a - mu_b|^2 + tr(Sa) + tr(Sb) - 2 tr(sqrt(Sa Sb))``, never negative.

    ``tr(sqrt(Sa Sb))`` equals the sum of square roots of the eigenvalues of the symmetric PSD
    matrix ``sqrt(Sa) Sb sqrt(Sa)``, which ``eigh`` handles stably (no complex ``sqrtm`` residue).
    """
    mu_a, cov_a, mu_b, cov_b = (_np(v) for v in (mu_a, cov_a, mu_b, cov_b))
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_covmean
    return float(max(value, 0.0))


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance (FID formula) between Gaussians fitted to features ``[N, D]`` and ``[M, D]``."""
    return frechet_distance_from_stats(*gaussian_stats(feats_a), *gaussian_stats(feats_b))


def _check_probs(probs) -> np.ndarray:
    probs = _np(probs)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probabilities must be [N, K] with N >= 1, got shape {probs.shape}")
    return probs


def inception_score(probs, splits: int = 10, eps: float = 1e-12) -> tuple[float, float]:
    """IS-style score ``exp(E_x KL(p(y|x) || p(y)))`` of class probabilities ``[N, K]``.

    Computed on ``splits`` consecutive chunks; returns (mean, std) over chunks. In [1, K]:
    K for confident predictions spread evenly over K classes, 1 when all rows are equal.
    """
    probs = _check_probs(probs)
    scores = []
    for part in np.array_split(probs, min(splits, len(probs))):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(marginal + eps))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_coverage(probs) -> np.ndarray:
    """Share of samples whose argmax is each class: ``[K]``, sums to 1."""
    probs = _check_probs(probs)
    counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    return counts / counts.sum()


def mean_confidence(probs) -> float:
    """Mean top-1 probability of ``[N, K]`` probabilities, in [1/K, 1]."""
    return float(_check_probs(probs).max(axis=1).mean())


def active_units(mu, threshold: float = 0.01) -> tuple[int, np.ndarray]:
    """Active latent units (Burda et al. 2016): dims whose ``Var_x(E[z|x]) > threshold``.

    mu: encoder means ``[N, Z]`` over a dataset. Returns (count, variances ``[Z]``, ddof 0).
    """
    mu = _np(mu)
    if mu.ndim != 2:
        raise ValueError(f"mu must be [N, Z], got shape {mu.shape}")
    variances = mu.var(axis=0)
    return int((variances > threshold).sum()), variances


def _kl_terms(mu, logvar) -> np.ndarray:
    """Elementwise ``KL(N(mu, exp(logvar)) || N(0, 1))`` in nats, shape of mu."""
    mu, logvar = _np(mu), _np(logvar)
    return 0.5 * (mu ** 2 + np.exp(logvar) - 1.0 - logvar)


def gaussian_kl_per_dim(mu, logvar) -> np.ndarray:
    """Mean over the batch of each latent dim's KL to N(0, 1): ``[Z]`` nats (orders VAE dims)."""
    return _kl_terms(mu, logvar).mean(axis=0)


def gaussian_kl(mu, logvar) -> np.ndarray:
    """KL of each item's posterior to N(0, I), summed over latent dims: ``[N]`` nats."""
    return _per_item(_kl_terms(mu, logvar)).sum(axis=1)


def bernoulli_nll(x, p, eps: float = 1e-6) -> np.ndarray:
    """``-log p(x)`` under independent Bernoullis, summed per image: ``[N]`` nats.

    x: targets ``[N, ...]`` in [0, 1]; p: decoder probabilities, same shape, clamped to
    ``[eps, 1 - eps]`` so a saturated pixel costs at most ``-log(eps)``.
    """
    x, p = _np(x), np.clip(_np(p), eps, 1.0 - eps)
    if x.shape != p.shape:
        raise ValueError(f"x and p shapes differ: {x.shape} vs {p.shape}")
    return -_per_item(x * np.log(p) + (1.0 - x) * np.log1p(-p)).sum(axis=1)


def gaussian_nll(x, mean, sigma: float = 1.0) -> np.ndarray:
    """``-log N(x; mean, sigma^2 I)`` summed per image: ``[N]`` nats (sigma fixed, > 0)."""
    x, mean = _np(x), _np(mean)
    if x.shape != mean.shape or sigma <= 0:
        raise ValueError(f"need equal shapes and sigma > 0, got {x.shape}, {mean.shape}, sigma={sigma}")
    z = (x - mean) / sigma
    return _per_item(0.5 * z ** 2 + np.log(sigma) + 0.5 * np.log(2 * np.pi)).sum(axis=1)


def reconstruction_mse(x, y) -> np.ndarray:
    """Mean squared error per image: ``[N]``, in squared units of the inputs' value range."""
    x, y = _np(x), _np(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y shapes differ: {x.shape} vs {y.shape}")
    return _per_item((x - y) ** 2).mean(axis=1)


def code_extent(codes, lo_pct: float = 1.0, hi_pct: float = 99.0) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the ``lo_pct``-``hi_pct`` percentile box of 2-D codes ``[N, 2]`` per axis.

    Percentiles, not min/max, so a few outlying codes do not stretch the plane the holes are measured on.
    """
    codes = _np(codes)
    if codes.ndim != 2 or codes.shape[1] != 2 or len(codes) < 2:
        raise ValueError(f"codes must be [N, 2] with N >= 2, got shape {codes.shape}")
    (x0, y0), (x1, y1) = np.percentile(codes, [lo_pct, hi_pct], axis=0)
    return float(x0), float(x1), float(y0), float(y1)


def plane_grid(extent, grid: int) -> np.ndarray:
    """Latents ``[grid * grid, 2]`` over ``extent`` (x0, x1, y0, y1), both ends included, row-major in the
    manifold view's orientation: row 0 is the top (largest z[1]), column 0 the smallest z[0]."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    if grid < 2 or not (x1 > x0 and y1 > y0):
        raise ValueError(f"need grid >= 2 and a non-empty extent, got grid={grid}, extent={extent}")
    ys, xs = np.meshgrid(np.linspace(y1, y0, grid), np.linspace(x0, x1, grid), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def holes_share(confidence, threshold: float = 0.5) -> float:
    """Share of cells whose top-1 classifier confidence is below ``threshold``: the "holes" of a 2-D plane."""
    confidence = _np(confidence)
    if confidence.size == 0:
        raise ValueError("no confidences")
    return float((confidence < threshold).mean())
