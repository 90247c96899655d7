"""Rest-pose calibration: the MANO pose whose bones point where a rig's rest bones point.

MANO's world is Y-up; Blender's is Z-up. A +90 degree turn about X (`Y_UP_TO_Z_UP`) takes one to the
other: MANO's up (+Y) becomes Blender's up (+Z) and the front of a MANO body (+Z) becomes Blender's
front (-Y), so a right hand at rest (fingers -X, palm down) is a right hand in Blender's T-pose.
The armature object's rotation then takes Blender's world to the armature's own space.

Calibration, per hand (all in MANO's world):
1. the wrist: the rotation taking MANO's palm frame to the rig's, each built from the wrist and the
   index and pinky knuckles (along the palm, across it, its normal), so the rig's hand orientation
   at rest is a MANO `global_orient`;
2. each finger joint j, parents first: the smallest rotation that turns MANO's rest bone j (joint ->
   next joint, or -> fingertip) onto the rig's rest bone (its head -> the next mapped bone's head, or
   its +Y axis for a last segment), applied after the parent's. Curled, splayed or flat rest fingers
   all become a MANO pose, and the twist that follows from the chain carries the anatomical axes.
The result, G_c (16, 3, 3) world rotations, is the MANO pose at which the rig shows its rest pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MotionFormatError
from ..motion import HandMotion, HandTrack
from ..rotations import matrix_to_axis_angle, minimal_rotation
from ..skeleton import FINGERS, PARENTS_16, SIDES, CanonicalHand
from .presets import BoneMap
from .rig import Rig

Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90 degrees about X

_CHILD = {j: next((c for c in range(16) if PARENTS_16[c] == j), None) for j in range(16)}
_TIP_OF = {joints[-1]: tip for joints, tip in FINGERS.values()}  # last joint -> 21-joint tip index


def mano_rest_bones(side: str) -> tuple[np.ndarray, np.ndarray]:
    """MANO rest joints (16, 3) and unit bone directions (16, 3) (row j: joint j -> its child or
    fingertip; row 0, the wrist, is zero) of the canonical skeleton, in MANO's Y-up world."""
    model = CanonicalHand(side)
    joints = model.rest_joints().numpy()
    tips = model.rest_tips().numpy()
    bones = np.zeros((16, 3))
    for j in range(1, 16):
        end = joints[_CHILD[j]] if _CHILD[j] is not None else tips[_TIP_OF[j] - 16]
        bones[j] = (end - joints[j]) / np.linalg.norm(end - joints[j])
    return joints, bones


def palm_frame(wrist: np.ndarray, index_mcp: np.ndarray, pinky_mcp: np.ndarray) -> np.ndarray:
    """Orthonormal frame (3, 3), columns: along the palm (wrist -> between the knuckles), across it
    (index -> pinky knuckle, made orthogonal), and their cross product."""
    along = (index_mcp + pinky_mcp) / 2 - wrist
    across = pinky_mcp - index_mcp
    e1 = along / np.linalg.norm(along)
    e2 = across - (across @ e1) * e1
    norm = np.linalg.norm(e2)
    if norm < 1e-9 or np.linalg.norm(along) < 1e-9:
        raise MotionFormatError("the hand's wrist, index and pinky knuckles are in a line; cannot find the palm")
    e2 /= norm
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


@dataclass(frozen=True)
class HandCalibration:
    """One hand of a rig against MANO.

    bones: MANO joint (0..15) -> rig bone index. rest_global: (16, 3, 3) G_c, MANO world rotations
    of the pose matching the rig's rest. to_armature: (3, 3) MANO world -> armature space.
    anchor: MANO joint (1..15) -> the MANO joint whose bone is the nearest mapped ancestor of its
    bone in the rig, or None when that is the hand bone or there is none (the hand frame).
    """

    side: str
    bones: dict[int, int]
    rest_global: np.ndarray
    to_armature: np.ndarray
    anchor: dict[int, int | None]


def _rig_bone_direction(rig: Rig, bones: dict[int, int], j: int, tol: float) -> np.ndarray:
    """Rest direction (armature space) of the rig bone for joint j: to the next mapped bone's head,
    or along its own +Y axis when there is none (last segment) or the heads coincide."""
    b = bones[j]
    child = _CHILD[j]
    if child is not None:
        v = rig.heads[bones[child]] - rig.heads[b]
        if np.linalg.norm(v) > tol:
            return v / np.linalg.norm(v)
    return rig.rest_rotations[b][:, 1]


def calibrate(rig: Rig, bone_map: BoneMap, side: str) -> HandCalibration:
    """Calibrate one hand of `rig` (see the module docstring). Raises MotionFormatError when a bone
    is unknown to the rig or a joint of that hand is unmapped."""
    if side not in SIDES:
        raise MotionFormatError(f"side must be 'left' or 'right', got {side!r}")
    bone_map.check(rig, [side])
    bones = {j: rig.index(bone_map[side, j]) for j in range(16)}
    to_armature = rig.up_rotation.T @ Y_UP_TO_Z_UP
    heads = rig.heads @ to_armature  # (N, 3) rest heads in MANO's world (row vectors: x @ M = M^T x)
    joints, mano_bones = mano_rest_bones(side)
    G = np.zeros((16, 3, 3))
    G[0] = palm_frame(heads[bones[0]], heads[bones[1]], heads[bones[7]]) @ palm_frame(joints[0], joints[1], joints[7]).T
    size = np.linalg.norm(rig.heads[bones[4]] - rig.heads[bones[0]])
    if size < 1e-9:
        raise MotionFormatError(f"the {side} hand bone and middle finger start at the same point; "
                                "cannot calibrate the hand")
    for j in range(1, 16):
        parent = G[PARENTS_16[j]]
        target = to_armature.T @ _rig_bone_direction(rig, bones, j, 1e-6 * size)
        G[j] = parent @ minimal_rotation(mano_bones[j], parent.T @ target)
    mapped = {b: j for j, b in bones.items()}
    anchor: dict[int, int | None] = {}
    for j in range(1, 16):
        up = next((mapped[a] for a in rig.ancestors(bones[j]) if a in mapped), 0)
        anchor[j] = None if up == 0 else up
    return HandCalibration(side, bones, G, to_armature, anchor)


def rest_pose(rig: Rig, bone_map: BoneMap, fps: float = 30.0, n_frames: int = 1) -> HandMotion:
    """The MANO motion at which the rig shows its rest pose, for every mapped side (each must be
    complete), `n_frames` long: global_orient = the hand's rest orientation, hand_pose = the rest
    finger pose, transl = 0."""
    tracks = {}
    for side in bone_map.sides:
        G = calibrate(rig, bone_map, side).rest_global
        local = np.concatenate([G[:1], np.swapaxes(G[np.array(PARENTS_16[1:])], -1, -2) @ G[1:]])
        aa = np.broadcast_to(matrix_to_axis_angle(local), (n_frames, 16, 3))
        tracks[side] = HandTrack(aa[:, 0], aa[:, 1:], np.zeros((n_frames, 3)))
    if not tracks:
        raise MotionFormatError("the bone map has no hand")
    return HandMotion(fps=fps, **tracks)
