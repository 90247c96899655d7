"""Tests for engine.io.bvh_file: parsing, FK, strict errors and write/read round trips."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.errors import MotionFormatError, MotionValueError
from engine.io.bvh_file import Bvh, BvhJoint, bvh_to_text, read_bvh, set_local_rotations, write_bvh
from engine.rotations import euler_to_matrix

ARM = """HIERARCHY
ROOT hips
{
    OFFSET 0 0 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    JOINT arm
    {
        OFFSET 1 0 0
        CHANNELS 1 Zrotation
        JOINT hand
        {
            OFFSET 2 0 0
            CHANNELS 3 Zrotation Xrotation Yrotation
            End Site
            {
                OFFSET 0 1 0
            }
        }
    }
}
MOTION
Frames: 4
Frame Time: 0.008333333333333333
0 0 0   0 0 0   0    0 0 0
10 20 30   0 0 0   90    0 0 0
0 0 0   0 0 90   90    0 0 0
0 0 0   0 0 0   0    90 90 0
"""


def _bvh(text: str, name: str = "test.bvh") -> Bvh:
    return read_bvh(name, text=text)


def test_parse_structure():
    b = _bvh(ARM)
    assert b.names == ["hips", "arm", "hand"]
    assert [j.parent for j in b.joints] == [-1, 0, 1]
    assert b.joints[1].channels == ["Zrotation"]
    assert b.n_frames == 4 and b.motion.shape == (4, 10) and b.motion.dtype == np.float64
    assert b.fps == pytest.approx(120.0, abs=1e-12)
    assert b.index("hand") == 2
    assert [b.channel_slice(j) for j in range(3)] == [slice(0, 6), slice(6, 7), slice(7, 10)]
    np.testing.assert_array_equal(b.joints[2].end_site, [0, 1, 0])
    assert b.joints[0].end_site is None and b.end_site_joints == [2]
    np.testing.assert_allclose(b.rest_positions(), [[0, 0, 0], [1, 0, 0], [3, 0, 0]])
    with pytest.raises(MotionFormatError, match="no joint named 'wrist'"):
        b.index("wrist")


def test_fk_by_hand():
    b = _bvh(ARM)
    _, pos = b.global_transforms()
    ends = b.end_site_positions()[:, 0]
    # frame 0: rest pose.
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [1, 0, 0], [3, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(ends[0], [3, 1, 0], atol=1e-12)
    # frame 1: root moved to (10,20,30); arm Zrot 90 turns the hand offset (2,0,0) into (0,2,0),
    # and the end site (0,1,0) into (-1,0,0).
    np.testing.assert_allclose(pos[1], [[10, 20, 30], [11, 20, 30], [11, 22, 30]], atol=1e-12)
    np.testing.assert_allclose(ends[1], [10, 22, 30], atol=1e-12)
    # frame 2: root Yrot 90 maps (1,0,0) -> (0,0,-1); the arm's Zrot 90 then the root's Yrot 90
    # map the hand offset (2,0,0) -> (0,2,0) -> (0,2,0).
    np.testing.assert_allclose(pos[2], [[0, 0, 0], [0, 0, -1], [0, 2, -1]], atol=1e-12)
    # frame 3: hand ZXY = (90, 90, 0) is intrinsic Rz @ Rx: (0,1,0) -Rx-> (0,0,1) -Rz-> (0,0,1).
    # (The extrinsic reading Rx @ Rz would give (-1,0,0).)
    np.testing.assert_allclose(ends[3], [3, 0, 1], atol=1e-12)
    R = b.local_rotations()
    np.testing.assert_allclose(R[3, 2], euler_to_matrix("ZXY", np.array([90.0, 90.0, 0.0]), degrees=True))
    np.testing.assert_allclose(R[:, 0][0], np.eye(3))


def test_local_translations_position_channels_on_non_root_and_partial():
    text = """HIERARCHY
ROOT a
{
  OFFSET 1 2 3
  CHANNELS 3 Zrotation Xrotation Yrotation
  JOINT b
  {
    OFFSET 4 5 6
    CHANNELS 2 Yposition Xrotation
  }
}
MOTION
Frames: 1
Frame Time: 0.04
0 0 0  -7 90
"""
    b = _bvh(text)
    t = b.local_translations()
    np.testing.assert_allclose(t[0], [[1, 2, 3], [4, -7, 6]])  # root has no position channel: offset kept
    _, pos = b.global_transforms()
    np.testing.assert_allclose(pos[0, 1], [5, -5, 9])
    assert b.fps == pytest.approx(25.0)


def test_multiple_roots_crlf_tabs_blank_lines():
    text = ("HIERARCHY\r\n\r\nROOT\tleft\r\n{\r\n\tOFFSET\t1\t0\t0\r\n"
            "\tCHANNELS 3 Xposition\r\n\t\tYposition Zposition\r\n"  # channel names may continue on the next line
            "\tEnd Site\r\n\t{\r\n\t\tOFFSET 0 0 1\r\n\t}\r\n}\r\n"
            "ROOT right {\r\n\tOFFSET -1 0 0\r\n\tCHANNELS 1 Yrotation\r\n\tJOINT right tip\r\n\t{\r\n"
            "\t\tOFFSET 0 0 2\r\n\t\tCHANNELS 0\r\n\t}\r\n}\r\n\r\n"
            "MOTION\r\nFrames:\t2\r\nFrame Time:\t0.5\r\n\r\n5 6 7\t90\r\n\r\n  1 1 1 0  \r\n\r\n")
    b = _bvh(text)
    assert b.names == ["left", "right", "right tip"]
    assert [j.parent for j in b.joints] == [-1, -1, 1]
    assert b.joints[2].channels == []
    assert b.fps == 2.0
    _, pos = b.global_transforms()
    np.testing.assert_allclose(pos[0], [[5, 6, 7], [-1, 0, 0], [1, 0, 0]], atol=1e-12)  # Ry90: (0,0,2)->(2,0,0)
    np.testing.assert_allclose(b.end_site_positions()[1], [[1, 1, 2]])
    again = _bvh(bvh_to_text(b))
    assert again.names == b.names
    np.testing.assert_allclose(again.motion, b.motion)


def _mixed_skeleton(n_frames: int) -> Bvh:
    rot = lambda order: [f"{a}rotation" for a in order]  # noqa: E731
    pos = ["Xposition", "Yposition", "Zposition"]
    joints = [
        BvhJoint("root", -1, np.zeros(3), pos + rot("ZXY")),
        BvhJoint("spine", 0, np.array([0.0, 1.5, 0.0]), rot("XYZ")),
        BvhJoint("hinge", 1, np.array([0.0, 2.0, 0.1]), rot("Y")),
        BvhJoint("saddle", 2, np.array([0.3, 1.0, 0.0]), rot("XZ"), end_site=np.array([0.0, 0.7, 0.0])),
        BvhJoint("slider", 1, np.array([1.0, 0.0, 0.0]), ["Zposition"] + rot("YXZ")),
        BvhJoint("fixed", 4, np.array([0.5, 0.0, 0.0]), [], end_site=np.array([0.25, 0.0, 0.0])),
        BvhJoint("other_root", -1, np.array([3.0, 0.0, 0.0]), rot("ZY") + pos),
    ]
    n = sum(len(j.channels) for j in joints)
    return Bvh(joints, 1.0 / 120.0, np.zeros((n_frames, n)))


def _random_rotations(bvh: Bvh, rng: np.random.Generator) -> np.ndarray:
    """Random local rotations each joint's channels can represent (arbitrary for 3 channels)."""
    F, J = bvh.n_frames, len(bvh.joints)
    R = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
    for j, joint in enumerate(bvh.joints):
        axes = "".join(c[0] for c in joint.channels if c.endswith("rotation"))
        if axes:
            R[:, j] = euler_to_matrix(axes, rng.uniform(-179, 179, (F, len(axes))), degrees=True)
    return R


def _angle_error_deg(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Rotation angle of A^T B in degrees, accurate for tiny angles (via the Frobenius norm)."""
    return np.degrees(2 * np.arcsin(np.clip(np.linalg.norm(A - B, axis=(-2, -1)) / (2 * np.sqrt(2)), 0, 1)))


def test_round_trip_random_rotations(tmp_path):
    rng = np.random.default_rng(0)
    bvh = _mixed_skeleton(50)
    R = _random_rotations(bvh, rng)
    # Generic rotations on the 3-channel joints, and gimbal lock (middle angle +-90) on "slider".
    R[:, 0] = euler_to_matrix("xyz", rng.normal(size=(50, 3)) * 2, degrees=False)
    R[:, 1] = euler_to_matrix("zyx", rng.normal(size=(50, 3)) * 2, degrees=False)
    R[7:9, 4] = euler_to_matrix("YXZ", np.array([[10.0, 90.0, 20.0], [-30, -90.0, 5]]), degrees=True)
    positions = bvh.local_translations() + 0.0
    positions[:, 0] = rng.normal(size=(50, 3)) * 10
    positions[:, 4, 2] = rng.normal(size=50)
    positions[:, 6] = rng.normal(size=(50, 3))
    filled = set_local_rotations(bvh, R, positions)
    assert filled is not bvh and not np.shares_memory(filled.motion, bvh.motion)
    assert not np.shares_memory(filled.joints[1].offset, bvh.joints[1].offset)
    np.testing.assert_allclose(filled.local_rotations(), R, atol=1e-9)

    path = tmp_path / "mixed.bvh"
    write_bvh(filled, path)
    back = read_bvh(path)
    assert back.names == bvh.names
    assert [j.channels for j in back.joints] == [j.channels for j in bvh.joints]
    assert [j.parent for j in back.joints] == [j.parent for j in bvh.joints]
    assert back.frame_time == 1.0 / 120.0 and back.fps == pytest.approx(120.0, abs=1e-9)
    for a, b in zip(back.joints, bvh.joints):
        np.testing.assert_allclose(a.offset, b.offset, atol=1e-6)
        assert (a.end_site is None) == (b.end_site is None)
    assert _angle_error_deg(back.local_rotations(), R).max() < 1e-5
    np.testing.assert_allclose(back.local_translations(), positions, atol=1e-6)
    Rw0, pw0 = filled.global_transforms()
    Rw1, pw1 = back.global_transforms()
    np.testing.assert_allclose(pw1, pw0, atol=1e-5)
    np.testing.assert_allclose(back.end_site_positions(), filled.end_site_positions(), atol=1e-5)

    text = path.read_text()
    assert "\tJOINT spine\n" in text and "\t\tJOINT hinge\n" in text and "\t\t\t\tEnd Site\n" in text
    assert "Frame Time: 0.008333333333333333\n" in text and "-0.000000" not in text


def test_set_local_rotations_identity_and_defaults():
    b = _bvh(ARM)
    again = set_local_rotations(b, b.local_rotations())
    np.testing.assert_allclose(again.motion, b.motion, atol=1e-9)  # positions kept, angles reproduced
    fewer = set_local_rotations(b, b.local_rotations()[:2])  # other frame count: positions from offsets
    np.testing.assert_allclose(fewer.motion[:, :3], 0.0)
    roots = set_local_rotations(b, b.local_rotations(), np.full((4, 3), 2.0))
    np.testing.assert_allclose(roots.motion[:, :3], 2.0)
    with pytest.raises(MotionValueError, match="expected"):
        set_local_rotations(b, np.zeros((4, 2, 3, 3)))
    with pytest.raises(MotionValueError, match="root_positions"):
        set_local_rotations(b, b.local_rotations(), np.zeros((4, 2)))


def test_unwrap_avoids_360_jumps():
    b = _bvh(ARM)
    angles = np.linspace(0, 720, 4)  # 0, 240, 480, 720 about Z on the 1-channel arm
    R = b.local_rotations()
    R[:, 1] = euler_to_matrix("Z", angles[:, None], degrees=True)
    out = set_local_rotations(b, R).motion[:, 6]
    assert np.abs(np.diff(out)).max() <= 180.0 + 1e-9


def test_best_fit_for_one_and_two_channel_joints(caplog):
    b = _bvh(ARM)
    rng = np.random.default_rng(1)
    R = b.local_rotations()
    # arm (Zrotation only): Rz(30) @ Rx(20) -> the closest rotation about Z is Rz(30).
    R[:, 1] = euler_to_matrix("ZX", np.array([30.0, 20.0]), degrees=True)
    with caplog.at_level(logging.WARNING, logger="engine.io.bvh_file"):
        out = set_local_rotations(b, R)
    np.testing.assert_allclose(out.motion[:, 6], 30.0, atol=1e-9)
    assert "not representable" in caplog.text and "arm" in caplog.text

    # Two channels: the fit is at least as good as a 1-degree grid search over both angles.
    skel = Bvh([BvhJoint("j", -1, np.zeros(3), ["Xrotation", "Zrotation"])], 0.1, np.zeros((6, 2)))
    target = euler_to_matrix("xyz", rng.uniform(-np.pi, np.pi, (6, 3)))
    fit = set_local_rotations(skel, target[:, None]).local_rotations()[:, 0]
    grid = np.arange(-180.0, 180.0, 1.0)
    gx, gz = np.meshgrid(grid, grid, indexing="ij")
    cand = euler_to_matrix("XZ", np.stack([gx.ravel(), gz.ravel()], -1), degrees=True)
    for f in range(6):
        best = _angle_error_deg(cand, target[f]).min()
        assert _angle_error_deg(fit[f], target[f]) <= best + 1e-6


# ----------------------------------------------------------------------------- strict errors

def _replace(old: str, new: str, count: int = 1) -> str:
    assert old in ARM
    return ARM.replace(old, new, count)


BAD = [
    ("", ["empty file"]),
    ("  \n\t\r\n", ["empty file"]),
    ("hello world\n", ["line 1", "not a BVH", "'hello'"]),
    ("HIERARCHY\nMOTION\nFrames: 0\nFrame Time: 0.1\n", ["no ROOT"]),
    (_replace("            }\n        }\n", "            }\n"),  # hand's '}' missing: hips stays open
     ["unbalanced braces", "MOTION reached inside joint hips"]),
    (ARM.split("MOTION")[0].rsplit("}", 1)[0], ["unbalanced braces", "end of file inside joint hips"]),
    (_replace("MOTION", "}\nMOTION"), ["line 21", "unbalanced braces", "unexpected '}'"]),
    (_replace("CHANNELS 1 Zrotation", "CHANNELS 1 Zrotaton"),
     ["line 9", "unknown channel name 'Zrotaton' in joint arm"]),
    (_replace("CHANNELS 1 Zrotation", "CHANNELS 2 Zrotation"), ["line 9", "declares 2 channels but lists 1"]),
    (_replace("CHANNELS 1 Zrotation", "CHANNELS 1 Zrotation Xrotation"), ["declares 1 channels but lists 2"]),
    (_replace("CHANNELS 1 Zrotation", "CHANNELS one Zrotation"), ["channel count", "'one'"]),
    (_replace("CHANNELS 1 Zrotation", "CHANNELS 2 Zrotation Zrotation"), ["duplicate channel Zrotation"]),
    (ARM.split("MOTION")[0], ["missing MOTION section"]),
    (_replace("0 0 0   0 0 0   0    90 90 0\n", "0 0 0   0 0\n"),
     ["truncated", "needs 40 values, got 35", "3 complete frames"]),
    (_replace("Frames: 4", "Frames: 6"), ["truncated", "4 complete frames"]),
    (_replace("10 20 30", "10 abc 30"), ["line 25", "non-numeric motion value 'abc'"]),
    (_replace("10 20 30", "10 nan 30"), ["line 25", "non-finite motion value 'nan'"]),
    (_replace("10 20 30", "10 -inf 30"), ["non-finite motion value '-inf'"]),
    (_replace("Frame Time: 0.008333333333333333", "Frame Time: 0"), ["line 23", "Frame Time must be positive"]),
    (_replace("Frame Time: 0.008333333333333333", "Frame Time: -0.1"), ["Frame Time must be positive"]),
    (_replace("Frame Time: 0.008333333333333333", "Frame Time: fast"), ["expected a number for Frame Time"]),
    (_replace("JOINT hand", "JOINT arm"), ["line 10", "duplicate joint name 'arm'"]),
    (_replace("Frames: 4", "Frames: 2.5"), ["non-negative integer frame count", "'2.5'"]),
    (_replace("Frames: 4", "Frames: -1"), ["non-negative integer frame count"]),
    (_replace("Frames: 4\n", ""), ["expected 'Frames:' after MOTION"]),
    (ARM.split("Frames")[0], ["unexpected end of file", "expected 'Frames:'"]),
    (_replace("JOINT arm\n    {", "JOINT arm\n"), ["line 8", "expected '{' after JOINT arm, got 'OFFSET'"]),
    (_replace("OFFSET 1 0 0", "OFFSET 1 x 0"), ["line 8", "expected a number for OFFSET of joint arm, got 'x'"]),
    (_replace("OFFSET 1 0 0", "OFFSET 1 inf 0"), ["non-finite value 'inf'"]),
    (_replace("OFFSET 1 0 0", "OFFSET 1 0"), ["expected a number for OFFSET of joint arm, got 'CHANNELS'"]),
    (_replace("    CHANNELS 1 Zrotation\n", ""), ["expected 'CHANNELS' after OFFSET in joint arm"]),
    (_replace("End Site", "End"), ["expected 'Site' after End"]),
    (_replace("ROOT hips", "ROOT"), ["line 2", "expected a joint name after ROOT"]),
    (_replace("ROOT hips", "JOINT hips"), ["JOINT outside of any ROOT"]),
    (_replace("JOINT hand", "ROOT hand"), ["ROOT inside joint arm"]),
    (_replace("JOINT hand", "BONE hand"), ["unexpected 'BONE' inside joint arm"]),
    (_replace("MOTION", "garbage\nMOTION"), ["unexpected 'garbage' after the hierarchy"]),
    (_replace("            End Site", "            End Site\n{ OFFSET 0 0 0 }\n            End Site"),
     ["more than one End Site"]),
]


@pytest.mark.parametrize("text,fragments", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_malformed_input_raises_clear_error(text, fragments):
    with pytest.raises(MotionFormatError) as info:
        read_bvh("broken.bvh", text=text)
    msg = str(info.value)
    assert msg.startswith("broken.bvh: ") and "\n" not in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_error_names_the_file_and_missing_file(tmp_path):
    path = tmp_path / "bad.bvh"
    path.write_text(ARM.replace("10 20 30", "10 ? 30"))
    with pytest.raises(MotionFormatError, match=r"bad\.bvh: line 25: non-numeric motion value '\?'"):
        read_bvh(path)
    with pytest.raises(MotionFormatError, match="cannot read file"):
        read_bvh(tmp_path / "missing.bvh")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MotionFormatError, match="not a BVH"):
        read_bvh(path)


def test_zero_frames_allowed_when_stated():
    b = _bvh(ARM.split("Frames")[0] + "Frames: 0\nFrame Time: 0.1\n")
    assert b.n_frames == 0 and b.motion.shape == (0, 10)
    assert b.global_transforms()[1].shape == (0, 3, 3)
    assert _bvh(bvh_to_text(b)).n_frames == 0


def test_extra_frames_warn_and_keep_declared(caplog):
    with caplog.at_level(logging.WARNING, logger="engine.io.bvh_file"):
        b = _bvh(ARM + "1 2 3 4 5 6 7 8 9 10\n1 2\n")
    assert b.n_frames == 4
    np.testing.assert_allclose(b.motion[1, :3], [10, 20, 30])
    assert "12 motion values beyond the declared 4 frames" in caplog.text


def test_every_prefix_and_token_corruption_gives_only_motion_format_errors():
    """No IndexError/ValueError/StopIteration may escape for any damaged file."""
    texts = [ARM[:i] for i in range(len(ARM))]
    tokens = ARM.split(" ")
    rng = np.random.default_rng(2)
    for _ in range(300):
        t = list(tokens)
        k = int(rng.integers(len(t)))
        t[k] = str(rng.choice(["", "{", "}", "x", "-1", "JOINT", "End", "1e999", "MOTION", "Frames:", "\n"]))
        texts.append(" ".join(t))
    for text in texts:
        try:
            read_bvh("fuzz.bvh", text=text)
        except MotionFormatError:
            pass


def test_bvh_constructor_validates():
    with pytest.raises(MotionValueError, match="expected"):
        Bvh([BvhJoint("a", -1, np.zeros(3), ["Xrotation"])], 0.1, np.zeros((3, 2)))
    with pytest.raises(MotionValueError, match="depth-first"):
        Bvh([BvhJoint("a", -1, np.zeros(3), []), BvhJoint("b", 2, np.zeros(3), []),
             BvhJoint("c", 0, np.zeros(3), [])], 0.1, np.zeros((1, 0)))
    with pytest.raises(MotionValueError, match="positive"):
        Bvh([BvhJoint("a", -1, np.zeros(3), [])], 0.0, np.zeros((1, 0)))
    with pytest.raises(MotionValueError, match="cannot be written"):
        bvh_to_text(Bvh([BvhJoint("a\tb", -1, np.zeros(3), [])], 0.1, np.zeros((1, 0))))
