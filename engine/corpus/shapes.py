"""The named static hand shapes (the recogniser's classes) as anatomical angles, with variation.

Shapes follow the recogniser's definitions in `engine.caption` (GESTURES): extended fingers
curl <= ~0.1, curled fingers >= ~0.85, thumbs folded over the curled fingers unless the shape
shows the thumb. Contacts (OK, pinch) come from `contact`'s solved poses.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import contact
from .anatomy import THUMB, hand_angles

CURLED, STRAIGHT = 0.95, 0.03
HELD_COUPLING = 0.35  # a held gesture extends its fingers on purpose: weak enslaving

# Shape -> the wrist orientation it is usually shown in (names from context.ORIENTS).
SHOW_ORIENT = {
    "fist": ("front", "thumb_up", "forward"), "point": ("forward", "thumb_up"), "thumbs_up": ("thumb_up",),
    "ok": ("front", "medial"), "peace": ("front",), "pinch": ("medial", "forward", "front"),
    "spread": ("front", "self"), "open_hand": ("front", "self", "medial"), "three": ("front", "self"),
    "four": ("front", "self"), "rock_on": ("front", "forward"), "call_me": ("front", "medial"),
}
GESTURE_NAMES = tuple(SHOW_ORIENT)


hand_angles_held = partial(hand_angles, coupled=HELD_COUPLING)


def _curls(extended: tuple[str, ...]) -> dict[str, float]:
    return {f: (STRAIGHT if f in extended else CURLED) for f in ("index", "middle", "ring", "pinky")}


def gesture(name: str, rng: np.random.Generator) -> np.ndarray:
    """Angles (15, 3) of the named static shape, varied by `rng` (curl +-0.04, spread, thumb)."""
    j = lambda s=0.03: rng.normal(0.0, s)  # noqa: E731
    if name == "fist":
        a = contact.fist(1.0).copy()
    elif name == "point":
        a = hand_angles_held(_curls(("index",)), j(0.1), contact.thumb_over(("middle",)))
    elif name == "thumbs_up":
        a = hand_angles_held(_curls(()), 0.0, THUMB["out"] + rng.normal(0, 0.05, (3, 3)))
    elif name == "ok":
        a = contact.ok_sign().copy()
    elif name == "peace":
        a = hand_angles_held(_curls(("index", "middle")), rng.uniform(0.7, 1.0), contact.thumb_over(("ring", "pinky")))
    elif name == "pinch":
        a = contact.opposition("index", 0.45, 0.55).copy()
    elif name == "spread":
        a = hand_angles_held({f: rng.uniform(0.0, 0.06) for f in ("index", "middle", "ring", "pinky")},
                        rng.uniform(0.85, 1.0), THUMB["out"] + rng.normal(0, 0.04, (3, 3)))
    elif name == "open_hand":
        a = hand_angles_held({f: rng.uniform(0.0, 0.08) for f in ("index", "middle", "ring", "pinky")},
                        rng.uniform(-1.0, -0.6), THUMB["flat"] + rng.normal(0, 0.03, (3, 3)))
    elif name == "three":
        a = hand_angles_held(_curls(("index", "middle", "ring")), rng.uniform(0.2, 0.6), contact.thumb_over(("pinky",)))
    elif name == "four":
        a = hand_angles_held(_curls(("index", "middle", "ring", "pinky")), rng.uniform(0.2, 0.6), contact.thumb_across())
    elif name == "rock_on":
        a = hand_angles_held(_curls(("index", "pinky")), rng.uniform(0.3, 0.8), contact.thumb_over(("middle", "ring")))
    elif name == "call_me":
        a = hand_angles_held(_curls(("pinky",)), rng.uniform(0.5, 1.0), THUMB["out"] + rng.normal(0, 0.04, (3, 3)))
    else:
        raise KeyError(f"unknown hand shape {name!r}; known: {', '.join(GESTURE_NAMES)}")
    a = a.copy()
    # Small variation of the long fingers only: contacts stay within a few millimetres.
    a[:12, 0] += rng.normal(0.0, 0.025, 12)
    return a
