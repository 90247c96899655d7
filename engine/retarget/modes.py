"""Bone rotations in Blender's rotation modes.

Blender's Euler mode 'XYZ' rotates about X, then Y, then Z, all about the bone's parent-relative
axes: R = Rz @ Ry @ Rx (extrinsic x-y-z, `eulO_to_mat3` in Blender's source); in general mode 'ABC'
gives R = R_C @ R_B @ R_A. `rotation_euler` always stores the angles as (x, y, z) whatever the order.
'AXIS_ANGLE' stores (angle, x, y, z); 'QUATERNION' stores (w, x, y, z).

Curves must be continuous to interpolate well: quaternions are kept sign-continuous and Euler
angles take, frame by frame, the equivalent triple (a + 2 pi k, or the second solution
(a + pi, pi - b, c + pi) in the order's axes) closest to the previous frame.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import MotionFormatError
from ..rotations import (
    axis_angle_to_quat,
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_quat,
    quat_from_wxyz,
    quat_sign_continuous,
    quat_to_matrix,
    quat_to_wxyz,
)
from .rig import ROTATION_MODES, Rig

_EULER = {m for m in ROTATION_MODES if len(m) == 3}


def _check_mode(mode: str) -> None:
    if mode not in ROTATION_MODES:
        raise MotionFormatError(f"unknown rotation mode {mode!r}; expected one of {', '.join(ROTATION_MODES)}")


def _euler_continuous(angles: np.ndarray) -> np.ndarray:
    """(T, ..., 3) Euler angles in the order's own axis order -> the continuous equivalent triples."""
    out = np.array(angles, dtype=np.float64, copy=True)
    two_pi = 2 * np.pi
    for t in range(1, out.shape[0]):
        prev, a = out[t - 1], out[t]
        alt = np.stack([a[..., 0] + np.pi, np.pi - a[..., 1], a[..., 2] + np.pi], axis=-1)
        cands = [c + two_pi * np.round((prev - c) / two_pi) for c in (a, alt)]
        cost = [np.abs(c - prev).sum(-1, keepdims=True) for c in cands]
        out[t] = np.where(cost[1] < cost[0], cands[1], cands[0])
    return out


def _axis_angle_continuous(q: np.ndarray) -> np.ndarray:
    """Sign-continuous (T, ..., 4) (w, x, y, z) -> (T, ..., 4) (angle, x, y, z) with the axis kept on
    the previous frame's side (the angle changes sign instead) and the angle unwrapped, so a steady
    spin keeps one axis and a growing angle. A zero rotation keeps the neighbouring axis."""
    s = np.linalg.norm(q[..., 1:], axis=-1)
    out = np.zeros(q.shape)
    axis_prev = np.broadcast_to([0.0, 1.0, 0.0], q.shape[1:-1] + (3,))
    for t in range(q.shape[0] - 1, -1, -1):  # leading zero rotations take the first real axis
        axis_prev = np.where(s[t, ..., None] > 1e-12, q[t, ..., 1:] / np.maximum(s[t, ..., None], 1e-12), axis_prev)
    for t in range(q.shape[0]):
        axis = np.where(s[t, ..., None] > 1e-12, q[t, ..., 1:] / np.maximum(s[t, ..., None], 1e-12), axis_prev)
        sign = np.where(np.sum(axis * axis_prev, -1) < 0, -1.0, 1.0)
        angle = 2 * np.arctan2(sign * s[t], q[t, ..., 0])
        if t:
            angle += 2 * np.pi * np.round((out[t - 1, ..., 0] - angle) / (2 * np.pi))
        out[t, ..., 0], out[t, ..., 1:] = angle, axis * sign[..., None]
        axis_prev = out[t, ..., 1:]
    return out


def to_rotation_mode(quats: np.ndarray, mode: str) -> np.ndarray:
    """Quaternions (T, ..., 4) as (w, x, y, z) -> the values a pose bone in `mode` stores.

    QUATERNION: (T, ..., 4) (w, x, y, z), sign-continuous over T; Euler modes: (T, ..., 3) angles
    (x, y, z) in radians, continuous over T; AXIS_ANGLE: (T, ..., 4) (angle, x, y, z).
    """
    _check_mode(mode)
    q = np.asarray(quats, dtype=np.float64)
    if q.ndim < 1 or q.shape[-1] != 4:
        raise MotionFormatError(f"expected quaternions of shape (T, 4), got {tuple(q.shape)}")
    q = quat_sign_continuous(q / np.linalg.norm(q, axis=-1, keepdims=True))
    if mode == "QUATERNION":
        return q
    if mode == "AXIS_ANGLE":
        return _axis_angle_continuous(q)
    conv = mode.lower()  # extrinsic, as Blender's orders are
    ordered = _euler_continuous(matrix_to_euler(conv, quat_to_matrix(quat_from_wxyz(q))))
    xyz = np.empty_like(ordered)
    for k, axis in enumerate(conv):
        xyz[..., "xyz".index(axis)] = ordered[..., k]
    return xyz


def from_rotation_mode(values: np.ndarray, mode: str) -> np.ndarray:
    """Inverse of `to_rotation_mode`: a pose bone's stored values in `mode` -> (..., 4) (w, x, y, z)."""
    _check_mode(mode)
    v = np.asarray(values, dtype=np.float64)
    width = 3 if mode in _EULER else 4
    if v.ndim < 1 or v.shape[-1] != width:
        raise MotionFormatError(f"rotation mode {mode} stores {width} values per frame, got shape {tuple(v.shape)}")
    if not np.all(np.isfinite(v)):
        raise MotionFormatError(f"{mode} rotations contain a non-finite value (NaN or inf)")
    if mode == "QUATERNION":
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        if np.any(norm < 1e-9):
            raise MotionFormatError("a quaternion rotation is all zeros")
        return v / norm
    if mode == "AXIS_ANGLE":
        axis = v[..., 1:]
        norm = np.linalg.norm(axis, axis=-1, keepdims=True)
        aa = np.where(norm > 1e-12, axis / np.maximum(norm, 1e-12), 0.0) * v[..., :1]
        return quat_to_wxyz(axis_angle_to_quat(aa))
    conv = mode.lower()
    ordered = np.stack([v[..., "xyz".index(axis)] for axis in conv], axis=-1)
    return quat_to_wxyz(matrix_to_quat(euler_to_matrix(conv, ordered)))


def to_rig_modes(rotations: Mapping[str, np.ndarray], rig: Rig) -> dict[str, np.ndarray]:
    """Per-bone quaternions (T, 4) (w, x, y, z) -> each bone's values in its own rotation mode."""
    return {name: to_rotation_mode(q, rig.rotation_modes[rig.index(name)]) for name, q in rotations.items()}
