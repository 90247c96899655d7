"""One-hand actions: static gestures, counting and dynamic single-hand movements.

Each action is `fn(ctx, role)`: it appends keys to `ctx.scripts[role]` (the first key is reached by
a natural transition from wherever the hand was) and leaves the hand where the action ends.
Durations come from `ctx.dur` (the performer's tempo), amplitudes from `ctx.amp`.
"""

from __future__ import annotations

import numpy as np

from . import contact
from .anatomy import THUMB, hand_angles
from .context import Context, orient, turn
from .shapes import SHOW_ORIENT, gesture


def static_gesture(name: str):
    """A static gesture: raise into view, form the shape, hold it (with a small emphasis), relax a little."""

    def act(ctx: Context, role: str) -> None:
        rng = ctx.rng
        view = SHOW_ORIENT[name][rng.integers(len(SHOW_ORIENT[name]))]
        pos = ctx.place("gesture" if view in ("front", "self") else "chest", role)
        shape = gesture(name, rng)
        ctx.key(role, ctx.dur(0.5), shape, orient(view, rng), pos)
        hold = ctx.dur(rng.uniform(0.7, 1.6))
        if rng.random() < 0.5:  # a small beat for emphasis
            ctx.key(role, hold * 0.4, position=pos + np.array([0.0, ctx.amp(0.02), ctx.amp(0.03)]))
            ctx.key(role, hold * 0.6, position=pos)
        else:
            ctx.key(role, hold, angles=ctx.vary(shape, 0.015))

    act.__doc__ = f"Static gesture: {name}."
    return act


def counting(ctx: Context, role: str) -> None:
    """Count one to N (3-5) on the fingers: index, + middle, + ring, + pinky, + thumb."""
    rng = ctx.rng
    n = int(rng.integers(3, 6))
    view = "front" if rng.random() < 0.7 else "self"
    pos = ctx.place("gesture", role)
    ctx.key(role, ctx.dur(0.5), gesture("fist", rng), orient(view, rng), pos)
    order = ("index", "middle", "ring", "pinky")
    for k in range(1, n + 1):
        curl = {f: (0.03 if i < k else 0.95) for i, f in enumerate(order)}
        thumb = THUMB["out"] if k == 5 else contact.thumb_over(tuple(order[k:])) if k < 4 else THUMB["folded"]
        ctx.key(role, ctx.dur(0.3), hand_angles(ctx.curl_dict(curl, 0.02), 0.3 + 0.1 * k, thumb))
        ctx.key(role, ctx.dur(0.35))


def wave(ctx: Context, role: str) -> None:
    """Wave hello: hand up, palm to the front, the wrist swings side to side 2-4 times."""
    rng = ctx.rng
    pos = ctx.place("gesture", role) + [0.0, 0.05, 0.0]
    shape = hand_angles(ctx.curl_dict({}, 0.05), rng.uniform(0.2, 0.8), THUMB["out"])
    base = orient("front", rng)
    ctx.key(role, ctx.dur(0.5), shape, base, pos)
    swing = ctx.amp(0.45)
    for k in range(int(rng.integers(2, 5))):
        for sgn in (1, -1):
            ctx.key(role, ctx.dur(0.22), orient=turn(base, (0.0, 0.0, 1.0), sgn * swing), position=pos + [sgn * 0.015, 0, 0])
    ctx.key(role, ctx.dur(0.25), orient=base, position=pos)


def beckon(ctx: Context, role: str) -> None:
    """Come here: palm up, the index (or all fingers) curls in and out 2-4 times."""
    rng = ctx.rng
    all_fingers = rng.random() < 0.5
    pos = ctx.place("chest", role)
    open_ = hand_angles({"index": 0.05, "middle": 0.05 if all_fingers else 0.9, "ring": 0.1 if all_fingers else 0.92,
                         "pinky": 0.1 if all_fingers else 0.95}, 0.1, THUMB["relaxed"])
    ctx.key(role, ctx.dur(0.5), open_, orient("palm_up", rng), pos)
    for _ in range(int(rng.integers(2, 5))):
        c = ctx.amp(0.75)
        curl = {"index": c, "middle": c if all_fingers else 0.95, "ring": c if all_fingers else 0.95,
                "pinky": c if all_fingers else 0.95}
        ctx.key(role, ctx.dur(0.25), hand_angles(curl, 0.0, THUMB["relaxed"]))
        ctx.key(role, ctx.dur(0.25), open_)


def finger_tap(ctx: Context, role: str) -> None:
    """Tap the index (sometimes middle) fingertip on the table 3-6 times, palm down."""
    rng = ctx.rng
    finger = "index" if rng.random() < 0.7 else "middle"
    pos = ctx.place("table", role)
    base = ctx.curl_dict({"index": 0.35, "middle": 0.4, "ring": 0.45, "pinky": 0.5})
    ctx.key(role, ctx.dur(0.4), hand_angles(base, 0.0), orient("forward", rng), pos)
    for _ in range(int(rng.integers(3, 7))):
        up = dict(base, **{finger: base[finger] - ctx.amp(0.3)})
        ctx.key(role, ctx.dur(0.15), hand_angles(up, 0.0))
        ctx.key(role, ctx.dur(0.12), hand_angles(base, 0.0))


def finger_drum(ctx: Context, role: str) -> None:
    """Drum the fingers on the table, pinky to index in quick succession, 2-4 rolls."""
    rng = ctx.rng
    pos = ctx.place("table", role)
    base = {"index": 0.4, "middle": 0.45, "ring": 0.45, "pinky": 0.5}
    ctx.key(role, ctx.dur(0.4), hand_angles(base, 0.2), orient("forward", rng), pos)
    for _ in range(int(rng.integers(2, 5))):
        for f in ("pinky", "ring", "middle", "index"):
            lifted = dict(base, **{f: base[f] - ctx.amp(0.35)})
            ctx.key(role, ctx.dur(0.07, 0.1), hand_angles(lifted, 0.2))
        ctx.key(role, ctx.dur(0.1), hand_angles(base, 0.2))
        ctx.key(role, ctx.dur(0.2))


def snap(ctx: Context, role: str) -> None:
    """Snap the fingers 1-3 times: thumb presses the middle finger, which slips off onto the palm."""
    rng = ctx.rng
    pos = ctx.place("chest", role)
    ready = contact.snap_ready()
    after = hand_angles({"index": 0.5, "middle": 0.95, "ring": 0.95, "pinky": 0.97}, 0.0, THUMB["out"] * 0.5)
    ctx.key(role, ctx.dur(0.5), ready, orient("medial", rng), pos)
    for _ in range(int(rng.integers(1, 4))):
        ctx.key(role, ctx.dur(0.25), ready)
        ctx.key(role, 0.06, after)
        ctx.key(role, ctx.dur(0.3))


def scratch(ctx: Context, role: str) -> None:
    """Scratch a surface: fingers claw and extend quickly while the wrist rubs back and forth."""
    rng = ctx.rng
    pos = ctx.place("table", role)
    claw = {f: 0.55 for f in ("index", "middle", "ring", "pinky")}
    ctx.key(role, ctx.dur(0.4), hand_angles(claw, 0.3), orient("forward", rng), pos)
    for k in range(int(rng.integers(3, 7))):
        c = 0.55 + ctx.amp(0.25) * (1 if k % 2 else -1)
        ctx.key(role, ctx.dur(0.12), hand_angles({f: c for f in claw}, 0.3), position=pos + [0, 0, 0.015 * (k % 2)])


def grab_release(ctx: Context, role: str) -> None:
    """Reach, close the hand into a grab, hold briefly and let go."""
    rng = ctx.rng
    pos = ctx.place("centre", role)
    ctx.key(role, ctx.dur(0.5), gesture("spread", rng), orient("forward", rng), pos)
    ctx.key(role, ctx.dur(0.35), contact.fist(0.6), position=pos + [0, -0.02, 0.02])
    ctx.key(role, ctx.dur(0.5), position=pos + [0, 0.03, -0.02])
    ctx.key(role, ctx.dur(0.4), gesture("spread", rng))


def flick(ctx: Context, role: str) -> None:
    """Flick: the index is cocked behind the thumb, then snaps straight."""
    rng = ctx.rng
    pos = ctx.place("centre", role)
    ready = contact.flick_ready()
    ctx.key(role, ctx.dur(0.5), ready, orient("forward", rng), pos)
    ctx.key(role, ctx.dur(0.3))
    released = ready.copy()
    released[0:3, 0] = np.radians([-10.0, 0.0, 0.0])
    ctx.key(role, 0.07, released)
    ctx.key(role, ctx.dur(0.4), ctx.relaxed())


def twist_knob(ctx: Context, role: str) -> None:
    """Twist a knob: a tripod grip turns the wrist back and forth about the forearm axis."""
    rng = ctx.rng
    pos = ctx.place("centre", role)
    grip = contact.tripod()
    base = orient("forward", rng)
    ctx.key(role, ctx.dur(0.45), gesture("spread", rng) * 0.5, base, pos)
    ctx.key(role, ctx.dur(0.35), grip)
    for _ in range(int(rng.integers(1, 4))):
        ctx.key(role, ctx.dur(0.45), orient=turn(base, (0.0, 0.0, 1.0), ctx.amp(0.9)))
        ctx.key(role, ctx.dur(0.2), gesture("spread", rng) * 0.5)
        ctx.key(role, ctx.dur(0.25), orient=base)
        ctx.key(role, ctx.dur(0.2), grip)


def turn_page(ctx: Context, role: str) -> None:
    """Turn a page: pinch the corner, lift and sweep it across with a supinating arc, let go."""
    rng = ctx.rng
    pos = ctx.place("table", role) + [0.02, -0.02, 0.05]
    pinch = contact.opposition("index", 0.45, 0.55)
    base = orient("forward", rng)
    ctx.key(role, ctx.dur(0.45), ctx.relaxed(), base, pos)
    ctx.key(role, ctx.dur(0.3), pinch)
    reach = ctx.amp(0.22)
    ctx.key(role, ctx.dur(0.35), orient=turn(base, (0.0, 0.0, 1.0), -0.9), position=pos + [reach * 0.5, 0.08, 0.0])
    ctx.key(role, ctx.dur(0.35), orient=turn(base, (0.0, 0.0, 1.0), -2.0), position=pos + [reach, 0.02, 0.0])
    ctx.key(role, ctx.dur(0.25), ctx.relaxed())


def write(ctx: Context, role: str) -> None:
    """Write with a pen held in a tripod grip: small loops of the wrist moving along a line."""
    rng = ctx.rng
    pos = ctx.place("table", role) + [0.04, 0.02, 0.0]
    grip = contact.tripod()
    base = orient("forward", rng)
    ctx.key(role, ctx.dur(0.5), grip, base, pos)
    size = ctx.amp(0.012)
    x = 0.0
    for _ in range(int(rng.integers(5, 11))):
        x += size * rng.uniform(0.8, 1.6)
        ctx.key(role, ctx.dur(0.12), ctx.vary(grip, 0.04), position=pos + [x, size * rng.uniform(0.5, 1.5), size * rng.uniform(-1, 1)])
        ctx.key(role, ctx.dur(0.12), grip, position=pos + [x, 0.0, 0.0])
    ctx.key(role, ctx.dur(0.3), position=pos + [x, 0.02, -0.02])


def type_(ctx: Context, role: str) -> None:
    """Type on a keyboard with one hand: quick presses by different fingers, the wrist nearly still."""
    rng = ctx.rng
    pos = ctx.place("table", role) + [0.03, 0.03, 0.02]
    base = {"index": 0.45, "middle": 0.45, "ring": 0.45, "pinky": 0.5}
    ctx.key(role, ctx.dur(0.4), hand_angles(base, 0.3), orient("forward", rng), pos)
    fingers = ("index", "middle", "ring", "pinky", "index", "middle")
    for _ in range(int(rng.integers(6, 14))):
        f = fingers[rng.integers(len(fingers))]
        ctx.key(role, ctx.dur(0.08, 0.3), hand_angles(dict(base, **{f: base[f] + ctx.amp(0.25)}), 0.3),
                position=pos + rng.normal(0, 0.006, 3))
        ctx.key(role, ctx.dur(0.07, 0.3), hand_angles(base, 0.3))


def piano_arpeggio(ctx: Context, role: str) -> None:
    """Play an arpeggio: thumb to pinky presses in sequence while the hand travels along the keys."""
    rng = ctx.rng
    pos = ctx.place("table", role) + [0.0, 0.05, 0.0]
    base = {"index": 0.4, "middle": 0.4, "ring": 0.42, "pinky": 0.45}
    thumb_up = THUMB["relaxed"]
    thumb_down = THUMB["relaxed"] + np.radians([[15.0, 0.0, 0.0], [15.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    ctx.key(role, ctx.dur(0.4), hand_angles(base, 0.6, thumb_up), orient("forward", rng), pos)
    shift = 0.0
    for _ in range(int(rng.integers(1, 4))):
        ctx.key(role, ctx.dur(0.1), hand_angles(base, 0.6, thumb_down))
        ctx.key(role, ctx.dur(0.08), hand_angles(base, 0.6, thumb_up))
        for f in ("index", "middle", "ring", "pinky"):
            ctx.key(role, ctx.dur(0.1), hand_angles(dict(base, **{f: base[f] + ctx.amp(0.3)}), 0.6, thumb_up))
        shift += ctx.amp(0.08)
        ctx.key(role, ctx.dur(0.18), hand_angles(base, 0.6, thumb_up), position=pos + [shift, 0.0, 0.0])


def stir(ctx: Context, role: str) -> None:
    """Stir a pot: a spoon in a power/tripod grip, the wrist drawing 2-5 horizontal circles."""
    rng = ctx.rng
    pos = ctx.place("centre", role) + [0.0, -0.05, 0.0]
    grip = contact.tripod() if rng.random() < 0.5 else contact.fist(0.3)
    ctx.key(role, ctx.dur(0.5), grip, orient("medial", rng), pos)
    r = ctx.amp(0.05)
    phase = rng.uniform(0, 2 * np.pi)
    direction = 1 if rng.random() < 0.6 else -1
    steps = int(rng.integers(2, 6)) * 4
    period = ctx.dur(0.9)
    for k in range(1, steps + 1):
        a = phase + direction * 2 * np.pi * k / 4
        ctx.key(role, period / 4, position=pos + [r * np.cos(a), 0.0, r * np.sin(a)])


def knead(ctx: Context, role: str) -> None:
    """Knead dough: palm pushes forward and down, the fingers gather and release the dough."""
    rng = ctx.rng
    pos = ctx.place("table", role) + [0.04, -0.02, 0.0]
    flat = hand_angles({f: 0.1 for f in ("index", "middle", "ring", "pinky")}, 0.2, THUMB["relaxed"])
    gather = hand_angles(ctx.curl_dict({f: 0.7 for f in ("index", "middle", "ring", "pinky")}), 0.0, THUMB["folded"])
    base = orient("forward", rng)
    ctx.key(role, ctx.dur(0.4), flat, base, pos)
    for _ in range(int(rng.integers(2, 5))):
        ctx.key(role, ctx.dur(0.4), flat, turn(base, (1.0, 0.0, 0.0), -0.3), pos + [0.0, -0.02, ctx.amp(0.07)])
        ctx.key(role, ctx.dur(0.4), gather, base, pos + [0.0, 0.01, 0.0])
