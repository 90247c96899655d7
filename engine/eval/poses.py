"""World-space views of a motion that the metrics compare: joint positions and global joint rotations."""

from __future__ import annotations

import numpy as np

from ..motion import HandMotion
from ..rotations import axis_angle_to_matrix, matrix_to_quat
from ..skeleton import get_hand_model, global_rotations


def hand_joints(motion: HandMotion) -> dict[str, np.ndarray]:
    """{side: (T, 21, 3) world joint positions, metres} for each present hand (canonical hand shape)."""
    return {side: get_hand_model(side).joints_np(tr.global_orient, tr.hand_pose, tr.transl, tr.betas)
            for side, tr in motion.hands()}


def world_joints(motion: HandMotion) -> np.ndarray:
    """(T, 21 x hands, 3) world joints, left hand first."""
    return np.concatenate(list(hand_joints(motion).values()), axis=1)


def world_quats(motion: HandMotion) -> np.ndarray:
    """(T, 16 x hands, 4) global joint rotations as unit quaternions (x, y, z, w), left hand first."""
    out = []
    for _, tr in motion.hands():
        local = axis_angle_to_matrix(np.concatenate([tr.global_orient[:, None], tr.hand_pose], 1))
        out.append(matrix_to_quat(global_rotations(local)))
    return np.concatenate(out, axis=1)
