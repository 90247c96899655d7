"""MANO parameters <-> rig bone rotations.

Notation (per hand): G_j (3, 3) MANO world rotation of joint j (forward kinematics of global_orient
and hand_pose); G_c the calibration pose (`calibration.py`); C (3, 3) MANO world -> armature space;
A_b (3, 3) rest rotation of bone b in armature space; B_b its pose rotation (`matrix_basis`, what
`rotation_quaternion` holds). Blender poses a bone as P_b = P_parent @ inv(A_parent) @ A_b @ B_b.

A bone mapped to joint j is turned, in armature space, by the MANO joint's turn away from the
calibration pose:  D_j = C @ G_j @ G_c,j^T @ C^T,  so P_b = D_j @ A_b: at G_j = G_c,j the bone is at
rest, and MANO's rest bone direction lands on the rig's rest bone direction (calibration), turned
as MANO's bone turns. Bones not in the bone map (metacarpals, palm and mechanism bones) stay at
rest, so with M the nearest mapped ancestor of b, P_b = D_M @ A_b @ B_b and

    B_b = A_b^T @ D_M^T @ D_j @ A_b.

Finger joints are solved with the hand held at its calibration orientation (G_0 := G_c,0), i.e.
relative to the hand bone: they come out the same whether or not the hand bone is driven, and rigs
whose finger chains follow the hand through constraints (Rigify's ORG chain, Auto-Rig Pro's `hand`
deform bone) get the same keys as rigs that parent fingers to the hand. The hand bone itself gets
B = A^T @ D_0 @ A with its ancestors (arm) at rest. `rig_to_mano` inverts each step exactly:
D_j = D_M @ A_b @ B_b @ A_b^T, then G_j = C^T @ D_j @ C @ G_c,j.
Only rotations are transferred; bone lengths and the hand's position stay the rig's own.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from ..errors import MotionFormatError
from ..motion import HandMotion, HandTrack
from ..rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_from_wxyz,
    quat_sign_continuous,
    quat_to_matrix,
    quat_to_wxyz,
)
from ..skeleton import PARENTS_16, global_rotations
from .calibration import HandCalibration, calibrate
from .presets import BoneMap
from .rig import Rig

log = logging.getLogger(__name__)

_PARENTS = np.array(PARENTS_16[1:])


def _T(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)


def _keys(basis: np.ndarray) -> np.ndarray:
    """(T, 3, 3) pose rotations -> (T, 4) quaternions (w, x, y, z), sign-continuous, first with w >= 0."""
    q = quat_sign_continuous(quat_to_wxyz(matrix_to_quat(basis)))
    return q * (1.0 if len(q) == 0 or q[0, 0] >= 0 else -1.0)


def _finger_deltas(cal: HandCalibration, global_rot: np.ndarray) -> np.ndarray:
    """(T, 16, 3, 3) MANO world rotations (hand at its calibration orientation) -> armature-space
    turns D_j = C G_j G_c,j^T C^T (row 0: identity)."""
    C = cal.to_armature
    D = C @ global_rot @ _T(cal.rest_global) @ C.T
    D[:, 0] = np.eye(3)
    return D


def mano_to_rig(motion: HandMotion, rig: Rig, bone_map: BoneMap, wrist: bool = True) -> dict[str, np.ndarray]:
    """Per-bone pose rotations that make the rig perform `motion`.

    Returns {bone name: (T, 4) quaternion (w, x, y, z)} for the 15 finger bones of every hand both
    the motion and the bone map have, plus the hand bone when `wrist` (its rotation relative to the
    arm's rest pose; without it, the fingers move relative to wherever the animator put the hand).
    Values are what `pose_bone.rotation_quaternion` takes; see `to_rig_modes` for Euler bones.
    Raises MotionFormatError when no hand is shared, a mapped bone is not in the rig, or a shared
    hand has unmapped joints.
    """
    sides = [s for s in motion.sides if s in bone_map.sides]
    if not sides:
        raise MotionFormatError(f"the rig has no bones mapped for the motion's hands ({', '.join(motion.sides)}); "
                                f"bone map: {bone_map.describe()}")
    for side in motion.sides:
        if side not in sides:
            log.warning("the rig has no %s hand in the bone map; that hand is not retargeted", side)
    out: dict[str, np.ndarray] = {}
    A = rig.rest_rotations
    for side in sides:
        cal = calibrate(rig, bone_map, side)
        track = motion.track(side)
        aa = np.concatenate([track.global_orient[:, None], track.hand_pose], axis=1)  # (T, 16, 3)
        local = axis_angle_to_matrix(aa)  # (T, 16, 3, 3)
        orient = local[:, 0].copy()
        local[:, 0] = cal.rest_global[0]
        D = _finger_deltas(cal, global_rotations(local))
        for j in range(1, 16):
            b = cal.bones[j]
            anchor = D[:, cal.anchor[j]] if cal.anchor[j] is not None else np.eye(3)
            out[rig.names[b]] = _keys(A[b].T @ _T(anchor) @ D[:, j] @ A[b])
        if wrist:
            b, C = cal.bones[0], cal.to_armature
            out[rig.names[b]] = _keys(A[b].T @ C @ orient @ cal.rest_global[0].T @ C.T @ A[b])
    return out


def _check_rotations(rig: Rig, rotations: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Validate {bone: (T, 4) (w, x, y, z)}: known bones, one length, finite, non-zero; -> matrices, T."""
    if not isinstance(rotations, Mapping) or not rotations:
        raise MotionFormatError("no bone rotations given")
    unknown = [name for name in rotations if name not in rig]
    if unknown:
        raise MotionFormatError("rotations given for bones the rig does not have: " + ", ".join(map(repr, unknown)))
    mats, length = {}, None
    for name, q in rotations.items():
        try:
            q = np.asarray(q, dtype=np.float64)
        except (TypeError, ValueError):
            raise MotionFormatError(f"rotations of bone {name!r} are not numbers") from None
        if q.ndim != 2 or q.shape[1] != 4:
            raise MotionFormatError(f"rotations of bone {name!r}: expected shape (T, 4) quaternions (w, x, y, z), "
                                    f"got {tuple(q.shape)}")
        if length is not None and q.shape[0] != length:
            raise MotionFormatError(f"rotations of bone {name!r} have {q.shape[0]} frames, others {length}")
        length = q.shape[0]
        if not np.all(np.isfinite(q)):
            raise MotionFormatError(f"rotations of bone {name!r} contain a non-finite value (NaN or inf)")
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
        if np.any(norm < 1e-9):
            raise MotionFormatError(f"rotations of bone {name!r} contain an all-zero quaternion")
        mats[name] = quat_to_matrix(quat_from_wxyz(q / norm))
    if not length:
        raise MotionFormatError("bone rotations have no frames")
    return mats, length


def rig_to_mano(rig: Rig, bone_map: BoneMap, rotations: Mapping[str, np.ndarray], fps: float,
                wrist: bool = True) -> HandMotion:
    """The MANO motion whose retargeting gives these bone rotations (captioning, in-betweening).

    rotations: {bone name: (T, 4) quaternion (w, x, y, z)} pose rotations (`rotation_quaternion`;
    convert other modes with `from_rotation_mode`); mapped bones left out are at rest, bones outside
    the bone map are ignored. A hand is returned for each side with at least one rotated mapped bone
    (left out: the hand's rest pose). global_orient comes from the hand bone when `wrist` and it is
    given, else it is the hand's rest orientation; transl is zero.
    Raises MotionFormatError for unknown bones, bad arrays or incompletely mapped hands.
    """
    mats, T = _check_rotations(rig, rotations)
    mapped = {name for _, _, name in bone_map.items()}
    ignored = sorted(set(mats) - mapped)
    if ignored:
        log.info("ignoring rotations of %d bones outside the bone map: %s", len(ignored), ", ".join(ignored[:8]))
    sides = [s for s in bone_map.sides if any(bone_map[s, j] in mats for j in range(16))]
    if not sides:
        raise MotionFormatError("none of the rotated bones is in the bone map; bone map: " + bone_map.describe())
    A = rig.rest_rotations
    tracks = {}
    for side in sides:
        cal = calibrate(rig, bone_map, side)
        D = np.tile(np.eye(3), (T, 16, 1, 1))
        for j in sorted(range(1, 16), key=lambda j: rig.depth(cal.bones[j])):  # ancestors first
            b = cal.bones[j]
            turn = A[b] @ mats[rig.names[b]] @ A[b].T if rig.names[b] in mats else np.eye(3)
            D[:, j] = (D[:, cal.anchor[j]] if cal.anchor[j] is not None else np.eye(3)) @ turn
        C = cal.to_armature
        G = C.T @ D @ C @ cal.rest_global  # (T, 16, 3, 3) MANO world, hand at its calibration orientation
        G[:, 0] = cal.rest_global[0]
        hand_pose = matrix_to_axis_angle(_T(G[:, _PARENTS]) @ G[:, 1:])
        wrist_bone = rig.names[cal.bones[0]]
        if wrist and wrist_bone in mats:
            A0 = A[cal.bones[0]]
            orient = C.T @ A0 @ mats[wrist_bone] @ A0.T @ C @ cal.rest_global[0]
        else:
            orient = np.broadcast_to(cal.rest_global[0], (T, 3, 3))
        tracks[side] = HandTrack(global_orient=matrix_to_axis_angle(orient), hand_pose=hand_pose,
                                 transl=np.zeros((T, 3)))
    return HandMotion(fps=fps, **tracks)
