"""Differentiable hand kinematics on network features (torch), for losses and metrics."""

from __future__ import annotations

import torch

from ..features import ORIENT, POSE, TRANSL
from ..rotations import rot6d_to_matrix
from ..skeleton import CanonicalHand, forward_kinematics

_RIGHT = CanonicalHand("right")


def feature_rotmats(x: torch.Tensor) -> torch.Tensor:
    """(..., 99) hand features -> (..., 16, 3, 3) local rotations (Gram-Schmidt on each 6D block)."""
    six = torch.cat([x[..., ORIENT], x[..., POSE]], dim=-1).reshape(*x.shape[:-1], 16, 6)
    return rot6d_to_matrix(six)


def right_hand_joints(x: torch.Tensor) -> torch.Tensor:
    """(..., 99) right-hand-space features -> (..., 21, 3) joint positions (m) on the canonical right hand."""
    R = feature_rotmats(x)
    return forward_kinematics(R, _RIGHT.rest_joints().to(x), _RIGHT.rest_tips().to(x), x[..., TRANSL])


def local_finger_joints(x: torch.Tensor) -> torch.Tensor:
    """(..., 99) features -> (..., 20, 3): finger joints relative to the wrist in the hand's own frame
    (global orientation and translation removed), i.e. what the finger articulation alone decides."""
    R = feature_rotmats(x)
    eye = torch.eye(3, dtype=x.dtype, device=x.device).expand_as(R[..., :1, :, :])
    R = torch.cat([eye, R[..., 1:, :, :]], dim=-3)
    zero = torch.zeros_like(x[..., TRANSL])
    J = forward_kinematics(R, _RIGHT.rest_joints().to(x), _RIGHT.rest_tips().to(x), zero)
    return J[..., 1:, :] - J[..., :1, :]
