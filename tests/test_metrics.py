"""Reconstruction metrics against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval.metrics import accel_error_mm, codebook_stats, joint_angle_error_deg, mpjpe_mm


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
