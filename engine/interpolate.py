"""Keyframe interpolation without a model: the baselines every in-betweener is measured against.

- `slerp`: per joint, spherical interpolation of the local rotations between consecutive keys, linear
  for the wrist translation; held constant before the first and after the last key.
- `bezier`: what Blender does with keys on a quaternion rig and its default "Auto Clamped" handles:
  each quaternion component and translation axis is its own F-curve, a cubic Bezier between keys with
  handles one third of the interval long, sloped along the neighbouring keys, flat at the first and
  last key and at every key that is a local extreme of its curve (so a peak key stays the peak);
  quaternions are renormalised.
Keys are whole two-hand poses at given frames of a clip; the output has the clip's length.
"""

from __future__ import annotations

import numpy as np

from .errors import MotionValueError
from .motion import HandMotion, HandTrack
from .rotations import axis_angle_to_quat, quat_sign_continuous, quat_to_axis_angle, slerp_axis_angle


def key_frames_every(n_frames: int, every: int) -> np.ndarray:
    """Frames 0, every, 2 every, ... and always the last frame."""
    if every < 1:
        raise MotionValueError(f"key spacing must be at least 1 frame, got {every}")
    return np.unique(np.r_[np.arange(0, n_frames, every), n_frames - 1]).astype(np.int64)


def _check_keys(keys: np.ndarray, n_frames: int) -> np.ndarray:
    keys = np.unique(np.asarray(keys, dtype=np.int64))
    if keys.size == 0:
        raise MotionValueError("at least one key frame is needed")
    if keys[0] < 0 or keys[-1] >= n_frames:
        raise MotionValueError(f"key frames must lie in [0, {n_frames - 1}], got {keys[0]}..{keys[-1]}")
    return keys


def _segments(keys: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """For every frame: index of the key at or before it (clamped) and the fraction towards the next."""
    t = np.arange(n_frames)
    i = np.clip(np.searchsorted(keys, t, side="right") - 1, 0, len(keys) - 1)
    j = np.minimum(i + 1, len(keys) - 1)
    span = np.maximum(keys[j] - keys[i], 1)
    u = np.where(j > i, np.clip((t - keys[i]) / span, 0.0, 1.0), 0.0)
    return i, u


def _slerp_track(track: HandTrack, keys: np.ndarray) -> HandTrack:
    i, u = _segments(keys, track.n_frames)
    j = np.minimum(i + 1, len(keys) - 1)
    rot = np.concatenate([track.global_orient[:, None], track.hand_pose], 1)[keys]  # (K, 16, 3)
    out = slerp_axis_angle(rot[i], rot[j], np.broadcast_to(u[:, None], (len(u), 16)))
    tr = track.transl[keys]
    transl = tr[i] + u[:, None] * (tr[j] - tr[i])
    return HandTrack(out[:, 0], out[:, 1:], transl, track.betas)


def _auto_clamped_slopes(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Slopes (K, C) at keys t (K,) of values v (K, C): central difference, 0 at the ends and where the
    key is a local extreme (no overshoot)."""
    m = np.zeros_like(v)
    if len(t) > 2:
        m[1:-1] = (v[2:] - v[:-2]) / (t[2:] - t[:-2])[:, None]
        extreme = (v[1:-1] - v[:-2]) * (v[2:] - v[1:-1]) <= 0
        m[1:-1][extreme] = 0.0
    return m


def bezier_curves(keys: np.ndarray, values: np.ndarray, n_frames: int) -> np.ndarray:
    """Evaluate auto-clamped cubic Bezier F-curves through (keys, values (K, C)) at every frame -> (T, C)."""
    i, u = _segments(keys, n_frames)
    j = np.minimum(i + 1, len(keys) - 1)
    m = _auto_clamped_slopes(keys.astype(np.float64), values)
    dt = (keys[j] - keys[i]).astype(np.float64)[:, None]
    p0, p3 = values[i], values[j]
    p1, p2 = p0 + m[i] * dt / 3, p3 - m[j] * dt / 3
    s = u[:, None]
    return (1 - s) ** 3 * p0 + 3 * (1 - s) ** 2 * s * p1 + 3 * (1 - s) * s**2 * p2 + s**3 * p3


def _bezier_track(track: HandTrack, keys: np.ndarray) -> HandTrack:
    rot = np.concatenate([track.global_orient[:, None], track.hand_pose], 1)[keys]  # (K, 16, 3)
    q = quat_sign_continuous(axis_angle_to_quat(rot))  # (K, 16, 4): sign-continuous, as a rig's F-curves are
    curves = bezier_curves(keys, q.reshape(len(keys), -1), track.n_frames).reshape(-1, 16, 4)
    curves /= np.linalg.norm(curves, axis=-1, keepdims=True)
    aa = quat_to_axis_angle(curves)
    transl = bezier_curves(keys, track.transl[keys], track.n_frames)
    return HandTrack(aa[:, 0], aa[:, 1:], transl, track.betas)


METHODS = {"slerp": _slerp_track, "bezier": _bezier_track}


def interpolate(motion: HandMotion, keys: np.ndarray | list[int], method: str = "slerp") -> HandMotion:
    """A motion of the same length whose poses at `keys` are the input's and in between are interpolated
    by `method` ("slerp" or "bezier")."""
    if method not in METHODS:
        raise MotionValueError(f"interpolation must be one of {', '.join(METHODS)}, not {method!r}")
    keys = _check_keys(np.asarray(keys), motion.n_frames)
    fn = METHODS[method]
    return HandMotion(fps=motion.fps, **{side: fn(track, keys) for side, track in motion.hands()})
