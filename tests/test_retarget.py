"""Retargeting MANO <-> rig bones on a test rig of every family: bone directions, wrist orientation,
anatomical twist, round trips both ways, wrist on/off, rotation modes."""

from __future__ import annotations

import numpy as np
import pytest

from engine.examples import finger_pose, greeting
from engine.motion import HandMotion, HandTrack
from engine.retarget import (
    BoneMap,
    Rig,
    from_rotation_mode,
    mano_to_rig,
    rest_pose,
    rig_to_mano,
    to_rig_modes,
    to_rotation_mode,
)
from engine.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    geodesic_angle,
    quat_from_wxyz,
    quat_to_matrix,
    quat_to_wxyz,
)
from engine.skeleton import PARENTS_16, CanonicalHand, global_rotations
from tests.helpers import smooth_motion
from tests.test_retarget_rigs import FAMILIES, ROT_X_90, SampleRig, bone_matrix, build, pose

END = {j: next((c for c in range(16) if PARENTS_16[c] == j), None) for j in range(1, 16)}
END.update({3: 17, 6: 18, 9: 20, 12: 19, 15: 16})  # last segments end at the fingertips


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Degrees between direction vectors (..., 3)."""
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _rot_angle(R0: np.ndarray, R1: np.ndarray) -> np.ndarray:
    """Degrees of the rotation between (..., 3, 3) matrices."""
    c = (np.trace(np.swapaxes(R0, -1, -2) @ R1, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def _quat_angle(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Degrees of the rotation between unit quaternions (..., 4), from the chord (exact near zero)."""
    chord = np.minimum(np.linalg.norm(q0 - q1, axis=-1), np.linalg.norm(q0 + q1, axis=-1))
    return np.degrees(4 * np.arcsin(np.clip(chord / 2, 0.0, 1.0)))


def _palm(wrist: np.ndarray, index: np.ndarray, pinky: np.ndarray) -> np.ndarray:
    along = (index + pinky) / 2 - wrist
    along /= np.linalg.norm(along, axis=-1, keepdims=True)
    across = pinky - index
    across -= np.sum(across * along, -1, keepdims=True) * along
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    return np.stack([along, across, np.cross(along, across)], axis=-1)


def _world_rotation(rig: Rig) -> np.ndarray:
    m = rig.world[:3, :3]
    return m / np.linalg.norm(m, axis=0)


def _basis(keys: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: quat_to_matrix(quat_from_wxyz(q)) for n, q in keys.items()}


def _measure(t: SampleRig, motion: HandMotion, bone_map: dict, keys: dict[str, np.ndarray], wrist: bool):
    """Per side: finger bone direction errors (T, 15) degrees in the world (wrist driven) or in the hand's
    own frame (wrist not driven), and the palm frame error (T,) degrees."""
    posed = pose(t.rig, _basis(keys), t.follow)
    U = _world_rotation(t.rig)
    out = {}
    for side in motion.sides:
        tr = motion.track(side)
        J = CanonicalHand(side).joints_np(tr.global_orient, tr.hand_pose, tr.transl) @ ROT_X_90.T  # (T, 21, 3)
        idx = {j: t.rig.index(name) for j, name in bone_map[side].items()}
        heads = posed[:, :, :3, 3] @ U.T
        F_rig = _palm(heads[:, idx[0]], heads[:, idx[1]], heads[:, idx[7]])
        F_mano = _palm(J[:, 0], J[:, 1], J[:, 7])
        dirs = []
        for j in range(1, 16):
            bone = posed[:, idx[j], :3, 1] @ U.T
            mano = J[:, END[j]] - J[:, j]
            if not wrist:  # compare in each hand's own palm frame
                bone = np.einsum("tij,ti->tj", F_rig, bone)
                mano = np.einsum("tij,ti->tj", F_mano, mano)
            dirs.append(_angle(bone, mano))
        out[side] = (np.stack(dirs, axis=1), _rot_angle(F_rig, F_mano))
    return out


def _aa16(track: HandTrack) -> np.ndarray:
    return np.concatenate([track.global_orient[:, None], track.hand_pose], axis=1)


def _motions() -> list[HandMotion]:
    return [smooth_motion(48, 30.0, seed=3), greeting(fps=15.0)]


@pytest.mark.parametrize("family", FAMILIES)
def test_bone_directions_follow_mano(family):
    """Acceptance: after retargeting and the rig's own evaluation, every finger bone points where
    MANO's bone points (canonical FK, Z-up) and the palm is oriented as MANO's, on both hands."""
    t = build(family, seed=FAMILIES.index(family))
    bone_map = BoneMap(t.bone_map)
    errs, palms = [], []
    for motion in _motions():
        keys = mano_to_rig(motion, t.rig, bone_map)
        assert set(keys) == {n for m in t.bone_map.values() for n in m.values()}
        for side, (dirs, palm) in _measure(t, motion, t.bone_map, keys, wrist=True).items():
            errs.append(dirs)
            palms.append(palm)
    errs, palms = np.concatenate(errs), np.concatenate(palms)
    print(f"\n{family}: finger directions mean {errs.mean():.2e} deg, max {errs.max():.2e} deg; "
          f"palm mean {palms.mean():.2e}, max {palms.max():.2e} deg")
    assert errs.mean() < 3.0 and errs.max() < 3.0
    assert palms.max() < 0.5


def test_rigify_deform_bones_work_too():
    t = build("rigify", seed=11)
    bone_map = BoneMap(t.deform_map)
    motion = smooth_motion(30, 30.0, seed=5)
    keys = mano_to_rig(motion, t.rig, bone_map)
    assert all(n.startswith("DEF-") for n in keys)
    for dirs, palm in _measure(t, motion, t.deform_map, keys, wrist=True).values():
        assert dirs.max() < 3.0 and palm.max() < 0.5


@pytest.mark.parametrize("family", ["rigify", "ue5", "mixamo"])
def test_without_the_wrist_fingers_move_relative_to_the_hand(family):
    t = build(family, seed=2)
    bone_map = BoneMap(t.bone_map)
    motion = smooth_motion(30, 30.0, seed=8)
    with_wrist = mano_to_rig(motion, t.rig, bone_map, wrist=True)
    keys = mano_to_rig(motion, t.rig, bone_map, wrist=False)
    hands = {t.bone_map[s][0] for s in ("left", "right")}
    assert set(with_wrist) - set(keys) == hands
    for name, q in keys.items():
        np.testing.assert_allclose(q, with_wrist[name], atol=1e-12)
    for dirs, palm in _measure(t, motion, t.bone_map, keys, wrist=False).values():
        assert dirs.max() < 3.0


def _mano_shaped_rig(seed: int):
    """A rig with MANO's own bones, rest fingers curled by pure flexion, the hand turned at random and
    random rolls. Returns the rig, its map and per side the MANO rest world rotations (16, 3, 3)."""
    rng = np.random.default_rng(seed)
    names, parents, bone_map, rest_global = ["pelvis"], [-1], {}, {}
    rest = [bone_matrix(np.zeros(3), np.array([0, 0, 0.1]), 0)]
    for side in ("left", "right"):
        orient = rng.normal(0.0, 0.6, 3)
        curls = {f: rng.uniform(0.1, 0.5) for f in ("thumb", "index", "middle", "ring", "pinky")}
        pose_ = finger_pose(curls, 0.0, side)  # pure flexion
        J = CanonicalHand(side).joints_np(orient, pose_, np.zeros(3)) @ ROT_X_90.T
        rest_global[side] = global_rotations(axis_angle_to_matrix(np.concatenate([orient[None], pose_])))
        bone_map[side] = {}
        for j in range(16):
            name = f"{side}_{j}"
            tail = J[4] if j == 0 else J[END[j]]
            names.append(name)
            parents.append(0 if j == 0 else names.index(bone_map[side][PARENTS_16[j]]))
            rest.append(bone_matrix(J[j], tail, rng.uniform(-np.pi, np.pi)))
            bone_map[side][j] = name
    return Rig(names, parents, np.stack(rest)), bone_map, rest_global


def test_twist_follows_the_anatomical_axes():
    """On a rig made of MANO's own bones (curled rest, any roll), each posed bone frame must be the
    rest frame turned by exactly MANO's joint rotation: C G_j G_rest,j^T C^T A_b. This checks the
    twist about the bone, which directions alone cannot see."""
    rig, bone_map, rest_global = _mano_shaped_rig(seed=4)
    motion = smooth_motion(40, 30.0, seed=9)
    keys = mano_to_rig(motion, rig, BoneMap(bone_map))
    posed = pose(rig, _basis(keys))
    worst = 0.0
    for side in motion.sides:
        tr = motion.track(side)
        G = global_rotations(axis_angle_to_matrix(np.concatenate([tr.global_orient[:, None], tr.hand_pose], 1)))
        for j in range(16):
            b = rig.index(bone_map[side][j])
            expect = ROT_X_90 @ G[:, j] @ rest_global[side][j].T @ ROT_X_90.T @ rig.rest[b, :3, :3]
            worst = max(worst, _rot_angle(posed[:, b, :3, :3], expect).max())
    print(f"\nMANO-shaped rig: worst bone frame error {worst:.2e} deg")
    assert worst < 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trips(family):
    """bones -> MANO -> bones and MANO -> bones -> MANO, both within 0.5 degrees."""
    t = build(family, seed=20 + FAMILIES.index(family))
    bone_map = BoneMap(t.bone_map)
    rng = np.random.default_rng(1)
    T, time = 25, np.linspace(0.0, 1.0, 25)[:, None]
    keys = {}
    for side in ("left", "right"):
        for name in t.bone_map[side].values():
            a, b = rng.normal(0.0, 0.5, 3), rng.normal(0.0, 0.5, 3)
            keys[name] = quat_to_wxyz(axis_angle_to_quat(a + b * np.sin(3 * time)))
    motion = rig_to_mano(t.rig, bone_map, keys, fps=24.0)
    assert motion.sides == ["left", "right"] and motion.n_frames == T and motion.fps == 24.0
    back = mano_to_rig(motion, t.rig, bone_map)
    bones_err = max(_quat_angle(back[n], q).max() for n, q in keys.items())

    motion = smooth_motion(30, 30.0, seed=13)
    again = rig_to_mano(t.rig, bone_map, mano_to_rig(motion, t.rig, bone_map), fps=30.0)
    mano_err = max(np.degrees(geodesic_angle(_aa16(motion.track(s)), _aa16(again.track(s)))).max()
                   for s in motion.sides)
    print(f"\n{family}: bones->MANO->bones max {bones_err:.2e} deg, MANO->bones->MANO max {mano_err:.2e} deg")
    assert bones_err < 0.5 and mano_err < 0.5


def test_rest_pose_gives_identity_keys_and_back():
    t = build("mpfb", seed=6)  # curled rest fingers
    bone_map = BoneMap(t.bone_map)
    rest = rest_pose(t.rig, bone_map, n_frames=3)
    keys = mano_to_rig(rest, t.rig, bone_map)
    for q in keys.values():
        np.testing.assert_allclose(q, np.tile([1.0, 0, 0, 0], (3, 1)), atol=1e-9)
    # the curled rest is a real MANO pose with bent fingers, not the flat hand
    assert np.degrees(np.linalg.norm(rest.right.hand_pose[0, 4])) > 10.0
    # no keys on a hand -> that hand's rest pose
    only_right = {n: q for n, q in keys.items() if n.endswith(".R")}
    back = rig_to_mano(t.rig, bone_map, only_right, fps=30.0)
    assert back.sides == ["right"]
    np.testing.assert_allclose(back.right.hand_pose, rest.right.hand_pose, atol=1e-9)


def test_left_and_right_mirror():
    """Mirrored motion on a mirrored rig gives mirrored keys: a reflection across Blender's YZ plane
    maps a bone rotation (w, x, y, z) to (w, x, -y, -z) when bone frames are mirrored as Blender's
    X-mirror does (X axis negated, so the frame stays right-handed)."""
    t = build("smplx", seed=7)
    M = np.diag([-1.0, 1.0, 1.0])
    keep = [i for i, n in enumerate(t.rig.names) if not n.startswith("right")]
    names = [t.rig.names[i] for i in keep]
    parents = [keep.index(p) if p >= 0 else -1 for p in t.rig.parents[keep]]
    rest = [t.rig.rest[i] for i in keep]
    for i in keep:
        if names[keep.index(i)].startswith("left"):
            p = names[parents[keep.index(i)]]
            m = t.rig.rest[i].copy()
            m[:3, :3] = M @ m[:3, :3] @ M  # Blender's X-mirror: X axis flipped, Y and Z mirrored
            m[:3, 3] = M @ m[:3, 3]
            parents.append(names.index(p.replace("left", "right")) if p.startswith("left") else names.index(p))
            names.append(t.rig.names[i].replace("left", "right"))
            rest.append(m)
    rig = Rig(names, parents, np.stack(rest))
    bone_map = BoneMap({"left": t.bone_map["left"],
                        "right": {j: n.replace("left", "right") for j, n in t.bone_map["left"].items()}})
    motion = smooth_motion(20, 30.0, seed=2)
    mirror_motion = HandMotion(fps=30.0, left=motion.right.mirrored(), right=motion.right)
    keys = mano_to_rig(mirror_motion, rig, bone_map)
    for j, name in bone_map.bones["left"].items():
        other = keys[bone_map["right", j]] * [1, 1, -1, -1]
        assert _quat_angle(keys[name], other).max() < 1e-6


def test_rotation_modes_round_trip_and_continuity():
    t = build("autorigpro", seed=3)
    bone_map = BoneMap(t.bone_map)
    keys = mano_to_rig(smooth_motion(60, 30.0, seed=4), t.rig, bone_map)
    values = to_rig_modes(keys, t.rig)
    for name, v in values.items():
        mode = t.rig.rotation_modes[t.rig.index(name)]
        assert v.shape == ((60, 3) if mode in ("XYZ", "ZXY") else (60, 4))
        assert _quat_angle(from_rotation_mode(v, mode), keys[name]).max() < 1e-6
        assert np.abs(np.diff(v, axis=0)).max() < 0.5  # continuous curves: no 2 pi or sign jumps
    assert {t.rig.rotation_modes[t.rig.index(n)] for n in values} == {"XYZ", "ZXY"}


def _blender_euler(e: np.ndarray, order: str) -> np.ndarray:
    """Blender's eulO_to_mat3 (blenlib math_rotation), transcribed: its M[col][row] written to rows."""
    axes, parity = {"XYZ": ((0, 1, 2), 0), "XZY": ((0, 2, 1), 1), "YXZ": ((1, 0, 2), 1),
                    "YZX": ((1, 2, 0), 0), "ZXY": ((2, 0, 1), 0), "ZYX": ((2, 1, 0), 1)}[order]
    i, j, k = axes
    ti, tj, th = (-e[i], -e[j], -e[k]) if parity else (e[i], e[j], e[k])
    ci, cj, ch, si, sj, sh = np.cos(ti), np.cos(tj), np.cos(th), np.sin(ti), np.sin(tj), np.sin(th)
    cc, cs, sc, ss = ci * ch, ci * sh, si * ch, si * sh
    M = np.zeros((3, 3))
    M[i][i], M[j][i], M[k][i] = cj * ch, sj * sc - cs, sj * cc + ss
    M[i][j], M[j][j], M[k][j] = cj * sh, sj * ss + cc, sj * cs - sc
    M[i][k], M[j][k], M[k][k] = -sj, cj * si, cj * ci
    return M.T


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_modes_match_blender(order):
    rng = np.random.default_rng(0)
    e = rng.uniform(-1.4, 1.4, size=(30, 3))
    q = from_rotation_mode(e, order)
    for k in range(30):
        np.testing.assert_allclose(quat_to_matrix(quat_from_wxyz(q[k])), _blender_euler(e[k], order), atol=1e-9)
    # XYZ by hand: R = Rz @ Ry @ Rx
    if order == "XYZ":
        x, y, z = e[0]
        Rx = axis_angle_to_matrix(np.array([x, 0, 0]))
        Ry = axis_angle_to_matrix(np.array([0, y, 0]))
        Rz = axis_angle_to_matrix(np.array([0, 0, z]))
        np.testing.assert_allclose(_blender_euler(e[0], "XYZ"), Rz @ Ry @ Rx, atol=1e-12)
    # frame by frame (no continuity with a neighbour) the principal angles come back
    back = np.stack([to_rotation_mode(q[k:k + 1], order)[0] for k in range(30)])
    np.testing.assert_allclose(back, e, atol=1e-9)


def test_euler_continuity_through_large_turns():
    """A steady 3-turn spin about an oblique axis: Euler curves stay continuous (no jumps)."""
    angle = np.linspace(0.0, 6 * np.pi, 400)[:, None]
    axis = np.array([0.3, 0.8, 0.52]) / np.linalg.norm([0.3, 0.8, 0.52])
    q = quat_to_wxyz(axis_angle_to_quat(axis * angle))
    for mode in ("XYZ", "ZYX", "AXIS_ANGLE", "QUATERNION"):
        v = to_rotation_mode(q, mode)
        assert np.abs(np.diff(v, axis=0)).max() < 0.3, mode
        assert _quat_angle(from_rotation_mode(v, mode), q).max() < 1e-6


def test_flat_hand_turns_the_hand_bone_by_its_rest_orientation():
    """A flat hand with identity orientation on the SMPL-X rig (rest: flat, turned) is not the rest:
    keys must turn the hand bone by exactly the rest's orientation inverse, expressed in the bone."""
    t = build("smplx", seed=1)
    bone_map = BoneMap(t.bone_map)
    rest = rest_pose(t.rig, bone_map)
    flat = HandMotion(fps=30.0, right=HandTrack.rest(1))
    keys = mano_to_rig(flat, t.rig, bone_map)
    turn = np.degrees(np.linalg.norm(rest.right.global_orient[0]))
    got = _quat_angle(keys[t.bone_map["right"][0]], np.array([[1.0, 0, 0, 0]]))[0]
    assert abs(got - turn) < 1e-6
