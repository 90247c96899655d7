import numpy as np
import pytest

from engine.errors import MotionValueError
from engine.motion import HandMotion, HandTrack
from engine.rotations import geodesic_angle
from engine.skeleton import get_hand_model, mirror_points
from tests.helpers import smooth_motion, smooth_track


def test_track_validates_shapes_and_values():
    with pytest.raises(MotionValueError, match="hand_pose: expected shape"):
        HandTrack(np.zeros((4, 3)), np.zeros((4, 14, 3)), np.zeros((4, 3)))
    with pytest.raises(MotionValueError, match="transl: expected shape"):
        HandTrack(np.zeros((4, 3)), np.zeros((4, 15, 3)), np.zeros((5, 3)))
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(MotionValueError, match=r"non-finite value .* index \(2, 1\)"):
        HandTrack(bad, np.zeros((4, 15, 3)), np.zeros((4, 3)))
    with pytest.raises(MotionValueError, match="valid"):
        HandTrack(np.zeros((4, 3)), np.zeros((4, 15, 3)), np.zeros((4, 3)), valid=np.ones(3, bool))
    flat = HandTrack(np.zeros((4, 3)), np.zeros((4, 45)), np.zeros((4, 3)))
    assert flat.hand_pose.shape == (4, 15, 3) and flat.valid.all()


def test_motion_validates():
    t = smooth_track(10, 30)
    with pytest.raises(MotionValueError, match="at least one hand"):
        HandMotion(30)
    with pytest.raises(MotionValueError, match="differ in length"):
        HandMotion(30, left=t, right=t.slice(0, 5))
    for fps in (0, -1, float("nan"), float("inf"), "abc"):
        with pytest.raises(MotionValueError, match="fps"):
            HandMotion(fps, right=t)


def test_slice_and_concat():
    m = smooth_motion(40)
    a, b = m[:15], m[15:]
    assert a.n_frames == 15 and b.n_frames == 25
    joined = HandMotion.concat([a, b])
    np.testing.assert_array_equal(joined.right.hand_pose, m.right.hand_pose)
    np.testing.assert_array_equal(joined.left.transl, m.left.transl)
    stepped = m.slice(0, None, 2)
    assert stepped.fps == 15 and stepped.n_frames == 20
    one = HandMotion(30, right=smooth_track(5, 30))
    mixed = HandMotion.concat([m[:10], one])
    assert mixed.left.n_frames == 15
    assert mixed.left.valid[:10].all() and not mixed.left.valid[10:].any()
    with pytest.raises(MotionValueError, match="different fps"):
        HandMotion.concat([m, m.resample(60)])


def test_mirror_is_an_involution_and_mirrors_joints():
    m = smooth_motion(30)
    mm = m.mirror().mirror()
    for side in ("left", "right"):
        np.testing.assert_array_equal(mm.track(side).hand_pose, m.track(side).hand_pose)
        np.testing.assert_array_equal(mm.track(side).global_orient, m.track(side).global_orient)
        np.testing.assert_array_equal(mm.track(side).transl, m.track(side).transl)
    # The mirrored left hand's joints are the right hand's joints reflected across x = 0.
    r = m.right
    jr = get_hand_model("right").joints_np(r.global_orient, r.hand_pose, r.transl)
    ml = m.mirror().left
    jl = get_hand_model("left").joints_np(ml.global_orient, ml.hand_pose, ml.transl)
    np.testing.assert_allclose(jl, mirror_points(jr), atol=1e-12)


def test_resample_round_trip_120_30_120_within_one_degree():
    m = smooth_motion(241, fps=120.0, seed=3)
    low = m.resample(30.0)
    assert low.n_frames == 61 and low.fps == 30.0
    back = low.resample(120.0)
    assert back.n_frames == 241
    worst = 0.0
    for side in ("left", "right"):
        worst = max(worst, np.degrees(geodesic_angle(back.track(side).hand_pose, m.track(side).hand_pose)).max())
        worst = max(worst, np.degrees(geodesic_angle(back.track(side).global_orient, m.track(side).global_orient)).max())
        assert np.abs(back.track(side).transl - m.track(side).transl).max() < 1e-3
    assert worst < 1.0, worst
    # Frames that coincide with source frames are reproduced exactly.
    np.testing.assert_allclose(low.right.hand_pose, m.right.hand_pose[::4], atol=1e-12)


def test_resample_uses_slerp_for_rotations():
    # Half way between 0 and 170 degrees about z: slerp gives 85 degrees about z exactly.
    go = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, np.radians(170)]])
    t = HandTrack(go, np.zeros((2, 15, 3)), np.array([[0, 0, 0], [1.0, 0, 0]]))
    m = HandMotion(1.0, right=t).resample(2.0)
    np.testing.assert_allclose(m.right.global_orient[1], [0, 0, np.radians(85)], atol=1e-12)
    np.testing.assert_allclose(m.right.transl[1], [0.5, 0, 0])


def test_resample_validity():
    t = smooth_track(9, 30)
    t.valid[4] = False
    m = HandMotion(30, right=t).resample(60)
    assert m.n_frames == 17
    assert list(np.flatnonzero(~m.right.valid)) == [7, 8, 9]
    with pytest.raises(MotionValueError):
        m.resample(0)
