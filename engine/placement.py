"""Moving a clip into the frame a model was trained in, and back.

Motion captured elsewhere (a Leap Motion take near the origin, a rig facing another way, another
studio's coordinates) is moved rigidly so that its mean wrist position and its mean heading match
a reference (the training data's), and moved back afterwards; a clip already within the
reference's range is left where it is. The move is a translation plus a
rotation about the vertical (Y) axis only, so "up" is kept; both hands move together, so their
relative placement is kept; finger poses are untouched. `undo(apply(m))` equals `m` to rounding.

A two-hand layout the reference never shows (hands crossed, one far above the other) can still leave
one hand far from where the model has seen hands; `fit_placement` with `ref_spread` then moves
that hand alone, by just enough to bring its mean position within `max_z` reference standard
deviations (per axis). The layout inside that range, and all motion within the clip, is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .motion import HandMotion
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .skeleton import CanonicalHand

_MIRROR = np.diag([-1.0, 1.0, 1.0])


def _frames(track) -> np.ndarray:
    """The frames a placement is fitted on: the valid ones, or all when none is valid."""
    return track.valid if track.valid.any() else np.ones(track.n_frames, bool)


def _rest_wrist(side: str) -> np.ndarray:
    return CanonicalHand(side).rest_joints().numpy()[0].astype(np.float64)


@dataclass
class Placement:
    """world' = R (world - src) + dst + extra[side] for every wrist; orientations R @ G.
    R (3, 3) is a yaw; `extra` holds per-hand shifts (3,) for atypical layouts (usually empty)."""

    R: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @staticmethod
    def identity() -> "Placement":
        return Placement(np.eye(3), np.zeros(3), np.zeros(3))

    def to_dict(self) -> dict:
        yaw = float(np.degrees(np.arctan2(self.R[0, 2], self.R[0, 0])))
        return {"yaw_deg": round(yaw, 3), "from": self.src.round(6).tolist(), "to": self.dst.round(6).tolist(),
                "per_hand": {k: v.round(6).tolist() for k, v in self.extra.items()}}

    def apply(self, motion: HandMotion) -> HandMotion:
        out = motion.slice()
        for side, track in out.hands():
            rest = _rest_wrist(side)
            track.transl = (track.transl + rest - self.src) @ self.R.T + self.dst + self.extra.get(side, 0.0) - rest
            track.global_orient = matrix_to_axis_angle(self.R @ axis_angle_to_matrix(track.global_orient))
        return out

    def undo(self, motion: HandMotion) -> HandMotion:
        out = motion.slice()
        for side, track in out.hands():
            rest = _rest_wrist(side)
            track.transl = (track.transl + rest - self.dst - self.extra.get(side, 0.0)) @ self.R + self.src - rest
            track.global_orient = matrix_to_axis_angle(self.R.T @ axis_angle_to_matrix(track.global_orient))
        return out


def fit_placement(motion: HandMotion, ref_transl_right: np.ndarray, ref_orient_right: np.ndarray | None,
                  ref_spread: np.ndarray | None = None, max_z: float = 2.5, min_yaw_deg: float = 0.0) -> Placement:
    """The placement taking `motion` onto a reference given for a right hand in right-hand space:
    mean `transl` (3,) and mean global orientation (3, 3); a left hand is compared with their mirror.

    Translation: the clip's mean wrist (valid frames, hands averaged) goes to the reference mean wrist.
    Yaw: argmax over rotations R about Y of sum tr((R G)^T G_ref), in closed form; none when
    `ref_orient_right` is None, or when it is smaller than `min_yaw_deg` (a clip already facing
    the reference's way is not turned). `ref_spread` (3,): the reference's per-axis std of `transl`;
    with it the clip is moved only if its mean wrist lies beyond `max_z` of them on some axis (a clip
    already where the reference is stays put), and then a hand whose mean still lies beyond that
    bound is shifted back to it on its own.
    """
    src, dst, M = [], [], np.zeros((3, 3))
    for side, track in motion.hands():
        keep = _frames(track)
        rest = _rest_wrist(side)
        ref_t, ref_G = ref_transl_right, ref_orient_right
        if side == "left":
            ref_t = ref_transl_right * np.array([-1.0, 1.0, 1.0])
            ref_G = None if ref_orient_right is None else _MIRROR @ ref_orient_right @ _MIRROR
        src.append((track.transl[keep] + rest).mean(axis=0))
        dst.append(ref_t + rest)
        if ref_G is not None:
            M += ref_G @ axis_angle_to_matrix(track.global_orient[keep]).sum(axis=0).T
    if not src:
        return Placement.identity()
    theta = np.arctan2(M[0, 2] - M[2, 0], M[0, 0] + M[2, 2])
    if abs(np.degrees(theta)) < min_yaw_deg:
        theta = 0.0
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    src_mean, dst_mean = np.mean(src, axis=0), np.mean(dst, axis=0)
    if ref_spread is not None and np.all(np.abs(src_mean - dst_mean) <= max_z * np.asarray(ref_spread)):
        dst_mean = src_mean  # already where the reference's hands are: turn in place, if at all
    placement = Placement(R, src_mean, dst_mean)
    if ref_spread is not None:
        placed = placement.apply(motion)
        for side, track in placed.hands():
            keep = _frames(track)
            ref_t = ref_transl_right * (np.array([-1.0, 1.0, 1.0]) if side == "left" else 1.0)
            off = track.transl[keep].mean(axis=0) - ref_t
            bound = max_z * np.asarray(ref_spread, dtype=np.float64)
            excess = off - np.clip(off, -bound, bound)
            if np.any(excess != 0):
                placement.extra[side] = -excess
    return placement
