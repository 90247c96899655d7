"""Reading and writing motion files; the format is chosen by content, not only by extension.

| format | read | write |
|---|---|---|
| `mano`  - MANO-parameter `.npz` (ours; GRAB/ARCTIC-like keys) | yes | yes |
| `amass` - AMASS-style SMPL-H / SMPL-X `.npz` | yes | hands-only SMPL-H |
| `bvh`   - BVH hand skeletons of any naming | yes | both hands, canonical skeleton |
| `json`  - the HTTP wire format | yes | yes |
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError
from ..motion import HandMotion

FORMATS = ("mano", "amass", "bvh", "json")


def detect_format(path: str | os.PathLike) -> str:
    """Sniff a file's format from its bytes: one of FORMATS. MotionFormatError if unknown or empty."""
    path = Path(path)
    if not path.exists():
        raise MotionFormatError(f"{path}: no such file")
    if path.is_dir():
        raise MotionFormatError(f"{path}: is a directory, expected a motion file")
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head.strip():
        raise MotionFormatError(f"{path}: file is empty")
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                keys = {n[:-4] if n.endswith(".npy") else n for n in zf.namelist()}
        except zipfile.BadZipFile:
            raise MotionFormatError(f"{path}: truncated or corrupt .npz archive") from None
        from .amass import looks_like_amass
        from .mano_npz import looks_like_mano_npz

        if looks_like_amass(keys):
            return "amass"
        if looks_like_mano_npz(keys):
            return "mano"
        raise MotionFormatError(
            f"{path}: .npz with no recognised motion keys (found: {', '.join(sorted(keys)) or 'none'}); "
            "expected MANO parameters (e.g. right_hand_pose) or AMASS 'poses'"
        )
    if head.startswith(b"\x93NUMPY"):
        raise MotionFormatError(f"{path}: a bare .npy array; save motion as .npz with named arrays (see docs/formats.md)")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if text.upper().startswith("HIERARCHY"):
        return "bvh"
    if text.startswith(("{", "[")):
        return "json"
    raise MotionFormatError(f"{path}: unrecognised file format (expected .npz, .bvh or .json motion)")


def load_motion(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    side: str | None = None,
    hand_mean: dict[str, np.ndarray] | None = None,
    gaps: bool = False,
) -> HandMotion:
    """Read any supported motion file into a HandMotion.

    fps: frame rate for files that do not store one (npz without `fps`). side: which hand a
    single-hand file with side-less joint names holds. hand_mean: side -> (15, 3) MANO mean pose,
    for npz data stored relative to the mean pose. gaps: in MANO npz files, frames holding NaN or inf
    are read as dropouts (`valid` false, values zeroed) instead of refused, for repair.
    """
    fmt = detect_format(path)
    if fmt == "mano":
        from .mano_npz import read_mano_npz

        return read_mano_npz(path, fps=fps, hand_mean=hand_mean, gaps=gaps)
    if fmt == "amass":
        from .amass import read_amass

        return read_amass(path, fps=fps, hand_mean=hand_mean)
    if fmt == "bvh":
        from .bvh_hands import read_bvh_hands

        return read_bvh_hands(path, side=side)
    from .wire import read_json

    return read_json(path)


def format_for_path(path: str | os.PathLike) -> str:
    """The output format implied by a file name: `*_poses.npz`/`*.amass.npz` -> amass, `.npz` -> mano."""
    name = Path(path).name.lower()
    if name.endswith((".amass.npz", "_poses.npz", "_stageii.npz")):
        return "amass"
    ext = Path(name).suffix
    mapping = {".npz": "mano", ".bvh": "bvh", ".json": "json"}
    if ext not in mapping:
        raise MotionFormatError(f"{path}: cannot tell the output format from '{ext or 'no extension'}'; use .npz, .bvh or .json")
    return mapping[ext]


def save_motion(motion: HandMotion, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write `motion` to `path` in `fmt` (default: from the file name). Returns the path written."""
    fmt = fmt or format_for_path(path)
    if fmt == "mano":
        from .mano_npz import write_mano_npz

        return write_mano_npz(motion, path)
    if fmt == "amass":
        from .amass import write_amass

        return write_amass(motion, path)
    if fmt == "bvh":
        from .bvh_hands import write_bvh_hands

        return write_bvh_hands(motion, path)
    if fmt == "json":
        from .wire import write_json

        return write_json(motion, path)
    raise MotionFormatError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
