"""The JSON wire format of DESIGN.md, used by the HTTP API and `.json` files.

    {"fps": 30.0,
     "left":  {"global_orient": [[x,y,z], ...],          # (T, 3)
               "hand_pose": [[[x,y,z] x 15], ...],        # (T, 15, 3); (T, 45) accepted on input
               "transl": [[x,y,z], ...],                  # (T, 3) metres
               "betas": [...10],  "valid": [true, ...]},  # optional
     "right": {...}}

A hand that is absent is omitted or null. Numbers must be finite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MotionFormatError, MotionValueError
from ..motion import HandMotion, HandTrack
from ..skeleton import SIDES

WIRE_DECIMALS = 6
"""Decimals the HTTP API writes numbers with: 1e-6 rad and 1 micrometre, about float32's resolution at these
magnitudes, in half the bytes and half the encoding time of Python's 17-digit floats."""


def wire_list(values: np.ndarray, decimals: int | None = None) -> list:
    """An array as nested lists, rounded to `decimals` places when given (None: every digit)."""
    return (values if decimals is None else np.round(values, decimals)).tolist()


def motion_to_wire(motion: HandMotion, decimals: int | None = None, flat_pose: bool = False) -> dict[str, Any]:
    """HandMotion -> JSON-ready dict of nested lists; `decimals` rounds the numbers (the HTTP API sends
    `WIRE_DECIMALS`; files keep every digit). `flat_pose` writes `hand_pose` as (T, 45), the input form
    that is quickest to encode and to parse (job bodies); results and files carry (T, 15, 3)."""
    out: dict[str, Any] = {"fps": motion.fps}
    for side, track in motion.hands():
        pose = track.hand_pose.reshape(-1, 45) if flat_pose else track.hand_pose
        hand: dict[str, Any] = {
            "global_orient": wire_list(track.global_orient, decimals),
            "hand_pose": wire_list(pose, decimals),
            "transl": wire_list(track.transl, decimals),
        }
        if track.betas is not None:
            hand["betas"] = track.betas.tolist()
        if not track.valid.all():
            hand["valid"] = track.valid.tolist()
        out[side] = hand
    return out


def motion_from_wire(obj: Any, where: str = "motion") -> HandMotion:
    """JSON dict -> HandMotion; MotionFormatError naming the bad field for anything malformed."""
    if not isinstance(obj, dict):
        raise MotionFormatError(f"{where}: expected a JSON object with 'fps' and 'left'/'right'")
    unknown = set(obj) - {"fps", "left", "right"}
    if unknown:
        raise MotionFormatError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if "fps" not in obj:
        raise MotionFormatError(f"{where}: missing 'fps'")
    tracks: dict[str, HandTrack | None] = {}
    for side in SIDES:
        hand = obj.get(side)
        if hand is None:
            tracks[side] = None
            continue
        if not isinstance(hand, dict):
            raise MotionFormatError(f"{where}.{side}: expected an object")
        missing = [k for k in ("global_orient", "hand_pose", "transl") if k not in hand]
        if missing:
            raise MotionFormatError(f"{where}.{side}: missing {', '.join(missing)}")
        extra = set(hand) - {"global_orient", "hand_pose", "transl", "betas", "valid"}
        if extra:
            raise MotionFormatError(f"{where}.{side}: unknown field(s) {', '.join(sorted(extra))}")
        try:
            valid = hand.get("valid")
            if valid is not None and not all(isinstance(v, bool) for v in valid):
                raise MotionValueError("valid: expected a list of booleans")
            tracks[side] = HandTrack(
                global_orient=hand["global_orient"], hand_pose=hand["hand_pose"], transl=hand["transl"],
                betas=hand.get("betas"), valid=None if valid is None else np.asarray(valid, dtype=bool),
            )
        except (MotionValueError, TypeError) as exc:
            raise MotionFormatError(f"{where}.{side}.{exc}") from None
    try:
        return HandMotion(fps=obj["fps"], **tracks)
    except MotionValueError as exc:
        raise MotionFormatError(f"{where}: {exc}") from None


def read_json(path: str | os.PathLike) -> HandMotion:
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise MotionFormatError(f"{path}: file is empty")
    try:
        obj = json.loads(text, parse_constant=lambda c: _reject_constant(path, c))
    except json.JSONDecodeError as exc:
        raise MotionFormatError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return motion_from_wire(obj, where=path.name)


def _reject_constant(path: Path, name: str) -> float:
    raise MotionFormatError(f"{path}: {name} is not allowed; numbers must be finite")


def write_json(motion: HandMotion, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(motion_to_wire(motion), allow_nan=False, separators=(",", ":")), encoding="utf-8")
    return path
