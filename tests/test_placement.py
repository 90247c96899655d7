"""Rigid placement into a model's frame: exact undo, equivariance to a moved capture, up kept."""

from __future__ import annotations

import numpy as np

from engine.motion import HandMotion
from engine.placement import Placement, fit_placement
from engine.rotations import axis_angle_to_matrix
from tests.helpers import smooth_motion

REF_T = np.array([-0.24, 0.97, 0.30])
REF_G = axis_angle_to_matrix(np.array([0.3, -0.8, 0.2]))


def _yaw(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _close(a: HandMotion, b: HandMotion, atol: float = 1e-9) -> None:
    for side, track in a.hands():
        other = b.track(side)
        np.testing.assert_allclose(track.transl, other.transl, atol=atol)
        np.testing.assert_allclose(axis_angle_to_matrix(track.global_orient),
                                   axis_angle_to_matrix(other.global_orient), atol=atol)
        np.testing.assert_array_equal(track.hand_pose, other.hand_pose)


def test_undo_of_apply_is_exact_and_fingers_untouched():
    motion = smooth_motion(40, seed=5)
    p = fit_placement(motion, REF_T, REF_G)
    moved = p.apply(motion)
    _close(p.undo(moved), motion)
    assert not np.allclose(moved.right.transl, motion.right.transl)
    assert np.allclose(p.R[1], [0, 1, 0]) and np.allclose(p.R[:, 1], [0, 1, 0])  # a yaw: up stays up


def test_a_capture_moved_and_turned_lands_in_the_same_place():
    motion = smooth_motion(40, seed=6)
    elsewhere = Placement(_yaw(130.0), np.zeros(3), np.array([1.5, -0.7, 2.0])).apply(motion)
    a = fit_placement(motion, REF_T, REF_G).apply(motion)
    b = fit_placement(elsewhere, REF_T, REF_G).apply(elsewhere)
    _close(a, b, atol=1e-7)
    # The mean wrist of the placed clip is the reference's (hands averaged; left mirrored).
    one = HandMotion(fps=30.0, right=elsewhere.right)
    placed = fit_placement(one, REF_T, REF_G).apply(one)
    np.testing.assert_allclose(placed.right.transl.mean(axis=0), REF_T, atol=1e-9)


def test_an_atypical_layout_is_pulled_in_per_hand_and_restored_exactly():
    motion = smooth_motion(30, seed=8)
    spread = np.array([0.06, 0.11, 0.06])
    typical = fit_placement(motion, REF_T, REF_G, spread, max_z=50.0)
    assert typical.extra == {}
    crossed = motion.slice()
    crossed.right.transl = crossed.right.transl + np.array([0.6, 0.3, 0.0])  # right hand far across and up
    p = fit_placement(crossed, REF_T, REF_G, spread)
    assert set(p.extra) <= {"left", "right"} and p.extra
    placed = p.apply(crossed)
    for side, track in placed.hands():
        ref = REF_T * (np.array([-1.0, 1.0, 1.0]) if side == "left" else 1.0)
        assert np.all(np.abs(track.transl.mean(axis=0) - ref) <= 2.5 * spread + 1e-9)
    _close(p.undo(placed), crossed)


def test_a_clip_already_in_range_is_left_where_it_is():
    typical = fit_placement(smooth_motion(30, seed=9), REF_T, REF_G).apply(smooth_motion(30, seed=9))
    for side, track in typical.hands():  # each hand at its own reference place: a typical clip
        ref = REF_T * (np.array([-1.0, 1.0, 1.0]) if side == "left" else 1.0)
        track.transl = track.transl - track.transl.mean(axis=0) + ref
    p = fit_placement(typical, REF_T, REF_G, np.array([0.06, 0.11, 0.06]), min_yaw_deg=45.0)
    _close(p.apply(typical), typical)
    turned = Placement(_yaw(150.0), np.zeros(3), np.zeros(3)).apply(typical)
    q = fit_placement(turned, REF_T, REF_G, np.array([0.06, 0.11, 0.06]), min_yaw_deg=45.0)
    assert abs(np.degrees(np.arctan2(q.R[0, 2], q.R[0, 0]))) > 100  # turned back
