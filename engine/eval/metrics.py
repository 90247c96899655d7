"""Metrics as pure numpy functions with the units in their names.

Positions are metres in, millimetres out. Sequences are (T, J, 3) or (..., T, J, 3).
"""

from __future__ import annotations

import numpy as np

from ..rotations import geodesic_angle


def mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error (mm): mean over all leading axes of ||pred - gt||. (..., 3) inputs."""
    return float(np.linalg.norm(np.asarray(pred) - np.asarray(gt), axis=-1).mean() * 1000.0)


def accel_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Acceleration error (mm / frame^2): mean ||(p[t+1] - 2p[t] + p[t-1]) - same for gt|| over
    frames and joints. (T, J, 3) inputs with T >= 3; 0.0 when T < 3."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape[-3] < 3:
        return 0.0
    acc = lambda p: p[..., 2:, :, :] - 2 * p[..., 1:-1, :, :] + p[..., :-2, :, :]  # noqa: E731
    return float(np.linalg.norm(acc(pred) - acc(gt), axis=-1).mean() * 1000.0)


def joint_angle_error_deg(pred_aa: np.ndarray, gt_aa: np.ndarray) -> float:
    """Mean geodesic angle (degrees) between corresponding axis-angle rotations (..., 3)."""
    return float(np.degrees(geodesic_angle(np.asarray(pred_aa, dtype=np.float64),
                                           np.asarray(gt_aa, dtype=np.float64)).mean()))


def codebook_stats(codes: np.ndarray, size: int) -> tuple[float, float]:
    """(usage, perplexity) of integer codes in [0, size): usage is the fraction of the codebook that
    occurs at least once; perplexity is exp(entropy) of the code histogram (size when uniform)."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64).ravel(), minlength=size)
    if counts.sum() == 0:
        return 0.0, 0.0
    p = counts / counts.sum()
    nz = p[p > 0]
    return float((counts > 0).mean()), float(np.exp(-(nz * np.log(nz)).sum()))
