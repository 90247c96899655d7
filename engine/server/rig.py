"""Retargeting in jobs: a job's `rig` checked at submission, results keyed onto it, bones read back as motion.

    rig_in = prepare_rig(wire)                 # Rig + bone map (sent, or detected); 422 invalid_rig
    rig_in.require(sides, "the result")        # those hands mapped completely and calibrated, at submission
    motion = bones_to_motion(rig_in, b, lim)   # a rig's bone rotations over time -> MANO (rig_to_mano)
    rig_in.result(motions)                     # {"bones", "rotation_modes", "bone_map", "preset"}

`job_rig` and `with_rig` are the two calls a task makes: at submission and after its engine call.

The math is `engine.retarget`'s (numpy); this module turns its errors into API errors that name the
field and the bone, before a job is queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..errors import MotionFormatError
from ..io.wire import WIRE_DECIMALS, wire_list
from ..motion import HandMotion
from ..retarget import BoneMap, Rig, calibrate, detect_bone_map, mano_to_rig, rig_to_mano
from ..skeleton import SIDES
from .config import Limits
from .jobs import ApiError, JobContext
from .schemas import BonesWire, RigWire

log = logging.getLogger(__name__)

MAX_COORD = 1e6  # armature units; a rig in centimetres is still far inside


def invalid_rig(message: str) -> ApiError:
    return ApiError(422, "invalid_rig", message)


@dataclass
class RigInput:
    """A checked rig. `bone_map` is the one sent or detected (returned to the client as it is);
    `sides` the hands retargeted, set by `require`."""

    rig: Rig
    bone_map: BoneMap
    wrist: bool = True
    sides: tuple[str, ...] = ()

    def require(self, sides: Iterable[str], what: str) -> None:
        """The hands of `sides` that the bone map has must be mapped completely and calibrate; at least
        one must be there. `what` names where the hands come from, for the message."""
        wanted = [s for s in SIDES if s in set(sides)]
        used = [s for s in wanted if s in self.bone_map.sides]
        if not used:
            raise invalid_rig(f"rig.bone_map: has no bones for the {' or '.join(wanted) or 'no'} hand of {what} "
                              f"(bone map {self.bone_map.describe()})")
        for side in used:
            try:
                calibrate(self.rig, self.bone_map, side)
            except MotionFormatError as exc:  # an incomplete map, or rest bones that give no palm to measure
                where = "rig.bone_map" if str(exc).startswith("bone map: ") else f"rig ({side} hand)"
                raise invalid_rig(f"{where}: {_strip(str(exc))} (bone map {self.bone_map.describe()})") from None
            except np.linalg.LinAlgError:
                raise invalid_rig(f"rig: cannot calibrate the {side} hand from its rest matrices") from None
        for side in wanted:
            if side not in used:
                log.info("the bone map has no %s hand; that hand is not retargeted", side)
        self.sides = tuple(used)

    def keys(self, motion: HandMotion) -> dict[str, list]:
        """{bone: (T, 4) local quaternions (w, x, y, z)} as lists, for the hands of `require`."""
        solve = BoneMap({s: dict(self.bone_map.bones[s]) for s in self.sides}, self.bone_map.preset)
        return {name: wire_list(q, WIRE_DECIMALS) for name, q in mano_to_rig(motion, self.rig, solve, self.wrist).items()}

    def result(self, motions: list[HandMotion]) -> dict:
        """The result fields a rig adds: `bones` per motion, the keyed bones' rotation modes, the bone map."""
        bones = [self.keys(m) for m in motions]
        modes = {name: self.rig.rotation_modes[self.rig.index(name)] for name in (bones[0] if bones else {})}
        return {"bones": bones, "rotation_modes": modes, **self.fields()}

    def fields(self) -> dict:
        return {"bone_map": self.bone_map.to_dict(), "preset": self.bone_map.preset}


def _strip(message: str) -> str:
    return message[len("bone map: "):] if message.startswith("bone map: ") else message


def _check_numbers(wire: RigWire) -> None:
    """Every matrix finite and within MAX_COORD, naming the bone (the schema lets NaN through for this)."""
    rest = np.asarray(wire.rest, dtype=np.float64).reshape(-1, 4, 4)  # (N, 4, 4): the schema fixed 4 x 4
    bad = ~np.isfinite(rest).all(axis=(1, 2)) | (np.abs(np.nan_to_num(rest)) > MAX_COORD).any(axis=(1, 2))
    for i in np.flatnonzero(bad)[:1]:
        name = repr(wire.names[i]) if i < len(wire.names) else f"#{i}"
        what = "is not finite (NaN or infinity)" if not np.isfinite(rest[i]).all() else f"is beyond ±{MAX_COORD:g}"
        raise invalid_rig(f"rig.rest[{i}]: the rest matrix of bone {name} has a value that {what}")
    if wire.world is not None:
        world = np.asarray(wire.world, dtype=np.float64)
        if not np.isfinite(world).all() or np.abs(world).max() > MAX_COORD:
            raise invalid_rig(f"rig.world: the armature object's matrix must be finite and within ±{MAX_COORD:g}")


def prepare_rig(wire: RigWire) -> RigInput:
    """A job's `rig` checked: the armature (`Rig`), then the bone map sent (bones the rig has) or the one
    detected from the bone names. 422 `invalid_rig` naming the field and bone."""
    _check_numbers(wire)
    try:
        rig = Rig.from_dict(wire.model_dump(include={"names", "parents", "rest", "rotation_modes", "world"},
                                            exclude_none=True))
    except MotionFormatError as exc:
        raise invalid_rig(str(exc)) from None
    if wire.bone_map is not None:
        if wire.preset is not None:
            raise invalid_rig("rig.preset: picks the rig family a bone map is detected with; leave it out when "
                              "sending rig.bone_map")
        try:
            bone_map = BoneMap.from_dict(wire.bone_map.model_dump(exclude_none=True))
            bone_map.check(rig, sides=[])  # unknown bones; completeness per hand in `require`
        except MotionFormatError as exc:
            raise invalid_rig(f"rig.bone_map: {_strip(str(exc))}") from None
    else:
        try:
            bone_map = detect_bone_map(rig.names, preset=wire.preset)
        except MotionFormatError as exc:
            raise invalid_rig(f"rig: {exc}; send rig.bone_map") from None
    return RigInput(rig, bone_map, wire.wrist)


def bones_to_motion(rig_in: RigInput, bones: BonesWire, limits: Limits) -> HandMotion:
    """A rig's bone rotations over time -> the MANO motion they show (`rig_to_mano`; translation zero).
    422 `limit_exceeded` beyond the frame and duration limits; `invalid_motion` for bones the rig lacks,
    unequal lengths or zero quaternions."""
    frames = max(len(q) for q in bones.rotations.values())
    for ok, message in ((frames <= limits.max_frames, f"{frames} frames, the limit is {limits.max_frames}"),
                        ((frames - 1) / bones.fps <= limits.max_seconds + 1e-9,
                         f"{(frames - 1) / bones.fps:.2f} s long, the limit is {limits.max_seconds:g} s")):
        if not ok:
            raise ApiError(422, "limit_exceeded", f"bones: {message}")
    rotations = {name: np.asarray(q, dtype=np.float64) for name, q in bones.rotations.items()}
    bone_map = rig_in.bone_map
    sides = [s for s in bone_map.sides if any(bone_map[s, j] in rotations for j in range(16))]
    if not sides:
        raise ApiError(422, "invalid_motion", "bones: none of the rotated bones is in the bone map "
                                              f"({bone_map.describe()})")
    rig_in.require(sides, "bones")
    try:
        return rig_to_mano(rig_in.rig, bone_map, rotations, bones.fps, wrist=rig_in.wrist)
    except MotionFormatError as exc:
        raise ApiError(422, "invalid_motion", f"bones: {exc}") from None


def job_rig(req, sides: Iterable[str] | None, what: str) -> RigInput | None:
    """A job's checked `rig` (None without one), its hands among `sides` required (see `require`)."""
    if req.rig is None:
        return None
    rig_in = prepare_rig(req.rig)
    if sides is not None:
        rig_in.require(sides, what)
    return rig_in


def with_rig(result: dict, rig_in: RigInput | None, motions: list[HandMotion], ctx: JobContext,
             many: bool = False) -> dict:
    """`result` plus, with a rig, the motions' bone rotations (a list, one per motion, when `many`)."""
    if rig_in is None:
        return result
    with ctx.compute("retargeting", 0.96):
        extra = rig_in.result(motions)
    if not many:
        extra["bones"] = extra["bones"][0]
    return {**result, **extra}
