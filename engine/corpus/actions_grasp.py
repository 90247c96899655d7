"""One-hand grasps of imagined objects: power (cylinder), spherical, tripod, lateral pinch and hook.

Each grasp is `fn(ctx, role)`: reach toward the object with the hand opening a little wider than
the object, close around it, lift and move it, maybe adjust the grip, set it down, let go and
withdraw a little. The object is only imagined, so the hand is placed by the object: every grip
shape comes with the object's position in the hand's own frame (wrist at the origin, identity
wrist orientation), and the wrist is solved as `object point - R(orient) @ local point`.

The power and spherical grips are solved by inverse kinematics against the object's surface (a
cylinder or a ball of the given size, cached per size), so a small bottle is wrapped tightly and a
large one only partly. The solved shapes are also used by the two-hand actions (`actions_bimanual`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..examples import facing
from ..rotations import axis_angle_to_matrix
from ..skeleton import FINGERS
from . import contact
from .anatomy import JOINT_LIMITS, LONG_FINGERS, THUMB, hand_angles
from .context import Context, hand_points, orient, turn

# Directions of the hand's own frame (the canonical right hand at rest): fingers along -X, the palm
# faces -Y, the thumb side is +Z.
FINGER_DIR = np.array([-1.0, 0.0, 0.0])
PALM_DIR = np.array([0.0, -1.0, 0.0])
THUMB_DIR = np.array([0.0, 0.0, 1.0])
UP = np.array([0.0, 1.0, 0.0])

VMAX = 1.1  # m/s: the peak wrist speed of an unhurried reach (min-jerk peak = 1.875 * distance / time)
_THUMB_ROWS = list(contact.THUMB_JOINTS)


# -- timing -------------------------------------------------------------------------------------
def move_time(ctx: Context, role: str, base: float, position: np.ndarray, vmax: float = VMAX) -> float:
    """`ctx.dur(base)`, lengthened so a min-jerk move of the `role` wrist to `position` peaks under `vmax`."""
    d = float(np.linalg.norm(np.asarray(position, float) - ctx.scripts[role].last.position))
    return max(ctx.dur(base), 1.875 * d / vmax)


def local_points(angles: np.ndarray) -> np.ndarray:
    """Joints (21, 3) of a hand with `angles` at identity wrist orientation, wrist at the origin."""
    return hand_points(angles, np.zeros(3), np.zeros(3))


def wrist_for(point_world: np.ndarray, wrist_orient: np.ndarray, point_local: np.ndarray) -> np.ndarray:
    """Wrist position that puts the hand-frame point `point_local` at `point_world` for `wrist_orient`."""
    return np.asarray(point_world, float) - axis_angle_to_matrix(np.asarray(wrist_orient, float)) @ point_local


# -- grip solvers --------------------------------------------------------------------------------
def _rows(finger: str) -> list[int]:
    return [j - 1 for j in FINGERS[finger][0]]


# Natural thumb ranges (degrees) for the random starts: CMC flex, abduct, twist; MCP; IP.
_THUMB_SAMPLE = ((-10.0, 70.0), (-65.0, 25.0), (-15.0, 60.0), (-10.0, 50.0), (-10.0, 70.0))


def _optimise(base: np.ndarray, free: np.ndarray, loss_fn, starts: int = 48, steps: int = 160,
              lr: float = 0.05, prior: float = 0.02) -> np.ndarray:
    """Projected Adam over the `free` angles of `base` (DIPs follow the PIPs) minimising
    loss_fn(joints (B, 21, 3) relative to the wrist) -> (B,). The thumb's loss landscape around an
    object has poor local minima, so `starts` random natural thumbs are optimised together and the
    best result is kept (deterministic: fixed seed)."""
    rng = np.random.default_rng(0)
    lo_s, hi_s = np.radians(np.array(_THUMB_SAMPLE)).T
    smp = rng.uniform(lo_s, hi_s, (starts, 5))
    init = np.repeat(base[None], starts, axis=0)
    t0, t1, t2 = _THUMB_ROWS
    init[1:, t0] = smp[1:, :3]
    init[1:, t1, 0], init[1:, t2, 0] = smp[1:, 3], smp[1:, 4]
    anchor = torch.as_tensor(base, dtype=torch.float64)[None]
    mask = torch.as_tensor(free, dtype=torch.float64)[None]
    lo = torch.as_tensor(JOINT_LIMITS[..., 0])[None]
    hi = torch.as_tensor(JOINT_LIMITS[..., 1])[None]

    def couple(a: torch.Tensor) -> torch.Tensor:
        a = a.clone()
        for f in LONG_FINGERS:
            _, pip, dip = _rows(f)
            a[:, dip, 0] = torch.clamp(0.72 * a[:, pip, 0], lo[:, dip, 0], hi[:, dip, 0])
        return a

    def objective(a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        j = contact.fk_right(a)
        return loss_fn(j - j[:, :1]) * 1e4 + prior * ((a - anchor) * mask).pow(2).sum((-1, -2))

    angles, value = contact.descend(init, free, objective, couple, steps, lr)
    return angles[int(torch.argmin(value))].numpy()


def _free(abduct: bool) -> np.ndarray:
    free = np.zeros((15, 3), dtype=bool)
    for f in LONG_FINGERS:
        mcp, pip, _ = _rows(f)
        free[mcp, 0] = free[pip, 0] = True
        free[mcp, 1] = abduct
    free[_THUMB_ROWS[0]] = True
    free[_THUMB_ROWS[1], 0] = free[_THUMB_ROWS[2], 0] = True
    return free


def _segment_samples(j: torch.Tensor, chain: list[int]) -> torch.Tensor:
    """Points (B, K, 3) along a chain of joints of j (B, 21, 3): the joints and quarter points of its bones."""
    pts = []
    for a, b in zip(chain[:-1], chain[1:]):
        for t in (0.0, 0.25, 0.5, 0.75):
            pts.append(j[:, a] * (1 - t) + j[:, b] * t)
    pts.append(j[:, chain[-1]])
    return torch.stack(pts, dim=1)


def _chains() -> dict[str, list[int]]:
    out = {}
    for f in FINGERS:
        joints, tip = FINGERS[f]
        out[f] = list(joints) + [tip]
    return out


_CHAINS = _chains()


def _palm_penalty(j: torch.Tensor) -> torch.Tensor:
    """(B,) penalty for the thumb passing through the palm: points distal of the thenar must stay
    on the palmar side of the palm's skin (y < -18 mm in the hand's frame)."""
    th = _segment_samples(j, _CHAINS["thumb"])[:, 2:]
    inside = (th[..., 0] < -0.035).to(j.dtype)
    return (torch.relu(th[..., 1] + 0.018).pow(2) * inside).sum(-1)
_REST = local_points(np.zeros((15, 3)))
_MCP_CENTRE = _REST[[1, 4, 7, 10]].mean(axis=0)


@lru_cache(maxsize=None)
def cylinder_grip(diameter_mm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power grip around a cylinder of `diameter_mm` lying across the palm at the knuckle row.

    Returns (angles (15, 3), axis point (3,), axis direction (3,)) in the hand's frame.
    """
    r = diameter_mm / 2000.0
    axis_p = _MCP_CENTRE - 0.006 * FINGER_DIR + (0.013 + r) * PALM_DIR
    axis_d = THUMB_DIR.copy()
    c = float(np.clip(1.2 - diameter_mm / 70.0, 0.2, 0.9))
    thumb0 = np.radians([[30.0, -30.0, 35.0], [20.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    base = hand_angles(np.full(4, c), 0.0, thumb0, coupled=False)
    P = torch.as_tensor(axis_p)
    D = torch.as_tensor(axis_d)

    def dist(x: torch.Tensor) -> torch.Tensor:
        v = x - P
        return torch.linalg.norm(v - (v @ D)[..., None] * D, dim=-1)

    def loss(j: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(j.shape[0], dtype=j.dtype)
        for f in LONG_FINGERS:
            ch = _CHAINS[f]
            total = total + (dist(j[:, ch[1]]) - (r + 0.009)) ** 2 + (dist(j[:, ch[2]]) - (r + 0.009)) ** 2
            total = total + 2.0 * (dist(j[:, ch[3]]) - (r + 0.007)) ** 2
            total = total + 10.0 * torch.relu(r + 0.008 - dist(_segment_samples(j, ch))).pow(2).sum(-1)
        th = _CHAINS["thumb"]
        total = total + 2.0 * (dist(j[:, th[3]]) - (r + 0.007)) ** 2 + (dist(j[:, th[2]]) - (r + 0.010)) ** 2
        total = total + 10.0 * torch.relu(r + 0.008 - dist(_segment_samples(j, th[1:]))).pow(2).sum(-1)
        total = total + 10.0 * _palm_penalty(j)
        # The thumb closes on the far side of the cylinder (beyond its axis from the palm), clear of the index.
        total = total + 2.0 * torch.relu((j[:, th[3]] - P) @ torch.as_tensor(-PALM_DIR) + 0.25 * r) ** 2
        idx = _segment_samples(j, _CHAINS["index"])
        gap = torch.cdist(_segment_samples(j, th[1:]), idx)
        total = total + 10.0 * torch.relu(0.016 - gap).pow(2).sum((-1, -2))
        return total

    return _optimise(base, _free(False), loss), axis_p, axis_d


@lru_cache(maxsize=None)
def sphere_grip(diameter_mm: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical grip: fingers spread and curved around a ball of `diameter_mm` held against the palm.

    Returns (angles (15, 3), ball centre (3,)) in the hand's frame.
    """
    r = diameter_mm / 2000.0
    centre = _MCP_CENTRE + 0.010 * FINGER_DIR + (0.014 + r) * PALM_DIR
    c = float(np.clip(0.75 - diameter_mm / 200.0, 0.2, 0.6))
    thumb0 = np.radians([[40.0, -10.0, 40.0], [10.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    base = hand_angles(np.full(4, c), 0.8, thumb0, coupled=False)
    C = torch.as_tensor(centre)

    def dist(x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.norm(x - C, dim=-1)

    def loss(j: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(j.shape[0], dtype=j.dtype)
        for f in LONG_FINGERS:
            ch = _CHAINS[f]
            total = total + 0.5 * (dist(j[:, ch[1]]) - (r + 0.009)) ** 2 + (dist(j[:, ch[2]]) - (r + 0.009)) ** 2
            total = total + 2.0 * (dist(j[:, ch[3]]) - (r + 0.006)) ** 2
            total = total + 10.0 * torch.relu(r + 0.008 - dist(_segment_samples(j, ch))).pow(2).sum(-1)
        th = _CHAINS["thumb"]
        total = total + 2.0 * (dist(j[:, th[3]]) - (r + 0.006)) ** 2 + (dist(j[:, th[2]]) - (r + 0.010)) ** 2
        total = total + 10.0 * torch.relu(r + 0.008 - dist(_segment_samples(j, th[1:]))).pow(2).sum(-1)
        total = total + 10.0 * _palm_penalty(j)
        # The thumb opposes the index and middle across the ball; adjacent fingertips stay apart.
        opp = torch.linalg.norm(j[:, th[3]] - 0.5 * (j[:, FINGERS["index"][1]] + j[:, FINGERS["middle"][1]]), dim=-1)
        total = total + torch.relu(1.5 * r + 0.01 - opp) ** 2
        tips = [FINGERS[f][1] for f in LONG_FINGERS]
        for a, b in zip(tips[:-1], tips[1:]):
            total = total + torch.relu(0.02 - torch.linalg.norm(j[:, a] - j[:, b], dim=-1)) ** 2
        return total

    return _optimise(base, _free(True), loss), centre


def open_hand(spread: float = 0.5) -> np.ndarray:
    """A wide-open hand (15, 3) for reaching: fingers nearly straight and spread, thumb out."""
    return hand_angles(np.full(4, 0.08), spread, THUMB["out"])


def preshape(grip: np.ndarray, opening: float, spread: float = 0.5) -> np.ndarray:
    """The grip opened by `opening` (0 = the grip, 1 = a wide-open hand): the hand shaped a little
    wider than the object while it reaches."""
    return (1.0 - opening) * grip + opening * open_hand(spread)


def table_height(ctx: Context, role: str) -> float:
    """Height (m) of the table surface: where the fingertips of this performer's resting hand
    (`Context.rest`: forearm on the table, fingers sloping down) come to lie."""
    return float(ctx.place("table", role, jitter=0.0)[1]) - 0.09


def grip_orient(fingers: np.ndarray, palm: np.ndarray) -> np.ndarray:
    return np.array(facing(tuple(np.asarray(fingers, float)), tuple(np.asarray(palm, float))))


def lowest_below(angles: np.ndarray, wrist_orient: np.ndarray, point_local: np.ndarray) -> float:
    """How far (m) the lowest joint of the hand sits below the object point `point_local`."""
    j = hand_points(angles, wrist_orient, np.zeros(3))
    p = axis_angle_to_matrix(np.asarray(wrist_orient, float)) @ point_local
    return float(p[1] - j[:, 1].min())


def pick_and_place(ctx: Context, role: str, grip: np.ndarray, point_local: np.ndarray, rot: np.ndarray,
                   pick: np.ndarray, path: list[tuple[np.ndarray, np.ndarray]], place: np.ndarray,
                   place_rot: np.ndarray, approach: np.ndarray, opening: float = 0.55,
                   spread: float = 0.5, floor: float | None = None) -> None:
    """Reach, grasp, carry and set down an object, then let go and withdraw.

    grip: the closed hand (15, 3); point_local: the object's reference point in the hand frame;
    rot / place_rot: wrist orientations at the pick and the place; pick / place: the object's world
    points; path: (object point, wrist orientation) waypoints of the carry; approach: world offset of
    the wrist before the grasp and after the release (the direction the hand comes from); floor: the
    table height, if any: the opened hand is kept above it (it closes as it comes down onto the object).
    """
    rng = ctx.rng
    pre = preshape(grip, opening * rng.uniform(0.85, 1.15), spread)
    held = ctx.vary(grip, 0.015)
    w_pick = wrist_for(pick, rot, point_local)

    def clear(w: np.ndarray, o: np.ndarray) -> np.ndarray:
        """Wrist `w` raised as needed to keep the open hand above the floor."""
        if floor is None:
            return w
        low = float(hand_points(pre, o, w)[:, 1].min())
        return w + UP * max(0.0, floor + 0.003 - low)

    # Reach with the hand opening on the way, then the last few centimetres slower.
    via = clear(w_pick + approach, rot)
    ctx.key(role, move_time(ctx, role, 0.6, via), pre, rot, via)
    ctx.key(role, move_time(ctx, role, 0.3, w_pick, 0.5), pre, rot, clear(w_pick, rot))
    ctx.key(role, ctx.dur(0.25), held, position=w_pick)
    for point, o in path:
        w = wrist_for(point, o, point_local)
        ctx.key(role, move_time(ctx, role, 0.45, w, 0.9), orient=o, position=w)
    if rng.random() < 0.5:  # an in-hand adjustment: squeeze a little harder, or open slightly and re-close
        if rng.random() < 0.5:
            tight = held.copy()
            tight[:12, 0] += ctx.amp(0.06)
            ctx.key(role, ctx.dur(0.2), tight)
            ctx.key(role, ctx.dur(0.25), held)
        else:
            ctx.key(role, ctx.dur(0.18), preshape(grip, 0.25 * opening, spread))
            ctx.key(role, ctx.dur(0.2), ctx.vary(grip, 0.015))
    else:
        ctx.key(role, ctx.dur(0.2))
    w_place = wrist_for(place, place_rot, point_local)
    hover = w_place + np.array([0.0, ctx.amp(0.03), 0.0])
    ctx.key(role, move_time(ctx, role, 0.45, hover, 0.9), orient=place_rot, position=hover)
    ctx.key(role, move_time(ctx, role, 0.25, w_place, 0.4), position=w_place)
    ctx.key(role, ctx.dur(0.2), pre, position=clear(w_place, place_rot))
    away = w_place + approach * rng.uniform(0.6, 1.0)
    relaxed = 0.5 * pre + 0.5 * ctx.relaxed()
    ctx.key(role, move_time(ctx, role, 0.4, away, 0.9), relaxed, position=away)


def _carry(ctx: Context, pick: np.ndarray, lift: float, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A carry from `pick`: the lifted point and the place (`shift` (3,) horizontal, m)."""
    up = pick + np.array([0.0, lift, 0.0]) + 0.5 * shift
    return up, pick + shift


def _shift(ctx: Context, reach: float = 0.12) -> np.ndarray:
    """A horizontal displacement for the object's new place: mostly sideways/forward, up to `reach` m."""
    a = ctx.rng.uniform(-np.pi, np.pi)
    d = ctx.rng.uniform(0.0, reach)
    return np.array([d * np.cos(a), 0.0, 0.6 * d * np.sin(a)])


def _object_spot(ctx: Context, role: str) -> np.ndarray:
    """Where an object stands on the table, in front of the hand (x, z) at the table height."""
    p = ctx.place("table", role)
    return np.array([p[0] + ctx.rng.uniform(-0.02, 0.06), table_height(ctx, role), p[2] + ctx.rng.uniform(0.06, 0.14)])


def power(ctx: Context, role: str) -> None:
    """Power grip on an upright cylinder (bottle, glass) of 25-70 mm: reach from the side with the
    palm toward it, wrap the fingers (tighter for thinner objects), lift, carry, set it down."""
    rng = ctx.rng
    diameter = int(5 * round(rng.uniform(25.0, 70.0) / 5))
    grip, axis_p, _ = cylinder_grip(diameter)
    az = np.radians(rng.uniform(-35.0, 10.0))  # the palm faces the midline, turned forward
    palm = np.array([np.cos(az), 0.0, np.sin(az)])
    fingers = np.cross(palm, UP)
    rot = grip_orient(fingers, palm)
    spot = _object_spot(ctx, role)
    pick = spot + np.array([0.0, max(rng.uniform(0.05, 0.09), lowest_below(grip, rot, axis_p) + 0.01), 0.0])
    lift = ctx.amp(rng.uniform(0.07, 0.15))
    up, place = _carry(ctx, pick, lift, _shift(ctx))
    path = [(up, rot)]
    if rng.random() < 0.3:  # tip it as if pouring, and back
        tilt = turn(rot, tuple(-fingers), ctx.amp(0.7))
        path = [(up, rot), (up + np.array([0.0, 0.02, 0.0]), tilt), (up, rot)]
    approach = -palm * rng.uniform(0.06, 0.1) + np.array([0.0, rng.uniform(0.01, 0.04), 0.0])
    pick_and_place(ctx, role, grip, axis_p, rot, pick, path, place, rot, approach, opening=rng.uniform(0.45, 0.6),
                   floor=spot[1])


def sphere(ctx: Context, role: str) -> None:
    """Spherical grip on a ball of 50-100 mm from above: fingers spread and curved around it."""
    rng = ctx.rng
    diameter = int(5 * round(rng.uniform(50.0, 100.0) / 5))
    grip, centre = sphere_grip(diameter)
    az = np.radians(rng.uniform(-10.0, 30.0))
    fingers = np.array([np.sin(az), -np.tan(np.radians(rng.uniform(5.0, 25.0))), np.cos(az)])
    palm = np.array([0.15, -1.0, 0.0]) + rng.normal(0.0, 0.08, 3)
    rot = grip_orient(fingers, palm)
    spot = _object_spot(ctx, role)
    pick = spot + np.array([0.0, max(diameter / 2000.0, lowest_below(grip, rot, centre) + 0.004), 0.0])
    up, place = _carry(ctx, pick, ctx.amp(rng.uniform(0.08, 0.16)), _shift(ctx))
    o_up = turn(rot, (0.0, 1.0, 0.0), rng.normal(0.0, 0.2))
    approach = np.array([0.0, rng.uniform(0.06, 0.09), 0.0]) - fingers * 0.02
    pick_and_place(ctx, role, grip, centre, rot, pick, [(up, o_up)], place, rot, approach,
                   opening=rng.uniform(0.35, 0.5), spread=0.8, floor=spot[1])


def tripod(ctx: Context, role: str) -> None:
    """Tripod grip (thumb, index, middle) on a small object of 8-20 mm (a pen cap, a die), picked
    from the table with the fingers pointing down-forward."""
    rng = ctx.rng
    size = int(rng.choice(TRIPOD_SIZES_MM))
    grip = contact.tripod(size / 1000.0)
    j = local_points(grip)
    point = j[[16, 17, 18]].mean(axis=0)
    az = np.radians(rng.uniform(-10.0, 35.0))
    down = np.radians(rng.uniform(25.0, 50.0))
    fingers = np.array([np.sin(az) * np.cos(down), -np.sin(down), np.cos(az) * np.cos(down)])
    rot = grip_orient(fingers, np.array([0.2, -1.0, -0.3]))
    spot = _object_spot(ctx, role)
    pick = spot + np.array([0.0, max(size / 2000.0, lowest_below(grip, rot, point) + 0.003), 0.0])
    up, place = _carry(ctx, pick, ctx.amp(rng.uniform(0.08, 0.18)), _shift(ctx))
    o_up = turn(rot, (1.0, 0.0, 0.0), -rng.uniform(0.0, 0.5))  # lift it toward the eyes to look at it
    approach = np.array([0.0, rng.uniform(0.05, 0.08), 0.0]) - fingers * 0.03
    pick_and_place(ctx, role, grip, point, rot, pick, [(up, o_up)], place, rot, approach,
                   opening=rng.uniform(0.3, 0.5), floor=spot[1])


def lateral(ctx: Context, role: str) -> None:
    """Lateral (key) pinch: the thumb pad presses a key or card against the side of the curled index;
    taken from a holder in front, carried and put down elsewhere."""
    rng = ctx.rng
    grip = contact.lateral_pinch()
    j = local_points(grip)
    point = 0.5 * (j[16] + 0.5 * (j[2] + j[3]))
    az = np.radians(rng.uniform(-15.0, 25.0))
    fingers = np.array([np.sin(az), rng.uniform(-0.3, 0.1), np.cos(az)])
    palm = np.array([1.0, rng.uniform(-0.8, -0.1), 0.0])
    rot = grip_orient(fingers, palm)
    start = ctx.place("centre", role) + [rng.uniform(-0.06, 0.02), rng.uniform(-0.05, 0.05), rng.uniform(0.0, 0.08)]
    low = table_height(ctx, role) + lowest_below(grip, rot, point) + 0.01
    pick = np.array([start[0], max(start[1], low), start[2]])
    shift = _shift(ctx, 0.15)
    up = pick + np.array([0.0, ctx.amp(rng.uniform(0.02, 0.08)), -ctx.amp(rng.uniform(0.04, 0.1))])
    place = np.array([pick[0] + shift[0], max(low, pick[1] - rng.uniform(0.0, 0.12)), pick[2] + shift[2]])
    o_up = turn(rot, tuple(fingers), rng.normal(0.0, 0.25))  # a small twist, as if showing or turning it
    approach = -fingers * rng.uniform(0.06, 0.1) - np.array([0.05, 0.0, 0.0]) * rng.random()
    pick_and_place(ctx, role, grip, point, rot, pick, [(up, o_up)], place, rot, approach,
                   opening=rng.uniform(0.4, 0.6), floor=table_height(ctx, role))


def hook(ctx: Context, role: str) -> None:
    """Hook grip on a bag's handle with the arm lowered at the side: fingers 2-5 bent at the PIP and
    DIP with the MCPs nearly straight; lift, carry with a small swing, set down and let go."""
    rng = ctx.rng
    c = rng.uniform(0.7, 0.9)
    mcp_bias = -np.full(4, c * 0.8 * np.radians(90.0)) + np.radians(rng.uniform(0.0, 15.0, 4))
    thumb = THUMB["relaxed"] if rng.random() < 0.6 else THUMB["tucked"]
    grip = hand_angles(np.full(4, c) + rng.normal(0, 0.03, 4), 0.0, thumb, mcp_bias=mcp_bias)
    open_ = hand_angles(np.full(4, rng.uniform(0.15, 0.3)), 0.2, THUMB["relaxed"])
    rot = orient("down", rng, jitter=0.08)
    side = ctx.place("side", role)
    low = side + np.array([rng.uniform(0.0, 0.04), -rng.uniform(0.1, 0.16), rng.uniform(-0.02, 0.06)])
    # Reach down to the handle with the fingers ready, slip them under it and close.
    above = low + [-0.015, 0.05, 0.0]
    ctx.key(role, move_time(ctx, role, 0.7, above), open_, rot, above)
    ctx.key(role, ctx.dur(0.3), position=low + [-0.015, 0.0, 0.0])
    ctx.key(role, ctx.dur(0.25), grip, position=low)
    lift = ctx.amp(rng.uniform(0.1, 0.22))
    up = low + np.array([-0.01, lift, 0.0])
    ctx.key(role, move_time(ctx, role, 0.6, up, 0.7), position=up, orient=turn(rot, (1.0, 0.0, 0.0), 0.05))
    if rng.random() < 0.6:  # the bag swings a little as it is carried
        s = ctx.amp(0.03)
        ctx.key(role, ctx.dur(0.35), position=up + [0.0, -0.005, s], orient=turn(rot, (1.0, 0.0, 0.0), 0.15))
        ctx.key(role, ctx.dur(0.35), position=up + [0.0, -0.005, -s], orient=turn(rot, (1.0, 0.0, 0.0), -0.1))
    ctx.key(role, ctx.dur(0.25), position=up, orient=rot)
    if rng.random() < 0.5:  # shift the handle in the fingers: ease open, then hook again
        eased = hand_angles(np.full(4, c - 0.2), 0.0, thumb, mcp_bias=mcp_bias * 0.8)
        ctx.key(role, ctx.dur(0.2), eased, position=up + [0.0, 0.01, 0.0])
        ctx.key(role, ctx.dur(0.22), ctx.vary(grip, 0.02), position=up)
    ctx.key(role, move_time(ctx, role, 0.5, low, 0.7), position=low)
    ctx.key(role, ctx.dur(0.25), open_)
    ctx.key(role, ctx.dur(0.3), position=low + [-0.02, 0.06, 0.0], angles=ctx.relaxed())


TRIPOD_SIZES_MM = (8, 10, 12, 14, 16, 18, 20)


def warm() -> None:
    """Solve every cached grip size now (before forking workers, so they inherit the results)."""
    for d in range(25, 75, 5):
        cylinder_grip(d)
    for d in range(45, 105, 5):
        sphere_grip(d)
    for size in TRIPOD_SIZES_MM:
        contact.tripod(size / 1000.0)
    for size in (0.006, 0.007, 0.008, 0.009, 0.01):
        contact.tripod(size)
