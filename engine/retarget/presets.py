"""Bone maps: which rig bone drives which MANO joint, per hand, and their detection from bone names.

A `BoneMap` maps (side, MANO joint 0..15) to a bone name; its JSON form names joints as in
`engine.skeleton.JOINT_NAMES_16` (`{"preset": "rigify", "left": {"wrist": "hand_fk.L", "index1":
"f_index.01.L", ...}, "right": {...}}`), so an animator can read and edit it.

`detect_bone_map` tries the alias tables of the known rig families below (exact names, a Mixamo
namespace such as `mixamorig7:` or `Character1:` stripped, case ignored) and keeps the family that finds the most
joints; when none finds more than the general matcher of `engine.joint_names`, that matcher's map is
used (preset "generic"). MANO thumb joints are CMC/MCP/IP (13/14/15), so every family's first thumb
bone is its thumb metacarpal: Rigify `thumb.01`, Mixamo `Thumb1`, UE5 `thumb_01`, VRM 0.x
`ThumbProximal` but VRM 1.0 `ThumbMetacarpal` (1.0 renamed the thumb), MPFB `finger1-1`, Auto-Rig Pro
`c_thumb1`, SMPL-H/X `thumb1`. Finger metacarpals (UE5 `index_metacarpal_l`, Rigify `palm.01`,
MPFB `metacarpal1`, Auto-Rig Pro `c_index1_base`) have no MANO joint and stay at rest.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from ..errors import MotionFormatError
from ..joint_names import detect_family, map_skeleton
from ..skeleton import FINGERS, JOINT_NAMES_16, SIDES

log = logging.getLogger(__name__)

_ANATOMY = {1: "MCP", 2: "PIP", 3: "DIP"}
_THUMB_ANATOMY = {1: "CMC", 2: "MCP", 3: "IP"}
_SIDE_FIELDS = {"left": {"side": "left", "Side": "Left", "S": "L", "s": "l"},
                "right": {"side": "right", "Side": "Right", "S": "R", "s": "r"}}


def joint_label(joint: int) -> str:
    """A MANO joint for people: 'wrist', 'index1 (index MCP)', 'thumb2 (thumb MCP)'."""
    if joint == 0:
        return "wrist"
    finger = next(f for f, (js, _) in FINGERS.items() if joint in js)
    k = FINGERS[finger][0].index(joint) + 1
    return f"{JOINT_NAMES_16[joint]} ({finger} {(_THUMB_ANATOMY if finger == 'thumb' else _ANATOMY)[k]})"


def _joint_index(key: object) -> int:
    if isinstance(key, str) and key in JOINT_NAMES_16:
        return JOINT_NAMES_16.index(key)
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < 16:
        return key
    if isinstance(key, str) and key.isdigit() and int(key) < 16:
        return int(key)
    raise MotionFormatError(f"bone map: unknown MANO joint {key!r}; expected one of {', '.join(JOINT_NAMES_16)}")


def _side(side: object) -> str:
    if side not in SIDES:
        raise MotionFormatError(f"bone map: side must be 'left' or 'right', got {side!r}")
    return side  # type: ignore[return-value]


@dataclass
class BoneMap:
    """(side, MANO joint) -> bone name. `bones[side][joint]`, joint 0 = wrist ... 15 = thumb IP.

    `preset` names the family it came from ("rigify", ..., "generic", or "custom"). Index with
    `bone_map["left", "thumb1"]` or `bone_map["left", 13]` (None when unmapped); assign to edit.
    """

    bones: dict[str, dict[int, str]] = field(default_factory=dict)
    preset: str = "custom"

    def __post_init__(self) -> None:
        clean: dict[str, dict[int, str]] = {}
        for side, joints in dict(self.bones).items():
            clean[_side(side)] = {}
            for key, name in dict(joints).items():
                if not isinstance(name, str) or not name:
                    raise MotionFormatError(f"bone map: {side} {key}: the bone name must be a non-empty string")
                clean[side][_joint_index(key)] = name
        self.bones = clean
        seen: dict[str, tuple[str, int]] = {}
        for side, joint, name in self.items():
            if name in seen:
                other = seen[name]
                raise MotionFormatError(f"bone map: bone {name!r} is mapped twice ({other[0]} {joint_label(other[1])} "
                                        f"and {side} {joint_label(joint)})")
            seen[name] = (side, joint)

    def __getitem__(self, key: tuple[str, int | str]) -> str | None:
        side, joint = key
        return self.bones.get(_side(side), {}).get(_joint_index(joint))

    def __setitem__(self, key: tuple[str, int | str], name: str | None) -> None:
        side, joint = _side(key[0]), _joint_index(key[1])
        if name is None:
            self.bones.get(side, {}).pop(joint, None)
            return
        if not isinstance(name, str) or not name:
            raise MotionFormatError("bone map: the bone name must be a non-empty string")
        for s, j, other in self.items():
            if other == name and (s, j) != (side, joint):
                raise MotionFormatError(f"bone map: bone {name!r} already drives {s} {joint_label(j)}")
        self.bones.setdefault(side, {})[joint] = name

    def items(self) -> Iterable[tuple[str, int, str]]:
        """(side, joint, bone name) for every mapped joint, left first, in MANO joint order."""
        for side in SIDES:
            for joint in sorted(self.bones.get(side, {})):
                yield side, joint, self.bones[side][joint]

    @property
    def sides(self) -> list[str]:
        """Sides with at least one mapped joint."""
        return [s for s in SIDES if self.bones.get(s)]

    def found(self, side: str) -> tuple[int, ...]:
        """MANO joints mapped for `side`, in joint order."""
        return tuple(sorted(self.bones.get(_side(side), {})))

    def missing(self, side: str) -> tuple[int, ...]:
        """MANO joints (0..15) not mapped for `side`."""
        have = self.bones.get(_side(side), {})
        return tuple(j for j in range(16) if j not in have)

    def is_complete(self, side: str) -> bool:
        return not self.missing(side)

    def describe(self) -> str:
        """One line for people: 'rigify: left 16/16, right 13/16 (missing pinky1 (pinky MCP), ...)'."""
        parts = []
        for side in SIDES:
            miss = self.missing(side)
            text = f"{side} {16 - len(miss)}/16"
            if 0 < len(miss) < 16:
                text += " (missing " + ", ".join(joint_label(j) for j in miss) + ")"
            parts.append(text)
        return f"{self.preset}: " + ", ".join(parts)

    def check(self, rig: Any, sides: Sequence[str] | None = None) -> None:
        """Raise MotionFormatError if a mapped bone is not in `rig` (an `engine.retarget.Rig` or any
        container of names) or, for each side in `sides` (default: the mapped sides), a joint is unmapped."""
        unknown = [f"{name!r} ({side} {joint_label(joint)})" for side, joint, name in self.items() if name not in rig]
        if unknown:
            raise MotionFormatError("bone map: the rig has no bone named " + ", ".join(unknown))
        for side in self.sides if sides is None else sides:
            miss = self.missing(side)
            if miss:
                raise MotionFormatError(
                    f"bone map: the {side} hand has no bone for " + ", ".join(joint_label(j) for j in miss)
                    + "; every finger needs three bones and the hand one: map them by hand or pick another preset")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"preset": self.preset}
        for side in self.sides:
            out[side] = {JOINT_NAMES_16[j]: self.bones[side][j] for j in sorted(self.bones[side])}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BoneMap":
        if not isinstance(data, Mapping):
            raise MotionFormatError("bone map: expected an object with 'left' and/or 'right'")
        unknown = set(data) - {"preset", *SIDES}
        if unknown:
            raise MotionFormatError(f"bone map: unknown fields {', '.join(sorted(map(str, unknown)))}")
        bones = {}
        for side in SIDES:
            joints = data.get(side)
            if joints is None:
                continue
            if not isinstance(joints, Mapping):
                raise MotionFormatError(f"bone map: '{side}' must map MANO joint names to bone names")
            bones[side] = dict(joints)
        preset = data.get("preset", "custom")
        return cls(bones, preset if isinstance(preset, str) else "custom")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "BoneMap":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise MotionFormatError(f"bone map: not valid JSON ({exc})") from None


# ---------------------------------------------------------------------------------- alias tables
@dataclass(frozen=True)
class Preset:
    """A rig family's names. Templates use {side}/{Side}/{S}/{s} (left/Left/L/l), {f} the family's
    finger word, {n} its segment word and {k} the segment digit 1..3. Controls come before deform bones."""

    name: str
    label: str
    wrist: tuple[str, ...]
    finger: tuple[str, ...]
    fingers: Mapping[str, str]
    segments: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    wrist_deform: tuple[str, ...] = ()
    finger_deform: tuple[str, ...] = ()
    prefix: str = ""

    def aliases(self, side: str, joint: int, deform: bool = False) -> list[str]:
        """Candidate names for one joint, preferred first."""
        if joint == 0:
            controls, deforms = self.wrist, self.wrist_deform
            values: dict[str, str] = {}
        else:
            finger = next(f for f, (js, _) in FINGERS.items() if joint in js)
            k = FINGERS[finger][0].index(joint)
            seg = self.segments.get(finger, self.segments.get("*", ("1", "2", "3")))[k]
            controls, deforms = self.finger, self.finger_deform
            values = {"f": self.fingers[finger], "n": seg, "k": str(k + 1)}
        order = (deforms + controls) if deform else (controls + deforms)
        return [t.format(**_SIDE_FIELDS[side], **values) for t in order]


_PLAIN = {"index": "index", "middle": "middle", "ring": "ring", "pinky": "pinky", "thumb": "thumb"}
_TITLE = {f: f.title() for f in _PLAIN}
_VRM = dict(_TITLE, pinky="Little")
_VRM0_SEGS = ("Proximal", "Intermediate", "Distal")
_VROID = ("J_Bip_{S}_{f}{k}",)

PRESETS: tuple[Preset, ...] = (
    Preset("rigify", "Rigify", wrist=("hand_fk.{S}", "hand.{S}", "ORG-hand.{S}"),
           finger=("{f}.{n}.{S}", "ORG-{f}.{n}.{S}"),
           fingers={"index": "f_index", "middle": "f_middle", "ring": "f_ring", "pinky": "f_pinky", "thumb": "thumb"},
           segments={"*": ("01", "02", "03")}, wrist_deform=("DEF-hand.{S}",), finger_deform=("DEF-{f}.{n}.{S}",)),
    Preset("mixamo", "Mixamo", wrist=("{Side}Hand",), finger=("{Side}Hand{f}{k}",), fingers=_TITLE,
           prefix=r".*[:|]|mixamorig\d*_"),  # any namespace ("mixamorig7:", "Armature|"), or "mixamorig_"
    Preset("ue5", "Unreal Engine 5 (Manny/Quinn)", wrist=("hand_{s}",), finger=("{f}_{n}_{s}",), fingers=_PLAIN,
           segments={"*": ("01", "02", "03")}),
    Preset("vrm0", "VRM 0.x", wrist=("{side}Hand", "J_Bip_{S}_Hand"), finger=("{side}{f}{n}",) + _VROID,
           fingers=_VRM, segments={"*": _VRM0_SEGS}),
    Preset("vrm1", "VRM 1.0", wrist=("{side}Hand", "J_Bip_{S}_Hand"), finger=("{side}{f}{n}",) + _VROID,
           fingers=_VRM, segments={"*": _VRM0_SEGS, "thumb": ("Metacarpal", "Proximal", "Distal")}),
    Preset("mpfb", "MPFB / MakeHuman", wrist=("wrist.{S}",), finger=("{f}-{k}.{S}",),
           fingers={"thumb": "finger1", "index": "finger2", "middle": "finger3", "ring": "finger4",
                    "pinky": "finger5"}),
    Preset("autorigpro", "Auto-Rig Pro", wrist=("c_hand_fk.{s}",), finger=("c_{f}{k}.{s}",), fingers=_PLAIN,
           wrist_deform=("hand.{s}",), finger_deform=("{f}{k}.{s}",)),
    Preset("smplx", "SMPL-H / SMPL-X", wrist=("{side}_wrist",), finger=("{side}_{f}{k}",), fingers=_PLAIN),
)
PRESET_NAMES = tuple(p.name for p in PRESETS)


def _lookup(names: Sequence[str], prefix: str) -> dict[str, str]:
    """Lower-case name (namespace prefix stripped) -> the rig's name; exact-case names win."""
    strip = re.compile(rf"^(?:{prefix})", re.IGNORECASE) if prefix else None
    out: dict[str, str] = {}
    for name in names:
        key = strip.sub("", name) if strip else name
        out.setdefault(key.lower(), name)
    return out


def preset_bone_map(names: Sequence[str], preset: str, deform: bool = False) -> BoneMap:
    """The bone map one preset's alias table finds among `names` (possibly incomplete)."""
    table = next((p for p in PRESETS if p.name == preset), None)
    if table is None:
        raise MotionFormatError(f"unknown rig preset {preset!r}; expected one of {', '.join(PRESET_NAMES)}")
    lookup = _lookup(names, table.prefix)
    exact = set(names)
    bones: dict[str, dict[int, str]] = {}
    for side in SIDES:
        for joint in range(16):
            for alias in table.aliases(side, joint, deform):
                hit = alias if alias in exact else lookup.get(alias.lower())
                if hit is not None:
                    bones.setdefault(side, {})[joint] = hit
                    break
    return BoneMap(bones, preset)


def _generic_bone_map(names: Sequence[str]) -> BoneMap:
    """The general name matcher's map (one bone per joint: the last of a split joint, which carries it)."""
    try:
        groups = map_skeleton(names)
    except MotionFormatError:
        return BoneMap({}, "generic")
    bones = {side: {JOINT_NAMES_16.index(j): names[idx[-1]] for j, idx in joints.items() if j in JOINT_NAMES_16}
             for side, joints in groups.items()}
    return BoneMap(bones, "generic")


def detect_bone_map(names: Iterable[str], preset: str | None = None, deform: bool = False) -> BoneMap:
    """Find the bones of both hands among a rig's bone names.

    preset: force one family (see PRESET_NAMES) instead of detecting it; deform: prefer deform bones
    (Rigify `DEF-`, Auto-Rig Pro's unprefixed bones) over animation controls. The result may be
    incomplete: `missing(side)` / `describe()` say what was not found, and retargeting raises for a
    side with missing joints. Raises MotionFormatError when no hand bone is recognised at all.
    """
    names = [n for n in names if isinstance(n, str)]
    if preset is not None:
        found = preset_bone_map(names, preset, deform)
        if not found.sides:
            raise MotionFormatError(f"no {preset} hand bones among the rig's {len(names)} bones")
        return found
    candidates = [preset_bone_map(names, p.name, deform) for p in PRESETS]
    best = max(candidates, key=lambda m: sum(len(m.found(s)) for s in SIDES))  # ties: table order
    generic = _generic_bone_map(names)
    score = sum(len(best.found(s)) for s in SIDES)
    if sum(len(generic.found(s)) for s in SIDES) > score:
        log.info("no rig preset matches; bones found by name matching (closest family: %s)", detect_family(names))
        best = generic
    if not best.sides:
        shown = ", ".join(repr(n) for n in names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
        raise MotionFormatError(f"no hand bones recognised among the rig's bones ({shown}); map them by hand")
    log.info("bone map %s", best.describe())
    return best
