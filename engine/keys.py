"""Keyed poses for in-betweening: partial poses per frame, as features with an observation mask.

A key is `{side: {"global_orient": (3,), "hand_pose": (15, 3) or {joint: (3,)}, "transl": (3,)}}` for
side in "left" / "right"; every part is optional, and `hand_pose` joints may be named (MANO names such as
"index1", see `skeleton.JOINT_NAMES_16`) or numbered 0-14. Rotations are axis-angle (radians),
translations metres. `Keys` is {frame: key}.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import MotionValueError
from .features import HAND_DIM, MOTION_DIM, ORIENT, TRANSL
from .motion import HandMotion
from .rotations import axis_angle_to_rot6d
from .skeleton import JOINT_NAMES_16, SIDES

Keys = dict[int, dict[str, dict[str, Any]]]
PARTS = ("global_orient", "hand_pose", "transl")
FINGER_JOINTS = JOINT_NAMES_16[1:]  # hand_pose order


def _vector(value: Any, where: str, size: int = 3) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionValueError(f"{where}: expected {size} numbers, got {value!r}") from None
    if v.shape != (size,):
        raise MotionValueError(f"{where}: expected {size} numbers, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise MotionValueError(f"{where}: contains NaN or infinity")
    return v


def _joints(value: Any, where: str) -> dict[int, np.ndarray]:
    """hand_pose as (15, 3) / (45,) or {name or index: (3,)} -> {joint index 0-14: axis-angle}."""
    if isinstance(value, dict):
        out = {}
        for name, rot in value.items():
            if isinstance(name, str) and name in FINGER_JOINTS:
                j = FINGER_JOINTS.index(name)
            elif isinstance(name, (int, np.integer)) or (isinstance(name, str) and name.isdigit()):
                j = int(name)
                if not 0 <= j < 15:
                    raise MotionValueError(f"{where}: joint index {j} is not in 0-14")
            else:
                raise MotionValueError(f"{where}: unknown joint {name!r} (known: {', '.join(FINGER_JOINTS)})")
            out[j] = _vector(rot, f"{where}.{name}")
        return out
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == (45,):
        arr = arr.reshape(15, 3)
    if arr.shape != (15, 3):
        raise MotionValueError(f"{where}: expected (15, 3) axis-angles or a {{joint: (3,)}} dict, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise MotionValueError(f"{where}: contains NaN or infinity")
    return {j: arr[j] for j in range(15)}


def keys_to_features(keys: Keys, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys -> known values (n_frames, 198) float32 (0 where unknown) and mask (n_frames, 198) bool."""
    if not isinstance(keys, dict) or not keys:
        raise MotionValueError("at least one key is needed: {frame: {side: {part: values}}}")
    known = np.zeros((n_frames, MOTION_DIM), dtype=np.float32)
    mask = np.zeros((n_frames, MOTION_DIM), dtype=bool)
    for frame, pose in keys.items():
        try:
            f = int(frame)
        except (TypeError, ValueError):
            raise MotionValueError(f"key frame {frame!r} is not a whole number") from None
        if not 0 <= f < n_frames:
            raise MotionValueError(f"key frame {f} is outside the clip (0-{n_frames - 1})")
        if not isinstance(pose, dict) or not pose:
            raise MotionValueError(f"key {f}: expected {{side: {{part: values}}}}, got {pose!r}")
        for side, parts in pose.items():
            if side not in SIDES:
                raise MotionValueError(f"key {f}: unknown hand {side!r} (known: left, right)")
            if not isinstance(parts, dict) or not parts:
                raise MotionValueError(f"key {f}.{side}: expected {{part: values}} with parts {', '.join(PARTS)}")
            base = SIDES.index(side) * HAND_DIM
            for part, value in parts.items():
                where = f"key {f}.{side}.{part}"
                if part == "global_orient":
                    dims = base + np.arange(HAND_DIM)[ORIENT]
                    known[f, dims] = axis_angle_to_rot6d(_vector(value, where)[None])[0]
                elif part == "transl":
                    dims = base + np.arange(HAND_DIM)[TRANSL]
                    known[f, dims] = _vector(value, where)
                elif part == "hand_pose":
                    joints = _joints(value, where)
                    rots = np.stack(list(joints.values()))
                    six = axis_angle_to_rot6d(rots)
                    for j, s in zip(joints, six):
                        dims = base + 6 + 6 * j + np.arange(6)
                        known[f, dims] = s
                        mask[f, dims] = True
                    continue
                else:
                    raise MotionValueError(f"key {f}.{side}: unknown part {part!r} (known: {', '.join(PARTS)})")
                mask[f, dims] = True
    return known, mask


def keys_from_motion(motion: HandMotion, frames, hands: tuple[str, ...] | None = None) -> Keys:
    """Whole-pose keys of `hands` (default: every hand present) at `frames` of `motion`."""
    keys: Keys = {}
    for f in np.asarray(frames, dtype=np.int64).reshape(-1):
        if not 0 <= f < motion.n_frames:
            raise MotionValueError(f"key frame {f} is outside the clip (0-{motion.n_frames - 1})")
        pose = {}
        for side, track in motion.hands():
            if (hands is None or side in hands) and track.valid[f]:
                pose[side] = {"global_orient": track.global_orient[f], "hand_pose": track.hand_pose[f],
                              "transl": track.transl[f]}
        if pose:
            keys[int(f)] = pose
    if not keys:
        raise MotionValueError("no hand is present at any of the key frames")
    return keys


def apply_keys(motion: HandMotion, keys: Keys) -> HandMotion:
    """`motion` with every keyed value written back exactly (in place; also returned)."""
    for frame, pose in keys.items():
        f = int(frame)
        for side, parts in pose.items():
            track = motion.track(side)
            if track is None:
                continue
            for part, value in parts.items():
                if part == "hand_pose":
                    for j, rot in _joints(value, part).items():
                        track.hand_pose[f, j] = rot
                else:
                    getattr(track, part)[f] = np.asarray(value, dtype=np.float64)
    return motion


def keyed_hands(keys: Keys) -> tuple[str, ...]:
    """The hands that have at least one keyed value, in SIDES order."""
    present = {side for pose in keys.values() for side in pose}
    return tuple(s for s in SIDES if s in present)
