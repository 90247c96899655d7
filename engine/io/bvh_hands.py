"""BVH hand skeletons <-> MANO parameters.

Import works for hand skeletons of any naming (see `engine.joint_names`) by aligning rest poses:
BVH rest frames are world-aligned, as MANO's are, so for every MANO joint j we find the constant
rotation Q_j that turns MANO's rest bone into the file's rest bone (the palm frame for the wrist;
for finger joints the smallest rotation after the parent's, which fixes the twist). On every frame
the MANO joint's world rotation is then G_mano_j = G_bvh_j @ Q_j, so bones point exactly where the
file's bones point whatever either rest pose looks like, and local rotations follow from the tree.
Several BVH joints may make one MANO joint (a thumb CMC split into flexion and abduction
channels): positions come from the first, rotations from the last; the file's bone is then taken
as seen from the last joint, averaged over the frames (the same as its rest direction for a bone
that is rigid in that joint's frame). Units (m, dm, cm, mm) are detected from the hand's size; the
file is taken to be Y-up like BVH itself.

Two things the rest pose cannot tell are read from the motion:
- Twist. A rotation about a bone's own axis moves no joint, so rigs and solvers may bake any
  constant twist into the channels (ManipNet's finger channels carry ~180 degrees at every MCP and
  ~85 at every PIP, frame after frame). A MANO finger joint whose twist about its bone, averaged
  over the clip, is beyond what a finger joint can do (`_MAX_MEAN_TWIST_DEG`) has that constant
  twist taken out of its Q_j (Q_j <- Q_j R(bone, -mean)): bone directions stay exactly the file's,
  the joint's frame is turned about its own bone. Files whose rest frames are anatomical keep Q_j
  as it is, so their twists are imported exactly.
- Handedness. A file written in left-handed coordinates (Unity, as ManipNet's) holds the mirror
  image of each hand, which no rotation maps onto MANO: the palm frame then puts MANO's palm on
  the file's back of the hand. Interphalangeal joints cannot bend more than a few degrees
  backwards, so when the PIP joints bend on average more than `_MIRROR_FLEX_DEG` toward the back
  of the palm frame the file is read mirrored (x -> -x, see `mirror_bvh`), with a warning.

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
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_quat, minimal_rotation
from ..skeleton import FINGERS, JOINT_NAMES_16, PARENTS_16, SIDES, TIP_NAMES, CanonicalHand
from .bvh_file import Bvh, BvhJoint, read_bvh, set_local_rotations, write_bvh

log = logging.getLogger(__name__)

_UNITS = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001}  # metres per file unit
_CHILD = {j: [c for c in range(16) if PARENTS_16[c] == j] for j in range(16)}
_TIP_OF = {joints[-1]: tip for joints, tip in FINGERS.values()}  # last joint -> 21-joint tip index
_EXPORT_ORDER = ["Zrotation", "Xrotation", "Yrotation"]
# Twist of a MANO joint about its own bone, averaged over a clip, beyond which it is a constant of the
# file's joint frame. Anywhere in the range of motion of `engine.corpus.anatomy.JOINT_LIMITS` the
# twist about the bone stays under 30 degrees for the finger MCPs, 13 for the other finger and thumb
# joints, and reaches 82 for the thumb CMC only at the corner of full flexion, abduction and pronation.
_MAX_MEAN_TWIST_DEG = np.array([0.0] + [45.0] * 12 + [90.0, 45.0, 45.0])
# Mean PIP flexion (toward the palm, degrees) below which a hand is the mirror image of its side:
# PIP joints hyperextend a few degrees at most, a whole clip bent backwards is a mirrored file.
_MIRROR_FLEX_DEG = -10.0


def _detect_unit(wrist_to_mcp: float) -> str:
    """Pick the unit that makes the wrist-to-knuckle distance closest to an adult's ~0.085 m. Decimetres
    are among them: ManipNet's hands (Unity, one unit = 10 cm) measure ~0.9 units to the knuckles."""
    return min(_UNITS, key=lambda u: abs(np.log(max(wrist_to_mcp, 1e-9) * _UNITS[u] / 0.085)))


def _palm_frame(wrist: np.ndarray, mcp: dict[str, np.ndarray]) -> np.ndarray | None:
    """Orthonormal frame (..., 3, 3) from points (..., 3), columns: along the palm, across it
    (index -> pinky side), normal (out of the palm for a right hand, out of the back for a left)."""
    radial = next((mcp[f] for f in ("index", "middle") if f in mcp), None)
    ulnar = next((mcp[f] for f in ("pinky", "ring", "middle") if f in mcp and f != "middle"), None)
    if radial is None or ulnar is None:
        return None
    along = (radial + ulnar) / 2 - wrist
    across = ulnar - radial
    e1 = along / np.linalg.norm(along, axis=-1, keepdims=True)
    e2 = across - np.sum(across * e1, axis=-1, keepdims=True) * e1
    e2 /= np.linalg.norm(e2, axis=-1, keepdims=True)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _twist(R: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Twist angle (radians) of rotations R (..., 3, 3) about the unit `axis` (swing-twist split)."""
    q = matrix_to_quat(R)
    q = q * np.where(q[..., 3:] < 0, -1.0, 1.0)  # w >= 0: angles in [-pi, pi]
    return 2.0 * np.arctan2(q[..., :3] @ axis, q[..., 3])


def mirror_bvh(bvh: Bvh) -> Bvh:
    """The mirror image of `bvh` across its YZ plane (x -> -x): what a left-handed file (Unity's
    coordinates) is in right-handed ones. Offsets, End Sites and x positions flip sign; since
    M R_x(a) M = R_x(a) and M R_y(a) M = R_y(-a), M R_z(a) M = R_z(-a), Y and Z rotations do too."""
    flip = np.array([-1.0, 1.0, 1.0])
    joints = [BvhJoint(j.name, j.parent, j.offset * flip, list(j.channels),
                       None if j.end_site is None else j.end_site * flip) for j in bvh.joints]
    sign = np.concatenate([[-1.0 if c in ("Xposition", "Yrotation", "Zrotation") else 1.0 for c in j.channels]
                           for j in bvh.joints])
    return Bvh(joints=joints, frame_time=bvh.frame_time, motion=bvh.motion * sign)


class _HandMapping:
    """Where each MANO joint of one hand lives in a BVH skeleton, plus the rest alignment Q."""

    def __init__(self, bvh: Bvh, groups: dict[str, list[int]], side: str, path: Path,
                 G: np.ndarray, P: np.ndarray):
        """G (F, J, 3, 3), P (F, J, 3): the file's world rotations and positions (`Bvh.global_transforms`)."""
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
        self.Q = self._rest_alignment(bvh, rest, G, P, tips, path)
        self.untwisted: dict[str, float] = {}  # MANO joint -> constant twist (degrees) taken out by `track`

    def _bvh_bone(self, bvh: Bvh, G: np.ndarray, P: np.ndarray, j: int, tips: dict[int, int]) -> np.ndarray | None:
        """Direction of MANO joint j's bone in the file, to the next mapped joint, the tip, the End Site, as
        seen from the file joint that rotates it, averaged over the frames. That is its rest direction
        whenever the bone is rigid in that joint's frame; it is not when the MANO joint spans several
        file joints with links between them (a thumb CMC split into FE and AA joints a few mm apart)."""
        r = self.rot[j]
        end = None
        for c in _CHILD[j]:
            if c in self.head:
                end = P[:, self.head[c]]
                break
        else:
            last = bvh.joints[r]
            children = [k for k, jt in enumerate(bvh.joints) if jt.parent == r]
            if j in _TIP_OF and _TIP_OF[j] in tips:
                end = P[:, tips[_TIP_OF[j]]]
            elif last.end_site is not None and np.linalg.norm(last.end_site) > 0:
                end = P[:, r] + G[:, r] @ last.end_site
            elif children:
                end = P[:, children[0]]
        if end is None:
            return None
        local = np.einsum("fji,fj->fi", G[:, r], end - P[:, self.head[j]])  # G_r^T (end - head)
        norm = np.linalg.norm(local, axis=-1, keepdims=True)
        return (local / np.maximum(norm, 1e-12) * (norm > 1e-9)).sum(axis=0)

    def _rest_alignment(self, bvh: Bvh, rest: np.ndarray, G: np.ndarray, P: np.ndarray, tips: dict[int, int],
                        path: Path) -> np.ndarray:
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
            file_bone = self._bvh_bone(bvh, G, P, j, tips)
            if file_bone is None or np.linalg.norm(file_bone) < 1e-9:
                Q[j] = parent_q
            else:
                Q[j] = minimal_rotation(parent_q @ mano_bone, file_bone) @ parent_q
        return Q

    def pip_flexion(self, P: np.ndarray) -> float | None:
        """Mean PIP flexion toward the palm (degrees) of the long fingers over the frames of P (F, J, 3),
        from the file's own joint positions; None without a palm frame or a finger with MCP, PIP, DIP."""
        mcp = {f: P[:, self.head[js[0]]] for f, (js, _) in FINGERS.items() if js[0] in self.head and f != "thumb"}
        with np.errstate(invalid="ignore", divide="ignore"):  # degenerate frames give NaN, left out
            frame = _palm_frame(P[:, self.head[0]], mcp)
        if frame is None:
            return None
        palm = frame[..., 2] * (1.0 if self.side == "right" else -1.0)  # (F, 3) out of the palm
        angles = [np.zeros(0)]
        for f, (js, _) in FINGERS.items():
            if f == "thumb" or not all(j in self.head for j in js):
                continue
            a, b, c = (P[:, self.head[j]] for j in js)
            with np.errstate(invalid="ignore", divide="ignore"):  # degenerate frames give NaN, left out
                u = (b - a) / np.linalg.norm(b - a, axis=-1, keepdims=True)
                n = palm - np.sum(palm * u, axis=-1, keepdims=True) * u  # palm normal across the proximal bone
                v = c - b
                angles.append(np.arctan2(np.sum(v * n, -1) / np.linalg.norm(n, axis=-1), np.sum(v * u, -1)))
        angles = np.concatenate(angles)
        return float(np.degrees(np.nanmean(angles))) if np.isfinite(angles).any() else None

    def track(self, G: np.ndarray, P: np.ndarray) -> HandTrack:
        """HandTrack from the file's world rotations G (F, J, 3, 3) and positions P (F, J, 3)."""
        F = G.shape[0]
        world = np.tile(np.eye(3), (F, 16, 1, 1))
        model = CanonicalHand(self.side)
        mano_j, mano_tips = model.rest_joints().numpy(), model.rest_tips().numpy()
        for j in range(16):
            if j not in self.rot:
                world[:, j] = world[:, PARENTS_16[j]]
                continue
            world[:, j] = G[:, self.rot[j]] @ self.Q[j]
            if j == 0:
                continue
            child = next((c for c in _CHILD[j]), None)
            bone = (mano_j[child] if child is not None else mano_tips[_TIP_OF[j] - 16]) - mano_j[j]
            bone /= np.linalg.norm(bone)
            psi = _twist(np.swapaxes(world[:, PARENTS_16[j]], -1, -2) @ world[:, j], bone)
            mean = np.arctan2(np.sin(psi).mean(), np.cos(psi).mean())
            if abs(np.degrees(mean)) > _MAX_MEAN_TWIST_DEG[j]:  # a constant twist of the file's joint frame
                fix = axis_angle_to_matrix(-mean * bone)
                self.Q[j] = self.Q[j] @ fix
                world[:, j] = world[:, j] @ fix
                self.untwisted[JOINT_NAMES_16[j]] = float(np.degrees(mean))
        local = np.empty_like(world)
        local[:, 0] = world[:, 0]
        for j in range(1, 16):
            local[:, j] = np.swapaxes(world[:, PARENTS_16[j]], -1, -2) @ world[:, j]
        aa = matrix_to_axis_angle(local)
        transl = P[:, self.head[0]] * self.scale - mano_j[0]
        return HandTrack(global_orient=aa[:, 0], hand_pose=aa[:, 1:], transl=transl)


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
    mappings = {s: _HandMapping(bvh, groups[s], s, path, G, P) for s in SIDES if s in groups}
    flexion = [f for m in mappings.values() if (f := m.pip_flexion(P)) is not None]
    if flexion and np.mean(flexion) < _MIRROR_FLEX_DEG:
        log.warning("%s: the fingers bend backwards (mean PIP flexion %.0f deg): the file holds the mirror image "
                    "of the %s (left-handed coordinates, e.g. Unity's, or the wrong side); reading it mirrored "
                    "(x -> -x)", path, float(np.mean(flexion)), " and ".join(f"{s} hand" for s in mappings))
        bvh = mirror_bvh(bvh)
        G, P = bvh.global_transforms()
        mappings = {s: _HandMapping(bvh, groups[s], s, path, G, P) for s in mappings}
    tracks = {}
    for s, mapping in mappings.items():
        log.info("%s: %s hand, %d of 16 joints mapped, units %s", path.name, s, len(mapping.head), mapping.unit)
        try:
            tracks[s] = mapping.track(G, P)
        except MotionValueError as exc:
            raise MotionFormatError(f"{path}: {exc}") from None
        if mapping.untwisted:
            log.info("%s: %s hand, constant joint twist taken out (deg): %s", path.name, s,
                     ", ".join(f"{k} {v:.0f}" for k, v in mapping.untwisted.items()))
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
