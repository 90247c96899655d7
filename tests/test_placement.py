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
