"""Anatomical joint angles, range-of-motion limits and the finger coupling of the corpus generator.

Every finger joint gets an orthonormal anatomical frame from the canonical skeleton
(`engine.skeleton.joint_axes`): x = flexion axis, y = abduction axis (out of the back of the
hand), z = x cross y (along the bone). A joint's angles are (flex, abduct, twist) in radians and
its local rotation is the intrinsic product R = R_y(abduct) R_z(twist) R_x(flex) in that frame, so
abduction is applied before the bone flexes about its own, abducted axis and no flexion up to
180 degrees ever reaches a gimbal singularity (the middle angle, twist, stays small).

`JOINT_LIMITS` are active ranges of motion of an adult hand (degrees, from the clinical ranges of
the AAOS / Hume et al. 1990 tables, narrowed where active motion is smaller than passive). The
generator builds poses in angle space, where the limits are a box: min-jerk blends of in-range keys
stay in range, and noise is clamped, so no generated frame leaves it (`limit_violation`
checks any hand pose, generated or not).

The left hand uses the mirrored axes, so the same angles give the mirrored pose.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..rotations import axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle, matrix_to_euler
from ..skeleton import FINGERS, joint_axes

FINGER_ORDER = tuple(FINGERS)  # thumb, index, middle, ring, pinky
LONG_FINGERS = FINGER_ORDER[1:]

# (flex, abduct, twist) limits in degrees for each MANO finger joint (1..15). Abduction is
# positive toward the thumb side; for the thumb CMC it is radial abduction (away from the index),
# its twist is the pronation that turns the thumb pad toward the fingers during opposition.
_MCP = ((-25.0, 90.0), (-22.0, 22.0), (-8.0, 8.0))
_PIP = ((-5.0, 110.0), (-4.0, 4.0), (-4.0, 4.0))
_DIP = ((-10.0, 85.0), (-4.0, 4.0), (-4.0, 4.0))
_THUMB_CMC = ((-25.0, 75.0), (-70.0, 30.0), (-20.0, 60.0))
_THUMB_MCP = ((-15.0, 60.0), (-8.0, 8.0), (-8.0, 8.0))
_THUMB_IP = ((-20.0, 85.0), (-4.0, 4.0), (-4.0, 4.0))
_PER_JOINT = {
    "thumb": (_THUMB_CMC, _THUMB_MCP, _THUMB_IP),
    "index": (_MCP, _PIP, _DIP),
    "middle": (_MCP, _PIP, _DIP),
    "ring": (_MCP, _PIP, _DIP),
    "pinky": (_MCP, _PIP, _DIP),
}


def _limits() -> np.ndarray:
    out = np.zeros((15, 3, 2))
    for finger, (joints, _) in FINGERS.items():
        for k, j in enumerate(joints):
            out[j - 1] = np.radians(np.array(_PER_JOINT[finger][k]))
    return out


JOINT_LIMITS = _limits()  # (15, 3, 2) radians: joint, (flex, abduct, twist), (low, high)

# Share of a finger's curl taken by MCP, PIP, DIP (of each joint's flexion range). The DIP follows
# the PIP (the oblique retinacular ligament couples them: DIP ~ 2/3 PIP in free motion).
CURL_SHARE = np.array([0.80, 0.85, 0.60])
DIP_PER_PIP = 0.70

# Enslaving: a finger that curls drags its neighbours along (Hager-Ross & Schieber 2000). Row i
# lists how much finger i follows finger j's curl when j is curled further than i.
_ENSLAVE = np.array([
    # thumb index middle ring pinky
    [0.00, 0.00, 0.00, 0.00, 0.00],  # thumb
    [0.00, 0.00, 0.12, 0.04, 0.02],  # index
    [0.00, 0.10, 0.00, 0.18, 0.05],  # middle
    [0.00, 0.04, 0.22, 0.00, 0.28],  # ring
    [0.00, 0.02, 0.06, 0.30, 0.00],  # pinky
])


@lru_cache(maxsize=2)
def joint_frames(side: str = "right") -> np.ndarray:
    """(15, 3, 3): columns are each joint's (flexion, abduction, twist) unit axes in rest-pose world axes."""
    flex, abduct = joint_axes(side)
    twist = np.cross(flex, abduct)
    return np.stack([flex, abduct, twist], axis=-1)


def angles_to_pose(angles: np.ndarray, side: str = "right") -> np.ndarray:
    """Anatomical angles (..., 15, 3) [flex, abduct, twist] radians -> MANO hand_pose (..., 15, 3) axis-angle."""
    angles = np.asarray(angles, dtype=np.float64)
    B = joint_frames(side)
    local = euler_to_matrix("YZX", angles[..., [1, 2, 0]])  # R_y(abd) R_z(twist) R_x(flex)
    return matrix_to_axis_angle(B @ local @ np.swapaxes(B, -1, -2))


def pose_to_angles(hand_pose: np.ndarray, side: str = "right") -> np.ndarray:
    """MANO hand_pose (..., 15, 3) or (..., 45) axis-angle -> anatomical angles (..., 15, 3) radians."""
    pose = np.asarray(hand_pose, dtype=np.float64)
    if pose.shape[-1] == 45:
        pose = pose.reshape(*pose.shape[:-1], 15, 3)
    B = joint_frames(side)
    local = np.swapaxes(B, -1, -2) @ axis_angle_to_matrix(pose) @ B
    abd_twist_flex = matrix_to_euler("YZX", local)
    return abd_twist_flex[..., [2, 0, 1]]


def clamp_angles(angles: np.ndarray) -> np.ndarray:
    """Clamp (..., 15, 3) angles into `JOINT_LIMITS`."""
    return np.clip(angles, JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1])


def limit_violation(hand_pose: np.ndarray, side: str = "right") -> np.ndarray:
    """How far each frame leaves the range of motion: hand_pose (T, 15, 3) -> (T,) radians (0 = inside)."""
    a = pose_to_angles(hand_pose, side)
    over = np.maximum(a - JOINT_LIMITS[..., 1], 0.0) + np.maximum(JOINT_LIMITS[..., 0] - a, 0.0)
    return over.reshape(over.shape[0], -1).max(axis=-1)


def clamp_pose(hand_pose: np.ndarray, side: str = "right") -> np.ndarray:
    """hand_pose (T, 15, 3) with every frame that leaves the range of motion clamped into it (the joint
    angles clipped to `JOINT_LIMITS`); frames inside it are returned unchanged, bit for bit."""
    out = np.array(hand_pose, dtype=np.float64, copy=True)
    rows = limit_violation(out, side) > 0
    if rows.any():
        out[rows] = angles_to_pose(clamp_angles(pose_to_angles(out[rows], side)), side)
    return out


def enslave(curl: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Finger co-activation: (..., 5) curls (thumb..pinky, 0..1) -> (..., 5), extended fingers pulled
    toward their curled neighbours. `strength` < 1 for shapes held by deliberate effort (a gesture
    actively extends the finger its neighbours drag along)."""
    curl = np.asarray(curl, dtype=np.float64)
    pull = np.maximum(curl[..., None, :] - curl[..., :, None], 0.0)  # (..., i, j): j curled beyond i
    return np.clip(curl + strength * (pull * _ENSLAVE).sum(-1), 0.0, 1.0)


def finger_angles(curl: np.ndarray, spread: float = 0.0, dip_ratio: float = DIP_PER_PIP,
                  mcp_bias: np.ndarray | None = None) -> np.ndarray:
    """Long-finger angles from curls.

    curl (4,) index..pinky, 0 straight .. 1 fully curled; spread -1 (together) .. 1 (wide); mcp_bias (4,)
    extra MCP flexion in radians (a hook grip keeps MCPs straight: negative bias). Returns (4, 3, 3):
    finger, joint (MCP, PIP, DIP), (flex, abduct, twist). The DIP follows the PIP by `dip_ratio`.
    """
    curl = np.asarray(curl, dtype=np.float64)
    lim = JOINT_LIMITS[[0, 3, 9, 6]]  # index, middle, ring, pinky MCP rows share limits (4, 3, 2)
    mcp = curl * CURL_SHARE[0] * lim[:, 0, 1]
    if mcp_bias is not None:
        mcp = mcp + mcp_bias
    pip = curl * CURL_SHARE[1] * np.radians(_PIP[0][1])
    dip = np.minimum(dip_ratio * pip + curl * 0.05, np.radians(_DIP[0][1]))
    # Spreading fans the fingers about the middle finger; curled fingers converge (less abduction).
    fan = np.radians(np.array([11.0, 0.0, -9.0, -18.0]))
    abd = np.where(spread >= 0, spread * fan, spread * fan * 0.4) * (1.0 - 0.6 * curl)
    out = np.zeros((4, 3, 3))
    out[:, 0, 0], out[:, 0, 1] = mcp, abd
    out[:, 1, 0], out[:, 2, 0] = pip, dip
    return out


def hand_angles(curl: dict[str, float] | np.ndarray, spread: float = 0.0, thumb: np.ndarray | None = None,
                coupled: bool | float = True, dip_ratio: float = DIP_PER_PIP,
                mcp_bias: np.ndarray | None = None) -> np.ndarray:
    """Full hand angles (15, 3) in MANO joint order from long-finger curls and a thumb configuration.

    curl: {finger: 0..1} (missing fingers 0) or (4,) index..pinky; thumb: (3, 3) angles of CMC, MCP, IP
    (default: the relaxed thumb). With `coupled` (True or a strength 0..1), neighbouring fingers are
    enslaved (`enslave`).
    """
    if isinstance(curl, dict):
        c = np.array([curl.get(f, 0.0) for f in LONG_FINGERS])
    else:
        c = np.asarray(curl, dtype=np.float64)
    if coupled:
        c = enslave(np.concatenate([[0.0], c]), float(coupled))[1:]
    out = np.zeros((15, 3))
    fingers = finger_angles(c, spread, dip_ratio, mcp_bias)
    for i, finger in enumerate(LONG_FINGERS):
        joints, _ = FINGERS[finger]
        out[np.array(joints) - 1] = fingers[i]
    thumb_j = np.array(FINGERS["thumb"][0]) - 1
    out[thumb_j] = THUMB["relaxed"] if thumb is None else thumb
    return clamp_angles(out)


# Thumb configurations, (3, 3) angles of CMC, MCP, IP in degrees [flex, abduct, twist]:
# relaxed beside the index; out (abducted and extended: thumbs up, spread hand); folded across the
# palm (fist, point: the pad rests on the middle phalanges of index and middle); tucked along the
# side of the index; flat in the plane of the palm. Opposition to a fingertip is solved in `contact`.
THUMB = {
    name: np.radians(np.array(v, dtype=np.float64))
    for name, v in {
        "relaxed": [[12.0, -8.0, 8.0], [10.0, 0.0, 0.0], [12.0, 0.0, 0.0]],
        "out": [[-15.0, 22.0, -5.0], [-5.0, 0.0, 0.0], [-5.0, 0.0, 0.0]],
        "folded": [[38.0, -30.0, 35.0], [35.0, 0.0, 0.0], [40.0, 0.0, 0.0]],
        "tucked": [[10.0, -28.0, 10.0], [20.0, 0.0, 0.0], [25.0, 0.0, 0.0]],
        "flat": [[0.0, -10.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    }.items()
}
