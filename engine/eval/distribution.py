"""Text-motion metrics in an embedding space (T2M / HandX / CLUTCH protocol), pure numpy.

Embeddings are (N, D) arrays; row i of a text array and row i of a motion array are a pair. Distances
are Euclidean. Random choices take an explicit `seed`, so every number is reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between rows of a (N, D) and b (M, D)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def r_precision(text: np.ndarray, motion: np.ndarray, pool: int = 32, top_k: int = 3) -> np.ndarray:
    """R-Precision top-1..top_k: for each motion, is its own text among the k nearest of the `pool`
    texts of its group? Rows are taken in consecutive groups of `pool` (shuffle beforehand); a last
    group smaller than `pool` is dropped unless it is the only one. Returns (top_k,) fractions."""
    text, motion = np.asarray(text), np.asarray(motion)
    n = len(text)
    if n == 0 or len(motion) != n:
        raise ValueError("r_precision needs the same, non-zero number of texts and motions")
    groups = [(s, s + pool) for s in range(0, n - pool + 1, pool)] or [(0, n)]
    hits, count = np.zeros(top_k), 0
    for a, b in groups:
        d = _pairwise(motion[a:b], text[a:b])  # (g, g): motion i to text j
        rank = (d < np.diag(d)[:, None]).sum(1)  # texts strictly nearer than the true one
        hits += np.array([(rank < k).sum() for k in range(1, top_k + 1)])
        count += b - a
    return hits / count


def mm_dist(text: np.ndarray, motion: np.ndarray) -> float:
    """Multimodal distance: mean distance between each text and its paired motion."""
    return float(np.linalg.norm(np.asarray(text, np.float64) - np.asarray(motion, np.float64), axis=1).mean())


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of rows of x (N, D)."""
    x = np.asarray(x, np.float64)
    return x.mean(0), np.cov(x, rowvar=False)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to a (N, D) and b (M, D):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the reference code does
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    return max(0.0, float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)))


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic kernel k(x, y) = (x.y / D + 1)^3,
    averaged over random subsets of min(subset_size, N, M) rows. Returns (mean, std over subsets)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("kid needs at least 2 rows on each side")
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        scores.append(sxx + syy - 2 * kxy.mean())
    return float(np.mean(scores)), float(np.std(scores))


def diversity(x: np.ndarray, times: int = 300, seed: int = 0) -> float:
    """Mean distance between `times` random pairs of rows (T2M's Diversity; times = min(times, N))."""
    x = np.asarray(x, np.float64)
    times = min(times, len(x))
    rng = np.random.default_rng(seed)
    i, j = rng.choice(len(x), times, replace=False), rng.choice(len(x), times, replace=False)
    return float(np.linalg.norm(x[i] - x[j], axis=1).mean())


def multimodality(x: np.ndarray, times: int = 10, seed: int = 0) -> float:
    """Mean distance between random pairs of samples generated from the same text. x (M, K, D): M texts,
    K samples each; `times` = min(times, K) pairs per text (T2M's MultiModality)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError("multimodality needs (texts, samples >= 2, dim) embeddings")
    times = min(times, x.shape[1])
    rng = np.random.default_rng(seed)
    i, j = rng.choice(x.shape[1], times, replace=False), rng.choice(x.shape[1], times, replace=False)
    return float(np.linalg.norm(x[:, i] - x[:, j], axis=-1).mean())
