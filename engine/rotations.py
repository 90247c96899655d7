"""Rotation conversions on numpy arrays or torch tensors, all through `roma`.

One module for every rotation helper in the engine. Functions accept numpy arrays or torch
tensors of any batch shape and return the same kind. Conventions:

- axis-angle: (..., 3), angle = norm, radians.
- rotation matrix: (..., 3, 3), acting on column vectors.
- quaternion: (..., 4) as (x, y, z, w) -- roma's order. `quat_to_wxyz` / `quat_from_wxyz` convert for Blender.
- 6D: (..., 6) = the first two columns of the rotation matrix, row-major
  `[r00, r01, r10, r11, r20, r21]` (Zhou et al., CVPR 2019); decoded by Gram-Schmidt.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np
import roma
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _apply(fn: Callable[[torch.Tensor], torch.Tensor], x: Array) -> Array:
    """Run a torch function on numpy or torch input, returning the input's kind (float64 for numpy)."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    return fn(t).numpy()


def axis_angle_to_matrix(aa: Array) -> Array:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrix."""
    return _apply(roma.rotvec_to_rotmat, aa)


def matrix_to_axis_angle(R: Array) -> Array:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle with angle in [0, pi]."""
    return _apply(roma.rotmat_to_rotvec, R)


def axis_angle_to_quat(aa: Array) -> Array:
    """(..., 3) axis-angle -> (..., 4) unit quaternion (x, y, z, w)."""
    return _apply(roma.rotvec_to_unitquat, aa)


def quat_to_axis_angle(q: Array) -> Array:
    """(..., 4) unit quaternion (x, y, z, w) -> (..., 3) axis-angle."""
    return _apply(roma.unitquat_to_rotvec, q)


def matrix_to_quat(R: Array) -> Array:
    """(..., 3, 3) -> (..., 4) unit quaternion (x, y, z, w)."""
    return _apply(roma.rotmat_to_unitquat, R)


def quat_to_matrix(q: Array) -> Array:
    """(..., 4) unit quaternion (x, y, z, w) -> (..., 3, 3)."""
    return _apply(roma.unitquat_to_rotmat, q)


def matrix_to_rot6d(R: Array) -> Array:
    """(..., 3, 3) -> (..., 6): the first two columns, row-major."""
    return R[..., :, :2].reshape(*R.shape[:-2], 6)


def rot6d_to_matrix(x: Array) -> Array:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two stored columns (any non-degenerate input)."""
    return _apply(lambda t: roma.special_gramschmidt(t.reshape(*t.shape[:-1], 3, 2)), x)


def axis_angle_to_rot6d(aa: Array) -> Array:
    """(..., 3) axis-angle -> (..., 6)."""
    return matrix_to_rot6d(axis_angle_to_matrix(aa))


def rot6d_to_axis_angle(x: Array) -> Array:
    """(..., 6) -> (..., 3) axis-angle."""
    return matrix_to_axis_angle(rot6d_to_matrix(x))


def euler_to_matrix(convention: str, angles: Array, degrees: bool = False) -> Array:
    """Euler angles (..., len(convention)) -> (..., 3, 3).

    Upper-case axes are intrinsic (R = R_first @ R_second @ R_third, the BVH convention),
    lower-case extrinsic, as in `roma.euler_to_rotmat`.
    """
    return _apply(lambda t: roma.euler_to_rotmat(convention, t, degrees=degrees), angles)


def matrix_to_euler(convention: str, R: Array, degrees: bool = False) -> Array:
    """(..., 3, 3) -> Euler angles (..., 3) in the given three-axis convention."""
    return _apply(lambda t: roma.rotmat_to_euler(convention, t, degrees=degrees), R)


def slerp_axis_angle(aa0: Array, aa1: Array, t: Array) -> Array:
    """Spherical interpolation between rotations given as axis-angle, along the shortest arc.

    aa0, aa1: (..., 3); t: (...,) in [0, 1], broadcast against the batch shape. Returns (..., 3):
    R(t) = R0 exp(t log(R0^T R1)).
    """
    def fn(a: torch.Tensor) -> torch.Tensor:
        R0 = roma.rotvec_to_rotmat(a[..., 0:3])
        R1 = roma.rotvec_to_rotmat(a[..., 3:6])
        rel = roma.rotmat_to_rotvec(R0.transpose(-1, -2) @ R1)  # angle in [0, pi]: shortest arc
        return roma.rotmat_to_rotvec(R0 @ roma.rotvec_to_rotmat(a[..., 6:7] * rel))

    if isinstance(aa0, torch.Tensor):
        t_ = torch.as_tensor(t, dtype=aa0.dtype, device=aa0.device)[..., None]
        a, b, w = torch.broadcast_tensors(aa0, aa1, t_.expand(*t_.shape[:-1], 3))
        return fn(torch.cat([a, b, w[..., :1]], dim=-1))
    tn = np.asarray(t, dtype=np.float64)[..., None]
    a, b, w = np.broadcast_arrays(np.asarray(aa0, np.float64), np.asarray(aa1, np.float64), tn)
    return fn(torch.as_tensor(np.concatenate([a, b, w[..., :1]], axis=-1))).numpy()


def geodesic_angle(aa0: Array, aa1: Array) -> Array:
    """Angle (radians) of the rotation between two axis-angle rotations: (..., 3), (..., 3) -> (...)."""
    if isinstance(aa0, torch.Tensor):
        return roma.rotmat_geodesic_distance(roma.rotvec_to_rotmat(aa0), roma.rotvec_to_rotmat(aa1))
    a = torch.as_tensor(np.asarray(aa0, dtype=np.float64))
    b = torch.as_tensor(np.asarray(aa1, dtype=np.float64))
    return roma.rotmat_geodesic_distance(roma.rotvec_to_rotmat(a), roma.rotvec_to_rotmat(b)).numpy()


def mirror_axis_angle(aa: Array) -> Array:
    """Mirror rotations across the YZ plane (x -> -x): (rx, ry, rz) -> (rx, -ry, -rz).

    For the reflection M = diag(-1, 1, 1), M R M has axis-angle det(M) M r. This is how a right-hand
    MANO pose becomes the equivalent left-hand pose and back. (..., 3) -> (..., 3).
    """
    sign = np.array([1.0, -1.0, -1.0])
    if isinstance(aa, torch.Tensor):
        return aa * torch.as_tensor(sign, dtype=aa.dtype, device=aa.device)
    return np.asarray(aa) * sign


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction a to direction b. a, b: (..., 3) -> (..., 3, 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(s, c)
    # Antiparallel: rotate by pi about any axis orthogonal to a.
    ortho = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]))
    axis = np.where(s > 1e-9, axis / np.maximum(s, 1e-12), ortho / np.linalg.norm(ortho, axis=-1, keepdims=True))
    return axis_angle_to_matrix(axis * angle)


def quat_to_wxyz(q: Array) -> Array:
    """(..., 4) quaternion (x, y, z, w) -> (..., 4) (w, x, y, z), Blender's `rotation_quaternion` order."""
    return q[..., [3, 0, 1, 2]] if isinstance(q, torch.Tensor) else np.asarray(q)[..., [3, 0, 1, 2]]


def quat_from_wxyz(q: Array) -> Array:
    """(..., 4) quaternion (w, x, y, z) -> (..., 4) (x, y, z, w)."""
    return q[..., [1, 2, 3, 0]] if isinstance(q, torch.Tensor) else np.asarray(q)[..., [1, 2, 3, 0]]


def quat_sign_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs along `axis` (time) so consecutive quaternions never have a negative
    dot product, as F-curves need (q and -q are the same rotation). Works in either component order.
    q: (..., 4) numpy; returns a new array of the same shape. The first element keeps its sign."""
    out = np.array(q, dtype=np.float64, copy=True)
    qt = np.moveaxis(out, axis, 0)  # a view: (T, ..., 4)
    if qt.shape[0] > 1:
        dots = np.sum(qt[1:] * qt[:-1], axis=-1)
        qt[1:] *= np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)[..., None]
    return out
