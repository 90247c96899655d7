"""Script captions: what the generator planned, said in words ("the right hand waves, then makes a fist").

These complement the captioner's descriptions (`engine.caption`), which are computed from the motion
alone; the script names dynamic actions (stirring, knitting) that no rule could recognise.
"""

from __future__ import annotations

import numpy as np

from .actions import ACTIONS

_HAND = {"left": ("the left hand", "the left"), "right": ("the right hand", "the right")}
_THEN = (", then ", ", and then ", "; after that ", ", followed by ", ". Next, ")
_IDLE = (" while {other} rests", " as {other} stays still", "")


def _phrase(action: str, hands: list[str], dominant: str, rng: np.random.Generator) -> str:
    phrases = ACTIONS[action].phrases
    text = phrases[rng.integers(len(phrases))]
    actor = hands[0] if len(hands) == 1 else dominant
    other = "left" if actor == "right" else "right"
    return text.replace("{hand}", _HAND[actor][0]).replace("{other}", _HAND[other][0])


def script_captions(spans: list[dict], dominant: str, rng: np.random.Generator, n: int = 3) -> list[str]:
    """`n` distinct-ish sentences describing the labelled spans in order.

    spans: [{"action", "hands", ...}] as in `generator.Clip.spans`; dominant: "left" | "right".
    """
    out: list[str] = []
    for _ in range(n):
        parts = []
        for k, span in enumerate(spans):
            text = _phrase(span["action"], span["hands"], dominant, rng)
            if len(span["hands"]) == 1 and len(spans) == 1:
                other = "left" if span["hands"][0] == "right" else "right"
                text += _IDLE[rng.integers(len(_IDLE))].replace("{other}", _HAND[other][0])
            parts.append(text)
        if not parts:
            parts = ["both hands rest"]
        sentence = parts[0]
        for p in parts[1:]:
            sep = _THEN[rng.integers(len(_THEN))]
            sentence += sep + (p[0].upper() + p[1:] if sep.endswith(". ") else p)
        out.append(sentence[0].upper() + sentence[1:] + ".")
    return out
