"""Safe `.npz` reading shared by the npz-based formats (never unpickles)."""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError

log = logging.getLogger(__name__)

FPS_KEYS = ("fps", "mocap_framerate", "mocap_frame_rate", "framerate", "frame_rate")


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an npz archive, loaded with `allow_pickle=False`.

    Raises MotionFormatError for an empty, truncated or non-zip file and for pickled object arrays.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise MotionFormatError(f"{path}: file is empty")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {}
            for key in data.files:
                try:
                    out[key] = data[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise MotionFormatError(
                            f"{path}: array '{key}' holds pickled Python objects; HandMotion never loads "
                            "pickle from data files -- re-save it with plain numeric arrays"
                        ) from None
                    raise MotionFormatError(f"{path}: array '{key}' cannot be read ({exc})") from None
            return out
    except MotionFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise MotionFormatError(f"{path}: not a readable .npz archive ({exc})") from None


def read_fps(data: dict[str, np.ndarray], path: str | os.PathLike, fps: float | None) -> float:
    """The frame rate stored under one of FPS_KEYS, or `fps`; 30 with a warning when neither exists."""
    if fps is not None:
        return float(fps)
    for key in FPS_KEYS:
        if key in data:
            try:
                value = float(np.asarray(data[key]).reshape(-1)[0])
            except (ValueError, IndexError, TypeError):
                raise MotionFormatError(f"{path}: '{key}' is not a number") from None
            if not np.isfinite(value) or value <= 0:
                raise MotionFormatError(f"{path}: '{key}' must be a positive frame rate, got {value}")
            return value
    log.warning("%s: no frame rate stored; assuming 30 fps (pass --fps to override)", path)
    return 30.0
