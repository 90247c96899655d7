"""The corruption suite: known defects injected into clean clips, so a repair can be scored against the
clean original.

Kinds (each `Defect` records the hand, the frames [start, end) and the joint, 0 = wrist):
- "limit": a finger joint bent far past its range of motion (flexion 50-90 deg beyond the limit in
  `corpus.anatomy.JOINT_LIMITS`, either way) for 5-15 frames;
- "spike": one joint (wrist included) thrown by a random 60-120 deg rotation for 1-2 frames;
- "flip": the wrist orientation turned 180 deg about a random axis for 3-8 frames (a mocap flip);
- "dropout": the hand lost for 5-20 frames (`valid` false, pose and position zeroed as trackers write);
- "interpenetration": one hand moved into the other for 8-20 frames, its wrist put on the other
  wrist (+ a fixed offset of ~1 cm) in world space (needs both hands).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..corpus.anatomy import JOINT_LIMITS, angles_to_pose, pose_to_angles
from ..motion import HandMotion, HandTrack
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..skeleton import get_hand_model

KINDS = ("limit", "spike", "flip", "dropout", "interpenetration")


@dataclass
class Defect:
    kind: str
    side: str
    start: int
    end: int
    joint: int  # 0 = wrist (global orientation), 1-15 = MANO finger joints

    def to_dict(self) -> dict:
        return asdict(self)


def _random_rotation(rng: np.random.Generator, lo_deg: float, hi_deg: float) -> np.ndarray:
    axis = rng.normal(size=3)
    return axis / np.linalg.norm(axis) * np.radians(rng.uniform(lo_deg, hi_deg))


def _interval(rng: np.random.Generator, n_frames: int, lo: int, hi: int) -> tuple[int, int]:
    length = int(min(rng.integers(lo, hi + 1), n_frames))
    start = int(rng.integers(0, n_frames - length + 1))
    return start, start + length


def _copy(track: HandTrack) -> dict:
    return {"global_orient": track.global_orient.copy(), "hand_pose": track.hand_pose.copy(),
            "transl": track.transl.copy(), "betas": track.betas, "valid": track.valid.copy()}


def inject(motion: HandMotion, kind: str, rng: np.random.Generator) -> tuple[HandMotion, Defect]:
    """One defect of `kind` in a copy of `motion`."""
    if kind not in KINDS:
        raise ValueError(f"corruption kind must be one of {', '.join(KINDS)}, not {kind!r}")
    sides = motion.sides
    if kind == "interpenetration" and len(sides) < 2:
        raise ValueError("interpenetration needs both hands")
    side = sides[int(rng.integers(len(sides)))]
    tracks = {s: _copy(t) for s, t in motion.hands()}
    t = tracks[side]
    n = motion.n_frames
    if kind == "limit":
        a, b = _interval(rng, n, 5, 15)
        joint = int(rng.integers(1, 16))
        angles = pose_to_angles(t["hand_pose"][a:b], side)  # (L, 15, 3) flex, abduct, twist
        lo, hi = JOINT_LIMITS[joint - 1, 0]
        beyond = np.radians(rng.uniform(50, 90))
        angles[:, joint - 1, 0] = hi + beyond if rng.random() < 0.5 else lo - beyond
        t["hand_pose"][a:b] = angles_to_pose(angles, side)
    elif kind == "spike":
        a, b = _interval(rng, n, 1, 2)
        joint = int(rng.integers(0, 16))
        rot = axis_angle_to_matrix(_random_rotation(rng, 60, 120))
        target = t["global_orient"] if joint == 0 else t["hand_pose"][:, joint - 1]
        target[a:b] = matrix_to_axis_angle(axis_angle_to_matrix(target[a:b]) @ rot)
    elif kind == "flip":
        a, b = _interval(rng, n, 3, 8)
        joint = 0
        axis = rng.normal(size=3)
        rot = axis_angle_to_matrix(axis / np.linalg.norm(axis) * np.pi)
        t["global_orient"][a:b] = matrix_to_axis_angle(axis_angle_to_matrix(t["global_orient"][a:b]) @ rot)
    elif kind == "dropout":
        a, b = _interval(rng, n, 5, 20)
        joint = 0
        t["global_orient"][a:b], t["hand_pose"][a:b], t["transl"][a:b] = 0.0, 0.0, 0.0
        t["valid"][a:b] = False
    else:
        a, b = _interval(rng, n, 8, 20)
        joint = 0
        other = "left" if side == "right" else "right"
        wrist = {s: get_hand_model(s).joints_np(tr.global_orient[a:b], tr.hand_pose[a:b], tr.transl[a:b])[:, 0]
                 for s, tr in motion.hands()}  # world wrists; the two hands' rest wrists differ
        t["transl"][a:b] += wrist[other] - wrist[side] + rng.normal(0, 0.006, 3)
    out = HandMotion(fps=motion.fps, **{s: HandTrack(**v) for s, v in tracks.items()})
    return out, Defect(kind, side, a, b, joint)


def corrupt(motion: HandMotion, rng: np.random.Generator, kinds: tuple[str, ...] = KINDS) -> tuple[HandMotion, list[Defect]]:
    """One defect of each applicable kind, at random places (they may overlap, as real glitches do)."""
    defects = []
    for kind in kinds:
        if kind == "interpenetration" and len(motion.sides) < 2:
            continue
        motion, d = inject(motion, kind, rng)
        defects.append(d)
    return motion, defects
