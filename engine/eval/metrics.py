"""Metrics as pure numpy functions with the units in their names.

Positions are metres in, millimetres out. Sequences are (T, J, 3) or (..., T, J, 3).
"""

from __future__ import annotations

import numpy as np

from ..rotations import geodesic_angle, quat_sign_continuous


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


# --- in-betweening (LaFAN1 benchmark definitions) -------------------------------------------------

def quat_continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs (..., T, J, 4) along time so consecutive frames lie in one hemisphere
    (the LaFAN1 code's `remove_quat_discontinuities`)."""
    return quat_sign_continuous(q, axis=-3)


def l2q(pred_quat: np.ndarray, gt_quat: np.ndarray) -> float:
    """L2Q: mean over frames of the L2 norm, over joints and components, of the difference between
    global joint quaternions (..., T, J, 4). q and -q are one rotation, so each predicted quaternion is
    compared with the ground truth's in the sign nearer to it."""
    p, g = np.asarray(pred_quat, np.float64), np.asarray(gt_quat, np.float64)
    sq = np.minimum(((p - g) ** 2).sum(-1), ((p + g) ** 2).sum(-1))  # (..., T, J)
    return float(np.sqrt(sq.sum(-1)).mean())


def l2p(pred: np.ndarray, gt: np.ndarray, mean: np.ndarray | float = 0.0, std: np.ndarray | float = 1.0) -> float:
    """L2P: mean over frames of the L2 norm, over joints and axes, of the difference between global joint
    positions (..., T, J, 3), both normalised by (x - mean) / std (per-axis training statistics)."""
    d = (np.asarray(pred, np.float64) - mean) / std - (np.asarray(gt, np.float64) - mean) / std
    return float(np.sqrt((d**2).sum(axis=(-1, -2))).mean())


def npss(pred: np.ndarray, gt: np.ndarray) -> float:
    """Normalised Power Spectrum Similarity of (B, T, F) or (T, F) feature sequences (LaFAN1: F = joints
    x 4 quaternion components, made continuous with `quat_continuous`): per feature, the L1 distance
    between the cumulative normalised power spectra over time, averaged with weights = each feature's
    share of the ground-truth power."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    gp, pp = np.abs(np.fft.fft(gt, axis=1)) ** 2, np.abs(np.fft.fft(pred, axis=1)) ** 2
    gt_total, pred_total = gp.sum(1), pp.sum(1)  # (B, F)
    weights = gt_total / np.maximum(gt_total.sum(1, keepdims=True), 1e-12)
    cdf_g = np.cumsum(gp / np.maximum(gt_total[:, None], 1e-12), axis=1)
    cdf_p = np.cumsum(pp / np.maximum(pred_total[:, None], 1e-12), axis=1)
    emd = np.abs(cdf_p - cdf_g).sum(1)  # (B, F)
    if weights.sum() == 0:
        return 0.0
    return float(np.average(emd, weights=weights))


def keyframe_error_rad(pred_aa: np.ndarray, gt_aa: np.ndarray, frames: np.ndarray | list[int]) -> float:
    """Largest geodesic angle (radians) between output and key rotations (T, J, 3) at the key frames."""
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size == 0:
        return 0.0
    return float(geodesic_angle(np.asarray(pred_aa, np.float64)[frames], np.asarray(gt_aa, np.float64)[frames]).max())


def jerk(positions: np.ndarray, fps: float) -> float:
    """Mean jerk magnitude (m/s^3): third finite difference of positions (..., T, J, 3) x fps^3, averaged
    over frames and joints; 0.0 when T < 4."""
    p = np.asarray(positions, np.float64)
    if p.shape[-3] < 4:
        return 0.0
    j = p[..., 3:, :, :] - 3 * p[..., 2:-1, :, :] + 3 * p[..., 1:-2, :, :] - p[..., :-3, :, :]
    return float(np.linalg.norm(j, axis=-1).mean() * fps**3)
