"""The engine's MANO-parameter `.npz` format (and GRAB/ARCTIC-like variants on read).

Written keys: `fps` (scalar) and, per present hand, `{side}_global_orient (T,3)`,
`{side}_hand_pose (T,45)` axis-angle with the flat hand at zero, `{side}_transl (T,3)` metres,
optional `{side}_betas (10,)` and `{side}_valid (T,)` bool.

On read, common aliases are accepted: side prefixes `left_/lh_/lhand_/l_` and `right_/rh_/rhand_/r_`,
fields `global_orient|root_orient|rot|orient`, `hand_pose|pose|fullpose`, `transl|trans`,
`betas|shape`. A 48-wide pose (global + 15 joints) is split. Data stored relative to the MANO mean
pose is converted when `hand_mean` (15, 3) is given.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError, MotionValueError
from ..motion import HandMotion, HandTrack
from ..skeleton import SIDES
from .npz_utils import read_fps, read_npz

log = logging.getLogger(__name__)

_PREFIXES = {"left": ("left_", "lh_", "lhand_", "l_"), "right": ("right_", "rh_", "rhand_", "r_")}
_FIELDS = {
    "global_orient": ("global_orient", "root_orient", "rot", "orient"),
    "hand_pose": ("hand_pose", "pose", "fullpose"),
    "transl": ("transl", "trans"),
    "betas": ("betas", "shape"),
    "valid": ("valid",),
}


def _find(data: dict[str, np.ndarray], side: str, field: str) -> str | None:
    for prefix in _PREFIXES[side]:
        for name in _FIELDS[field]:
            if prefix + name in data:
                return prefix + name
    return None


def looks_like_mano_npz(keys: set[str]) -> bool:
    """True when the key set holds at least one hand's pose under a recognised name."""
    data = dict.fromkeys(keys)
    return any(_find(data, side, "hand_pose") for side in SIDES)  # type: ignore[arg-type]


def _read_track(data: dict[str, np.ndarray], side: str, path: Path, hand_mean: np.ndarray | None,
                gaps: bool = False) -> HandTrack | None:
    pose_key = _find(data, side, "hand_pose")
    if pose_key is None:
        return None
    pose = np.asarray(data[pose_key], dtype=np.float64)
    if pose.ndim == 3:
        pose = pose.reshape(pose.shape[0], -1)
    if pose.ndim != 2 or pose.shape[1] not in (45, 48):
        raise MotionFormatError(f"{path}: '{pose_key}' must have shape (T, 45) or (T, 15, 3), got {data[pose_key].shape}")
    T = pose.shape[0]
    orient_key = _find(data, side, "global_orient")
    if pose.shape[1] == 48:  # global orient stored in front of the 15 joints
        orient, pose = pose[:, :3], pose[:, 3:]
    elif orient_key is not None:
        orient = data[orient_key]
    else:
        raise MotionFormatError(f"{path}: {side} hand has '{pose_key}' but no global orientation key")
    transl_key = _find(data, side, "transl")
    transl = data[transl_key] if transl_key else np.zeros((T, 3))
    betas_key = _find(data, side, "betas")
    valid_key = _find(data, side, "valid")
    for key, arr in ((orient_key, orient), (transl_key, transl)):
        if key and np.ndim(arr) >= 1 and len(arr) != T:
            raise MotionFormatError(f"{path}: '{key}' has {len(arr)} frames but '{pose_key}' has {T}")
    pose = pose.reshape(T, 15, 3)
    if hand_mean is not None:
        pose = pose + hand_mean[None]
    valid = None if valid_key is None else data[valid_key]
    if gaps:
        pose, orient, transl, valid = _gaps_as_dropouts(pose, orient, transl, valid, T, path, side)
    try:
        return HandTrack(
            global_orient=orient, hand_pose=pose, transl=transl,
            betas=None if betas_key is None else np.asarray(data[betas_key]).reshape(-1)[:10],
            valid=valid,
        )
    except MotionValueError as exc:
        raise MotionFormatError(f"{path}: {side} hand: {exc}") from None


def _gaps_as_dropouts(pose, orient, transl, valid, T: int, path: Path, side: str):
    """Frames holding NaN or inf become dropouts: zeroed and marked invalid (as trackers write them)."""
    arrays = [np.array(a, dtype=np.float64).reshape(T, -1) for a in (pose.reshape(T, -1), orient, transl)]
    bad = np.zeros(T, dtype=bool)
    for a in arrays:
        bad |= ~np.isfinite(a).all(axis=1)
    if bad.any():
        log.warning("%s: %s hand: %d frame(s) with NaN or inf read as dropouts", path, side, int(bad.sum()))
        for a in arrays:
            a[bad] = 0.0
        valid = (np.ones(T, dtype=bool) if valid is None else np.asarray(valid, dtype=bool).copy()) & ~bad
    return arrays[0].reshape(T, 15, 3), arrays[1], arrays[2], valid


def read_mano_npz(
    path: str | os.PathLike, fps: float | None = None, hand_mean: dict[str, np.ndarray] | None = None,
    gaps: bool = False,
) -> HandMotion:
    """Read a MANO-parameter npz. `hand_mean` maps side -> (15, 3) mean pose for mean-relative data.
    gaps: frames with NaN or inf are read as dropouts (`valid` false) instead of refused."""
    path = Path(path)
    data = read_npz(path)
    tracks = {s: _read_track(data, s, path, None if hand_mean is None else hand_mean[s], gaps) for s in SIDES}
    if tracks["left"] is None and tracks["right"] is None:
        raise MotionFormatError(
            f"{path}: no hand parameters found (expected keys like 'right_hand_pose'; found: {', '.join(sorted(data)) or 'none'})"
        )
    try:
        return HandMotion(fps=read_fps(data, path, fps), **tracks)
    except MotionValueError as exc:
        raise MotionFormatError(f"{path}: {exc}") from None


def write_mano_npz(motion: HandMotion, path: str | os.PathLike) -> Path:
    """Write `motion` in the engine's own npz layout (float64 parameters, bool masks)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"fps": np.asarray(motion.fps, dtype=np.float64)}
    for side, track in motion.hands():
        arrays[f"{side}_global_orient"] = track.global_orient
        arrays[f"{side}_hand_pose"] = track.hand_pose.reshape(track.n_frames, 45)
        arrays[f"{side}_transl"] = track.transl
        if track.betas is not None:
            arrays[f"{side}_betas"] = track.betas
        arrays[f"{side}_valid"] = track.valid
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path
