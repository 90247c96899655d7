"""AMASS-style SMPL-H (and SMPL-X) `.npz`: read the two hands and wrists, write hands-only SMPL-H.

AMASS stores `poses (T, 156)` = 52 joints x axis-angle (SMPL-X: `(T, 165)`), `trans (T, 3)`,
`mocap_framerate`, `betas`, in a Z-up world. Hand joints are stored absolutely (flat hand = 0): AMASS
sequences without hand capture hold MANO's mean pose on every frame, which we detect and mark
invalid. SMPL-H's hand joints (index, middle, pinky, ring, thumb x3) are MANO's order, and the
SMPL-H T-pose is MANO's rest frame, so the wrist's world rotation is MANO's `global_orient`.

Wrist positions need the body's rest joints, which live in the licence-gated body model. Without
it we use `SMPLH_REST_JOINTS`, an approximate mean-shape skeleton (metres, Y up, T-pose), so wrist
trajectories are faithful in shape but can be off by ~1-2 cm in absolute placement.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError, MotionValueError
from ..motion import HandMotion, HandTrack
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..skeleton import MANO_REST_WRIST_RIGHT, SIDES, mirror_points
from .npz_utils import read_fps, read_npz

log = logging.getLogger(__name__)

# Body joints 0..21 (shared by SMPL, SMPL-H and SMPL-X) and their parents.
BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
WRIST = {"left": 20, "right": 21}
# Start of each hand's 45 values in `poses`, per body model width.
HAND_SLICES = {156: {"left": 66, "right": 111}, 165: {"left": 75, "right": 120}}

# Approximate mean-shape rest joints (metres, Y up, body facing +Z), symmetric left/right.
SMPLH_REST_JOINTS = np.array([
    [0.000, -0.230, 0.025],   # 0 pelvis
    [0.060, -0.325, 0.015],   # 1 left hip
    [-0.060, -0.325, 0.015],  # 2 right hip
    [0.000, -0.120, 0.000],   # 3 spine1
    [0.105, -0.705, 0.010],   # 4 left knee
    [-0.105, -0.705, 0.010],  # 5 right knee
    [0.000, 0.015, 0.025],    # 6 spine2
    [0.085, -1.125, -0.030],  # 7 left ankle
    [-0.085, -1.125, -0.030], # 8 right ankle
    [0.000, 0.070, 0.025],    # 9 spine3
    [0.110, -1.180, 0.090],   # 10 left foot
    [-0.110, -1.180, 0.090],  # 11 right foot
    [0.000, 0.280, -0.010],   # 12 neck
    [0.078, 0.190, -0.005],   # 13 left collar
    [-0.078, 0.190, -0.005],  # 14 right collar
    [0.000, 0.350, 0.040],    # 15 head
    [0.175, 0.225, -0.015],   # 16 left shoulder
    [-0.175, 0.225, -0.015],  # 17 right shoulder
    [0.435, 0.215, -0.035],   # 18 left elbow
    [-0.435, 0.215, -0.035],  # 19 right elbow
    [0.695, 0.222, -0.030],   # 20 left wrist
    [-0.695, 0.222, -0.030],  # 21 right wrist
])

# Z-up (AMASS) -> Y-up (ours): -90 degrees about X.
Z_TO_Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def looks_like_amass(keys: set[str]) -> bool:
    return "poses" in keys and ("trans" in keys or "mocap_framerate" in keys or "mocap_frame_rate" in keys)


def _chain(joint: int) -> list[int]:
    out = []
    while joint >= 0:
        out.append(joint)
        joint = BODY_PARENTS[joint]
    return out[::-1]


def _rest_wrist(side: str) -> np.ndarray:
    return MANO_REST_WRIST_RIGHT if side == "right" else mirror_points(MANO_REST_WRIST_RIGHT)


def read_amass(
    path: str | os.PathLike, fps: float | None = None, up: str = "z", hand_mean: dict[str, np.ndarray] | None = None
) -> HandMotion:
    """Both hands and wrists from an AMASS-style npz. `up`: the file's up axis ("z" for AMASS).

    `hand_mean` (side -> (15, 3)) converts hand poses stored relative to MANO's mean pose.
    """
    path = Path(path)
    data = read_npz(path)
    poses = np.asarray(data["poses"], dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] not in HAND_SLICES:
        raise MotionFormatError(f"{path}: 'poses' must be (T, 156) SMPL-H or (T, 165) SMPL-X, got {poses.shape}")
    T = poses.shape[0]
    trans = np.asarray(data.get("trans", np.zeros((T, 3))), dtype=np.float64)
    if trans.shape != (T, 3):
        raise MotionFormatError(f"{path}: 'trans' must be ({T}, 3), got {trans.shape}")
    if not (np.all(np.isfinite(poses)) and np.all(np.isfinite(trans))):
        raise MotionFormatError(f"{path}: 'poses' or 'trans' contains NaN or inf")
    if up not in ("y", "z"):
        raise MotionFormatError(f"up axis must be 'y' or 'z', got {up!r}")
    world = Z_TO_Y if up == "z" else np.eye(3)

    body = axis_angle_to_matrix(poses[:, :66].reshape(T, 22, 3))  # (T, 22, 3, 3)
    G = [None] * 22
    P = [None] * 22
    for j in range(22):
        par = BODY_PARENTS[j]
        if par < 0:
            G[j] = body[:, 0]
            P[j] = SMPLH_REST_JOINTS[0] + trans
        else:
            G[j] = G[par] @ body[:, j]
            P[j] = P[par] + (G[par] @ (SMPLH_REST_JOINTS[j] - SMPLH_REST_JOINTS[par]))
    tracks = {}
    for side in SIDES:
        start = HAND_SLICES[poses.shape[1]][side]
        hand_pose = poses[:, start:start + 45].reshape(T, 15, 3)
        if hand_mean is not None:
            hand_pose = hand_pose + hand_mean[side][None]
        w = WRIST[side]
        orient = matrix_to_axis_angle(world @ G[w])
        wrist_pos = P[w] @ world.T
        valid = np.ones(T, dtype=bool)
        if T > 1 and np.ptp(hand_pose, axis=0).max() < 1e-6:
            log.warning("%s: %s hand pose is constant over the whole clip (no hand capture); marked invalid", path, side)
            valid[:] = False
        try:
            tracks[side] = HandTrack(orient, hand_pose, wrist_pos - _rest_wrist(side), valid=valid)
        except MotionValueError as exc:
            raise MotionFormatError(f"{path}: {exc}") from None
    return HandMotion(fps=read_fps(data, path, fps), **tracks)


def write_amass(motion: HandMotion, path: str | os.PathLike) -> Path:
    """Hands-only SMPL-H npz (Z up): the body at rest, each wrist's local rotation = the hand's
    global orientation, `trans` placing the mean of the wrists where the hands are. The body's
    fixed shoulder width means relative wrist placement is not kept; hand poses are exact."""
    path = Path(path)
    T = motion.n_frames
    poses = np.zeros((T, 156))
    poses[:, 0] = np.pi / 2  # root: +90 degrees about X stands the Y-up body in AMASS's Z-up world
    targets, rests = [], []
    for side, track in motion.hands():
        poses[:, WRIST[side] * 3:WRIST[side] * 3 + 3] = track.global_orient
        start = HAND_SLICES[156][side]
        poses[:, start:start + 45] = track.hand_pose.reshape(T, 45)
        targets.append(track.transl + _rest_wrist(side))
        rests.append(SMPLH_REST_JOINTS[WRIST[side]])
    # In Y-up: wrist = (J_w - J_0) + C (J_0 + trans) with C R_root = I; solve for trans.
    mid_target = np.mean(targets, axis=0)
    mid_rest = np.mean(rests, axis=0)
    trans = (mid_target - mid_rest + SMPLH_REST_JOINTS[0]) @ Z_TO_Y - SMPLH_REST_JOINTS[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, poses=poses, trans=trans, mocap_framerate=np.asarray(motion.fps), betas=np.zeros(16),
        gender=np.asarray("neutral"), surface_model_type=np.asarray("smplh"),
    )
    return path
