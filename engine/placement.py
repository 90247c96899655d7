"""Moving a clip into the frame a model was trained in, and back.

Motion captured elsewhere (a Leap Motion take near the origin, a rig facing another way, another
studio's coordinates) is moved rigidly so that its mean wrist position and its mean heading match
a reference (the training data's), and moved back afterwards. The move is a translation plus a
rotation about the vertical (Y) axis only, so "up" is kept; both hands move together, so their
relative placement is kept; finger poses are untouched. `undo(apply(m))` equals `m` to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .motion import HandMotion
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .skeleton import CanonicalHand

_MIRROR = np.diag([-1.0, 1.0, 1.0])


def _rest_wrist(side: str) -> np.ndarray:
    return CanonicalHand(side).rest_joints().numpy()[0].astype(np.float64)


@dataclass
class Placement:
    """world' = R (world - src) + dst for every wrist; orientations R @ G. R (3, 3) is a yaw."""

    R: np.ndarray
    src: np.ndarray
    dst: np.ndarray

    @staticmethod
    def identity() -> "Placement":
        return Placement(np.eye(3), np.zeros(3), np.zeros(3))

    def to_dict(self) -> dict:
        yaw = float(np.degrees(np.arctan2(self.R[0, 2], self.R[0, 0])))
        return {"yaw_deg": round(yaw, 3), "from": self.src.round(6).tolist(), "to": self.dst.round(6).tolist()}

    def _move(self, motion: HandMotion, R: np.ndarray, src: np.ndarray, dst: np.ndarray) -> HandMotion:
        out = motion.slice()
        for side, track in out.hands():
            rest = _rest_wrist(side)
            track.transl = (track.transl + rest - src) @ R.T + dst - rest
            track.global_orient = matrix_to_axis_angle(R @ axis_angle_to_matrix(track.global_orient))
        return out

    def apply(self, motion: HandMotion) -> HandMotion:
        return self._move(motion, self.R, self.src, self.dst)

    def undo(self, motion: HandMotion) -> HandMotion:
        return self._move(motion, self.R.T, self.dst, self.src)


def fit_placement(motion: HandMotion, ref_transl_right: np.ndarray, ref_orient_right: np.ndarray | None) -> Placement:
    """The placement taking `motion` onto a reference given for a right hand in right-hand space:
    mean `transl` (3,) and mean global orientation (3, 3); a left hand is compared with their mirror.

    Translation: the clip's mean wrist (valid frames, hands averaged) goes to the reference mean wrist.
    Yaw: argmax over rotations R about Y of sum tr((R G)^T G_ref), in closed form; none when
    `ref_orient_right` is None.
    """
    src, dst, M = [], [], np.zeros((3, 3))
    for side, track in motion.hands():
        keep = track.valid if track.valid.any() else np.ones(track.n_frames, bool)
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
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return Placement(R, np.mean(src, axis=0), np.mean(dst, axis=0))
