import numpy as np
import torch

from engine.rotations import axis_angle_to_matrix, axis_angle_to_rot6d, rot6d_to_axis_angle
from engine.skeleton import (
    FINGERS,
    JOINT_NAMES_21,
    PARENTS_21,
    CanonicalHand,
    forward_kinematics,
    get_hand_model,
    joint_axes,
)


def test_tree_shapes():
    assert len(JOINT_NAMES_21) == 21 and len(PARENTS_21) == 21
    assert [PARENTS_21[i] for i in (16, 17, 18, 19, 20)] == [15, 3, 6, 12, 9]


def test_canonical_hand_anthropometry():
    J = CanonicalHand("right").rest_joints().numpy()
    tips = CanonicalHand("right").rest_tips().numpy()
    # Middle finger: MCP 90 mm from the wrist; proximal 44.6 mm, middle 26.3 mm, distal+pulp 21.4 mm.
    assert np.isclose(np.linalg.norm(J[4] - J[0]), 0.090, atol=1e-6)
    assert np.isclose(np.linalg.norm(J[5] - J[4]), 0.0446, atol=1e-6)
    assert np.isclose(np.linalg.norm(J[6] - J[5]), 0.0263, atol=1e-6)
    assert np.isclose(np.linalg.norm(tips[2] - J[6]), 0.0214, atol=1e-6)
    hand_length = np.linalg.norm(tips[2] - J[0])
    assert 0.17 < hand_length < 0.20
    # Right hand: fingers along -x, thumb toward +z; left hand is the mirror image.
    assert tips[2][0] < J[0][0] and tips[0][2] > J[0][2]
    np.testing.assert_allclose(CanonicalHand("left").rest_joints().numpy(), J * [-1, 1, 1])


def test_fk_index_mcp_flexion_by_hand():
    """A 90 degree flexion of the index MCP swings index PIP, DIP and tip down toward the palm (-y)
    about the MCP: on paper, a point at (MCP + (-L, 0, dz)) goes to (MCP + (0, -L, dz)) for the
    flexion axis +z. The canonical index splays slightly, so rotate about its own axis and compare
    with Rodrigues' formula evaluated by hand on the rest offsets."""
    hand = CanonicalHand("right")
    J = hand.rest_joints().numpy()
    tips = hand.rest_tips().numpy()
    flex, _ = joint_axes("right")
    pose = np.zeros((15, 3))
    pose[0] = flex[0] * np.pi / 2
    out = hand.joints_np(np.zeros(3), pose, np.zeros(3))
    k = flex[0]
    for idx, rest in ((2, J[2]), (3, J[3]), (17, tips[1])):
        v = rest - J[1]
        # Rodrigues at 90 degrees: v' = (k x v) + k (k . v)
        expected = J[1] + np.cross(k, v) + k * (k @ v)
        np.testing.assert_allclose(out[idx], expected, atol=1e-12)
    # The straight-axis version on paper: the tip ends one finger length below the MCP.
    L = np.linalg.norm(tips[1] - J[1])
    assert np.isclose(out[17][1], J[1][1] - L, atol=2e-4)
    assert np.isclose(out[17][0], J[1][0], atol=1e-3)
    # Exactly +z flexion with a pure -x bone (paper case).
    rest = torch.tensor([[0.0, 0, 0]] + [[-0.05 * (i % 3 + 1), 0, 0] for i in range(15)], dtype=torch.float64)
    tips_t = torch.tensor([[-0.2, 0, 0]] * 5, dtype=torch.float64)
    R = torch.eye(3, dtype=torch.float64).repeat(16, 1, 1)
    R[1] = torch.as_tensor(axis_angle_to_matrix(np.array([0, 0, np.pi / 2])))
    p = forward_kinematics(R, rest, tips_t, torch.zeros(3, dtype=torch.float64))
    np.testing.assert_allclose(p[2].numpy(), [-0.05, -0.05, 0.0], atol=1e-12)


def test_fk_flexion_curls_toward_palm_for_both_hands():
    for side in ("left", "right"):
        hand = get_hand_model(side)
        flex, _ = joint_axes(side)
        fist = np.zeros((15, 3))
        for f, (joints, _) in FINGERS.items():
            for j in joints:
                fist[j - 1] = flex[j - 1] * 1.2
        open_ = hand.joints_np(np.zeros(3), np.zeros((15, 3)), np.zeros(3))
        closed = hand.joints_np(np.zeros(3), fist, np.zeros(3))
        # Fingertips move toward the palm side (-y) and closer to the wrist.
        assert (closed[17:21, 1] < open_[17:21, 1] - 0.02).all()
        assert (np.linalg.norm(closed[17:21] - closed[0], axis=-1) < np.linalg.norm(open_[17:21] - open_[0], axis=-1)).all()


def test_fk_batched_torch_and_numpy_agree():
    rng = np.random.default_rng(0)
    go, hp, tr = rng.normal(size=(4, 7, 3)) * 0.4, rng.normal(size=(4, 7, 15, 3)) * 0.4, rng.normal(size=(4, 7, 3)) * 0.1
    hand = get_hand_model("right")
    np_out = hand.joints_np(go, hp, tr)
    t_out = hand.joints(torch.tensor(go), torch.tensor(hp), torch.tensor(tr))
    assert np_out.shape == (4, 7, 21, 3)
    np.testing.assert_allclose(np_out, t_out.numpy(), atol=1e-12)
    # Root rotation pivots about the wrist, translation shifts everything.
    single = hand.joints_np(go[0, 0], hp[0, 0], tr[0, 0])
    np.testing.assert_allclose(single, np_out[0, 0])
    np.testing.assert_allclose(single[0], hand.rest_joints().numpy()[0] + tr[0, 0])


def test_rot6d_round_trip():
    rng = np.random.default_rng(1)
    aa = rng.normal(size=(100, 3))
    aa *= np.minimum(1, 3.0 / np.linalg.norm(aa, axis=-1, keepdims=True))
    x6 = axis_angle_to_rot6d(aa)
    assert x6.shape == (100, 6)
    R = axis_angle_to_matrix(aa)
    np.testing.assert_allclose(x6[:, [0, 2, 4]], R[:, :, 0])  # first column, row-major layout
    np.testing.assert_allclose(rot6d_to_axis_angle(x6), aa, atol=1e-9)
    # Gram-Schmidt makes any non-degenerate 6D vector a rotation.
    noisy = torch.tensor(x6 + rng.normal(size=x6.shape) * 0.05)
    back = axis_angle_to_matrix(rot6d_to_axis_angle(noisy))
    np.testing.assert_allclose((back @ back.transpose(-1, -2)).numpy(), np.tile(np.eye(3), (100, 1, 1)), atol=1e-9)
