"""Rule-based recogniser of named static hand shapes from `HandFeatures`.

Each gesture is a conjunction of conditions on finger curl, thumb opposition (`thumb_out`), the
thumb-index contact and finger spacing. A condition has a signed margin (positive = satisfied, in
units of its tolerance); a gesture's score is a logistic of its smallest margin, so a frame matching
every condition scores > 0.5, and the best-scoring gesture wins. Held shapes are runs where every
finger's curl is roughly still for at least HELD_MIN_S.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from .features import CONTACT_ON_M, HandFeatures, MotionFeatures, intervals

log = logging.getLogger(__name__)

GESTURES: dict[str, str] = {
    "fist": "four fingers curled, thumb folded over them",
    "point": "index extended, middle/ring/pinky curled, thumb folded",
    "thumbs_up": "four fingers curled, thumb extended out",
    "ok": "thumb tip touching the index tip, middle/ring/pinky extended",
    "peace": "index and middle extended and spread apart, ring and pinky curled, thumb folded",
    "pinch": "thumb tip touching the index tip, middle/ring/pinky not extended",
    "spread": "all five fingers extended, widely spaced",
    "open_hand": "all five fingers extended, held together",
    "three": "index, middle and ring extended, pinky curled, thumb folded",
    "four": "all four fingers extended, thumb folded across the palm",
    "rock_on": "index and pinky extended, middle and ring curled, thumb folded",
    "call_me": "thumb and pinky extended, index/middle/ring curled",
}
RELAXED = "relaxed"  # label of a held shape that matches no gesture

# Thresholds on `curl` (0 straight .. 1 = the keyframing full curl, see features.FLEX_RANGE_DEG).
# Extended: < 0.25 (about 55 deg summed over the three joints; the engine's relaxed pose has the ring
# and pinky at 0.25-0.3, which should not read as extended). Curled: > 0.65 (MCP + PIP clearly bent;
# the example clip's cup grip, 0.6-0.75, is not a fist). Between the two a finger is neither, which
# blocks gestures that need either. The thumb counts as extended under the same 0.25.
EXTENDED_MAX_CURL = 0.25
CURLED_MIN_CURL = 0.65
CURL_TOL = 0.15
# thumb_out (1 = flat-hand thumb, 45 deg out in the palm plane): out above 0.6 (finger_pose thumb
# curl < ~0.45), folded below 0.45 (curl > ~0.65).
THUMB_OUT_MIN = 0.6
THUMB_FOLDED_MAX = 0.45
THUMB_TOL = 0.2
# Mean spacing of index-middle, middle-ring, ring-pinky (degrees, in the palm plane): the canonical
# flat hand has 3.2, finger_pose spread=1 9.6; the midpoint 6.5 separates together from spread.
SPREAD_MIN_DEG = 6.5
SPREAD_TOL = 3.0
CONTACT_TOL = 0.01  # metres
HELD_CURL_RATE = 0.6  # curl units / s: fingers this slow count as holding a shape
HELD_MIN_S = 0.25  # a shape counts when its label lasts this long and the fingers pause inside it

_F = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}


@dataclass
class Segment:
    """A held hand shape over frames [start, end): `label` is a GESTURES name or "relaxed"."""

    side: str
    start: int
    end: int
    label: str
    score: float

    def to_dict(self, fps: float | None = None) -> dict:
        out = asdict(self)
        if fps:
            out.update(start_s=round(self.start / fps, 3), end_s=round(self.end / fps, 3))
        return out


def _margins(h: HandFeatures, frames: slice | np.ndarray) -> dict[str, np.ndarray]:
    """Named condition margins over the selected frames, each (n,)."""
    curl = h.curl[frames]
    m: dict[str, np.ndarray] = {}
    for f, k in _F.items():
        m[f"ext_{f}"] = (EXTENDED_MAX_CURL - curl[:, k]) / CURL_TOL
        m[f"cur_{f}"] = (curl[:, k] - CURLED_MIN_CURL) / CURL_TOL
        m[f"bent_{f}"] = (curl[:, k] - EXTENDED_MAX_CURL) / CURL_TOL  # not extended
    tout = h.thumb_out[frames]
    m["thumb_out"] = (tout - THUMB_OUT_MIN) / THUMB_TOL
    m["thumb_fold"] = (THUMB_FOLDED_MAX - tout) / THUMB_TOL
    d = h.thumb_dist[frames][:, 0]
    m["touch"] = (CONTACT_ON_M - d) / CONTACT_TOL
    m["apart"] = (d - CONTACT_ON_M) / CONTACT_TOL
    sp = h.spacing[frames]
    m["spread"] = (sp[:, 1:].mean(axis=1) - SPREAD_MIN_DEG) / SPREAD_TOL
    m["together"] = -m["spread"]
    m["v_spread"] = (sp[:, 1] - SPREAD_MIN_DEG) / SPREAD_TOL
    return m


FOUR = ("index", "middle", "ring", "pinky")
RULES: dict[str, tuple[str, ...]] = {
    "fist": tuple(f"cur_{f}" for f in FOUR) + ("thumb_fold",),
    "point": ("ext_index", "cur_middle", "cur_ring", "cur_pinky", "thumb_fold"),
    "thumbs_up": tuple(f"cur_{f}" for f in FOUR) + ("thumb_out", "ext_thumb", "apart"),
    "ok": ("touch", "ext_middle", "ext_ring", "ext_pinky"),
    "peace": ("ext_index", "ext_middle", "v_spread", "cur_ring", "cur_pinky", "thumb_fold"),
    "pinch": ("touch", "bent_middle", "bent_ring", "bent_pinky"),
    "spread": tuple(f"ext_{f}" for f in FOUR) + ("thumb_out", "ext_thumb", "apart", "spread"),
    "open_hand": tuple(f"ext_{f}" for f in FOUR) + ("thumb_out", "ext_thumb", "apart", "together"),
    "three": ("ext_index", "ext_middle", "ext_ring", "cur_pinky", "thumb_fold"),
    "four": tuple(f"ext_{f}" for f in FOUR) + ("thumb_fold", "apart"),
    "rock_on": ("ext_index", "cur_middle", "cur_ring", "ext_pinky", "thumb_fold"),
    "call_me": ("thumb_out", "ext_thumb", "cur_index", "cur_middle", "cur_ring", "ext_pinky"),
}
assert set(RULES) == set(GESTURES)
_NAMES = tuple(RULES)


def classify_frames(h: HandFeatures, frames: slice | np.ndarray = slice(None)) -> tuple[list[str | None], np.ndarray]:
    """Labels (None where no gesture matches) and scores (n,) for the selected frames."""
    m = _margins(h, frames)
    worst = np.stack([np.min(np.stack([m[c] for c in RULES[g]]), axis=0) for g in _NAMES])  # (G, n)
    best = worst.argmax(axis=0)
    score = 1.0 / (1.0 + np.exp(-2.0 * worst.max(axis=0)))
    labels = [_NAMES[b] if s > 0.5 else None for b, s in zip(best, score)]
    return labels, np.where(score > 0.5, score, 1.0 - score)


def classify_frame(h: HandFeatures, t: int) -> tuple[str | None, float]:
    """(gesture name or None, score 0..1) for frame `t`; the score of None is its confidence that
    no gesture matches."""
    labels, scores = classify_frames(h, np.array([t]))
    return labels[0], float(scores[0])


def recognise_gestures(features: MotionFeatures, side: str) -> list[Segment]:
    """Held hand shapes of `side`, in time order: runs of one frame label lasting at least HELD_MIN_S
    that contain a pause, a frame where every finger's curl changes slower than HELD_CURL_RATE."""
    if side not in features.hands:
        return []
    h = features.hands[side]
    held = (np.abs(h.curl_rate).max(axis=1) < HELD_CURL_RATE) & h.valid
    labels, scores = classify_frames(h)
    names = np.array([lab or RELAXED for lab in labels])
    out = []
    for name in dict.fromkeys(names[held].tolist()):
        mask = names == name
        for a, b in intervals(mask & held, mask, h.valid, features.fps, HELD_MIN_S):
            out.append(Segment(side, a, b, str(name), round(float(scores[a:b].mean()), 3)))
    out.sort(key=lambda s: s.start)
    log.debug("%s hand: %s", side, [(s.label, s.start, s.end) for s in out])
    return out
