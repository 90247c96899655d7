"""Match skeleton bone/joint names from many rigging conventions to MANO hand joints.

One matcher shared by the BVH importer and the Blender retargeter. A name is normalised (namespace
such as ``mixamorig12:`` dropped, prefixes ``DEF-``/``ORG-``/``MCH-``/``Bip01 ``/``CC_Base_``/
``J_Bip_`` stripped, Blender ``.001`` duplicate suffix removed, camelCase and ``_ . - space`` split
into lower-case tokens, glued words like ``lindex``/``lefthandindex`` split), its side tokens
(left/right, l/r, lh/rh, lt/rt) are taken out and the rest is resolved with small tables: finger words,
segment words/digits, thumb conventions. A table of per-family regexes only names the family (`preset`).

Conventions: ``<finger>1/2/3`` = MCP/PIP/DIP (thumb: CMC/MCP/IP), digit 0 / metacarpal words on a
finger = ``<finger>_meta`` (a metacarpal bone with no MANO joint), digit 4 / tip/end/nub = tip.
Thumb words: cmc/metacarpal -> thumb1, mcp -> thumb2, ip -> thumb3; Proximal/Intermediate/Distal
follow VRM 0.x (thumb1/2/3) unless the family is ``vrm1`` (Proximal -> thumb2), which `map_skeleton`
and `detect_family` pick when any thumb-metacarpal name is present. "middle"/"mid" is always the
middle finger, never a segment. A name with two finger words is ambiguous and gives None.

Priority (`map_skeleton` keeps the lowest rank per side/joint/part; ties keep the first, with a
warning): control or plain bone 0 < ``DEF-`` / Auto-Rig Pro deform bone 1 < IK control (``hand_ik.L``,
``ik_hand_l``) +2 < ``ORG-`` 3 < ``MCH-`` and helper bones (tweak/rot/drv/...) 4; a ``.001`` duplicate
adds 5; a wrist named "hand" ranks 1 below one named "wrist" (SMPL has both); ARP ``c_thumb1_base``
ranks below ``c_thumb1``. Never matched: arm/forearm/elbow/shoulder/leg/foot/... bones, IK
poles/targets, ``ik_hand_root``/``ik_hand_gun``, Rigify ``_master`` bones, palm without a number.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from .errors import MotionFormatError
from .skeleton import FINGERS as _FINGER_JOINTS
from .skeleton import JOINT_NAMES_16, TIP_NAMES

log = logging.getLogger(__name__)

FAMILIES = ("mano", "smplh", "mixamo", "ue5", "rigify", "vrm0", "vrm1", "mpfb", "autorigpro",
            "mocap", "biped", "generic")
FINGERS = tuple(_FINGER_JOINTS)  # thumb, index, middle, ring, pinky: the digit order of MPFB/Biped
_VRM1_THUMB = re.compile(r"(?i)thumb[ ._-]?metacarpal")


@dataclass(frozen=True)
class JointMatch:
    """A bone name resolved to a MANO joint.

    side: "left" | "right" | None when the name carries no side.
    joint: a name from JOINT_NAMES_16 or TIP_NAMES, or "<finger>_meta" for a metacarpal bone.
    part: order inside a group of bones forming one MANO joint (FE = 0, AA = 1), else 0.
    preset: the naming family that matched (one of FAMILIES).
    """

    side: str | None
    joint: str
    part: int = 0
    preset: str = ""


# ----------------------------------------------------------------------------- vocabulary tables
_SIDES = {"left": "left", "l": "left", "lh": "left", "lt": "left", "lft": "left",
          "right": "right", "r": "right", "rh": "right", "rt": "right", "rgt": "right"}
_FINGER_WORDS = {"thumb": "thumb", "index": "index", "pointer": "index", "fore": "index",
                 "middle": "middle", "mid": "middle", "ring": "ring", "pinky": "pinky",
                 "pinkie": "pinky", "little": "pinky", "small": "pinky"}
_TIP = {"tip": "tip", "end": "tip", "nub": "tip"}
_FINGER_SEGS = {"meta": "meta", "metacarpal": "meta", "mc": "meta", "carpal": "meta", "base": "meta",
                "cmc": "meta", "proximal": 1, "prox": 1, "mcp": 1, "intermediate": 2, "inter": 2,
                "medial": 2, "pip": 2, "distal": 3, "dist": 3, "dip": 3, **_TIP}
_THUMB_SEGS = {"cmc": 1, "tmc": 1, "meta": 1, "metacarpal": 1, "base": 1, "mcp": 2, "ip": 3,
               "pip": 3, "dip": 3, **_TIP}
_THUMB_VRM0 = {"proximal": 1, "prox": 1, "intermediate": 2, "medial": 2, "distal": 3, "dist": 3}
_THUMB_VRM1 = {"proximal": 2, "prox": 2, "intermediate": 2, "medial": 2, "distal": 3, "dist": 3}
_DIGIT_SEGS = {0: "meta", 1: 1, 2: 2, 3: 3, 4: "tip"}
_PARTS = {"fe": 0, "flex": 0, "flexion": 0, "aa": 1, "abd": 1, "abduction": 1, "spread": 1}
_WRIST_WORDS = {"wrist", "hand"}
_FILLERS = {"f", "c", "finger", "fk", "jnt", "joint", "bone", "bn", "b", "j", "ctrl", "ctl", "con",
            "control", "deform", "def", "bind", "skin", "root", "ik"}
_LOW = {"tweak", "rot", "drv", "helper", "bend", "stretch", "snap", "scale", "fix", "pre",
        "offset", "parent", "ref", "socket"}
_EXCLUDE = {"arm", "forearm", "upperarm", "lowerarm", "elbow", "shoulder", "clavicle", "leg",
            "foot", "toe", "toes", "thigh", "calf", "shin", "spine", "neck", "head", "hip", "hips",
            "pole", "target", "tgt", "twist", "master", "gun", "weapon", "prop", "attach", "eye",
            "all", "stub"}
# pieces that glued lower-case words ("lindex", "lefthandindex", "forefinger") may be split into
_PIECES = (set(_FINGER_WORDS) | {"left", "right", "l", "r", "hand", "wrist", "finger", "tip",
           "ik", "fk", "root", "base", "arm", "forearm", "proximal", "intermediate", "distal",
           "metacarpal", "meta", "mcp", "pip", "dip", "cmc"})
_VOCAB = (_PIECES | set(_SIDES) | set(_FINGER_SEGS) | set(_THUMB_SEGS) | set(_PARTS) | _FILLERS
          | _LOW | _EXCLUDE | {"palm", "medial"})

# ---------------------------------------------------------------- family tables (only name presets)
_FF = r"(thumb|index|middle|ring|pinky)"
_PRESET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (fam, re.compile(rx)) for fam, rx in (
    ("vrm0", r"^(left|right)(Hand|(Thumb|Index|Middle|Ring|Little)(Proximal|Intermediate|Distal))$"),
    ("vrm1", r"^(left|right)(Hand|(Thumb|Index|Middle|Ring|Little)"
             r"(Metacarpal|Proximal|Intermediate|Distal))$"),
    ("mixamo", rf"(?i)^(left|right)hand({_FF}[1-4])?$"),
    ("ue5", rf"(?i)^((ik_)?hand|{_FF}_(0[1-3]|metacarpal))_[lr]$"),
    ("rigify", r"^((f_(index|middle|ring|pinky)|thumb)\.0[1-3]|palm\.0[1-4]"
               r"|hand(_fk|_ik|_tweak)?)\.[LR]$"),
    ("autorigpro", rf"^(c_)?({_FF}[1-3](_base)?|hand)\.[lr]$|^c_hand_(fk|ik)\.[lr]$"),
    ("mpfb", r"^(finger[1-5]-[1-3]|metacarpal[1-4]|wrist)\.[LR]$"),
    ("mocap", r"^(?i:(thumb|index|middle|ring|pinky|little)_(cmc|mcp|pip|dip|ip|tip)(_(fe|aa))?"
              r"|hand)$|^WRIST$"),
    ("smplh", r"^[LR]_[A-Z][a-z]+\d?$"),
    ("mano", rf"(?i)^((left|right|l|r)_?)?(wrist|{_FF}(_?[1-3]|_tip)?)$"),
))
_PREFIX_RE = re.compile(r"^(?:(def|org|mch)[-_.]|(bip\d*)[ _]|(cc_base)_|(j_bip)_|valvebiped\.|"
                        r"mixamorig\d*[_:])", re.IGNORECASE)
_PREFIX_RANK = {"def": 1, "org": 3, "mch": 4}
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_JOINT_ORDER = {n: i for i, n in enumerate(
    JOINT_NAMES_16 + TIP_NAMES + tuple(f + "_meta" for f in FINGERS))}


def _split_glued(word: str) -> list[str]:
    """Split an unknown lower-case word into known pieces ("lindex" -> l, index), else keep it."""
    if word in _VOCAB or not 3 <= len(word) <= 40:
        return [word]
    best: list[list[str] | None] = [[]] + [None] * len(word)  # best[i]: fewest pieces for word[:i]
    for i in range(1, len(word) + 1):
        for j in range(i):
            piece, head = word[j:i], best[j]
            if head is None or piece not in _PIECES:
                continue
            if best[i] is None or len(head) + 1 < len(best[i]):
                best[i] = head + [piece]
    return best[-1] or [word]


def _tokens(text: str) -> list[str]:
    """Lower-case tokens of a name: camelCase, separators and letter/digit boundaries split."""
    out: list[str] = []
    for w in _WORD_RE.findall(text):
        out.extend(_split_glued(w.lower()) if w.isalpha() else [w.lower()])
    return out


def _clean(name: str) -> tuple[str, int, set[str]]:
    """Strip namespace, known prefixes and a ``.001`` suffix; return (name, rank, flags)."""
    s = re.split(r"[:|/\\]", name.strip())[-1].strip()
    rank, flags = 0, set()
    if re.search(r"\.\d{3}$", s):
        s, rank = s[:-4], rank + 5
    while (m := _PREFIX_RE.match(s)) and len(s) > m.end():
        if m.group(1):
            rank += _PREFIX_RANK[m.group(1).lower()]
        flags |= {flag for flag, g in zip(("biped", "generic", "vroid"), m.groups()[1:]) if g}
        s = s[m.end():]
    return s, rank, flags


def _side_of(tokens: Iterable[str]) -> str | None:
    sides = {_SIDES[t] for t in tokens if t in _SIDES}
    return sides.pop() if len(sides) == 1 else None


def _resolve(toks: list[str], flags: set[str], vrm1: bool, sided: bool) -> tuple[str, int] | None:
    """Tokens (sides removed) -> (joint, extra rank), or None."""
    if any(t in _EXCLUDE for t in toks) or ("ik" in toks and "root" in toks):
        return None
    digits = [t for t in toks if t.isdigit()]
    fingers = {_FINGER_WORDS[t] for t in toks if t in _FINGER_WORDS}
    rank = 2 * ("ik" in toks) + 4 * any(t in _LOW for t in toks)
    if not fingers:
        nums = [int(d) for d in digits]
        if "finger" in toks and len(nums) == 2 and 1 <= nums[0] <= 5 and 1 <= nums[1] <= 3:  # MPFB
            return f"{FINGERS[nums[0] - 1]}{nums[1]}", rank
        if "finger" in toks and len(digits) == 1 and "biped" in flags:  # 3ds Max Biped Finger0..42
            d = digits[0]
            if len(d) <= 2 and int(d[0]) <= 4 and (len(d) == 1 or int(d[1]) <= 2):
                f = FINGERS[int(d[0])]
                return (f"{f}_tip" if _TIP.keys() & set(toks) else f"{f}{int(d[1:] or 0) + 1}"), rank
        if ({"metacarpal", "carpal", "palm"} & set(toks)) and len(nums) == 1 and 1 <= nums[0] <= 4:
            return f"{FINGERS[nums[0]]}_meta", rank  # MPFB metacarpal1-4, Rigify palm.01-04, Daz carpal
        words = set(toks)
        if words & _WRIST_WORDS and not words - _WRIST_WORDS - _FILLERS - _LOW:
            return "wrist", rank + ("wrist" not in words)
        return None
    if len(fingers) != 1:
        return None
    finger = fingers.pop()
    table = {**_THUMB_SEGS, **(_THUMB_VRM1 if vrm1 else _THUMB_VRM0)} if finger == "thumb" else _FINGER_SEGS
    segs = {table[t] for t in toks if t in table}
    if len(segs) > 1:
        segs = {"tip"} if "tip" in segs else set()
        if not segs:
            return None
    if segs:
        seg = segs.pop()
        rank += finger == "thumb" and "base" in toks and bool(digits)  # ARP c_thumb1_base vs c_thumb1
    elif len(digits) == 1 and int(digits[0]) in _DIGIT_SEGS:
        seg = _DIGIT_SEGS[int(digits[0])]
    elif sided and not digits and set(toks) <= set(_FINGER_WORDS) | {"f", "c"}:
        seg = "tip"  # SMPL-X style fingertip landmark: "left_index"
    else:
        return None
    return (f"{finger}{seg}" if isinstance(seg, int) else f"{finger}_{seg}"), rank


def _preset(s: str, flags: set[str], family: str | None) -> str:
    """Family label: the hinted family if its pattern matches, else the first matching pattern."""
    if "biped" in flags:
        return "biped"
    if "vroid" in flags:
        return "vrm0"
    if "generic" in flags:  # Character Creator CC_Base_*
        return "generic"
    hits = [fam for fam, rx in _PRESET_PATTERNS if rx.match(s)]
    return family if family in hits else hits[0] if hits else "generic"


def _match(name: object, family: str | None = None) -> tuple[JointMatch, int] | None:
    """Match one name; returns (match, rank) where a lower rank is preferred."""
    if not isinstance(name, str) or not name.strip():
        return None
    if family is not None and family not in FAMILIES:
        raise MotionFormatError(f"unknown naming family {family!r}; expected one of {', '.join(FAMILIES)}")
    s, rank, flags = _clean(name)
    toks = _tokens(s)
    side = _side_of(toks)
    body = [t for t in toks if t not in _SIDES]
    vrm1 = family == "vrm1" or bool(_VRM1_THUMB.search(s))
    res = _resolve(body, flags, vrm1, side is not None)
    if res is None:
        return None
    joint, extra = res
    part = next((_PARTS[t] for t in body if t in _PARTS), 0)
    preset = _preset(s, flags, family or ("vrm1" if vrm1 else None))
    if preset == "autorigpro" and not s.lower().startswith("c_"):
        extra += 1  # ARP deform bone: below its c_ control
    return JointMatch(side, joint, part, preset), rank + extra


def match_joint(name: str, family: str | None = None) -> JointMatch | None:
    """Resolve one bone name to a MANO joint, or None for non-hand names (never raises on odd names).

    `family` is a hint: "vrm1" switches the thumb convention (Proximal -> thumb2); any family also
    wins the `preset` label when its pattern matches. An unknown family raises MotionFormatError.
    """
    m = _match(name, family)
    return m[0] if m else None


def side_from_text(text: str) -> str | None:
    """Side ("left"/"right") named in a joint or file name, or None when absent or contradictory.

    Tokens are whole words, so "middle"/"little" never read as left, while "pinky_l", "hand.L",
    "l_wrist", "LeftHand", "subject1_lh.bvh" and "take01_right.bvh" do. For a path, the file name is
    read first, then its parent folder.
    """
    if not isinstance(text, str):
        return None
    parts = [p for p in re.split(r"[/\\]", text) if p]
    for part in reversed(parts[-2:]):
        part = re.sub(r"\.[A-Za-z][A-Za-z0-9]{1,4}$", "", part)  # extension (".bvh"), not ".L"
        sides = {_SIDES[t] for t in _tokens(_clean(part)[0]) if t in _SIDES}
        if sides:
            return sides.pop() if len(sides) == 1 else None
    return None


def _vrm1_hint(names: Iterable[str]) -> str | None:
    return "vrm1" if any(isinstance(n, str) and _VRM1_THUMB.search(n) for n in names) else None


def detect_family(names: Iterable[str]) -> str | None:
    """The naming family that matches most names (ties: earlier in FAMILIES), or None."""
    names = list(names)
    hint = _vrm1_hint(names)
    counts = Counter(m.preset for n in names if (m := match_joint(n, hint)) is not None)
    if not counts:
        return None
    return max(counts, key=lambda f: (counts[f], -FAMILIES.index(f)))


def _examples(names: Sequence[str], k: int = 8) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:k])
    return shown + (f", ... ({len(names)} in all)" if len(names) > k else "")


def map_skeleton(names: Sequence[str], side: str | None = None) -> dict[str, dict[str, list[int]]]:
    """Map skeleton names to ``{side: {mano_joint: [indices into names, sorted by part]}}``.

    Sides come from the names; side-less names (one-hand mocap skeletons) take `side`. When both
    sided and side-less hand names occur, side-less ones without `side` are dropped with a warning.
    Joints include "<finger>_meta" metacarpals. Duplicate (side, joint, part) claims keep the best
    priority (see module docstring); ties keep the first and log a warning.
    Raises MotionFormatError when no hand joint is recognised, or all are side-less and no side given.
    """
    names = list(names)
    if side is not None:
        side = _SIDES.get(str(side).strip().lower())
        if side is None:
            raise MotionFormatError("side must be 'left' or 'right'")
    hint = _vrm1_hint(names)
    best: dict[tuple[str, str, int], tuple[int, int]] = {}  # key -> (rank, index)
    sideless: list[str] = []
    matched = 0
    for i, name in enumerate(names):
        m = _match(name, hint)
        if m is None:
            continue
        jm, rank = m
        matched += 1
        s = jm.side or side
        if s is None:
            sideless.append(name)
            continue
        key = (s, jm.joint, jm.part)
        if key in best:
            old_rank, old_i = best[key]
            if rank == old_rank:
                log.warning("%r and %r both map to %s %s; keeping %r", names[old_i], name, s, jm.joint,
                            names[old_i])
            elif rank < old_rank:
                log.debug("preferring %r over %r for %s %s", name, names[old_i], s, jm.joint)
                best[key] = (rank, i)
            continue
        best[key] = (rank, i)
    if not matched:
        raise MotionFormatError(f"no hand joint recognised among {len(names)} joint names: {_examples(names)}")
    if sideless and not best:
        raise MotionFormatError("cannot tell which hand the joints belong to (names carry no side: "
                                f"{_examples(sideless)}); pass --side left|right")
    if sideless:
        log.warning("ignoring %d hand joint names without a side: %s", len(sideless), _examples(sideless))
    out: dict[str, dict[str, list[int]]] = {}
    for (s, joint, _part), (_rank, i) in sorted(
            best.items(), key=lambda kv: (kv[0][0], _JOINT_ORDER.get(kv[0][1], 99), kv[0][2])):
        out.setdefault(s, {}).setdefault(joint, []).append(i)
    return out
