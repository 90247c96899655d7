"""The MANO kinematic tree, our canonical hand skeleton and forward kinematics.

Conventions (DESIGN.md): right-handed frame, metres, Y up. At rest (all rotations zero) every joint
frame is aligned with the world frame, as in MANO, so a joint rotation is expressed in world axes of
the rest pose. For the right hand at rest the fingers point along -X, the palm faces -Y and the
thumb lies toward +Z -- the SMPL-H T-pose, which is where MANO's rest frame comes from. With that
frame a positive rotation about +Z at a finger joint of the right hand is flexion (the finger curls
toward the palm). The left hand is the mirror image across the YZ plane (x -> -x).

Joint orders:
- 16 MANO joints: 0 wrist, 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb.
- 21 joints: those 16 + fingertips 16 thumb, 17 index, 18 middle, 19 ring, 20 pinky (smplx order).

Without MANO model files, `CanonicalHand` provides the same FK API on a skeleton built from
published anthropometry (see `_BONE_LENGTHS_MM`). `get_hand_model` returns the MANO-backed model
(`engine.mano.ManoHand`) when a MANO directory is configured.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import numpy as np
import torch

from .rotations import axis_angle_to_matrix

log = logging.getLogger(__name__)

Array = TypeVar("Array", np.ndarray, torch.Tensor)

SIDES = ("left", "right")

JOINT_NAMES_16 = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)
TIP_NAMES = ("thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip")
JOINT_NAMES_21 = JOINT_NAMES_16 + TIP_NAMES

PARENTS_16 = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
TIP_PARENTS = (15, 3, 6, 12, 9)  # thumb, index, middle, ring, pinky
PARENTS_21 = PARENTS_16 + TIP_PARENTS

# Finger -> its three MANO joints (proximal to distal) and its tip in the 21-joint order.
FINGERS = {
    "thumb": ((13, 14, 15), 16),
    "index": ((1, 2, 3), 17),
    "middle": ((4, 5, 6), 18),
    "ring": ((10, 11, 12), 19),
    "pinky": ((7, 8, 9), 20),
}

# Rest position of the right wrist joint for the mean MANO shape (metres). MANO's transl is added
# after posing about this point, so world wrist = MANO_REST_WRIST + transl; the canonical skeleton
# uses the same point so `transl` means the same thing with or without MANO files.
MANO_REST_WRIST_RIGHT = np.array([0.0957, 0.0064, 0.0062])

# Bone lengths (mm), mean adult hand, from Buryanov A. & Kotiuk V., "Proportions of Hand Segments",
# Int. J. Morphol. 28(3):755-758, 2010 (radiographic metacarpal and phalanx lengths).
# Joint centres sit near the bone ends, so segment lengths between joint centres are taken as the
# bone lengths; fingertips (the pad surface, like MANO's tip vertices) add ~4 mm of pulp to the
# distal phalanx. Wrist-to-MCP distances add ~20 mm of carpus to each metacarpal, scaled so the
# middle MCP sits 90 mm from the wrist centre (hand length ~185 mm, the adult mean).
_BONE_LENGTHS_MM = {
    #          metacarpal, proximal, middle, distal
    "thumb": (46.2, 31.6, 0.0, 21.7),
    "index": (68.1, 39.8, 22.4, 15.8),
    "middle": (64.6, 44.6, 26.3, 17.4),
    "ring": (58.0, 41.4, 25.7, 17.3),
    "pinky": (53.7, 32.7, 18.1, 16.0),
}
_PULP_MM = 4.0
_CARPUS_MM = 20.0


def _canonical_right_rest() -> tuple[np.ndarray, np.ndarray]:
    """Rest joints (16, 3) and fingertips (5, 3) of the canonical right hand, metres.

    Flat hand: fingers straight along -X with a natural splay, MCP arch across Z (index toward the
    thumb at +Z), ring and pinky MCPs slightly palmar (-Y), thumb in the palm plane at ~45 degrees.
    """
    J = np.zeros((16, 3))
    tips = np.zeros((5, 3))
    J[0] = MANO_REST_WRIST_RIGHT
    scale_palm = 90.0 / (_BONE_LENGTHS_MM["middle"][0] + _CARPUS_MM)
    # finger: (z of MCP rel. wrist, palmar drop y, splay of the finger direction in z per unit x)
    layout = {"index": (0.024, 0.000, 0.05), "middle": (0.004, -0.002, 0.0),
              "ring": (-0.015, -0.004, -0.06), "pinky": (-0.032, -0.008, -0.12)}
    tip_slot = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
    for finger, (z, y, splay) in layout.items():
        meta, prox, mid, dist = _BONE_LENGTHS_MM[finger]
        d_mcp = (meta + _CARPUS_MM) * scale_palm / 1000.0
        x = -np.sqrt(d_mcp**2 - z**2 - y**2)
        (j1, j2, j3), _ = FINGERS[finger]
        J[j1] = J[0] + [x, y, z]
        direction = np.array([-1.0, 0.0, splay])
        direction /= np.linalg.norm(direction)
        J[j2] = J[j1] + direction * prox / 1000.0
        J[j3] = J[j2] + direction * mid / 1000.0
        tips[tip_slot[finger]] = J[j3] + direction * (dist + _PULP_MM) / 1000.0
    meta, prox, _, dist = _BONE_LENGTHS_MM["thumb"]
    J[13] = J[0] + [-0.025, -0.012, 0.022]  # CMC: radial, slightly palmar, near the wrist
    direction = np.array([-0.70, -0.20, 0.68])
    direction /= np.linalg.norm(direction)
    J[14] = J[13] + direction * meta / 1000.0
    J[15] = J[14] + direction * prox / 1000.0
    tips[0] = J[15] + direction * (dist + _PULP_MM) / 1000.0
    return J, tips


def mirror_points(p: Array) -> Array:
    """Mirror positions across the YZ plane: (..., 3) -> (..., 3) with x negated."""
    if isinstance(p, torch.Tensor):
        return p * torch.tensor([-1.0, 1.0, 1.0], dtype=p.dtype, device=p.device)
    return np.asarray(p) * np.array([-1.0, 1.0, 1.0])


def forward_kinematics(
    rotmats: torch.Tensor, rest_joints: torch.Tensor, rest_tips: torch.Tensor, transl: torch.Tensor
) -> torch.Tensor:
    """MANO-style forward kinematics to 21 joints.

    rotmats: (..., 16, 3, 3) local rotations (index 0 = global orient) in rest-aligned frames.
    rest_joints: (..., 16, 3) or (16, 3); rest_tips: (..., 5, 3) or (5, 3); transl: (..., 3).
    Returns (..., 21, 3): p_i = p_parent + G_parent (J_i - J_parent), G_i = G_parent R_i,
    the root posed about its rest position and then shifted by transl.
    """
    batch = rotmats.shape[:-3]
    rest_joints = rest_joints.expand(*batch, 16, 3)
    rest_tips = rest_tips.expand(*batch, 5, 3)
    G = [rotmats[..., 0, :, :]]
    p = [rest_joints[..., 0, :] + transl]
    for i in range(1, 16):
        par = PARENTS_16[i]
        bone = rest_joints[..., i, :] - rest_joints[..., par, :]
        p.append(p[par] + (G[par] @ bone[..., None])[..., 0])
        G.append(G[par] @ rotmats[..., i, :, :])
    for k, par in enumerate(TIP_PARENTS):
        bone = rest_tips[..., k, :] - rest_joints[..., par, :]
        p.append(p[par] + (G[par] @ bone[..., None])[..., 0])
    return torch.stack(p, dim=-2)


def global_rotations(rotmats: Array) -> Array:
    """Accumulate local rotations along the tree: (..., 16, 3, 3) -> (..., 16, 3, 3) world rotations."""
    out = [rotmats[..., 0, :, :]]
    for i in range(1, 16):
        out.append(out[PARENTS_16[i]] @ rotmats[..., i, :, :])
    if isinstance(rotmats, torch.Tensor):
        return torch.stack(out, dim=-3)
    return np.stack(out, axis=-3)


class HandModel:
    """One hand's kinematic model. Subclasses provide rest joints; FK is shared.

    Attributes: `side` ("left" | "right").
    """

    side: str

    def rest_joints(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Rest joint positions (16, 3) -- or (B, 16, 3) for batched betas -- metres."""
        raise NotImplementedError

    def rest_tips(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Rest fingertip positions (5, 3) or (B, 5, 3) in the order thumb, index, middle, ring, pinky."""
        raise NotImplementedError

    def joints(
        self,
        global_orient: torch.Tensor,
        hand_pose: torch.Tensor,
        transl: torch.Tensor,
        betas: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Posed joint positions.

        global_orient (..., 3), hand_pose (..., 15, 3) axis-angle (flat-hand zero, MANO order),
        transl (..., 3) metres, betas (10,) or (..., 10) or None -> (..., 21, 3) metres.
        """
        aa = torch.cat([global_orient[..., None, :], hand_pose], dim=-2)  # (..., 16, 3)
        rotmats = axis_angle_to_matrix(aa)
        dtype = rotmats.dtype
        return forward_kinematics(
            rotmats, self.rest_joints(betas).to(dtype), self.rest_tips(betas).to(dtype), transl.to(dtype)
        )

    def joints_np(
        self,
        global_orient: np.ndarray,
        hand_pose: np.ndarray,
        transl: np.ndarray,
        betas: np.ndarray | None = None,
    ) -> np.ndarray:
        """numpy front-end of `joints` (float64): same shapes, returns (..., 21, 3)."""
        t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
        with torch.no_grad():
            return self.joints(t(global_orient), t(hand_pose), t(transl), t(betas)).numpy()


class CanonicalHand(HandModel):
    """The project's own hand skeleton (no MANO files needed). Betas are accepted and ignored:
    without the MANO shape space they have no meaning, so every hand has the mean adult size."""

    def __init__(self, side: str = "right"):
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        self.side = side
        joints, tips = _canonical_right_rest()
        if side == "left":
            joints, tips = mirror_points(joints), mirror_points(tips)
        self._joints = torch.as_tensor(joints)
        self._tips = torch.as_tensor(tips)

    def rest_joints(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        return self._joints

    def rest_tips(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        return self._tips


_MODEL_CACHE: dict[tuple[str, str | None], HandModel] = {}


def get_hand_model(side: str, mano_dir: str | None = None) -> HandModel:
    """The hand model for `side`: MANO (smplx) when `mano_dir` or $HANDMOTION_MANO_DIR is set,
    otherwise the canonical skeleton. Models are built once and cached."""
    from .mano import load_mano_hands, resolve_mano_dir

    mano_dir = resolve_mano_dir(mano_dir)
    key = (side, mano_dir)
    if key not in _MODEL_CACHE:
        if mano_dir is None:
            _MODEL_CACHE[key] = CanonicalHand(side)
        else:
            hands = load_mano_hands(mano_dir)
            for s, model in hands.items():
                _MODEL_CACHE[(s, mano_dir)] = model
            log.info("using MANO hand models from %s", mano_dir)
    return _MODEL_CACHE[key]


def joint_axes(side: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """Anatomical axes of the 15 finger joints at rest, from the canonical skeleton.

    Returns (flexion (15, 3), abduction (15, 3)) unit axes in MANO joint order (joints 1..15): a
    positive rotation about the flexion axis curls the segment toward the palm; about the abduction
    axis (the palm normal, pointing out of the back of the hand) it swings toward the thumb side.
    The left hand's axes are the mirror of the right's, so the same angles give the mirrored pose.
    """
    joints, tips = _canonical_right_rest()
    palm_normal = np.array([0.0, -1.0, 0.0])  # out of the palm, right hand at rest
    child = {j: c for c, j in enumerate(PARENTS_16) if j > 0}
    tip_of = dict(zip(TIP_PARENTS, tips))
    flex = np.zeros((15, 3))
    for j in range(1, 16):
        end = joints[child[j]] if j in child else tip_of[j]
        d = end - joints[j]
        axis = np.cross(d, palm_normal)
        flex[j - 1] = axis / np.linalg.norm(axis)
    abduct = np.tile(-palm_normal, (15, 1))
    if side == "left":
        # Axis-angle mirrors as (x, -y, -z): applying that to the axes keeps angles meaning the same.
        flex, abduct = flex * [1.0, -1.0, -1.0], abduct * [1.0, -1.0, -1.0]
    return flex, abduct
