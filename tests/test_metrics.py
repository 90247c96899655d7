"""Every evaluation metric against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval.contact import contact_channels, contact_prf
from engine.eval.distribution import diversity, fid, kid, mm_dist, multimodality, r_precision
from engine.eval.metrics import (
    accel_error_mm,
    codebook_stats,
    jerk,
    joint_angle_error_deg,
    keyframe_error_rad,
    l2p,
    l2q,
    mpjpe_mm,
    npss,
)
from engine.eval.text_metrics import bleu, cider_d, rouge_l


def test_mpjpe_of_known_offsets():
    gt = np.zeros((4, 21, 3))
    pred = gt.copy()
    pred[..., 0] = 0.003  # every joint 3 mm off along x
    assert mpjpe_mm(pred, gt) == pytest.approx(3.0)
    pred[:2, :, 1] = 0.004  # half the frames 5 mm off (3-4-5)
    assert mpjpe_mm(pred, gt) == pytest.approx(4.0)


def test_accel_error_of_a_parabola_and_of_a_constant_shift():
    t = np.arange(10, dtype=float)
    gt = np.zeros((10, 1, 3))
    pred = np.zeros((10, 1, 3))
    pred[:, 0, 0] = 0.001 * t**2  # second difference 2 mm / frame^2 everywhere
    assert accel_error_mm(pred, gt) == pytest.approx(2.0)
    assert accel_error_mm(gt + 0.05, gt) == pytest.approx(0.0, abs=1e-9)  # an offset has no acceleration
    assert accel_error_mm(pred[:2], gt[:2]) == 0.0


def test_joint_angle_error_of_known_rotations():
    gt = np.zeros((2, 15, 3))
    pred = gt.copy()
    pred[..., 2] = np.radians(10.0)
    assert joint_angle_error_deg(pred, gt) == pytest.approx(10.0, abs=1e-6)
    pred[0] = 0.0
    assert joint_angle_error_deg(pred, gt) == pytest.approx(5.0, abs=1e-6)


def test_codebook_usage_and_perplexity():
    usage, ppl = codebook_stats(np.arange(8).repeat(3), 16)  # 8 of 16 codes, uniformly
    assert usage == pytest.approx(0.5) and ppl == pytest.approx(8.0)
    usage, ppl = codebook_stats(np.zeros(100, dtype=int), 4)
    assert usage == pytest.approx(0.25) and ppl == pytest.approx(1.0)
    assert codebook_stats(np.array([], dtype=int), 4) == (0.0, 0.0)


# --- in-betweening (LaFAN1 definitions) ----------------------------------------------------------

def test_l2p_of_a_known_offset_and_normalisation():
    gt = np.zeros((5, 1, 3))
    pred = gt + np.array([0.3, 0.4, 0.0])
    assert l2p(pred, gt) == pytest.approx(0.5)
    assert l2p(pred, gt, mean=7.0, std=0.5) == pytest.approx(1.0)  # mean cancels, std scales


def test_l2q_ignores_quaternion_sign_and_measures_a_half_turn():
    ident = np.tile([0.0, 0.0, 0.0, 1.0], (3, 2, 1))
    assert l2q(-ident, ident) == pytest.approx(0.0)
    half_turn = ident.copy()
    half_turn[:, 0] = [0.0, 0.0, 1.0, 0.0]  # 180 deg about z on joint 0: |q - q_gt|^2 = 2 either sign
    assert l2q(half_turn, ident) == pytest.approx(np.sqrt(2.0))


def test_npss_of_dc_against_nyquist_is_two():
    gt = np.ones((1, 4, 1))  # power only at frequency 0: cdf 1, 1, 1, 1
    pred = np.array([1.0, -1.0, 1.0, -1.0])[None, :, None]  # power only at bin 2: cdf 0, 0, 1, 1
    assert npss(pred, gt) == pytest.approx(2.0)
    assert npss(gt, gt) == pytest.approx(0.0)


def test_keyframe_error_and_jerk_by_hand():
    gt = np.zeros((6, 2, 3))
    pred = gt.copy()
    pred[3, 1, 0] = 0.5  # 0.5 rad off at frame 3 only
    assert keyframe_error_rad(pred, gt, [0, 5]) == 0.0
    assert keyframe_error_rad(pred, gt, [0, 3]) == pytest.approx(0.5)
    t = np.arange(8, dtype=float)
    p = np.zeros((8, 1, 3))
    p[:, 0, 2] = t**3  # third difference 6 m / frame^3; at 2 fps that is 6 x 8 = 48 m/s^3
    assert jerk(p, fps=2.0) == pytest.approx(48.0)
    assert jerk(p[:3], fps=2.0) == 0.0


# --- text-motion embedding metrics ------------------------------------------------------------

def test_r_precision_ranks_by_hand():
    text = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    assert r_precision(text, text + 0.1, pool=3).tolist() == [1.0, 1.0, 1.0]
    motion = np.array([[6.0, 0.0], [10.0, 0.0], [0.0, 10.0]])  # motion 0 sits nearer text 1 than text 0
    assert r_precision(text, motion, pool=3).tolist() == pytest.approx([2 / 3, 1.0, 1.0])
    # two pools of 3; a last partial pool of 1 is dropped
    both = r_precision(np.r_[text, text, text[:1]], np.r_[text, motion, text[:1]], pool=3)
    assert both.tolist() == pytest.approx([5 / 6, 1.0, 1.0])


def test_mm_dist_is_the_mean_pair_distance():
    t = np.zeros((2, 2))
    m = np.array([[3.0, 4.0], [0.0, 1.0]])
    assert mm_dist(t, m) == pytest.approx(3.0)


def test_fid_of_shifted_gaussians_by_hand():
    a = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
    assert fid(a, a) == pytest.approx(0.0, abs=1e-9)
    # same covariance, mean moved by (2, 0): FID = |mu_a - mu_b|^2 = 4
    assert fid(a, a + np.array([2.0, 0.0])) == pytest.approx(4.0)
    # covariance scaled by 4 (std x2): tr(S + 4S - 2 * 2S) = tr(S) = 2 * (2/3)
    assert fid(a, 2 * a) == pytest.approx(4.0 / 3.0)


def test_kid_by_hand_with_the_cubic_kernel():
    a, b = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
    # k = (xy + 1)^3: s_aa = k(0,1) = 1, s_bb = k(0,2) = 1, mean k_ab = (1 + 1 + 1 + 27) / 4 = 7.5
    mean, std = kid(a, b, subsets=1, subset_size=2)
    assert mean == pytest.approx(1 + 1 - 2 * 7.5)
    assert std == 0.0


def test_diversity_and_multimodality_on_a_regular_simplex():
    n = 50
    x = np.eye(n) * 5 / np.sqrt(2)  # every pair of distinct rows is 5 apart
    rng = np.random.default_rng(3)
    i, j = rng.choice(n, 20, replace=False), rng.choice(n, 20, replace=False)
    assert diversity(x, times=20, seed=3) == pytest.approx(5.0 * np.mean(i != j))
    assert diversity(np.ones((10, 4)), times=10) == 0.0
    samples = np.stack([x[:10], x[10:20]])  # 2 texts x 10 samples
    rng = np.random.default_rng(1)
    i, j = rng.choice(10, 10, replace=False), rng.choice(10, 10, replace=False)
    assert multimodality(samples, times=10, seed=1) == pytest.approx(5.0 * np.mean(i != j))
    with pytest.raises(ValueError):
        multimodality(np.zeros((3, 1, 4)))


# --- captions -------------------------------------------------------------------------------

def test_bleu_rouge_by_hand():
    hyp, ref = ["the cat sat on the mat"], [["the cat is on the mat"]]
    assert bleu(hyp, ref, 1) == pytest.approx(100 * 5 / 6)  # 5 of 6 unigrams match, same length
    assert bleu(hyp, ref, 4) == 0.0  # no 4-gram matches, no smoothing
    # 7 words each, one differs at the end: precisions 6/7, 5/6, 4/5, 3/4 -> (3/7)^(1/4)
    assert bleu(["the cat sat on the mat today"], [["the cat sat on the mat now"]], 4) == pytest.approx(
        100 * (3 / 7) ** 0.25, abs=1e-6)
    assert rouge_l(hyp, ref) == pytest.approx(100 * 5 / 6)  # LCS "the cat on the mat": P = R = 5/6
    # several references: the best one counts; fewer references on one hypothesis are allowed
    assert rouge_l(hyp + hyp, [["a dog", "the cat sat on the mat"], ["a dog"]]) == pytest.approx(50.0)


def test_cider_d_by_hand():
    a, b = "red fish swim in circles", "blue birds fly over hills"
    assert cider_d([a, b], [[a], [b]]) == pytest.approx(10.0)  # identical, every n-gram unique to its clip
    shared = "the hand moves"  # every word is in every clip's references: idf 0
    assert cider_d(["the hand moves"], [[f"{shared} up"]]) == pytest.approx(0.0)
    assert cider_d(["the hand"] * 2, [[f"{shared} {a}"], [f"{shared} {b}"]]) == pytest.approx(0.0)


# --- contacts -------------------------------------------------------------------------------

def test_contact_precision_recall_f1_by_hand():
    gt = np.array([[1, 1, 1, 0]], dtype=bool)
    pred = np.array([[1, 1, 0, 1]], dtype=bool)  # tp 2, fp 1, fn 1
    assert contact_prf(pred, gt) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert contact_prf(np.zeros(4, bool), np.zeros(4, bool)) == (1.0, 1.0, 1.0)
    assert contact_prf(np.zeros(4, bool), gt[0]) == (0.0, 0.0, 0.0)


def test_contact_channels_thresholds():
    J = np.zeros((2, 21, 3))
    J[:, 17] = [1.0, 0.0, 0.0]  # index tip far from everything
    J[:, 16] = [1.0, 0.0, 0.0]
    J[0, 16, 0] += 0.019  # frame 0: thumb 19 mm from the index tip (< 20 mm), frame 1: 21 mm
    J[1, 16, 0] += 0.021
    for k in (18, 19, 20):
        J[:, k] = [5.0 + k, 0, 0]
    c = contact_channels({"right": J})
    assert c.shape == (2, 18)
    assert c[:, 4].tolist() == [True, False]  # right hand, thumb-index
    assert c.sum() == 1
