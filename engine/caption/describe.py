"""Rule-based captions of a two-hand clip at three levels, from `MotionFeatures`.

- semantic: what each hand does (recognised gestures, wrist movements and turns, in time order);
- interaction: how the hands relate (palm contact / clap, fingertips on the other palm, approaching
  and separating, one hand still while the other moves, symmetry), or that the clip has one hand;
- articulation: which fingers flex or extend, how fast, and thumb-to-finger contacts with timing.

Wording varies through templates and synonyms drawn from `np.random.default_rng` seeded by `seed`,
the variant index and the level: the same seed always gives the same text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..motion import HandMotion
from .features import FINGER_NAMES, Event, MotionFeatures, compute_features, direction_words
from .gestures import CURLED_MIN_CURL, EXTENDED_MAX_CURL, RELAXED, Segment, recognise_gestures

log = logging.getLogger(__name__)

MAX_ITEMS = 6  # phrases per hand and level; the most salient are kept (gestures first), in time order
STILL_ACTIVITY = 0.25  # a hand is "still" next to the other when its activity is below this share
ACTIVE_MIN = 0.08  # activity (~metres of wrist travel) below which a hand counts as resting
SYMMETRY_COS = 0.7  # velocity correlation for mirror / parallel movement

SPEED = {"quickly": ("quickly", "rapidly", "briskly"), "steadily": ("steadily", "smoothly", "at an even pace"),
         "slowly": ("slowly", "gradually", "gently")}
DIR = {"up": "up", "down": "down", "forward": "forward", "back": "back toward the body",
       "left": "to the left", "right": "to the right", "inward": "inward", "outward": "outward"}
MIDLINE = {"right": "left", "left": "right"}  # the sideways direction toward the body's midline
PALM = {"up": "up", "down": "down", "forward": "forward", "back": "toward the body", "left": "to the left",
        "right": "to the right"}
GESTURE_PHRASES = {
    "fist": ("makes a fist", "clenches into a fist", "closes into a fist"),
    "point": ("points {dir}", "points {dir} with the index finger", "extends the index finger to point {dir}"),
    "thumbs_up": ("gives a thumbs-up", "makes a thumbs-up", "shows a thumbs-up"),
    "ok": ("makes an OK sign", "forms an OK sign", "joins thumb and index in an OK sign"),
    "peace": ("makes a peace sign", "shows a V sign", "holds up a peace sign"),
    "pinch": ("pinches thumb and index together", "makes a pinch", "closes thumb and index into a pinch"),
    "spread": ("spreads its fingers wide", "shows a spread hand", "splays all five fingers"),
    "open_hand": ("shows an open hand", "is held open and flat", "holds an open hand, fingers together"),
    "three": ("shows three fingers", "holds up three fingers", "counts three"),
    "four": ("shows four fingers", "holds up four fingers", "counts four with the thumb tucked"),
    "rock_on": ("makes a rock-on sign", "throws the horns", "shows the horns sign"),
    "call_me": ("makes a call-me sign", "shows a phone sign with thumb and pinky", "makes a hang-loose sign"),
}
SHAPE_NOUNS = {"fist": "a fist", "point": "a pointing shape", "thumbs_up": "a thumbs-up", "ok": "an OK sign",
               "peace": "a peace sign", "pinch": "a pinch", "spread": "a wide spread", "open_hand": "an open hand",
               "three": "a three", "four": "a four", "rock_on": "a rock-on sign", "call_me": "a call-me sign"}
MOVE_VERBS = ("moves", "travels", "goes")
REST_PHRASES = ("rests", "stays still", "remains at rest", "stays relaxed")
WAVE_PHRASES = ("waves", "waves back and forth", "rocks the wrist back and forth")
FLEX_VERBS = (("curls", "curl"), ("bends", "bend"), ("closes", "close"))
EXTEND_VERBS = (("straightens", "straighten"), ("extends", "extend"), ("opens", "open"))


@dataclass
class Captions:
    """Caption variants per level (lists of strings), plus the events and gestures they came from."""

    semantic: list[str]
    interaction: list[str]
    articulation: list[str]
    events: list[Event] = field(default_factory=list)
    gestures: list[Segment] = field(default_factory=list)
    fps: float = 30.0

    def all(self) -> list[str]:
        """Every caption, semantic then interaction then articulation."""
        return self.semantic + self.interaction + self.articulation

    def to_dict(self) -> dict:
        """JSON-ready dict: the three levels, gestures and events (frames and seconds)."""
        return {"semantic": self.semantic, "interaction": self.interaction, "articulation": self.articulation,
                "gestures": [g.to_dict(self.fps) for g in self.gestures],
                "events": [e.to_dict(self.fps) for e in self.events]}


class _Writer:
    """Template choices for one caption variant."""

    def __init__(self, f: MotionFeatures, segs: dict[str, list[Segment]], rng: np.random.Generator):
        self.f, self.segs, self.rng = f, segs, rng

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def speed(self, word: str) -> str:
        return self.pick(SPEED.get(word, (word,)))

    def when(self, e) -> str:
        T = max(self.f.n_frames, 1)
        if e.end - e.start >= 0.8 * T:
            return "throughout"
        c = (e.start + e.end) / 2 / T
        if c < 1 / 3:
            return self.pick(("at the start", "early on", "at the beginning"))
        if c < 2 / 3:
            return self.pick(("midway", "halfway through", "in the middle of the clip"))
        return self.pick(("at the end", "towards the end", "near the end"))

    # --- semantic ----------------------------------------------------------------------------
    def hand_items(self, side: str, inward: bool = False) -> list[tuple[int, float, str, str]]:
        """(start, salience, key, phrase) for gestures, wrist moves and turns of one hand. Keys name
        sideways moves inward/outward (toward/away from the body's midline), so mirrored movements of
        the two hands get equal keys; `inward` words the phrases that way too."""
        h = self.f.hands[side]
        items = []
        for s in self.segs[side]:
            if s.label == RELAXED:
                continue
            phrase = self.pick(GESTURE_PHRASES[s.label])
            if "{dir}" in phrase:
                t = (s.start + s.end) // 2
                word = direction_words(h.joints[t, 17] - h.joints[t, 1], ratio=2.0)[0]
                phrase = phrase.format(dir=DIR[word])
            items.append((s.start, 2.0 + (s.end - s.start) / self.f.fps * s.score, s.label, phrase))
        for e in self.f.events:
            if e.side not in (side, "both"):
                continue
            if e.kind == "tip_on_palm":
                phrase = f"touches the {MIDLINE[side]} palm with {_its(_fingers(e.detail['fingers']))}"
                items.append((e.start, 3.0, "tip_on_palm", phrase))
            elif e.kind == "wrist_move":
                io = [("inward" if w == MIDLINE[side] else "outward") if w in MIDLINE.values() else w
                      for w in e.detail["direction"]]
                words = [DIR[w] for w in (io if inward else e.detail["direction"])]
                phrase = f"{self.pick(MOVE_VERBS)} {' and '.join(words)} {self.speed(e.speed)}"
                items.append((e.start, 4 * e.detail["distance"], "move:" + ",".join(io), phrase))
            elif e.kind == "palm_contact":
                other = "other" if inward else MIDLINE[side]
                phrase = self.pick((f"claps against the {other} palm", f"meets the {other} palm in a clap"))
                items.append((e.start, 3.0, "clap", phrase))
            elif e.kind == "wrist_turn":
                if e.detail["swings"] >= 3:
                    items.append((e.start, 1.5, "wave", self.pick(WAVE_PHRASES)))
                else:
                    to = e.detail["palm_to"]
                    phrase = self.pick((f"turns the palm {PALM[to]}", f"rotates the wrist so the palm faces {PALM[to]}",
                                        f"turns {self.speed(e.speed)} until the palm faces {PALM[to]}"))
                    items.append((e.start, e.detail["angle"] / 90.0, "turn:" + to, phrase))
        items.sort(key=lambda it: it[0])
        items = [it for k, it in enumerate(items) if k == 0 or it[2] != items[k - 1][2]]  # no repeats
        keep = sorted(items, key=lambda it: -it[1])[:MAX_ITEMS]
        return [it for it in items if it in keep]

    def chain(self, phrases: list[str]) -> str:
        if len(phrases) == 1:
            return phrases[0]
        if len(phrases) == 2:
            return self.pick((f"{phrases[0]}, then {phrases[1]}", f"{phrases[0]} and then {phrases[1]}"))
        head = ", then ".join(phrases[:-1])
        return self.pick((f"{head}, and finally {phrases[-1]}", f"first {head}, then {phrases[-1]}"))

    def semantic(self) -> str:
        sides = self.f.sides
        items = {s: self.hand_items(s) for s in sides}
        if len(sides) == 2 and items["left"] and [i[2] for i in items["left"]] == [i[2] for i in items["right"]]:
            text = self.chain([i[3] for i in self.hand_items("right", inward=True)])
            return self.pick((f"Both hands do the same: each {text}.", f"Both hands act alike; each {text}.",
                              f"Both hands behave the same way: each {text}."))
        order = list(sides) if self.rng.random() < 0.5 else list(reversed(sides))
        order.sort(key=lambda s: not items[s])  # the active hand first
        parts = []
        for k, side in enumerate(order):
            text = self.chain([i[3] for i in items[side]]) if items[side] else self.pick(REST_PHRASES)
            if k == 0:
                parts.append(f"The {side} hand {text}")
            elif not items[side]:
                parts.append(f" while the {side} hand {text}")
            else:
                parts.append(self.pick((f". Meanwhile, the {side} hand {text}", f", while the {side} hand {text}",
                                        f". The {side} hand {text}")))
        return "".join(parts) + "."

    # --- interaction -------------------------------------------------------------------------
    def activity(self, side: str) -> float:
        h = self.f.hands[side]
        v = h.valid[1:] & h.valid[:-1]
        path = np.linalg.norm(np.diff(h.joints[:, 0], axis=0), axis=-1)[v].sum()
        turn = np.radians(h.turn_rate[h.valid]).sum() / self.f.fps
        return float(path + 0.03 * turn + 0.02 * np.abs(np.diff(h.curl, axis=0))[v].sum())

    def interaction(self) -> str:
        sides = self.f.sides
        if len(sides) == 1:
            s = sides[0]
            return self.pick((f"Only the {s} hand is present, so there is no two-hand interaction.",
                              f"This is a one-hand clip: the {s} hand acts alone.",
                              f"The {s} hand performs alone; no other hand appears in the clip."))
        clauses = []
        claps = [e for e in self.f.events if e.kind == "palm_contact"]
        for e in self.f.events:
            if e.kind == "approach":
                clauses.append(self.pick(("the hands come together", "the hands approach each other",
                                          "the two hands move toward each other")) + " " + self.speed(e.speed))
            elif e.kind == "separate":
                clauses.append(self.pick(("the hands move apart", "the hands separate",
                                          "the hands pull away from each other")) + " " + self.speed(e.speed))
            elif e.kind == "palm_contact" and len(claps) == 1:
                w = self.when(e)
                clauses.append(self.pick((f"the palms meet in a clap {w}", f"the hands clap together {w}, palm to palm",
                                          f"both palms press together {w}")))
            elif e.kind == "tip_on_palm":
                other = "left" if e.side == "right" else "right"
                fg, w = e.detail["fingers"], self.when(e)
                clauses.append(self.pick((
                    f"{_fingers(fg, 'fingertip')} of the {e.side} hand {_verb('touches', 'touch', fg)} "
                    f"the {other} palm {w}",
                    f"the {e.side} hand rests {_its(_fingers(fg))} on the {other} palm {w}")))
        if len(claps) > 1:
            clauses.insert(0, self.pick((f"the hands clap {len(claps)} times, palm to palm",
                                         f"the palms meet {len(claps)} times in a row of claps")))
        clauses = clauses[:4]
        out = [_cap(", then ".join(clauses)) + "."] if clauses else []
        act = {s: self.activity(s) for s in sides}
        mover = max(act, key=act.get)
        still = "left" if mover == "right" else "right"
        if act[mover] > ACTIVE_MIN and act[still] < STILL_ACTIVITY * act[mover]:
            out.append(self.pick((f"The {still} hand stays still while the {mover} hand moves.",
                                  f"Only the {mover} hand moves; the {still} hand holds its place.",
                                  f"The {mover} hand does the work while the {still} hand rests.")))
        elif min(act.values()) > ACTIVE_MIN:
            L, R = self.f.hands["left"], self.f.hands["right"]
            ok = L.valid & R.valid
            vl, vr = L.wrist_vel[ok], R.wrist_vel[ok]
            norm = np.sqrt((vl ** 2).sum() * (vr ** 2).sum()) + 1e-12
            mirror = float((vl * vr * [-1, 1, 1]).sum() / norm)
            parallel = float((vl * vr).sum() / norm)
            if parallel > SYMMETRY_COS and parallel >= mirror:  # e.g. both rise: parallel, not mirrored
                out.append(self.pick(("The hands move together in parallel.", "Both hands travel in the same direction.")))
            elif mirror > SYMMETRY_COS:
                out.append(self.pick(("The hands move in mirror symmetry.", "Both hands move as mirror images.")))
            else:
                out.append(self.pick(("The two hands move independently.", "Each hand follows its own path.")))
        elif not out:
            out.append(self.pick(("Both hands stay mostly still.", "Neither hand moves much.")))
        if not any(e.kind in ("palm_contact", "tip_on_palm") for e in self.f.events):
            both = self.f.hands["left"].valid & self.f.hands["right"].valid
            gap = float(np.min(self.f.palm_distance[both], initial=np.inf)) * 100
            out.append(self.pick(("The hands never touch.", "The two hands stay apart throughout.") +
                                 ((f"The hands never touch, staying at least {gap:.0f} cm apart.",) if gap < 1e3 else ())))
        return " ".join(out)

    # --- articulation ------------------------------------------------------------------------
    def articulation_of(self, side: str) -> str:
        h = self.f.hands[side]
        clauses = []
        for e in self.f.events:
            if e.side != side:
                continue
            if e.kind in ("flex", "extend"):
                fingers = e.detail["fingers"]
                verbs = self.pick(FLEX_VERBS if e.kind == "flex" else EXTEND_VERBS)
                text = f"{_fingers(fingers)} {_verb(*verbs, fingers)} {self.speed(e.speed)}"
                clauses.append((e.start, text + self.while_clause(h, e)))
            elif e.kind == "thumb_contact":
                fg, w = e.detail["finger"], self.when(e)
                if w == "throughout":
                    text = f"the thumb stays in contact with the {fg} fingertip throughout"
                else:
                    text = self.pick((f"the thumb touches the {fg} fingertip {w}", f"the thumb and {fg} finger meet {w}",
                                      f"the thumb tip comes to the {fg} tip {w}"))
                clauses.append((e.start, text))
        clauses = sorted(clauses)[:MAX_ITEMS]
        lead = self.pick((f"On the {side} hand, ", f"For the {side} hand, ", f"In the {side} hand, "))
        if not clauses:
            labels = [s for s in self.segs[side] if s.label != RELAXED]
            if labels:
                top = SHAPE_NOUNS[max(labels, key=lambda s: s.end - s.start).label]
                return lead + self.pick((f"the fingers hold {top} without articulating.",
                                         f"the fingers stay fixed in {top}."))
            return lead + self.pick(("the fingers barely move.", "the fingers stay still.", "no finger articulates."))
        return lead + ", then ".join(c[1] for c in clauses) + "."

    def while_clause(self, h, e: Event) -> str:
        """' while the thumb stays extended' style note about a finger that does not take part."""
        idle = [f for f in FINGER_NAMES if f not in e.detail["fingers"]]
        if not idle:
            return ""
        curl = h.curl[e.start:e.end].mean(axis=0)
        state = {f: "extended" if curl[FINGER_NAMES.index(f)] < EXTENDED_MAX_CURL else
                 "curled" if curl[FINGER_NAMES.index(f)] > CURLED_MIN_CURL else None for f in idle}
        if "thumb" in idle and state["thumb"]:
            return f" while the thumb stays {state['thumb']}"
        others = [state[f] for f in idle if f != "thumb"]
        if others and len(set(others)) == 1 and others[0]:
            return f" while the other fingers stay {others[0]}"
        return ""

    def articulation(self) -> str:
        return " ".join(self.articulation_of(s) for s in self.f.sides)


def _fingers(fingers: list[str], noun: str = "finger") -> str:
    """'the index finger', 'the index and middle fingers', 'all five fingers', 'the thumb'."""
    if len(fingers) == 5:
        return f"all five {noun}s"
    if fingers == ["index", "middle", "ring", "pinky"]:
        return f"all four {noun}s"
    if fingers == ["thumb"]:
        return "the thumb" if noun == "finger" else "the thumb tip"
    names = ", ".join(fingers[:-1]) + " and " + fingers[-1] if len(fingers) > 1 else fingers[0]
    return f"the {names} {noun}{'s' if len(fingers) > 1 else ''}"


def _its(phrase: str) -> str:
    return "its " + phrase[4:] if phrase.startswith("the ") else phrase


def _verb(singular: str, plural: str, fingers: list[str]) -> str:
    return singular if len(fingers) == 1 else plural


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe(motion_or_features: HandMotion | MotionFeatures, seed: int = 0, n: int = 3,
             mano_dir: str | None = None) -> Captions:
    """Captions of a clip: `n` variants per level, worded by `seed` (same seed, same text)."""
    f = motion_or_features
    if isinstance(f, HandMotion):
        f = compute_features(f, mano_dir=mano_dir, seed=seed)
    segs = {s: recognise_gestures(f, s) for s in f.sides}
    levels: dict[str, list[str]] = {"semantic": [], "interaction": [], "articulation": []}
    for li, level in enumerate(levels):
        for i in range(max(int(n), 0)):
            for attempt in range(8):  # re-draw a few times to avoid repeating an earlier variant
                rng = np.random.default_rng([seed & 0xFFFFFFFF, li, i, attempt])
                text = getattr(_Writer(f, segs, rng), level)()
                if text not in levels[level]:
                    break
            levels[level].append(text)
    gestures = sorted((g for s in f.sides for g in segs[s]), key=lambda g: (g.start, g.side))
    return Captions(**levels, events=list(f.events), gestures=gestures, fps=f.fps)
