"""BVH hand import/export: round trips, foreign skeletons, the two-file mocap path, bad input."""

import numpy as np
import pytest

from engine.cli import main
from engine.errors import MotionFormatError
from engine.io import load_motion, save_motion
from engine.io.bvh_file import read_bvh
from engine.joint_names import map_skeleton
from engine.rotations import geodesic_angle
from engine.skeleton import FINGERS, JOINT_NAMES_16, PARENTS_16, get_hand_model, joint_axes
from tests.helpers import mocap_hand_bvh, smooth_motion

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
