"""HandX-style contact agreement: which hand contacts happen in a clip, frame by frame, and the
precision / recall / F1 of a prediction's contacts against the ground truth's.

Channels per frame: for each hand, thumb tip to each other fingertip closer than THUMB_TIP_M (4 x 2);
for each hand, each fingertip to the other hand's palm surface closer than TIP_PALM_M (5 x 2).
"""

from __future__ import annotations

import numpy as np

from ..caption.features import palm_surface
from ..motion import HandMotion
from ..skeleton import SIDES
from .poses import hand_joints

THUMB_TIP_M = 0.020
TIP_PALM_M = 0.025
TIPS = {"thumb": 16, "index": 17, "middle": 18, "ring": 19, "pinky": 20}
OTHER_TIPS = ("index", "middle", "ring", "pinky")


def contact_channels(joints: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 18) bool contacts from world joints {side: (T, 21, 3)} (a missing hand has no contacts)."""
    t = len(next(iter(joints.values())))
    out = np.zeros((t, 18), dtype=bool)
    for s, side in enumerate(SIDES):
        J = joints.get(side)
        if J is None:
            continue
        thumb = J[:, TIPS["thumb"]]
        for k, f in enumerate(OTHER_TIPS):
            out[:, 4 * s + k] = np.linalg.norm(J[:, TIPS[f]] - thumb, axis=-1) < THUMB_TIP_M
        other = "left" if side == "right" else "right"
        if other in joints:
            palm, _ = palm_surface(joints[other], other)
            for k, f in enumerate(TIPS):
                out[:, 8 + 5 * s + k] = np.linalg.norm(J[:, TIPS[f]] - palm, axis=-1) < TIP_PALM_M
    return out


def motion_contacts(motion: HandMotion) -> np.ndarray:
    """(T, 18) bool contacts of a motion (canonical hand shape per side)."""
    return contact_channels(hand_joints(motion))


def contact_prf(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of predicted contact channels against ground truth, pooled over frames and
    channels (same shape bool arrays). With no contacts on either side all three are 1.0; with contacts
    on one side only, the undefined ratio is 0.0."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    tp, fp, fn = int((pred & gt).sum()), int((pred & ~gt).sum()), int((~pred & gt).sum())
    if tp + fp + fn == 0:
        return 1.0, 1.0, 1.0
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
