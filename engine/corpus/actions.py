"""The action catalogue: every action the corpus generator can perform, with how to say it.

An `Action` is one of four kinds: "gesture" (static named shape, one hand), "single" (dynamic, one
hand), "grasp" (one hand grasps an imagined object) and "bimanual" (both hands). One-hand actions
are `fn(ctx, role)`, two-hand actions `fn(ctx)`. `phrases` are verb phrases for the script captions:
"{hand}" is replaced by the hand ("the right hand"), "{other}" by the other hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import actions_bimanual as bi
from . import actions_grasp as gr
from . import actions_single as one
from .shapes import GESTURE_NAMES


@dataclass(frozen=True)
class Action:
    name: str
    kind: str
    fn: Callable
    phrases: tuple[str, ...]

    @property
    def bimanual(self) -> bool:
        return self.kind == "bimanual"


_GESTURE_PHRASES = {
    "fist": ("{hand} makes a fist", "{hand} clenches into a fist", "{hand} closes into a tight fist"),
    "point": ("{hand} points", "{hand} points with the index finger", "{hand} extends the index finger to point"),
    "thumbs_up": ("{hand} gives a thumbs up", "{hand} shows a thumbs-up", "{hand} makes a thumbs-up sign"),
    "ok": ("{hand} makes the OK sign", "{hand} forms a ring with thumb and index for OK", "{hand} signals OK"),
    "peace": ("{hand} shows a peace sign", "{hand} makes a V with index and middle fingers", "{hand} flashes a peace sign"),
    "pinch": ("{hand} pinches thumb and index together", "{hand} makes a pinch", "{hand} brings thumb and index tips together"),
    "spread": ("{hand} spreads its fingers wide", "{hand} opens with the fingers splayed", "{hand} spreads all five fingers"),
    "open_hand": ("{hand} opens flat with the fingers together", "{hand} shows a flat open hand", "{hand} holds up an open palm"),
    "three": ("{hand} holds up three fingers", "{hand} shows the number three", "{hand} raises index, middle and ring fingers"),
    "four": ("{hand} holds up four fingers", "{hand} shows the number four", "{hand} raises four fingers with the thumb tucked"),
    "rock_on": ("{hand} makes the rock-on horns", "{hand} throws the horns", "{hand} raises index and pinky like horns"),
    "call_me": ("{hand} makes the call-me sign", "{hand} extends thumb and pinky like a phone", "{hand} shows a shaka"),
}

_SINGLE = {
    "counting": (one.counting, ("{hand} counts on its fingers", "{hand} counts up one finger at a time")),
    "wave": (one.wave, ("{hand} waves", "{hand} waves hello", "{hand} waves from side to side")),
    "beckon": (one.beckon, ("{hand} beckons", "{hand} gestures come here", "{hand} curls its fingers to call someone over")),
    "finger_tap": (one.finger_tap, ("{hand} taps a finger on the table", "{hand} taps repeatedly with one finger")),
    "finger_drum": (one.finger_drum, ("{hand} drums its fingers", "{hand} drums the fingers on the table impatiently")),
    "snap": (one.snap, ("{hand} snaps its fingers", "{hand} clicks its fingers")),
    "scratch": (one.scratch, ("{hand} scratches", "{hand} scratches a surface with its fingertips")),
    "grab_release": (one.grab_release, ("{hand} grabs and lets go", "{hand} closes into a grab and releases")),
    "flick": (one.flick, ("{hand} flicks the index finger", "{hand} flicks something away")),
    "twist_knob": (one.twist_knob, ("{hand} twists a knob", "{hand} turns a small dial")),
    "turn_page": (one.turn_page, ("{hand} turns a page", "{hand} flips a page over")),
    "write": (one.write, ("{hand} writes with a pen", "{hand} scribbles")),
    "type": (one.type_, ("{hand} types", "{hand} types on a keyboard")),
    "piano_arpeggio": (one.piano_arpeggio, ("{hand} plays an arpeggio", "{hand} plays a run of notes on a piano")),
    "stir": (one.stir, ("{hand} stirs", "{hand} stirs a pot with a spoon")),
    "knead": (one.knead, ("{hand} kneads dough", "{hand} kneads")),
}

_GRASP = {
    "grasp_power": (gr.power, ("{hand} grips a cylinder", "{hand} picks up a bottle", "{hand} grasps a handle firmly")),
    "grasp_sphere": (gr.sphere, ("{hand} picks up a ball", "{hand} grasps a round object")),
    "grasp_tripod": (gr.tripod, ("{hand} picks up a small object with three fingers", "{hand} takes a pen in a tripod grip")),
    "grasp_lateral": (gr.lateral, ("{hand} picks up a key with a lateral pinch", "{hand} holds a card between thumb and index")),
    "grasp_hook": (gr.hook, ("{hand} carries a bag by the handle", "{hand} hooks its fingers around a handle")),
}

_BIMANUAL = {
    "clap": (bi.clap, ("both hands clap", "the hands clap together", "claps")),
    "rub_palms": (bi.rub_palms, ("both hands rub their palms together", "the hands rub together to warm up")),
    "interlace": (bi.interlace, ("the hands interlace their fingers", "both hands clasp with fingers interlocked")),
    "count_on_fingers": (bi.count_on_fingers, ("{hand} counts off the fingers of {other}",
                                               "{hand} touches the fingertips of {other} one by one")),
    "hold_and_act": (bi.hold_and_act, ("{other} holds a jar while {hand} twists the lid",
                                       "{other} steadies an object while {hand} works on it")),
    "pass_object": (bi.pass_object, ("{hand} passes an object to {other}", "an object is handed from {hand} to {other}")),
    "knit": (bi.knit, ("both hands knit", "the hands work knitting needles")),
    "piano_two_hands": (bi.piano, ("both hands play the piano", "the hands play chords on a piano")),
    "type_two_hands": (bi.type_, ("both hands type on a keyboard", "the hands type quickly")),
}


def _build() -> dict[str, Action]:
    out = {name: Action(name, "gesture", one.static_gesture(name), _GESTURE_PHRASES[name]) for name in GESTURE_NAMES}
    for kind, table in (("single", _SINGLE), ("grasp", _GRASP), ("bimanual", _BIMANUAL)):
        out.update({name: Action(name, kind, fn, phrases) for name, (fn, phrases) in table.items()})
    return out


ACTIONS = _build()


def two_hand_clips(actions: list[list[str]]) -> np.ndarray:
    """Indices of the clips (each a list of action names) with a two-hand action."""
    return np.array([i for i, acts in enumerate(actions)
                     if any(a in ACTIONS and ACTIONS[a].bimanual for a in acts)], dtype=np.int64)
