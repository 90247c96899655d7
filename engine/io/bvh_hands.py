"""BVH hand skeletons <-> MANO parameters.

Import works for hand skeletons of any naming (see `engine.joint_names`) by aligning rest poses:
BVH rest frames are world-aligned, as MANO's are, so for every MANO joint j we find the constant
rotation Q_j that turns MANO's rest bone into the file's rest bone (the palm frame for the wrist;
for finger joints the smallest rotation after the parent's, which fixes the twist). On every frame
the MANO joint's world rotation is then G_mano_j = G_bvh_j @ Q_j, so bones point exactly where the
file's bones point whatever either rest pose looks like, and local rotations follow from the tree.
Several BVH joints may make one MANO joint (a thumb CMC split into flexion and abduction
channels): positions come from the first, rotations from the last. Units (m, cm, mm) are detected
from the hand's size; the file is taken to be Y-up like BVH itself.

Export writes both hands on the canonical skeleton, in centimetres, under one `Hands` root: each
wrist carries position + rotation channels, finger joints rotations, Euler order ZXY.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError, MotionValueError
from ..joint_names import map_skeleton, side_from_text
from ..motion import HandMotion, HandTrack
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle, minimal_rotation
from ..skeleton import FINGERS, JOINT_NAMES_16, PARENTS_16, SIDES, TIP_NAMES, CanonicalHand
from .bvh_file import Bvh, BvhJoint, read_bvh, set_local_rotations, write_bvh

log = logging.getLogger(__name__)

_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
_CHILD = {j: [c for c in range(16) if PARENTS_16[c] == j] for j in range(16)}
_TIP_OF = {joints[-1]: tip for joints, tip in FINGERS.values()}  # last joint -> 21-joint tip index
_EXPORT_ORDER = ["Zrotation", "Xrotation", "Yrotation"]


def _detect_unit(wrist_to_mcp: float) -> str:
    """Pick the unit that makes the wrist-to-knuckle distance closest to an adult's ~0.085 m."""
    return min(_UNITS, key=lambda u: abs(np.log(max(wrist_to_mcp, 1e-9) * _UNITS[u] / 0.085)))


def _palm_frame(wrist: np.ndarray, mcp: dict[str, np.ndarray]) -> np.ndarray | None:
    """Orthonormal frame (3, 3), columns: along the palm, across it (index -> pinky side), normal."""
    radial = next((mcp[f] for f in ("index", "middle") if f in mcp), None)
    ulnar = next((mcp[f] for f in ("pinky", "ring", "middle") if f in mcp and f != "middle"), None)
    if radial is None or ulnar is None:
        return None
    along = (radial + ulnar) / 2 - wrist
    across = ulnar - radial
    e1 = along / np.linalg.norm(along)
    e2 = across - (across @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


class _HandMapping:
    """Where each MANO joint of one hand lives in a BVH skeleton, plus the rest alignment Q."""

    def __init__(self, bvh: Bvh, groups: dict[str, list[int]], side: str, path: Path):
        self.side = side
        if "wrist" not in groups:
            raise MotionFormatError(f"{path}: {side} hand has finger joints but no wrist/hand joint")
        rest = bvh.rest_positions()
        self.head = {}  # MANO joint index -> BVH joint providing its position
        self.rot = {}  # MANO joint index -> BVH joint providing its world rotation
        for j, name in enumerate(JOINT_NAMES_16):
            if name in groups:
                self.head[j] = groups[name][0]
                self.rot[j] = groups[name][-1]
        tips = {TIP_NAMES.index(n) + 16: groups[n][0] for n in TIP_NAMES if n in groups}
        for j in list(self.rot):  # rotation from the BVH parent of the next MANO joint's head
            nxt = [self.head[c] for c in _CHILD[j] if c in self.head]
            if not nxt and j in _TIP_OF and _TIP_OF[j] in tips:
                nxt = [tips[_TIP_OF[j]]]
            if len(nxt) == 1 and bvh.joints[nxt[0]].parent in groups[JOINT_NAMES_16[j]]:
                self.rot[j] = bvh.joints[nxt[0]].parent
        mcps = {f: rest[self.head[js[0]]] for f, (js, _) in FINGERS.items() if js[0] in self.head and f != "thumb"}
        self.unit = _detect_unit(float(np.median([np.linalg.norm(p - rest[self.head[0]]) for p in mcps.values()]))
                                 if mcps else 0.085)
        self.scale = _UNITS[self.unit]
        self.Q = self._rest_alignment(bvh, rest, tips, path)

    def _bvh_bone(self, bvh: Bvh, rest: np.ndarray, j: int, tips: dict[int, int]) -> np.ndarray | None:
        """Rest direction of MANO joint j's bone in the file: to the next mapped joint, the tip, the End Site."""
        head = rest[self.head[j]]
        for c in _CHILD[j]:
            if c in self.head:
                return rest[self.head[c]] - head
        if j in _TIP_OF and _TIP_OF[j] in tips:
            return rest[tips[_TIP_OF[j]]] - head
        last = bvh.joints[self.rot[j]]
        if last.end_site is not None and np.linalg.norm(last.end_site) > 0:
            return rest[self.rot[j]] + last.end_site - head
        children = [k for k, jt in enumerate(bvh.joints) if jt.parent == self.rot[j]]
        return rest[children[0]] - head if children else None

    def _rest_alignment(self, bvh: Bvh, rest: np.ndarray, tips: dict[int, int], path: Path) -> np.ndarray:
        """Q (16, 3, 3): rotation taking MANO's rest bone frames onto the file's, per MANO joint."""
        model = CanonicalHand(self.side)
        mano_j = model.rest_joints().numpy()
        mano_tips = model.rest_tips().numpy()
        Q = np.tile(np.eye(3), (16, 1, 1))
        mano_mcp = {f: mano_j[js[0]] for f, (js, _) in FINGERS.items() if f != "thumb"}
        file_mcp = {f: rest[self.head[js[0]]] for f, (js, _) in FINGERS.items() if js[0] in self.head and f != "thumb"}
        Fb = _palm_frame(rest[self.head[0]], file_mcp)
        Fm = _palm_frame(mano_j[0], {f: mano_mcp[f] for f in file_mcp})
        if Fb is None or Fm is None:
            log.warning("%s: %s hand lacks two finger bases; wrist twist is only approximate", path, self.side)
            d = next((rest[self.head[c]] - rest[self.head[0]] for c in _CHILD[0] if c in self.head), None)
            m = next((mano_j[c] - mano_j[0] for c in _CHILD[0] if c in self.head), None)
            if d is not None:
                Q[0] = minimal_rotation(m, d)
        else:
            Q[0] = Fb @ Fm.T
        for j in range(1, 16):
            parent_q = Q[PARENTS_16[j]]
            if j not in self.head:
                Q[j] = parent_q
                continue
            child = next((c for c in _CHILD[j]), None)
            mano_bone = (mano_j[child] if child is not None else mano_tips[_TIP_OF[j] - 16]) - mano_j[j]
            file_bone = self._bvh_bone(bvh, rest, j, tips)
            if file_bone is None or np.linalg.norm(file_bone) < 1e-9:
                Q[j] = parent_q
            else:
                Q[j] = minimal_rotation(parent_q @ mano_bone, file_bone) @ parent_q
        return Q

    def track(self, G: np.ndarray, P: np.ndarray) -> HandTrack:
        """HandTrack from the file's world rotations G (F, J, 3, 3) and positions P (F, J, 3)."""
        F = G.shape[0]
        world = np.tile(np.eye(3), (F, 16, 1, 1))
        for j in range(16):
            world[:, j] = G[:, self.rot[j]] @ self.Q[j] if j in self.rot else world[:, PARENTS_16[j]]
        local = np.empty_like(world)
        local[:, 0] = world[:, 0]
        for j in range(1, 16):
            local[:, j] = np.swapaxes(world[:, PARENTS_16[j]], -1, -2) @ world[:, j]
        aa = matrix_to_axis_angle(local)
        rest_wrist = CanonicalHand(self.side).rest_joints().numpy()[0]
        return HandTrack(global_orient=aa[:, 0], hand_pose=aa[:, 1:], transl=P[:, self.head[0]] * self.scale - rest_wrist)


def read_bvh_hands(path: str | os.PathLike, side: str | None = None) -> HandMotion:
    """Read one BVH file holding one or two hands. `side` names the hand of side-less joint names
    (default: guessed from the file name, e.g. `take1_left.bvh`)."""
    path = Path(path)
    bvh = read_bvh(path)
    side = side or side_from_text(path.stem)
    groups = map_skeleton(bvh.names, side=side)
    if not bvh.n_frames:
        raise MotionFormatError(f"{path}: the file has no frames of motion")
    G, P = bvh.global_transforms()
    tracks = {}
    for s in SIDES:
        if s in groups:
            mapping = _HandMapping(bvh, groups[s], s, path)
            log.info("%s: %s hand, %d of 16 joints mapped, units %s", path.name, s, len(mapping.head), mapping.unit)
            try:
                tracks[s] = mapping.track(G, P)
            except MotionValueError as exc:
                raise MotionFormatError(f"{path}: {exc}") from None
    return HandMotion(fps=1.0 / bvh.frame_time, **tracks)


def write_bvh_hands(motion: HandMotion, path: str | os.PathLike) -> Path:
    """Both hands on the canonical skeleton (centimetres, ZXY Euler), one `Hands` root at the origin."""
    path = Path(path)
    joints = [BvhJoint("Hands", -1, np.zeros(3), ["Xposition", "Yposition", "Zposition"] + _EXPORT_ORDER, None)]
    rots, wrists = [], []
    for side, track in motion.hands():
        if not track.valid.all():
            log.warning("%s hand has %d invalid frames; BVH cannot mark them and writes them as they are",
                        side, int((~track.valid).sum()))
        model = CanonicalHand(side)
        rest = model.rest_joints().numpy() * 100.0
        tips = model.rest_tips().numpy() * 100.0
        base = len(joints)
        for j, name in enumerate(JOINT_NAMES_16):
            parent = 0 if j == 0 else base + PARENTS_16[j]
            offset = rest[0] if j == 0 else rest[j] - rest[PARENTS_16[j]]
            channels = (["Xposition", "Yposition", "Zposition"] if j == 0 else []) + _EXPORT_ORDER
            end = tips[_TIP_OF[j] - 16] - rest[j] if j in _TIP_OF else None
            joints.append(BvhJoint(f"{side}_{name}", parent, offset, channels, end))
        aa = np.concatenate([track.global_orient[:, None], track.hand_pose], axis=1)
        rots.append(axis_angle_to_matrix(aa))
        wrists.append((base, rest[0] + track.transl * 100.0))
    F = motion.n_frames
    local = np.tile(np.eye(3), (F, len(joints), 1, 1))
    local[:, 1:] = np.concatenate(rots, axis=1)
    pos = np.tile(np.array([j.offset for j in joints]), (F, 1, 1))
    for base, p in wrists:
        pos[:, base] = p
    skeleton = Bvh(joints=joints, frame_time=1.0 / motion.fps, motion=np.zeros((F, sum(len(j.channels) for j in joints))))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bvh(set_local_rotations(skeleton, local, pos), path)
    return path
