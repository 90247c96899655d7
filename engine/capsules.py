"""The hand as capsules, for contact and interpenetration: segment-to-segment distances in numpy.

Each finger is three capsules along its bones (MCP->PIP->DIP->tip; thumb CMC->MCP->IP->tip) and the
palm is five capsules from the wrist to each finger's base, all on the 21 joints of
`engine.eval.poses.hand_joints` (metres). Radii (mm) are half the mean adult finger widths at the
proximal phalanx (thumb 20, index 18, middle 18, ring 17, little 15 mm) and half the palm's
thickness (24 mm), so touching skin is at depth 0 and positive depth means the volumes overlap. The
fingertip joints sit on the pad surface, so a distal capsule's axis stops one radius short of the tip:
two pads pressed together (a pinch) touch at depth 0 instead of overlapping fully.
"""

from __future__ import annotations

import numpy as np

from .skeleton import FINGERS

FINGER_RADIUS_MM = {"thumb": 10.0, "index": 9.0, "middle": 9.0, "ring": 8.5, "pinky": 7.5}
PALM_RADIUS_MM = 12.0


def _capsules() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    starts, ends, radii, finger, driver = [], [], [], [], []
    for f, (name, ((j1, j2, j3), tip)) in enumerate(FINGERS.items()):
        for a, b in ((j1, j2), (j2, j3), (j3, tip)):
            starts.append(a), ends.append(b), radii.append(FINGER_RADIUS_MM[name]), finger.append(f)
            driver.append(a)  # the joint whose rotation swings this bone
        starts.append(0), ends.append(j1), radii.append(PALM_RADIUS_MM), finger.append(-1), driver.append(0)
    return tuple(np.array(a) for a in (starts, ends, radii, finger, driver))  # type: ignore[return-value]


# (20,) each: start joint, end joint, radius (mm), finger (0-4 in FINGERS order, -1 palm), driving joint
CAPSULE_START, CAPSULE_END, CAPSULE_RADIUS_MM, CAPSULE_FINGER, CAPSULE_JOINT = _capsules()


def capsule_axes(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Capsule axis end points: joints (T, 21, 3) metres -> start, end (T, 20, 3) metres."""
    start, end = joints[:, CAPSULE_START], joints[:, CAPSULE_END].copy()
    tip = CAPSULE_END >= 16
    bone = end[:, tip] - start[:, tip]
    length = np.linalg.norm(bone, axis=-1, keepdims=True)
    shorten = np.minimum(CAPSULE_RADIUS_MM[tip][:, None] / 1000.0, 0.5 * length)
    end[:, tip] -= bone / np.maximum(length, 1e-9) * shorten
    return start, end


def segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Shortest distance between segments p0-p1 and q0-q1: (..., 3) each -> (...,).
    (Closest points of two segments, Ericson, Real-Time Collision Detection, 5.1.9, vectorised.)"""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
    eps = 1e-12
    a_, e_ = np.maximum(a, eps), np.maximum(e, eps)
    denom = a * e - b * b
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0.0, 1.0), 0.0)
    t = (b * s + f) / e_
    s = np.where(t < 0, np.clip(-c / a_, 0.0, 1.0), np.where(t > 1, np.clip((b - c) / a_, 0.0, 1.0), s))
    t = np.clip(t, 0.0, 1.0)
    # degenerate segments (points)
    s = np.where(a <= eps, 0.0, np.where(e <= eps, np.clip(-c / a_, 0.0, 1.0), s))
    t = np.where(e <= eps, 0.0, np.where(a <= eps, np.clip(f / e_, 0.0, 1.0), t))
    gap = (p0 + s[..., None] * d1) - (q0 + t[..., None] * d2)
    return np.linalg.norm(gap, axis=-1)


def _self_pairs(thumb: bool) -> tuple[np.ndarray, np.ndarray]:
    """Finger capsules of different fingers (palm capsules excluded: fingers rest against the palm)."""
    idx = np.flatnonzero((CAPSULE_FINGER >= 0) & (thumb | (CAPSULE_FINGER != list(FINGERS).index("thumb"))))
    i, j = np.triu_indices(len(idx), k=1)
    keep = CAPSULE_FINGER[idx[i]] != CAPSULE_FINGER[idx[j]]
    return idx[i[keep]], idx[j[keep]]


SELF_PAIRS = _self_pairs(thumb=True)
LONG_FINGER_PAIRS = _self_pairs(thumb=False)


def self_depth_mm(joints: np.ndarray, thumb: bool = True) -> np.ndarray:
    """How deep the capsules of different fingers of one hand overlap: joints (T, 21, 3) metres ->
    (T, 20) mm per capsule (its deepest overlap with another finger; 0 when free). thumb: False
    leaves the thumb's pairs out."""
    i, j = SELF_PAIRS if thumb else LONG_FINGER_PAIRS
    a, b = capsule_axes(joints)
    d = segment_distance(a[:, i], b[:, i], a[:, j], b[:, j]) * 1000.0
    depth = np.maximum(CAPSULE_RADIUS_MM[i] + CAPSULE_RADIUS_MM[j] - d, 0.0)  # (T, pairs)
    out = np.zeros((len(joints), len(CAPSULE_START)))
    np.maximum.at(out.T, i, depth.T)
    np.maximum.at(out.T, j, depth.T)
    return out


def hands_depth_mm(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """How much the two hands' capsules overlap: joints (T, 21, 3) each -> (T, 20, 20) mm of overlap
    depth for every capsule pair (left capsule, right capsule); 0 where they are apart."""
    n = len(CAPSULE_START)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    i, j = i.ravel(), j.ravel()
    la, lb = capsule_axes(left)
    ra, rb = capsule_axes(right)
    d = segment_distance(la[:, i], lb[:, i], ra[:, j], rb[:, j]) * 1000.0
    return np.maximum(CAPSULE_RADIUS_MM[i] + CAPSULE_RADIUS_MM[j] - d, 0.0).reshape(len(left), n, n)
