"""Network features of DESIGN.md: per hand 99-D, both hands 198-D, and their inverse.

Per hand and frame: 6D global orientation (6) + 15 joints x 6D (90) + transl (3) = 99.
Both hands: [left 99 | right 99] = 198. A missing or invalid hand is written as the flat rest hand
(identity rotations, zero transl) and flagged in the (T, 2) presence mask, so models can mask it.
Normalisation statistics live beside each model's weights (`Normalizer`).
"""

from __future__ import annotations

import numpy as np

from .motion import HandMotion, HandTrack
from .rotations import axis_angle_to_rot6d, rot6d_to_axis_angle
from .skeleton import SIDES

HAND_DIM = 99
MOTION_DIM = 2 * HAND_DIM
ORIENT = slice(0, 6)
POSE = slice(6, 96)
TRANSL = slice(96, 99)


def track_to_features(track: HandTrack) -> np.ndarray:
    """HandTrack -> (T, 99) float32."""
    T = track.n_frames
    rot = np.concatenate([track.global_orient[:, None], track.hand_pose], axis=1)  # (T, 16, 3)
    x6 = axis_angle_to_rot6d(rot).reshape(T, 96)
    return np.concatenate([x6, track.transl], axis=1).astype(np.float32)


def features_to_track(x: np.ndarray) -> HandTrack:
    """(T, 99) -> HandTrack; rotations are projected back to SO(3) by Gram-Schmidt."""
    x = np.asarray(x, dtype=np.float64)
    rot = rot6d_to_axis_angle(x[:, :96].reshape(-1, 16, 6))
    return HandTrack(global_orient=rot[:, 0], hand_pose=rot[:, 1:], transl=x[:, TRANSL])


def motion_to_features(motion: HandMotion) -> tuple[np.ndarray, np.ndarray]:
    """HandMotion -> features (T, 198) float32 and presence mask (T, 2) bool [left, right]."""
    T = motion.n_frames
    feats, mask = [], []
    for side in SIDES:
        track = getattr(motion, side)
        if track is None:
            track = HandTrack.rest(T, valid=False)
        feats.append(track_to_features(track))
        mask.append(track.valid)
    return np.concatenate(feats, axis=1), np.stack(mask, axis=1)


def features_to_motion(x: np.ndarray, fps: float, mask: np.ndarray | None = None) -> HandMotion:
    """(T, 198) features -> HandMotion. `mask` (T, 2): a hand absent on every frame is dropped,
    otherwise its mask becomes the track's `valid`."""
    tracks = {}
    for k, side in enumerate(SIDES):
        present = None if mask is None else np.asarray(mask)[:, k].astype(bool)
        if present is not None and not present.any():
            tracks[side] = None
            continue
        track = features_to_track(x[:, k * HAND_DIM:(k + 1) * HAND_DIM])
        if present is not None:
            track.valid = present
        tracks[side] = track
    return HandMotion(fps=fps, **tracks)


def clip_summary(x: np.ndarray, mean: np.ndarray, std: np.ndarray, fps: float) -> np.ndarray:
    """(2 x 198 + 1,) summary of a (T, 198) clip: mean and std over time of (x - mean) / std, duration (s)."""
    z = (x - mean) / std
    return np.r_[z.mean(0), z.std(0), len(x) / fps].astype(np.float32)
