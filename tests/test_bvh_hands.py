"""BVH hand import/export: round trips, foreign skeletons, the two-file mocap path, bad input."""

import logging

import numpy as np
import pytest

from engine.cli import main
from engine.corpus.anatomy import pose_to_angles
from engine.errors import MotionFormatError
from engine.io import load_motion, save_motion
from engine.io.bvh_file import Bvh, BvhJoint, bvh_to_text, read_bvh, set_local_rotations
from engine.io.bvh_hands import mirror_bvh
from engine.joint_names import map_skeleton
from engine.rotations import axis_angle_to_matrix, geodesic_angle
from engine.skeleton import FINGERS, JOINT_NAMES_16, PARENTS_16, get_hand_model, joint_axes
from tests.helpers import mocap_hand_bvh, smooth_motion

MOCAP = ("index", "middle", "ring", "pinky")
BONES = [(j, c) for c in range(1, 16) for j in [PARENTS_16[c]] if j > 0]  # finger bones between MANO joints


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))


def test_npz_bvh_npz_json_npz_round_trip(tmp_path):
    m = smooth_motion(40, fps=30.0, seed=7)
    save_motion(m, tmp_path / "a.npz")
    assert main(["-q", "convert", str(tmp_path / "a.npz"), str(tmp_path / "b.bvh")]) == 0
    assert main(["-q", "convert", str(tmp_path / "b.bvh"), str(tmp_path / "c.npz")]) == 0
    assert main(["-q", "convert", str(tmp_path / "c.npz"), str(tmp_path / "d.json")]) == 0
    assert main(["-q", "convert", str(tmp_path / "d.json"), str(tmp_path / "e.npz")]) == 0
    back = load_motion(tmp_path / "e.npz")
    assert back.fps == 30.0 and back.n_frames == 40
    for side in ("left", "right"):
        per_joint = np.degrees(geodesic_angle(back.track(side).hand_pose, m.track(side).hand_pose))
        assert per_joint.max() < 0.05, per_joint.max()
        assert np.degrees(geodesic_angle(back.track(side).global_orient, m.track(side).global_orient)).max() < 0.05
        np.testing.assert_allclose(back.track(side).transl, m.track(side).transl, atol=1e-6)


def _mocap_world(bvh_text: str, side: str):
    """Per-frame world positions of the mocap file's joints grouped by MANO joint (first of group)."""
    bvh = read_bvh("mocap.bvh", text=bvh_text)
    groups = map_skeleton(bvh.names, side=side)[side]
    _, P = bvh.global_transforms()
    return np.stack([P[:, groups[name][0]] for name in JOINT_NAMES_16], axis=1) / 1000.0  # mm -> m


def test_two_file_120fps_mocap_to_30fps_npz_and_back(tmp_path):
    n = 241  # 2 s at 120 fps
    texts = {s: mocap_hand_bvh(s, n, 120.0, seed=k) for k, s in enumerate(("left", "right"))}
    for s, text in texts.items():
        (tmp_path / f"take_{s}.bvh").write_text(text)
    assert main(["-q", "convert", "--left", str(tmp_path / "take_left.bvh"), "--right", str(tmp_path / "take_right.bvh"),
                 str(tmp_path / "take.npz"), "--fps", "30"]) == 0
    clip = load_motion(tmp_path / "take.npz")
    assert clip.fps == 30.0 and clip.n_frames == 61 and clip.sides == ["left", "right"]
    assert main(["-q", "convert", str(tmp_path / "take.npz"), str(tmp_path / "back.bvh"), "--fps", "120"]) == 0
    back = load_motion(tmp_path / "back.bvh")
    assert back.fps == 120.0 and back.n_frames == n
    for s in ("left", "right"):
        orig = _mocap_world(texts[s], s)  # (n, 16, 3)
        track = back.track(s)
        ours = get_hand_model(s).joints_np(track.global_orient, track.hand_pose, track.transl)[:, :16]
        # Shared joints: every bone between two MANO joints points the same way (< 1 degree),
        err = angle_deg(ours[:, [c for _, c in BONES]] - ours[:, [j for j, _ in BONES]],
                        orig[:, [c for _, c in BONES]] - orig[:, [j for j, _ in BONES]])
        assert err.max() < 1.0, (s, err.max())
        # and the wrist follows the mocap wrist (metres).
        assert np.abs(ours[:, 0] - orig[:, 0]).max() < 2e-3


def test_foreign_rest_pose_mixamo_names_and_curled_rest(tmp_path):
    """A Mixamo-named hand whose rest pose is curled and rotated: bone directions are kept exactly."""
    rng = np.random.default_rng(0)
    names = {"index": "Index", "middle": "Middle", "ring": "Ring", "pinky": "Pinky", "thumb": "Thumb"}
    lines = ["HIERARCHY", "ROOT mixamorig:RightHand", "{", "OFFSET 0 0 0",
             "CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation"]
    nch = 6
    base = {"index": (3, 9, 0), "middle": (1, 9.5, 0.3), "ring": (-1, 9, 0.6), "pinky": (-3, 8, 0.9), "thumb": (3, 2, -2)}
    for f, (x, y, z) in base.items():
        off = [(x, y, z), (0.2, 3.5, -1.5), (0.1, 2.2, -1.5), (0, 1.8, -1.2)]  # curled: bones bend toward -z
        depth = 0
        for k in range(3):
            lines += [f"JOINT mixamorig:RightHand{names[f]}{k + 1}", "{", "OFFSET %g %g %g" % off[k], "CHANNELS 3 Zrotation Xrotation Yrotation"]
            nch += 3
            depth += 1
        lines += ["End Site", "{", "OFFSET %g %g %g" % off[3], "}"] + ["}"] * depth
    F = 20
    motion = rng.normal(size=(F, nch)) * 20
    motion[:, :3] = rng.normal(size=(F, 3)) * 5
    lines += ["}", "MOTION", f"Frames: {F}", "Frame Time: 0.0333333"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    text = "\n".join(lines)
    (tmp_path / "mixamo.bvh").write_text(text)
    m = load_motion(tmp_path / "mixamo.bvh")
    assert m.sides == ["right"]
    bvh = read_bvh("x", text=text)
    _, P = bvh.global_transforms()
    groups = map_skeleton(bvh.names)["right"]
    orig = np.stack([P[:, groups[n][0]] for n in JOINT_NAMES_16], axis=1)
    ours = get_hand_model("right").joints_np(m.right.global_orient, m.right.hand_pose, m.right.transl)[:, :16]
    err = angle_deg(ours[:, [c for _, c in BONES]] - ours[:, [j for j, _ in BONES]],
                    orig[:, [c for _, c in BONES]] - orig[:, [j for j, _ in BONES]])
    assert err.max() < 1e-3
    # cm detected: the wrist lands where the file's wrist is, in metres.
    np.testing.assert_allclose(ours[:, 0], P[:, 0] / 100.0, atol=1e-9)


def test_units_are_read_from_the_hands_size_decimetres_included(tmp_path):
    """The same take written in millimetres and in decimetres (ManipNet's Unity files: one unit is
    10 cm) lands in the same place in metres."""
    text = mocap_hand_bvh("right", 10, 30.0)
    head, _, body = text.partition("MOTION")
    scaled = [" ".join(f"{float(v) / 100.0:g}" for v in line.split()[1:]).join(["OFFSET ", ""])
              if line.strip().startswith("OFFSET") else line for line in head.splitlines()]
    rows = body.strip().splitlines()
    motion = [" ".join([f"{float(v) / 100.0:.8f}" for v in r.split()[:3]] + r.split()[3:]) for r in rows[2:]]
    (tmp_path / "mm_right.bvh").write_text(text)
    (tmp_path / "dm_right.bvh").write_text("\n".join(scaled + ["MOTION"] + rows[:2] + motion))
    mm, dm = load_motion(tmp_path / "mm_right.bvh"), load_motion(tmp_path / "dm_right.bvh")
    np.testing.assert_allclose(dm.right.transl, mm.right.transl, atol=1e-6)
    np.testing.assert_allclose(dm.right.hand_pose, mm.right.hand_pose, atol=1e-5)


def test_single_hand_side_from_file_name_or_flag(tmp_path):
    text = mocap_hand_bvh("left", 5, 30.0)
    (tmp_path / "subject1_lh.bvh").write_text(text)
    assert load_motion(tmp_path / "subject1_lh.bvh").sides == ["left"]
    (tmp_path / "take.bvh").write_text(text)
    with pytest.raises(MotionFormatError, match="--side"):
        load_motion(tmp_path / "take.bvh")
    assert load_motion(tmp_path / "take.bvh", side="left").sides == ["left"]


def test_unknown_joint_names(tmp_path):
    text = mocap_hand_bvh("right", 3, 30.0)
    for finger in ("THUMB", "INDEX", "MIDDLE", "RING", "PINKY", "WRIST"):
        text = text.replace(finger, "Bone" + finger[:2])
    (tmp_path / "odd_right.bvh").write_text(text)
    with pytest.raises(MotionFormatError, match="no hand joint"):
        load_motion(tmp_path / "odd_right.bvh")


def test_fingers_only_skeleton_without_wrist(tmp_path):
    text = mocap_hand_bvh("right", 3, 30.0).replace("ROOT WRIST", "ROOT Root")
    (tmp_path / "nowrist_right.bvh").write_text(text)
    with pytest.raises(MotionFormatError, match="no wrist"):
        load_motion(tmp_path / "nowrist_right.bvh")


def test_flexion_in_mocap_reads_as_mano_flexion(tmp_path):
    """A pure index PIP flexion in the mocap file becomes a rotation about the index's flexion axis."""
    path = tmp_path / "t_right.bvh"
    path.write_text(mocap_hand_bvh("right", 2, 30.0))
    m = load_motion(path)
    j = FINGERS["index"][0][1]  # index PIP
    aa = m.right.hand_pose[:, j - 1]
    flex, _ = joint_axes("right")
    axis = aa / np.linalg.norm(aa, axis=-1, keepdims=True)
    assert (np.abs(axis @ flex[j - 1]) > 0.95).all()
    assert (aa @ flex[j - 1] > 0).all()  # curling toward the palm is positive flexion


def _twisted_rig(text: str, degrees=(180.0, 90.0, -120.0, 150.0, -90.0)) -> str:
    """The same motion on a rig whose joint frames are turned about their own bones by constant angles,
    as mocap rigs bake them into the channels: joint frame F_j -> F_j C_j with C_j a twist about the
    joint's outgoing bone, local rotations L_j -> C_parent^T L_j C_j (three channels each). Rest pose,
    offsets and every joint position stay the same; only the rotations change."""
    bvh = read_bvh("twisted.bvh", text=text)
    C = np.tile(np.eye(3), (len(bvh.joints), 1, 1))
    k = 0
    for j, joint in enumerate(bvh.joints):
        kids = [c for c, other in enumerate(bvh.joints) if other.parent == j]
        bone = bvh.joints[kids[0]].offset if len(kids) == 1 else None if kids else joint.end_site
        if bone is not None and np.linalg.norm(bone) > 0:
            C[j] = axis_angle_to_matrix(np.radians(degrees[k % len(degrees)]) * bone / np.linalg.norm(bone))
            k += 1
    parents = [max(joint.parent, 0) for joint in bvh.joints]
    local = np.swapaxes(C[parents], -1, -2) @ bvh.local_rotations() @ C
    local[:, 0] = bvh.local_rotations()[:, 0] @ C[0]
    joints = [BvhJoint(jt.name, jt.parent, jt.offset, [c for c in jt.channels if c.endswith("position")]
                       + ["Zrotation", "Xrotation", "Yrotation"], jt.end_site) for jt in bvh.joints]
    rig = Bvh(joints, bvh.frame_time, np.zeros((bvh.n_frames, sum(len(jt.channels) for jt in joints))))
    return bvh_to_text(set_local_rotations(rig, local, bvh.local_translations()))


def _mirrored(text: str) -> str:
    """The same file in left-handed coordinates (x -> -x), as Unity writes it."""
    return bvh_to_text(mirror_bvh(read_bvh("mirrored.bvh", text=text)))


def test_mirror_bvh_is_the_reflected_forward_kinematics():
    bvh = read_bvh("m.bvh", text=mocap_hand_bvh("right", 8, 30.0, seed=2))
    G, P = bvh.global_transforms()
    Gm, Pm = mirror_bvh(bvh).global_transforms()
    M = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(Pm, P @ M, atol=1e-9)
    np.testing.assert_allclose(Gm, M @ G @ M, atol=1e-9)
    np.testing.assert_allclose(mirror_bvh(mirror_bvh(bvh)).motion, bvh.motion)


@pytest.mark.parametrize("left_handed", [False, True])
def test_constant_joint_twist_of_the_rig_is_taken_out(tmp_path, caplog, left_handed):
    """ManipNet-like files: every finger joint frame carries a constant twist (90-180 degrees) about its
    bone, invisible in the rest pose and in every joint position. The import keeps the bones and drops
    the constant twist, so it matches the import of the untwisted rig instead of turning each MANO
    finger over; a left-handed copy of the file is read mirrored and gives the same motion."""
    for side in ("right", "left"):
        text = mocap_hand_bvh(side, 90, 30.0, seed=3)
        twisted = _twisted_rig(text)
        (tmp_path / f"plain_{side}.bvh").write_text(text)
        (tmp_path / f"rig_{side}.bvh").write_text(_mirrored(twisted) if left_handed else twisted)
        with caplog.at_level(logging.INFO, logger="engine.io.bvh_hands"):
            caplog.clear()
            plain = load_motion(tmp_path / f"plain_{side}.bvh").track(side)
            assert "twist" not in caplog.text and "mirror" not in caplog.text
            rig = load_motion(tmp_path / f"rig_{side}.bvh").track(side)
        model = get_hand_model(side)
        np.testing.assert_allclose(model.joints_np(rig.global_orient, rig.hand_pose, rig.transl),
                                   model.joints_np(plain.global_orient, plain.hand_pose, plain.transl), atol=1e-6)
        err = np.degrees(geodesic_angle(rig.hand_pose, plain.hand_pose))  # (F, 15)
        assert err.max() < 10.0 and np.median(err) < 3.0, (side, err.max(0).round(1))
        angles = np.degrees(pose_to_angles(rig.hand_pose, side))
        assert np.abs(angles[..., 2]).max() < 30.0  # no joint turned over about its bone
        assert "constant joint twist taken out" in caplog.text
        assert ("reading it mirrored" in caplog.text) == left_handed


def test_left_handed_file_is_read_mirrored(tmp_path, caplog):
    """A hand written in left-handed coordinates is the mirror image of its side: its fingers would curl
    away from MANO's palm. The fingers' bending gives it away and the file is read mirrored."""
    for side in ("right", "left"):
        text = mocap_hand_bvh(side, 30, 30.0, seed=5)
        (tmp_path / f"a_{side}.bvh").write_text(text)
        (tmp_path / f"b_{side}.bvh").write_text(_mirrored(text))
        a = load_motion(tmp_path / f"a_{side}.bvh").track(side)
        with caplog.at_level(logging.WARNING, logger="engine.io.bvh_hands"):
            b = load_motion(tmp_path / f"b_{side}.bvh").track(side)
        flex = np.degrees(pose_to_angles(b.hand_pose, side))[:, [FINGERS[f][0][1] - 1 for f in MOCAP], 0]
        assert flex.mean() > 20.0  # PIPs curl toward the palm
        assert np.degrees(geodesic_angle(b.hand_pose, a.hand_pose)).max() < 1e-6
        assert np.degrees(geodesic_angle(b.global_orient, a.global_orient)).max() < 1e-6
        np.testing.assert_allclose(b.transl, a.transl, atol=1e-9)
        assert "mirror image" in caplog.text


def test_thumb_cmc_split_with_a_link_keeps_the_bone_direction(tmp_path):
    """Thumb CMC as two joints a few mm apart (ManipNet's THUMB_CMC_FE -> THUMB_CMC_AA), the AA joint
    held far from its rest angle: the MANO thumb bone follows the file's CMC -> MCP line."""
    text = mocap_hand_bvh("right", 60, 30.0, seed=3)
    text = text.replace("JOINT THUMB_CMC_AA\n{\nOFFSET 0 0 0", "JOINT THUMB_CMC_AA\n{\nOFFSET -12 14 6")
    assert "OFFSET -12 14 6" in text
    bvh = read_bvh("split.bvh", text=text)
    bvh.motion[:, bvh.channel_slice(bvh.index("THUMB_CMC_AA"))] += 70.0
    (tmp_path / "split_right.bvh").write_text(bvh_to_text(bvh))
    m = load_motion(tmp_path / "split_right.bvh").right
    ours = get_hand_model("right").joints_np(m.global_orient, m.hand_pose, m.transl)
    _, P = bvh.global_transforms()
    groups = map_skeleton(bvh.names, side="right")["right"]
    err = angle_deg(ours[:, 14] - ours[:, 13], P[:, groups["thumb2"][0]] - P[:, groups["thumb1"][0]])
    assert err.max() < 5.0, err.max()
