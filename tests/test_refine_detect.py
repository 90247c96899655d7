"""Finding malformed hand poses: capsule geometry, every defect kind of the corruption suite found where
it was injected, clean motion left alone, NaN frames read as dropouts, and `handmotion check`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.capsules import hands_depth_mm, segment_distance, self_depth_mm
from engine.corpus.anatomy import angles_to_pose, pose_to_angles
from engine.errors import MotionFormatError
from engine.eval.corrupt import inject
from engine.eval.poses import hand_joints
from engine.examples import greeting
from engine.io import load_motion, save_motion
from engine.motion import HandMotion, HandTrack
from engine.refine import POSITION, Thresholds, detect, validity_error
from engine.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from tests.helpers import run_cli, write_nan_npz


def test_segment_distance_matches_a_dense_search():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(300, 4, 3))
    P[:5, 3] = P[:5, 2]  # degenerate segments (points) too
    d = segment_distance(P[:, 0], P[:, 1], P[:, 2], P[:, 3])
    s = np.linspace(0, 1, 401)
    A = P[:, 0, None] + s[:, None] * (P[:, 1] - P[:, 0])[:, None]
    B = P[:, 2, None] + s[:, None] * (P[:, 3] - P[:, 2])[:, None]
    dense = np.linalg.norm(A[:, :, None] - B[:, None], axis=-1).min((1, 2))
    assert (d <= dense + 1e-12).all() and np.abs(d - dense).max() < 5e-3


def test_capsules_of_a_flat_hand_are_free_and_two_hands_overlap_only_when_together():
    m = greeting()
    J = hand_joints(HandMotion(fps=30.0, right=HandTrack.rest(1), left=HandTrack.rest(1).mirrored()))
    assert self_depth_mm(J["right"]).max() == 0.0
    assert hands_depth_mm(J["left"], J["right"]).max() > 10.0  # both at the origin, fingers interleaved
    apart = J["left"] + np.array([-0.3, 0.0, 0.0])
    assert hands_depth_mm(apart, J["right"]).max() == 0.0
    Jg = hand_joints(m)
    moved = Jg["left"] - Jg["left"][:, :1] + Jg["right"][:, :1]  # left wrist put on the right wrist
    assert hands_depth_mm(moved, Jg["right"]).max(axis=(1, 2)).min() > 15.0


def test_clean_motion_passes():
    found = detect(greeting())
    assert found.clean and found.flagged_frames() == 0
    assert not any(mask.any() for mask in found.masks.values())
    assert validity_error(greeting()) == 0.0


@pytest.mark.parametrize("kind", ["limit", "spike", "flip", "dropout", "interpenetration"])
def test_every_injected_defect_is_found_where_it_was_put(kind):
    clean = greeting()
    for seed in range(6):
        bad, d = inject(clean, kind, np.random.default_rng(seed))
        found = detect(bad)
        slot = POSITION if kind == "interpenetration" else d.joint
        assert found.masks[d.side][d.start:d.end, slot].all(), (kind, seed, found.summary())
        assert any(f.kind == kind and f.side == d.side for f in found.findings)
        far = np.ones(clean.n_frames, dtype=bool)
        far[max(0, d.start - 1):d.end + 1] = False
        others = [s for s in found.masks if s != d.side]
        assert not found.masks[d.side][far].any() and not any(found.masks[s].any() for s in others
                                                                if kind != "interpenetration")
        assert validity_error(bad) > 0.0


def test_a_flip_over_a_fast_turning_wrist_is_one_flip_over_exactly_its_frames():
    """The wrist under the flip turns 12 degrees a frame, so the frames either side of it differ by far
    more than half the flip; the two half turns still pair up instead of reading as two lone turns."""
    clean = greeting()
    T = clean.n_frames
    turn = np.radians(12.0) * np.arange(T)[:, None] * np.array([0.0, 1.0, 0.0])
    right = clean.right
    fast = HandTrack(turn, right.hand_pose, right.transl, right.betas)
    flipped = fast.global_orient.copy()
    a, b = 20, 28
    flipped[a:b] = matrix_to_axis_angle(axis_angle_to_matrix(flipped[a:b]) @ axis_angle_to_matrix(
        np.array([np.pi, 0.0, 0.0])))
    bad = HandMotion(fps=clean.fps, left=clean.left,
                     right=HandTrack(flipped, right.hand_pose, right.transl, right.betas))
    found = detect(bad)
    flips = [f for f in found.findings if f.kind == "flip"]
    assert [(f.side, f.start, f.end) for f in flips] == [("right", a, b)], found.summary()
    assert detect(HandMotion(fps=clean.fps, left=clean.left, right=fast)).clean


def test_the_interpenetration_defect_puts_one_hand_inside_the_other():
    clean = greeting()
    bad, d = inject(clean, "interpenetration", np.random.default_rng(1))
    J = hand_joints(bad)
    palms = hands_depth_mm(J["left"], J["right"])[d.start:d.end]
    assert palms.max(axis=(1, 2)).min() > 10.0
    assert np.linalg.norm(J["left"][d.start:d.end, 0] - J["right"][d.start:d.end, 0], axis=-1).max() < 0.05


def test_fingers_through_fingers_are_found_but_the_thumb_is_left_alone():
    m = greeting()
    track = m.right
    angles = pose_to_angles(track.hand_pose, "right")
    a, b = 40, 50
    # middle finger swung 60 deg toward the little finger, through the ring finger
    angles[a:b] = angles[a]
    angles[a:b, 3, 1] = np.radians(-60.0)
    angles[a:b, 3, 0] = np.radians(10.0)
    angles[a:b, 0, :] = 0.0
    pose = track.hand_pose.copy()
    pose[a:b] = angles_to_pose(angles[a:b], "right")
    bad = HandMotion(fps=m.fps, left=m.left, right=HandTrack(track.global_orient, pose, track.transl))
    found = detect(bad, Thresholds(limit_deg=90.0))  # the swing is also beyond the range: look at contacts
    kinds = {f.kind for f in found.findings}
    assert kinds == {"self_intersection"}, found.summary()
    middle_or_ring = [4, 5, 6, 10, 11, 12]
    assert found.masks["right"][a:b][:, middle_or_ring].any(1).all() and not found.masks["right"][:a].any()
    assert found.masks["right"][a:b, 4].any()


def test_nan_frames_are_dropouts_when_asked_and_errors_otherwise(tmp_path):
    path = tmp_path / "nan.npz"
    write_nan_npz(path)
    with pytest.raises(MotionFormatError, match="non-finite"):
        load_motion(path)
    m = load_motion(path, gaps=True)
    assert m.right.valid.tolist() == [True, True, False, True, True]
    assert np.isfinite(m.right.hand_pose).all() and not m.right.hand_pose[2].any()
    found = detect(m)
    assert [(f.start, f.end) for f in found.findings if f.kind == "dropout"] == [(2, 3)]
    assert found.masks["right"][2].all()


def test_check_command_reports_and_sets_its_exit_status(tmp_path, capsys):
    clean_path, bad_path, report = tmp_path / "clean.npz", tmp_path / "bad.npz", tmp_path / "r.json"
    save_motion(greeting(), clean_path)
    bad, d = inject(greeting(), "flip", np.random.default_rng(0))
    save_motion(bad, bad_path)
    code, out, _ = run_cli(capsys, "check", str(clean_path))
    assert code == 0 and "clean" in out
    code, out, _ = run_cli(capsys, "check", str(bad_path), "--report", str(report))
    assert code == 1 and "flip" in out and f"{d.side} hand" in out
    data = json.loads(report.read_text())
    assert data["counts"]["flip"] == 1 and data["findings"][0]["start"] == d.start
