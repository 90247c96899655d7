"""Two-hand actions: clapping, rubbing and interlacing the hands, counting on the other hand's
fingers, holding a jar while opening it, passing an object between the hands, knitting, playing the
piano and typing.

Each action is `fn(ctx)` and starts with `ctx.start()` so both hands begin together. Both hands are
scripted in the right-hand frame (the "off" script is mirrored at render time), so a symmetric action
writes the same keys for both and "toward the midline" is +X for both. Where the hands touch, the
placement is solved from the hand geometry (`hand_points`, `palm_surface`): a palm meeting the
midline plane has its palm-surface point at x = -CONTACT_X in its own script, and a point of the
other hand is found in this hand's frame by mirroring its x.
"""

from __future__ import annotations

import numpy as np

from ..caption.features import palm_surface
from ..examples import facing
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle, minimal_rotation
from ..skeleton import FINGERS
from . import contact
from .actions_grasp import UP, cylinder_grip, grip_orient, move_time, preshape, sphere_grip, table_height, wrist_for
from .anatomy import LONG_FINGERS, THUMB, hand_angles
from .context import Context, hand_points, turn
from .shapes import gesture

ROLES = ("dom", "off")
CONTACT_X = 0.004  # a touching palm's surface point sits this far from the midline (skin is not modelled)
MIRROR = np.array([-1.0, 1.0, 1.0])
TIPS = {f: FINGERS[f][1] for f in FINGERS}
# The thumb held out and back, out of the palm's plane: palm-to-palm contacts keep the thumbs clear.
THUMB_BACK = THUMB["out"] + np.radians([[-10.0, 8.0, 0.0], [-8.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


# -- helpers ------------------------------------------------------------------------------------
def palm_orient(fingers: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Wrist orientation whose palm-surface normal is exactly `normal`, fingers close to `fingers`."""
    o = np.array(facing(tuple(np.asarray(fingers, float)), tuple(np.asarray(normal, float))))
    _, n = palm_surface(hand_points(np.zeros((15, 3)), o, np.zeros(3)))  # the normal depends on the wrist only
    return matrix_to_axis_angle(minimal_rotation(n, np.asarray(normal, float)) @ axis_angle_to_matrix(o))


def wrist_at_palm(angles: np.ndarray, wrist_orient: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Wrist position that puts the palm-surface point of the hand at `point`."""
    p, _ = palm_surface(hand_points(angles, wrist_orient, np.zeros(3)))
    return np.asarray(point, float) - p


def wrist_at_tip(angles: np.ndarray, wrist_orient: np.ndarray, tip: int, point: np.ndarray) -> np.ndarray:
    """Wrist position that puts joint `tip` (21-joint order) at `point`."""
    return np.asarray(point, float) - hand_points(angles, wrist_orient, np.zeros(3))[tip]


def both_time(ctx: Context, base: float, targets: dict[str, np.ndarray], vmax: float = 1.2) -> float:
    """One duration for a move of both wrists to `targets`, long enough for the farther one."""
    return max(move_time(ctx, role, base, p, vmax) for role, p in targets.items())


def key_both(ctx: Context, dt: float, dom: dict, off: dict | None = None) -> None:
    """Key both hands `dt` after their (synchronised) last keys; `off` defaults to `dom`'s values."""
    ctx.key("dom", dt, **dom)
    ctx.key("off", dt, **(dom if off is None else off))


def key_at(ctx: Context, role: str, time: float, **values) -> None:
    """Key `role` at absolute `time` (after its last key)."""
    script = ctx.scripts[role]
    ctx.key(role, max(time - script.end, 0.02), **values)


def _clap_shape(ctx: Context) -> np.ndarray:
    """Flat hand for palm-to-palm contact: fingers straight (a hint of curl), thumb out of the way."""
    rng = ctx.rng
    curl = np.clip(rng.uniform(0.0, 0.05) + rng.normal(0.0, 0.01, 4), 0.0, 0.08)
    thumb = THUMB_BACK + rng.normal(0.0, 0.02, (3, 3))
    return hand_angles(curl, rng.uniform(-0.4, 0.2), thumb)


def _midline_frame(ctx: Context, elevation_deg: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Finger direction (3,) in the midline plane (x = 0) at a random elevation, and the slide axis
    across the fingers in that plane."""
    e = np.radians(ctx.rng.uniform(*elevation_deg))
    f = np.array([0.0, np.sin(e), np.cos(e)])
    across = np.cross(f, np.array([1.0, 0.0, 0.0]))
    return f, across


def _pitch(v: np.ndarray, angle: float) -> np.ndarray:
    """Direction `v` in the midline plane turned by `angle` about X (positive: toward up/back)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([v[0], c * v[1] - s * v[2], s * v[1] + c * v[2]])


def _offset_pair(ctx: Context, fingers: np.ndarray, rotation_deg: tuple[float, float],
                 shift_m: tuple[float, float]) -> tuple[dict, dict]:
    """Per-hand finger directions and palm-point shifts for two palms meeting at the midline: the
    hands are turned against each other and slid along the fingers so the thumbs' roots (which sit
    at the palm's surface) pass beside each other instead of meeting."""
    rng = ctx.rng
    sign = rng.choice([-1.0, 1.0])  # turning and sliding the same way moves the thumbs apart
    d = np.radians(rng.uniform(*rotation_deg)) * sign
    s = rng.uniform(*shift_m) * sign
    dirs = {"dom": _pitch(fingers, d / 2), "off": _pitch(fingers, -d / 2)}
    shifts = {"dom": s * fingers, "off": -s * fingers}
    return dirs, shifts


def _contact_centre(ctx: Context) -> np.ndarray:
    """Where the palms meet: in front of the chest, a little above or below, near the midline."""
    p = ctx.place("chest", "dom")
    rng = ctx.rng
    return np.array([rng.normal(0.0, 0.008), p[1] + rng.uniform(-0.08, 0.0), p[2] + rng.uniform(-0.02, 0.06)])


def _palm_point(role: str, centre: np.ndarray, gap: float) -> np.ndarray:
    """A role's palm-surface point (own script) `gap` m back from a meeting point `centre` (world)."""
    c = centre if role == "dom" else centre * MIRROR
    return np.array([c[0] - CONTACT_X - gap, c[1], c[2]])


def _hinge(o: np.ndarray, fingers: np.ndarray, angle: float) -> np.ndarray:
    """Orientation `o` with the fingers swung away from the midline by `angle` (the palms open like a book)."""
    axis = np.cross(fingers, np.array([-1.0, 0.0, 0.0]))
    return turn(o, tuple(axis), angle)


# -- clap, rub, interlace -------------------------------------------------------------------------
def clap(ctx: Context) -> None:
    """Clap 2-5 times: fingers up-forward, the palms meet at the midline and rebound a little."""
    rng = ctx.rng
    ctx.start()
    fingers, _ = _midline_frame(ctx, (30.0, 70.0))
    shapes = {r: _clap_shape(ctx) for r in ROLES}
    dirs, shifts = _offset_pair(ctx, fingers, (18.0, 32.0), (0.005, 0.009))
    orients = {r: palm_orient(dirs[r], np.array([1.0, 0.0, 0.0])) for r in ROLES}
    centre = _contact_centre(ctx)
    gap = float(np.clip(ctx.amp(0.075), 0.04, 0.12))
    lead = rng.uniform(0.0, 0.35) * (1.0 if rng.random() < 0.6 else -1.0)  # one hand travels further
    gaps = {"dom": gap * (1 + lead), "off": gap * (1 - lead)}
    swing = np.radians(rng.uniform(5.0, 20.0))

    def pose(r: str, g: float, c: np.ndarray, hinge: float) -> dict:
        o = _hinge(orients[r], dirs[r], hinge)
        point = _palm_point(r, c, g) + shifts[r]
        return dict(angles=shapes[r], orient=o, position=wrist_at_palm(shapes[r], o, point))

    open_ = {r: pose(r, gaps[r], centre, swing) for r in ROLES}
    key_both(ctx, both_time(ctx, 0.55, {r: open_[r]["position"] for r in ROLES}), open_["dom"], open_["off"])
    period = ctx.dur(0.42)
    n = int(rng.integers(2, 6))
    for k in range(n):
        c = centre + np.array([0.0, rng.normal(0.0, 0.006), rng.normal(0.0, 0.006)])
        t_in = max(0.55 * period, 1.875 * max(gaps.values()) / 1.8)
        key_both(ctx, t_in, pose("dom", 0.0, c, 0.0), pose("off", 0.0, c, 0.0))
        reb = rng.uniform(0.008, 0.02)
        key_both(ctx, rng.uniform(0.06, 0.08), pose("dom", reb, c, 0.03), pose("off", reb, c, 0.03))
        if k < n - 1:
            key_both(ctx, max(0.4 * period, 0.1), pose("dom", gaps["dom"], c, swing),
                     pose("off", gaps["off"], c, swing))
    if rng.random() < 0.4:  # the hands come to rest pressed together
        key_both(ctx, ctx.dur(0.25), pose("dom", 0.0, centre, 0.0), pose("off", 0.0, centre, 0.0))
        key_both(ctx, ctx.dur(0.4), {})
    else:  # or part and drop a little
        low = centre + np.array([0.0, -ctx.amp(0.05), -0.02])
        key_both(ctx, ctx.dur(0.45), pose("dom", 0.06, low, swing), pose("off", 0.06, low, swing))


def rub_palms(ctx: Context) -> None:
    """Rub the palms together: in contact at the midline, the hands slide alternately along the
    fingers 3-6 times (one up while the other goes down), with a little sideways wander."""
    rng = ctx.rng
    ctx.start()
    fingers, across = _midline_frame(ctx, (20.0, 65.0))
    dirs, shifts = _offset_pair(ctx, fingers, (40.0, 60.0), (0.006, 0.01))
    orients = {r: palm_orient(dirs[r], np.array([1.0, 0.0, 0.0])) for r in ROLES}
    shapes = {r: _clap_shape(ctx) for r in ROLES}
    centre = _contact_centre(ctx)
    gap = rng.uniform(0.03, 0.06)

    def pose(r: str, g: float, shift: np.ndarray) -> dict:
        o = orients[r]
        point = _palm_point(r, centre, g) + shifts[r] + shift
        return dict(angles=shapes[r], orient=o, position=wrist_at_palm(shapes[r], o, point))

    near = {r: pose(r, gap, np.zeros(3)) for r in ROLES}
    key_both(ctx, both_time(ctx, 0.55, {r: near[r]["position"] for r in ROLES}), near["dom"], near["off"])
    key_both(ctx, ctx.dur(0.2), pose("dom", 0.0, np.zeros(3)), pose("off", 0.0, np.zeros(3)))
    amp = float(np.clip(ctx.amp(0.03), 0.015, 0.05))
    stroke = ctx.dur(0.19)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    for _ in range(int(rng.integers(3, 7))):
        for s in (sign, -sign):
            wander = across * rng.normal(0.0, 0.006)
            a = amp * rng.uniform(0.8, 1.1)
            key_both(ctx, stroke * rng.uniform(0.9, 1.1), pose("dom", 0.0, s * a * fingers + wander),
                     pose("off", 0.0, -s * a * fingers - wander))
    key_both(ctx, ctx.dur(0.25), pose("dom", 0.0, np.zeros(3)), pose("off", 0.0, np.zeros(3)))
    if rng.random() < 0.5:
        key_both(ctx, ctx.dur(0.35), pose("dom", 0.04, np.zeros(3)), pose("off", 0.04, np.zeros(3)))


def interlace(ctx: Context) -> None:
    """Interlace the fingers: hands spread and facing, offset by half a finger spacing across the
    fingers, the palms come together and the fingers curl between each other; hold (a squeeze)."""
    rng = ctx.rng
    ctx.start()
    fingers, _ = _midline_frame(ctx, (25.0, 70.0))
    o = palm_orient(fingers, np.array([1.0, 0.0, 0.0]))
    across = axis_angle_to_matrix(o) @ np.array([0.0, 0.0, 1.0])  # the hand's own across-the-knuckles axis,
    across[0] = 0.0  # in the midline plane (the same for both hands after mirroring)
    across /= np.linalg.norm(across)
    spread = rng.uniform(0.8, 1.0)
    thumb = THUMB["out"] + rng.normal(0.0, 0.02, (3, 3))
    open_ = hand_angles(np.full(4, 0.03), spread, thumb)
    c = rng.uniform(0.5, 0.65)
    # Interlocked: the MCPs carry most of the curl, so the fingers wrap over the other hand's back.
    locked = hand_angles(np.full(4, c) + rng.normal(0.0, 0.02, 4), spread, THUMB["relaxed"],
                         mcp_bias=np.radians(np.full(4, 15.0)))
    centre = _contact_centre(ctx)
    half = 0.25 * rng.uniform(0.02, 0.024)  # each hand shifts by a quarter of the finger spacing, opposite ways
    lead = 1.0 if rng.random() < 0.5 else -1.0
    shift = {"dom": lead * half * across, "off": -lead * half * across}

    def pose(r: str, g: float, angles: np.ndarray, extra: np.ndarray = np.zeros(3)) -> dict:
        return dict(angles=angles, orient=o,
                    position=wrist_at_palm(angles, o, _palm_point(r, centre, g) + shift[r] + extra))

    far = {r: pose(r, rng.uniform(0.05, 0.08), open_) for r in ROLES}
    key_both(ctx, both_time(ctx, 0.6, {r: far[r]["position"] for r in ROLES}), far["dom"], far["off"])
    # The finger planes slide past each other: palms to within a few mm, fingers still straight.
    key_both(ctx, ctx.dur(0.35), pose("dom", 0.006, open_), pose("off", 0.006, open_))
    key_both(ctx, ctx.dur(0.35), pose("dom", 0.004, locked), pose("off", 0.004, locked))
    hold = ctx.dur(rng.uniform(0.6, 1.4))
    if rng.random() < 0.5:  # squeeze once
        tight = hand_angles(np.full(4, c + 0.08), spread, THUMB["relaxed"], mcp_bias=np.radians(np.full(4, 15.0)))
        key_both(ctx, hold * 0.4, pose("dom", 0.002, tight), pose("off", 0.002, tight))
        key_both(ctx, hold * 0.6, pose("dom", 0.004, locked), pose("off", 0.004, locked))
    else:  # or rock the clasped hands a little
        rock = np.array([0.0, 0.0, ctx.amp(0.015)])
        key_both(ctx, hold * 0.5, pose("dom", 0.004, locked, rock), pose("off", 0.004, locked, rock))
        key_both(ctx, hold * 0.5, pose("dom", 0.004, locked), pose("off", 0.004, locked))


# -- count on the other hand's fingers ---------------------------------------------------------------
def count_on_fingers(ctx: Context) -> None:
    """The off hand held open (palm toward the person or up, fingers spread); the dom index touches
    its fingertips one after another (thumb or index first, 3-5 touches); the touched fingers may fold."""
    rng = ctx.rng
    ctx.start()
    spread = rng.uniform(0.7, 1.0)
    curl = np.clip(rng.uniform(0.0, 0.08) + rng.normal(0.0, 0.02, 4), 0.0, 0.15)
    off_shape = hand_angles(curl, spread, THUMB["out"] + rng.normal(0.0, 0.03, (3, 3)))
    chest = ctx.place("chest", "off")
    if rng.random() < 0.6:  # palm toward the person, fingers up: the dom comes at the pads from the front-right
        off_o = np.array(facing((rng.uniform(0.0, 0.35), 1.0, rng.uniform(0.0, 0.2)), (0.0, 0.0, -1.0)))
        off_pos = chest * [0.0, 1.0, 1.0] + [-rng.uniform(0.05, 0.09), -rng.uniform(0.06, 0.12), rng.uniform(0.0, 0.06)]
        direction = np.array([0.5, -0.25, 0.8])
    else:  # palm up, fingers forward: the dom comes down onto the pads
        off_o = np.array(facing((rng.uniform(0.1, 0.4), 0.1, 1.0), (0.0, 1.0, 0.0)))
        off_pos = chest * [0.0, 1.0, 1.0] + [-rng.uniform(0.07, 0.12), -rng.uniform(0.12, 0.2), -rng.uniform(0.06, 0.1)]
        direction = np.array([0.45, -0.75, 0.45])
    direction = direction / np.linalg.norm(direction) + rng.normal(0.0, 0.05, 3)
    direction = direction / np.linalg.norm(direction)
    point = gesture("point", rng)
    dom_o = np.array(facing(tuple(direction), (0.2, -1.0, -0.3)))
    order = ["thumb", "index", "middle", "ring", "pinky"] if rng.random() < 0.5 else ["index", "middle", "ring", "pinky"]
    n = int(min(rng.integers(3, 6), len(order)))
    fold = rng.random() < 0.4  # fold each finger down once it has been counted
    index_tip = TIPS["index"]

    def target(shape: np.ndarray, finger: str) -> np.ndarray:
        tip = hand_points(shape, off_o, off_pos)[TIPS[finger]] * MIRROR  # in the dom's frame
        return tip - direction * 0.003

    # The off hand comes up and opens; the dom hand arrives pointing, hovering over the first finger.
    first = target(off_shape, order[0])
    staging = wrist_at_tip(point, dom_o, index_tip, first - direction * 0.09 + UP * 0.04)
    hover = wrist_at_tip(point, dom_o, index_tip, first - direction * 0.03 + UP * 0.01)
    dt = both_time(ctx, 0.6, {"dom": staging, "off": off_pos})
    ctx.key("off", dt, off_shape, off_o, off_pos)
    ctx.key("dom", dt, point, dom_o, staging)  # come in from the near side, not through the other hand
    ctx.key("dom", ctx.dur(0.25), position=hover)
    shape = off_shape
    for k, finger in enumerate(order[:n]):
        tgt = target(shape, finger)
        hover = wrist_at_tip(point, dom_o, index_tip, tgt - direction * rng.uniform(0.02, 0.035) + UP * 0.01)
        touch = wrist_at_tip(point, dom_o, index_tip, tgt)
        if k > 0:
            ctx.key("dom", move_time(ctx, "dom", 0.22, hover, 0.8), position=hover)
        ctx.key("dom", ctx.dur(0.16), position=touch)
        ctx.key("dom", ctx.dur(0.14))  # a short press
        if fold and finger != order[n - 1]:
            folded = shape.copy()
            rows = [j - 1 for j in FINGERS[finger][0]]
            if finger == "thumb":
                folded[rows] = THUMB["tucked"]
            else:
                folded[rows, 0] = hand_angles({finger: 0.75}, spread, coupled=False)[rows, 0]
            t = ctx.scripts["dom"].end
            key_at(ctx, "off", t, angles=shape)
            key_at(ctx, "off", t + ctx.dur(0.25), angles=folded)
            shape = folded
            up = wrist_at_tip(point, dom_o, index_tip, tgt - direction * 0.025 + UP * 0.015)
            ctx.key("dom", ctx.dur(0.1), position=up)
    lift = ctx.scripts["dom"].last.position - direction * 0.04 + UP * 0.02
    ctx.key("dom", ctx.dur(0.3), position=lift)


# -- hold a jar and twist its lid ---------------------------------------------------------------------
def hold_and_act(ctx: Context) -> None:
    """The off hand holds a jar upright at the centre in a power grip; the dom hand takes the lid from
    above in a spherical grip and twists it open with 2-4 turns, letting go and regrasping between
    turns (the off hand tightens as each turn starts); sometimes the lid is lifted off."""
    rng = ctx.rng
    ctx.start()
    diameter = int(5 * round(rng.uniform(50.0, 70.0) / 5))
    body, axis_p, _ = cylinder_grip(diameter)
    lid_d = int(5 * round(diameter * rng.uniform(0.9, 1.05) / 5))
    lid, lid_c = sphere_grip(lid_d)
    chest = ctx.place("centre", "dom")
    jar = np.array([rng.normal(0.0, 0.01), chest[1] + rng.uniform(-0.05, 0.03), chest[2] + rng.uniform(-0.04, 0.02)])
    # The off hand: palm on the jar's side, fingers round its front, thumb up along it.
    az = np.radians(rng.uniform(-30.0, 10.0))
    palm = np.array([np.cos(az), 0.0, np.sin(az)])
    off_o = grip_orient(np.cross(palm, UP), palm)
    off_grip = wrist_for(jar * MIRROR, off_o, axis_p)
    off_pre = preshape(body, 0.5)
    top = jar + np.array([0.0, rng.uniform(0.15, 0.18), 0.0])  # the lid (ball centre of the grip model)
    # The dom hand: palm down over the lid, fingers forward and a little toward the midline.
    az_d = np.radians(rng.uniform(0.0, 35.0))
    dom_o = grip_orient(np.array([np.sin(az_d), -0.15, np.cos(az_d)]), np.array([0.1, -1.0, 0.0]))
    held = ctx.vary(lid, 0.015)
    open_lid = preshape(lid, 0.35, 0.8)

    t0 = ctx.scripts["dom"].end
    t_reach = move_time(ctx, "off", 0.55, off_grip - palm * 0.05)
    ctx.key("off", t_reach, off_pre, off_o, off_grip - palm * 0.05)
    ctx.key("off", ctx.dur(0.25), position=off_grip)
    ctx.key("off", ctx.dur(0.2), ctx.vary(body, 0.015))
    grip_time = ctx.scripts["off"].end
    hover = wrist_for(top + UP * 0.05, dom_o, lid_c)
    ctx.key("dom", max(move_time(ctx, "dom", 0.65, hover), grip_time - t0 - 0.1), preshape(lid, 0.6, 0.8), dom_o, hover)
    ctx.key("dom", ctx.dur(0.25), open_lid, position=wrist_for(top, dom_o, lid_c))
    ctx.key("dom", ctx.dur(0.2), held)
    turns = int(rng.integers(2, 5))
    loose = 0.0
    lift_off = rng.random() < 0.5
    for k in range(turns):
        angle = ctx.amp(0.75)
        o_turned = turn(dom_o, (0.0, 1.0, 0.0), angle)
        t = ctx.scripts["dom"].end
        key_at(ctx, "off", t, angles=body)
        key_at(ctx, "off", t + 0.15, angles=_tighten(body, 0.05))
        rise = UP * (loose + 0.002)
        ctx.key("dom", ctx.dur(0.32), orient=o_turned, position=wrist_for(top + rise, o_turned, lid_c))
        loose += 0.002
        if k < turns - 1 or not lift_off:
            key_at(ctx, "off", ctx.scripts["dom"].end, angles=body)
            ctx.key("dom", ctx.dur(0.15), open_lid, position=wrist_for(top + rise + UP * 0.006, o_turned, lid_c))
            ctx.key("dom", ctx.dur(0.25), orient=dom_o, position=wrist_for(top + rise + UP * 0.006, dom_o, lid_c))
            ctx.key("dom", ctx.dur(0.15), ctx.vary(lid, 0.015), position=wrist_for(top + rise, dom_o, lid_c))
    if lift_off:  # the lid comes free: lift it off and hold it to the side
        off_to = top + np.array([-ctx.amp(0.08), ctx.amp(0.08), -0.02])
        ctx.key("dom", ctx.dur(0.5), position=wrist_for(off_to, o_turned, lid_c))
        key_at(ctx, "off", ctx.scripts["dom"].end, angles=body)
    else:
        ctx.key("dom", ctx.dur(0.3), open_lid, position=wrist_for(top + UP * 0.04, dom_o, lid_c))


def _tighten(grip: np.ndarray, amount: float) -> np.ndarray:
    out = grip.copy()
    out[:12, 0] += amount
    return out


# -- pass an object from one hand to the other -------------------------------------------------------
def pass_object(ctx: Context) -> None:
    """Hand a bottle over: the dom hand picks it up in a power grip and carries it to the midline; the
    off hand comes over its top and grips it there; the dom hand lets go and withdraws; the off hand
    brings the bottle back to its own side."""
    rng = ctx.rng
    ctx.start()
    diameter = int(5 * round(rng.uniform(40.0, 70.0) / 5))
    body, axis_p, _ = cylinder_grip(diameter)
    cap_d = int(5 * round(max(diameter * rng.uniform(0.85, 1.0), 50.0) / 5))
    cap, cap_c = sphere_grip(cap_d)
    # Dom grip: palm on the bottle's side, thumb up along it.
    az = np.radians(rng.uniform(-30.0, 5.0))
    palm = np.array([np.cos(az), 0.0, np.sin(az)])
    dom_o = grip_orient(np.cross(palm, UP), palm)
    table = ctx.place("table", "dom")
    table_y = table_height(ctx, "dom")
    hold_h = rng.uniform(0.06, 0.08)  # the dom grips this high above the bottom
    top_h = hold_h + rng.uniform(0.15, 0.17)  # the top the off hand takes, above the dom's thumb
    bottom = np.array([table[0] + rng.uniform(-0.02, 0.04), table_y, table[2] + rng.uniform(0.06, 0.12)])
    centre = ctx.place("centre", "dom")
    mid_bottom = np.array([rng.normal(0.0, 0.01), centre[1] - hold_h - rng.uniform(0.0, 0.08),
                           centre[2] + rng.uniform(-0.02, 0.04)])
    dom_pre = preshape(body, 0.5)
    held = ctx.vary(body, 0.015)
    grip_w = wrist_for(bottom + UP * hold_h, dom_o, axis_p)
    ctx.key("dom", move_time(ctx, "dom", 0.6, grip_w - palm * 0.06), dom_pre, dom_o, grip_w - palm * 0.06)
    ctx.key("dom", ctx.dur(0.3), position=grip_w)
    ctx.key("dom", ctx.dur(0.25), held)
    lift = bottom + UP * (hold_h + 0.04)
    ctx.key("dom", ctx.dur(0.25), position=wrist_for(lift, dom_o, axis_p))
    at_mid = wrist_for(mid_bottom + UP * hold_h, dom_o, axis_p)
    ctx.key("dom", move_time(ctx, "dom", 0.6, at_mid, 0.9), position=at_mid)
    # The off hand comes over the top (timed to arrive as the bottle does) and closes on it.
    az_o = np.radians(rng.uniform(0.0, 35.0))
    off_o = grip_orient(np.array([np.sin(az_o), -0.15, np.cos(az_o)]), np.array([0.1, -1.0, 0.0]))
    top = (mid_bottom + UP * top_h) * MIRROR
    above = wrist_for(top + UP * 0.06, off_o, cap_c)
    t_mid = ctx.scripts["dom"].end
    reach = move_time(ctx, "off", 0.6, above)
    arrive = max(t_mid - ctx.dur(0.1), ctx.scripts["off"].end + reach)
    key_at(ctx, "off", arrive - reach)  # the off hand waits, then reaches
    key_at(ctx, "off", arrive, angles=preshape(cap, 0.6, 0.8), orient=off_o, position=above)
    ctx.key("off", ctx.dur(0.3), preshape(cap, 0.35, 0.8), position=wrist_for(top, off_o, cap_c))
    ctx.key("off", ctx.dur(0.22), ctx.vary(cap, 0.015))
    # The dom lets go and withdraws to its side.
    key_at(ctx, "dom", ctx.scripts["off"].end)  # holds on until the other hand has it
    ctx.key("dom", ctx.dur(0.18), dom_pre)
    back = at_mid - palm * rng.uniform(0.06, 0.1) + np.array([-0.05, -0.04, -0.03])
    ctx.key("dom", move_time(ctx, "dom", 0.5, back, 0.9), angles=ctx.relaxed(), position=back)
    # The off hand brings it back to its own side (a little lower, turned as it comes).
    key_at(ctx, "off", ctx.scripts["dom"].keys[-2].time + 0.05)
    side = ctx.place("centre", "off")
    dest = np.array([side[0] - rng.uniform(0.04, 0.1), top[1] - rng.uniform(0.03, 0.1), top[2] - rng.uniform(0.0, 0.06)])
    o_back = turn(off_o, (0.0, 1.0, 0.0), rng.normal(0.0, 0.2))
    w_dest = wrist_for(dest, o_back, cap_c)
    ctx.key("off", move_time(ctx, "off", 0.6, w_dest, 0.9), orient=o_back, position=w_dest)


# -- knitting, piano, typing -----------------------------------------------------------------------
def knit(ctx: Context) -> None:
    """Knit for 2-4 s: both hands close together at the centre holding needles in tripod-ish grips;
    the needles rock against each other with small alternating wrist rotations, the dom index loops
    the yarn each stitch and the stitch is passed from one needle to the other."""
    rng = ctx.rng
    ctx.start()
    grips = {r: ctx.vary(contact.tripod(round(float(rng.uniform(0.006, 0.01)), 3)), 0.015) for r in ROLES}
    for r in ROLES:
        grips[r][6:12, 0] += np.radians(10.0)  # pinky and ring tucked in (they carry the yarn)
    centre = ctx.place("centre", "dom")
    y, z = centre[1] + rng.uniform(-0.04, 0.02), centre[2] + rng.uniform(-0.06, 0.0)
    base, pos = {}, {}
    for r in ROLES:
        f = np.array([rng.uniform(0.45, 0.7), rng.uniform(-0.35, -0.1), 1.0])
        base[r] = np.array(facing(tuple(f), (0.35, -1.0, 0.1)))
        j = hand_points(grips[r], base[r], np.zeros(3))
        holdp = j[[16, 17, 18]].mean(axis=0)  # the needle sits in the tripod
        pos[r] = np.array([-rng.uniform(0.035, 0.05), y, z]) - holdp + rng.normal(0.0, 0.004, 3)
    key_both(ctx, both_time(ctx, 0.6, pos), dict(angles=grips["dom"], orient=base["dom"], position=pos["dom"]),
             dict(angles=grips["off"], orient=base["off"], position=pos["off"]))
    total = rng.uniform(2.0, 3.5)
    stitch = ctx.dur(rng.uniform(0.55, 0.8))
    rot = ctx.amp(0.18)
    loop = ctx.amp(0.35)
    t = 0.0
    while t < total:
        step = stitch / 4.0
        # 1: the dom needle goes into the stitch (forward and in, rolled), the off needle tilts to meet it
        key_both(ctx, step, dict(orient=turn(base["dom"], (0.0, 0.0, 1.0), rot), position=pos["dom"] + [0.01, 0.0, 0.012]),
                 dict(orient=turn(base["off"], (0.0, 0.0, 1.0), -0.5 * rot), position=pos["off"] + [0.004, 0.0, -0.004]))
        # 2: the dom index loops the yarn round the needle
        looped = grips["dom"].copy()
        looped[0:3, 0] -= np.array([loop, 0.6 * loop, 0.3 * loop])
        key_both(ctx, step, dict(angles=looped), dict(angles=grips["off"]))
        # 3: the loop is pulled through: the index returns, the dom needle draws back
        key_both(ctx, step, dict(angles=grips["dom"], orient=turn(base["dom"], (0.0, 0.0, 1.0), -0.4 * rot),
                                 position=pos["dom"] + [-0.004, 0.004, -0.01]),
                 dict(orient=turn(base["off"], (0.0, 0.0, 1.0), 0.6 * rot), position=pos["off"] + [-0.003, 0.0, 0.006]))
        # 4: the stitch slides off the off needle; both settle
        key_both(ctx, step, dict(orient=base["dom"], position=pos["dom"] + rng.normal(0.0, 0.002, 3)),
                 dict(orient=base["off"], position=pos["off"] + rng.normal(0.0, 0.002, 3)))
        t += stitch


def _press_keys(ctx: Context, role: str, t0: float, base: np.ndarray, notes: list[tuple[float, float, tuple[str, ...]]],
                depth: float, positions: list[tuple[float, np.ndarray]], press: float = 0.07,
                min_gap: float = 0.02) -> None:
    """Key one hand's finger presses from `t0`: notes are (start, end, fingers) in seconds from t0,
    each finger curling in over `press` s at its start and lifting over `press` s after its end;
    `positions` are (time, wrist position) the hand glides between. Keys are placed at every change
    (merged when closer than `min_gap`)."""
    notes = [(s, max(e, s + press), f) for s, e, f in notes]
    positions = sorted(positions, key=lambda tp: tp[0])
    last = max((e + press for _, e, _ in notes), default=0.0)
    times = sorted({0.0} | {t for s, e, _ in notes for t in (s, s + press, e, e + press)}
                   | {t for t, _ in positions if t <= last})
    keep: list[float] = []
    for t in times:
        if not keep or t - keep[-1] >= min_gap:
            keep.append(t)
    pt = np.array([t for t, _ in positions])
    pp = np.stack([p for _, p in positions])
    for t in keep[1:]:
        amount = {f: 0.0 for f in ("thumb",) + LONG_FINGERS}
        for s, e, fingers in notes:
            w = float(np.clip((t - s) / press, 0.0, 1.0) * np.clip(1.0 - (t - e) / press, 0.0, 1.0))
            for f in fingers:
                amount[f] = max(amount[f], w)
        angles = base.copy()
        for f in LONG_FINGERS:
            if amount[f] > 0:
                rows = [j - 1 for j in FINGERS[f][0]]
                angles[rows, 0] += amount[f] * depth * np.array([0.9, 1.0, 0.6])
        if amount["thumb"] > 0:
            rows = [j - 1 for j in FINGERS["thumb"][0]]
            angles[rows, 0] += amount["thumb"] * depth * np.array([0.4, 0.8, 0.6])
            angles[rows[0], 1] -= amount["thumb"] * depth * 0.4
        position = np.array([np.interp(t, pt, pp[:, i]) for i in range(3)])
        key_at(ctx, role, t0 + t, angles=angles, position=position)


_PIANO_FINGERS = ("thumb", "index", "middle", "ring", "pinky")


def _piano_phrase(ctx: Context, beat: float, role: str) -> tuple[list[tuple[float, float, tuple[str, ...]]], float]:
    """One phrase for one hand: notes (start, end, fingers) from 0 and the phrase length (s)."""
    rng = ctx.rng
    kind = rng.choice(["up", "down", "chord", "trill", "broken"], p=[0.25, 0.2, 0.25, 0.15, 0.15])
    notes: list[tuple[float, float, tuple[str, ...]]] = []
    legato = rng.uniform(0.6, 1.0)
    if kind in ("up", "down"):
        seq = list(_PIANO_FINGERS[: int(rng.integers(3, 6))])
        seq = seq if kind == "up" else seq[::-1]
        for k, f in enumerate(seq):
            notes.append((k * beat, k * beat + legato * beat, (f,)))
        return notes, len(seq) * beat
    if kind == "chord":
        chords = [("thumb", "middle", "pinky"), ("thumb", "index", "ring"), ("thumb", "ring"), ("index", "ring"),
                  ("thumb", "middle"), ("thumb", "index", "pinky")]
        n = int(rng.integers(1, 4))
        for k in range(n):
            ch = chords[rng.integers(len(chords))]
            notes.append((2 * k * beat, 2 * k * beat + rng.uniform(1.0, 1.8) * beat, ch))
        return notes, 2 * n * beat
    if kind == "trill":
        a = int(rng.integers(len(_PIANO_FINGERS) - 1))
        pair = (_PIANO_FINGERS[a], _PIANO_FINGERS[a + 1])
        n = int(rng.integers(4, 8))
        half = beat * 0.5
        for k in range(n):
            notes.append((k * half, k * half + 0.8 * half, (pair[k % 2],)))
        return notes, n * half + beat * 0.5
    seq = [_PIANO_FINGERS[i] for i in rng.choice(5, size=int(rng.integers(3, 6)))]  # broken melody
    for k, f in enumerate(seq):
        if notes and notes[-1][2] == (f,):
            continue
        notes.append((k * beat, k * beat + legato * beat, (f,)))
    return notes, len(seq) * beat


def piano(ctx: Context) -> None:
    """Play the piano with both hands: palms down over the keys, fingers pressing in runs, chords and
    trills, each hand shifting sideways a few centimetres between phrases."""
    rng = ctx.rng
    t0 = ctx.start()
    table = ctx.place("table", "dom", jitter=0.0)
    y = table[1] + rng.uniform(0.0, 0.04)
    z = table[2] + rng.uniform(0.02, 0.08)
    beat = ctx.dur(0.22)
    base, orients, home = {}, {}, {}
    for r in ROLES:
        curl = np.clip(rng.uniform(0.3, 0.45) + rng.normal(0.0, 0.03, 4), 0.2, 0.55)
        thumb = THUMB["relaxed"] + np.radians([[5.0, 10.0, 5.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        base[r] = hand_angles(curl, rng.uniform(0.1, 0.4), thumb + rng.normal(0.0, 0.03, (3, 3)))
        orients[r] = np.array(facing((rng.uniform(-0.05, 0.15), -0.2, 1.0), (rng.uniform(0.0, 0.2), -1.0, 0.0)))
        home[r] = np.array([-rng.uniform(0.12, 0.2), y + rng.normal(0.0, 0.005), z + rng.normal(0.0, 0.01)])
    if rng.random() < 0.5:  # the left-of-midline hand often sits further out (bass)
        home["off"][0] -= rng.uniform(0.0, 0.08)
    key_both(ctx, both_time(ctx, 0.6, home), dict(angles=base["dom"], orient=orients["dom"], position=home["dom"]),
             dict(angles=base["off"], orient=orients["off"], position=home["off"]))
    start = ctx.scripts["dom"].end - t0
    total = rng.uniform(2.0, 3.5)
    depth = ctx.amp(0.2)
    for r in ROLES:
        notes, positions = [], [(0.0, home[r])]
        t, x = start + rng.uniform(0.0, 0.15), 0.0
        while t < start + total:
            phrase, length = _piano_phrase(ctx, beat, r)
            if notes and t + length > start + total + beat:
                break
            notes += [(t + s, t + e, f) for s, e, f in phrase]
            t += length + beat * rng.uniform(0.0, 0.5)
            if rng.random() < 0.5:  # move to the next position between phrases
                x = float(np.clip(x + rng.choice([-1.0, 1.0]) * ctx.amp(0.035), -0.05, 0.05))
                p = home[r] + np.array([x, 0.0, 0.0])
                p[0] = min(p[0], -0.1)
                positions += [(t - 0.6 * beat, positions[-1][1]), (t - 0.05, p)]
        _press_keys(ctx, r, t0, base[r], notes, depth, positions + [(t + 1.0, positions[-1][1])])


def type_(ctx: Context) -> None:
    """Type with both hands: palms down on a keyboard, fingers tapping quasi-randomly at 6-10 taps/s
    in all (thumbs on the space bar), the hands nearly still."""
    rng = ctx.rng
    t0 = ctx.start()
    table = ctx.place("table", "dom", jitter=0.0)
    y = table[1] + rng.uniform(-0.01, 0.03)
    z = table[2] + rng.uniform(-0.02, 0.04)
    base, orients, home = {}, {}, {}
    for r in ROLES:
        curl = np.clip(rng.uniform(0.4, 0.55) + rng.normal(0.0, 0.03, 4), 0.3, 0.65)
        base[r] = hand_angles(curl, rng.uniform(-0.1, 0.2), THUMB["relaxed"] + rng.normal(0.0, 0.03, (3, 3)))
        orients[r] = np.array(facing((rng.uniform(0.1, 0.3), -0.25, 1.0), (rng.uniform(0.15, 0.35), -1.0, 0.0)))
        home[r] = np.array([-rng.uniform(0.11, 0.15), y + rng.normal(0.0, 0.005), z + rng.normal(0.0, 0.01)])
    key_both(ctx, both_time(ctx, 0.6, home), dict(angles=base["dom"], orient=orients["dom"], position=home["dom"]),
             dict(angles=base["off"], orient=orients["off"], position=home["off"]))
    start = ctx.scripts["dom"].end - t0
    total = rng.uniform(1.8, 3.5)
    rate = rng.uniform(6.0, 10.0)
    fingers = ("index", "middle", "ring", "pinky", "thumb")
    weights = np.array([0.33, 0.25, 0.17, 0.1, 0.15])
    notes: dict[str, list] = {r: [] for r in ROLES}
    last = {r: -1.0 for r in ROLES}
    t = start + rng.uniform(0.05, 0.2)
    while t < start + total:
        r = ROLES[int(rng.random() < 0.5)]
        if t - last[r] < 0.1:  # this hand is still on its last key: the other hand takes it
            r = "off" if r == "dom" else "dom"
        if t - last[r] >= 0.1:
            f = fingers[rng.choice(5, p=weights)]
            if f == "thumb" and r == "off" and rng.random() < 0.7:
                f = "index"  # the space bar is mostly the dominant thumb's
            notes[r].append((t, t + rng.uniform(0.01, 0.03), (f,)))
            last[r] = t
        t += rng.uniform(0.5, 1.5) / rate
    for r in ROLES:
        drift = home[r] + rng.normal(0.0, 0.003, 3)
        end = start + total + 0.2
        glide = [(0.0, home[r]), (start, home[r]), (end, drift)]
        _press_keys(ctx, r, t0, base[r], notes[r], ctx.amp(0.2), glide, press=0.055)
