import numpy as np

from engine.features import MOTION_DIM, features_to_motion, motion_to_features
from engine.motion import HandMotion
from engine.rotations import geodesic_angle
from tests.helpers import smooth_motion, smooth_track


def test_features_round_trip():
    m = smooth_motion(20)
    x, mask = motion_to_features(m)
    assert x.shape == (20, MOTION_DIM) and x.dtype == np.float32 and mask.all()
    back = features_to_motion(x, m.fps, mask)
    for side in ("left", "right"):
        assert np.degrees(geodesic_angle(back.track(side).hand_pose, m.track(side).hand_pose)).max() < 1e-3
        np.testing.assert_allclose(back.track(side).transl, m.track(side).transl, atol=1e-6)


def test_missing_hand_is_masked_and_dropped():
    m = HandMotion(30, right=smooth_track(10, 30))
    x, mask = motion_to_features(m)
    assert not mask[:, 0].any() and mask[:, 1].all()
    # The absent left hand is the identity rotation in 6D: [1, 0, 0, 1, 0, 0] per joint.
    np.testing.assert_allclose(x[:, :96].reshape(10, 16, 6), np.tile([1, 0, 0, 1, 0, 0], (10, 16, 1)))
    back = features_to_motion(x, 30, mask)
    assert back.left is None and back.right is not None
