"""npz (MANO), AMASS and JSON formats: round trips, content sniffing, bad input."""


import json

import numpy as np
import pytest

from engine.errors import MotionFormatError
from engine.io import detect_format, format_for_path, load_motion, save_motion
from engine.io.amass import SMPLH_REST_JOINTS, read_amass
from engine.io.wire import WIRE_DECIMALS, motion_from_wire, motion_to_wire
from engine.motion import HandMotion
from engine.rotations import geodesic_angle
from tests.helpers import smooth_motion, smooth_track


def max_angle_deg(a: HandMotion, b: HandMotion) -> float:
    worst = 0.0
    for side in a.sides:
        ta, tb = a.track(side), b.track(side)
        worst = max(worst, np.degrees(geodesic_angle(ta.hand_pose, tb.hand_pose)).max())
        worst = max(worst, np.degrees(geodesic_angle(ta.global_orient, tb.global_orient)).max())
    return float(worst)


def test_mano_npz_round_trip_is_exact(tmp_path):
    m = smooth_motion(25)
    m.right.valid[3] = False
    m.left.betas = np.linspace(-1, 1, 10)
    path = save_motion(m, tmp_path / "clip.npz")
    assert detect_format(path) == "mano"
    back = load_motion(path)
    assert back.fps == m.fps and back.sides == ["left", "right"]
    np.testing.assert_array_equal(back.right.hand_pose, m.right.hand_pose)
    np.testing.assert_array_equal(back.right.valid, m.right.valid)
    np.testing.assert_array_equal(back.left.betas, m.left.betas)
    with np.load(path) as data:
        assert data["right_hand_pose"].shape == (25, 45)


def test_grab_like_aliases_and_48_wide_pose(tmp_path):
    t = smooth_track(12, 120)
    full = np.concatenate([t.global_orient, t.hand_pose.reshape(12, 45)], axis=1)
    np.savez(tmp_path / "grab.npz", rhand_fullpose=full, rhand_trans=t.transl, framerate=120.0)
    m = load_motion(tmp_path / "grab.npz")
    assert m.fps == 120.0 and m.left is None
    np.testing.assert_allclose(m.right.hand_pose, t.hand_pose)
    np.testing.assert_allclose(m.right.global_orient, t.global_orient)


def test_mean_relative_pose_is_converted(tmp_path):
    t = smooth_track(5, 30)
    np.savez(tmp_path / "rel.npz", right_hand_pose=t.hand_pose.reshape(5, 45), right_global_orient=t.global_orient, fps=30)
    mean = {"left": np.zeros((15, 3)), "right": np.full((15, 3), 0.1)}
    m = load_motion(tmp_path / "rel.npz", hand_mean=mean)
    np.testing.assert_allclose(m.right.hand_pose, t.hand_pose + 0.1)


def test_json_round_trip_is_exact(tmp_path):
    m = smooth_motion(10)
    m.left.valid[0] = False
    path = save_motion(m, tmp_path / "clip.json")
    assert detect_format(path) == "json"
    back = load_motion(path)
    np.testing.assert_array_equal(back.left.hand_pose, m.left.hand_pose)
    np.testing.assert_array_equal(back.left.valid, m.left.valid)
    wire = motion_to_wire(m)
    assert set(wire) == {"fps", "left", "right"} and len(wire["right"]["hand_pose"][0]) == 15
    flat = dict(wire, right=dict(wire["right"], hand_pose=np.asarray(wire["right"]["hand_pose"]).reshape(10, 45).tolist()))
    np.testing.assert_array_equal(motion_from_wire(flat).right.hand_pose, m.right.hand_pose)


def test_the_http_wire_rounds_to_its_decimals_and_files_keep_every_digit(tmp_path):
    m = smooth_motion(10)
    rounded = motion_from_wire(motion_to_wire(m, WIRE_DECIMALS))
    err = np.abs(rounded.right.hand_pose - m.right.hand_pose).max()
    assert 0 < err <= 0.5 * 10.0**-WIRE_DECIMALS + 1e-15
    text = json.dumps(motion_to_wire(m, WIRE_DECIMALS))
    assert max(len(x.split(".")[-1]) for x in text.replace("]", ",").split(",") if "." in x) <= WIRE_DECIMALS
    np.testing.assert_array_equal(load_motion(save_motion(m, tmp_path / "c.json")).right.transl, m.right.transl)
    flat = motion_to_wire(m, flat_pose=True)
    assert len(flat["left"]["hand_pose"][0]) == 45
    np.testing.assert_array_equal(motion_from_wire(flat).left.hand_pose, m.left.hand_pose)


def test_amass_read_hands_and_wrists(tmp_path):
    T = 6
    rng = np.random.default_rng(0)
    poses = np.zeros((T, 156))
    poses[:, 0] = np.pi / 2  # standing in AMASS's Z-up world
    poses[:, 66:156] = rng.normal(size=(T, 90)) * 0.3
    np.savez(tmp_path / "walk_poses.npz", poses=poses, trans=np.zeros((T, 3)), mocap_framerate=np.array(60.0),
             betas=np.zeros(16), gender=np.array("male"))
    assert detect_format(tmp_path / "walk_poses.npz") == "amass"
    m = load_motion(tmp_path / "walk_poses.npz")
    assert m.fps == 60.0
    np.testing.assert_allclose(m.left.hand_pose.reshape(T, 45), poses[:, 66:111])
    np.testing.assert_allclose(m.right.hand_pose.reshape(T, 45), poses[:, 111:156])
    # Body at rest, standing: the wrists have identity orientation (Y up). SMPL poses the root about
    # its rest position J0 in the Z-up world, so back in Y-up the wrist is C J0 + (J_wrist - J0).
    np.testing.assert_allclose(m.right.global_orient, 0, atol=1e-12)
    from engine.io.amass import Z_TO_Y
    from engine.skeleton import get_hand_model

    wrist = get_hand_model("right").joints_np(m.right.global_orient, m.right.hand_pose, m.right.transl)[:, 0]
    J = SMPLH_REST_JOINTS
    np.testing.assert_allclose(wrist, np.tile(Z_TO_Y @ J[0] + J[21] - J[0], (T, 1)), atol=1e-12)


def test_amass_elbow_bend_moves_the_wrist(tmp_path):
    poses = np.zeros((1, 156))
    poses[0, 19 * 3 + 1] = np.pi / 2  # right elbow: 90 degrees about +y (Y-up body frame)
    np.savez(tmp_path / "bend.npz", poses=poses, trans=np.zeros((1, 3)), mocap_framerate=np.array(30.0))
    m = read_amass(tmp_path / "bend.npz", up="y")
    from engine.skeleton import get_hand_model

    wrist = get_hand_model("right").joints_np(m.right.global_orient, m.right.hand_pose, m.right.transl)[0, 0]
    forearm = SMPLH_REST_JOINTS[21] - SMPLH_REST_JOINTS[19]
    Ry = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float)  # 90 degrees about y
    np.testing.assert_allclose(wrist, SMPLH_REST_JOINTS[19] + Ry @ forearm, atol=1e-12)
    np.testing.assert_allclose(m.right.global_orient[0], [0, np.pi / 2, 0], atol=1e-12)


def test_amass_write_read_keeps_hand_poses(tmp_path):
    m = smooth_motion(8)
    path = save_motion(m, tmp_path / "hands_poses.npz")
    assert format_for_path(path) == "amass" and detect_format(path) == "amass"
    back = load_motion(path)
    assert max_angle_deg(m, back) < 1e-6
    mid = lambda mo: np.mean([mo.track(s).transl for s in mo.sides], axis=0)  # noqa: E731
    np.testing.assert_allclose(mid(back), mid(m), atol=1e-9)


def test_amass_constant_hands_are_marked_invalid(tmp_path, caplog):
    poses = np.zeros((10, 156))
    poses[:, 111:156] = 0.2  # the same pose on every frame: no hand capture
    poses[:, 66:111] = np.linspace(0, 1, 10)[:, None]
    np.savez(tmp_path / "body_poses.npz", poses=poses, trans=np.zeros((10, 3)), mocap_framerate=np.array(30.0))
    m = load_motion(tmp_path / "body_poses.npz")
    assert not m.right.valid.any() and m.left.valid.all()
    assert "no hand capture" in caplog.text


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"PK\x03\x04garbage"), "corrupt"),
        (lambda p: np.savez(p, foo=np.zeros(3)), "no recognised motion keys"),
        (lambda p: np.savez(p, right_hand_pose=np.zeros((4, 44)), right_global_orient=np.zeros((4, 3))), r"shape \(T, 45\)"),
        (lambda p: np.savez(p, right_hand_pose=np.zeros((4, 45)), right_global_orient=np.zeros((5, 3))), "global_orient"),
        (lambda p: np.savez(p, right_hand_pose=np.full((4, 45), np.nan), right_global_orient=np.zeros((4, 3))), "NaN"),
        (lambda p: np.savez(p, right_hand_pose=np.zeros((4, 45))), "no global orientation"),
        (lambda p: np.savez(p, right_hand_pose=np.zeros((4, 45)), right_global_orient=np.zeros((4, 3)), fps=-3), "positive frame rate"),
        (lambda p: np.savez(p, right_hand_pose=np.array([{"a": 1}], dtype=object)), "pickled"),
        (lambda p: np.savez(p, poses=np.zeros((4, 100)), trans=np.zeros((4, 3))), "156"),
        (lambda p: p.write_text("hello"), "unrecognised"),
    ],
)
def test_bad_npz_gives_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(MotionFormatError, match=message):
        load_motion(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "invalid JSON"),
        ('{"fps": 30}', "at least one hand"),
        ('{"left": {}}', "missing 'fps'"),
        ('{"fps": 30, "right": {"global_orient": [[0,0,0]], "hand_pose": [[0,0,0]], "transl": [[0,0,0]]}}', "hand_pose"),
        ('{"fps": 30, "right": {"global_orient": [[0,0,NaN]], "hand_pose": [], "transl": []}}', "NaN is not allowed"),
        ('{"fps": 30, "right": {"global_orient": [[0,0,0]]}}', "missing hand_pose, transl"),
        ('{"fps": 30, "middle": {}}', "unknown field"),
        ('[1, 2]', "expected a JSON object"),
    ],
)
def test_bad_json_gives_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(MotionFormatError, match=message):
        load_motion(path)


def test_unknown_output_extension():
    with pytest.raises(MotionFormatError, match="output format"):
        format_for_path("clip.fbx")
