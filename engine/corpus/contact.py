"""Hand shapes with real contacts, solved by inverse kinematics on the canonical skeleton.

A pinch is only a pinch when the thumb pad meets the fingertip, so shapes with contacts (pinches,
the OK sign, tripod and lateral grips, the thumb folded over a fist, the snap) are not typed in as
angles: each is solved once by projected gradient descent over the free joint angles (inside
`JOINT_LIMITS`), starting from a plausible pose and pulled toward it by a small prior, then cached.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from ..rotations import euler_to_matrix
from ..skeleton import FINGERS, _canonical_right_rest, forward_kinematics
from .anatomy import JOINT_LIMITS, THUMB, hand_angles, joint_frames

log = logging.getLogger(__name__)

THUMB_JOINTS = tuple(j - 1 for j in FINGERS["thumb"][0])  # rows 12, 13, 14 of a (15, 3) angle array
CONTACT_GAP = 0.010  # metres between the two contact points (pads touch, skin is not modelled)

# A point on the hand: (joint a, joint b, t) -> lerp of joints a and b of the 21-joint skeleton.
Point = tuple[int, int, float]


def tip(finger: str) -> Point:
    t = FINGERS[finger][1]
    return (t, t, 0.0)


def fk_right(angles: torch.Tensor) -> torch.Tensor:
    """Canonical right hand at identity wrist: angles (B, 15, 3) -> joints (B, 21, 3) metres (differentiable)."""
    B = torch.as_tensor(joint_frames("right"), dtype=angles.dtype)
    local = euler_to_matrix("YZX", angles[..., [1, 2, 0]])
    rot = B @ local @ B.transpose(-1, -2)  # (B, 15, 3, 3)
    eye = torch.eye(3, dtype=angles.dtype).expand(angles.shape[0], 1, 3, 3)
    rest_j, rest_t = (torch.as_tensor(a, dtype=angles.dtype) for a in _canonical_right_rest())
    return forward_kinematics(torch.cat([eye, rot], dim=1), rest_j, rest_t, torch.zeros(angles.shape[0], 3, dtype=angles.dtype))


def _point(joints: torch.Tensor, p: Point) -> torch.Tensor:
    a, b, t = p
    return joints[:, a] * (1 - t) + joints[:, b] * t


def descend(init: np.ndarray, free: np.ndarray, objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
            couple: Callable[[torch.Tensor], torch.Tensor] = lambda a: a, steps: int = 80,
            lr: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected Adam over the `free` angles of a batch of starting poses.

    init (B, 15, 3) radians; free (15, 3) bool; objective(angles (B, 15, 3), delta (B, 15, 3)) -> (B,)
    to minimise; couple(angles) -> angles applies equality constraints (a DIP following its PIP).
    Angles are clamped into `JOINT_LIMITS` at every step. Returns (angles (B, 15, 3), objective (B,)).
    """
    base_t = torch.as_tensor(init, dtype=torch.float64)
    mask = torch.as_tensor(free, dtype=torch.float64)[None]
    lo = torch.as_tensor(JOINT_LIMITS[..., 0])[None]
    hi = torch.as_tensor(JOINT_LIMITS[..., 1])[None]
    delta = torch.zeros_like(base_t, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)

    def current() -> torch.Tensor:
        return couple(torch.clamp(base_t + delta * mask, lo, hi))

    for _ in range(steps):
        opt.zero_grad()
        objective(current(), delta).sum().backward()
        opt.step()
    with torch.no_grad():
        a = current()
        return a, objective(a, delta)


def solve(base: np.ndarray, free: np.ndarray, pairs: list[tuple[Point, Point]], gap: float = CONTACT_GAP,
          steps: int = 80, prior: float = 0.02, coupled: tuple[tuple[int, int, float], ...] = ()) -> np.ndarray:
    """Move the `free` angles of `base` so each pair of points ends `gap` apart.

    base (15, 3) radians; free (15, 3) bool; pairs of hand points; coupled: (row_dst, row_src, ratio)
    keeps flex[row_dst] = ratio * flex[row_src] (DIP following PIP). Returns (15, 3) inside the limits.
    """
    mask = torch.as_tensor(free, dtype=torch.float64)[None]
    lo = torch.as_tensor(JOINT_LIMITS[..., 0])[None]
    hi = torch.as_tensor(JOINT_LIMITS[..., 1])[None]

    def couple(a: torch.Tensor) -> torch.Tensor:
        for dst, src, ratio in coupled:
            a = a.clone()
            a[:, dst, 0] = torch.clamp(ratio * a[:, src, 0], lo[:, dst, 0], hi[:, dst, 0])
        return a

    def objective(a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        joints = fk_right(a)
        loss = sum((torch.linalg.norm(_point(joints, p) - _point(joints, q), dim=-1) - gap) ** 2 for p, q in pairs)
        return loss * 1e4 + prior * (delta * mask).pow(2).sum((-1, -2))

    angles, residual = descend(base[None], free, objective, couple, steps)
    log.debug("contact solve: objective %.2e", float(residual[0]))
    return angles[0].numpy()


def _free(rows: tuple[int, ...], thumb: bool = True, twist: bool = False) -> np.ndarray:
    free = np.zeros((15, 3), dtype=bool)
    for r in rows:
        free[r, 0] = True
    if thumb:
        free[THUMB_JOINTS[0]] = (True, True, True)
        free[THUMB_JOINTS[1], 0] = free[THUMB_JOINTS[2], 0] = True
    if twist:
        free[:, 2] |= free[:, 0]
    return free


def _dip_coupling(finger: str, ratio: float = 0.7) -> tuple[int, int, float]:
    j1, j2, j3 = FINGERS[finger][0]
    return (j3 - 1, j2 - 1, ratio)


# Starting thumb for the opposition solves: flexed and pronated toward the fingers.
_THUMB_OPPOSED = np.radians([[35.0, -20.0, 35.0], [15.0, 0.0, 0.0], [15.0, 0.0, 0.0]])


def _tip_to_tip(curl: dict[str, float], finger: str, thumb0: np.ndarray = _THUMB_OPPOSED,
                spread: float = 0.0) -> np.ndarray:
    """Solve the thumb and `finger`'s MCP/PIP so their tips meet, from the given curls. (15, 3)."""
    base = hand_angles(curl, spread, thumb0, coupled=False)
    j1, j2, _ = FINGERS[finger][0]
    return solve(base, _free((j1 - 1, j2 - 1)), [(tip("thumb"), tip(finger))], coupled=(_dip_coupling(finger),))


@lru_cache(maxsize=None)
def opposition(finger: str = "index", curl: float = 0.45, others: float = 0.25) -> np.ndarray:
    """Thumb tip meeting `finger`'s tip (pad pinch). curl: the finger's starting curl; others: the
    remaining fingers' curl. Returns angles (15, 3)."""
    c = {f: others for f in ("index", "middle", "ring", "pinky")}
    c[finger] = curl
    return _tip_to_tip(c, finger)


@lru_cache(maxsize=None)
def ok_sign() -> np.ndarray:
    """Thumb and index tips touch in a round 'O'; middle, ring and pinky extended and slightly fanned."""
    thumb0 = np.radians([[30.0, -15.0, 30.0], [15.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    return _tip_to_tip({"index": 0.55, "middle": 0.05, "ring": 0.08, "pinky": 0.1}, "index", thumb0, spread=0.5)


@lru_cache(maxsize=None)
def tripod(size: float = 0.015) -> np.ndarray:
    """Thumb, index and middle tips meet around a small object (pen, spoon) of diameter `size` m."""
    base = hand_angles({"index": 0.45, "middle": 0.5, "ring": 0.6, "pinky": 0.65}, 0.0, _THUMB_OPPOSED, coupled=False)
    rows = tuple(j - 1 for f in ("index", "middle") for j in FINGERS[f][0][:2])
    pairs = [(tip("thumb"), tip("index")), (tip("thumb"), tip("middle")), (tip("index"), tip("middle"))]
    return solve(base, _free(rows), pairs, gap=size,
                 coupled=(_dip_coupling("index"), _dip_coupling("middle")))


@lru_cache(maxsize=None)
def lateral_pinch() -> np.ndarray:
    """Key grip: the thumb pad presses on the radial side of the curled index's middle phalanx."""
    thumb0 = np.radians([[10.0, -25.0, 15.0], [20.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    base = hand_angles({"index": 0.75, "middle": 0.8, "ring": 0.85, "pinky": 0.9}, 0.0, thumb0, coupled=False)
    i2, i3 = FINGERS["index"][0][1:]
    return solve(base, _free(()), [(tip("thumb"), (i2, i3, 0.5))], gap=0.012)


@lru_cache(maxsize=None)
def fist(tightness: float = 1.0) -> np.ndarray:
    """Fist: long fingers curled by `tightness`, thumb pad folded over the index and middle middle phalanges."""
    c = 0.78 + 0.22 * tightness
    base = hand_angles({"index": c, "middle": c, "ring": c, "pinky": c}, 0.0, THUMB["folded"], coupled=False)
    i2, i3 = FINGERS["index"][0][1:]
    m2, m3 = FINGERS["middle"][0][1:]
    return solve(base, _free(()), [(tip("thumb"), (i2, i3, 0.4)), (tip("thumb"), (m2, m3, 0.4))], gap=0.018)


@lru_cache(maxsize=None)
def thumb_over(fingers: tuple[str, ...]) -> np.ndarray:
    """Thumb (3, 3) angles folded over the middle phalanges of the given curled fingers (peace, rock-on, four)."""
    c = {f: (0.95 if f in fingers else 0.0) for f in ("index", "middle", "ring", "pinky")}
    base = hand_angles(c, 0.0, THUMB["folded"], coupled=False)
    pairs = [(tip("thumb"), (FINGERS[f][0][1], FINGERS[f][0][2], 0.4)) for f in fingers]
    return solve(base, _free(()), pairs, gap=0.018)[list(THUMB_JOINTS)]


@lru_cache(maxsize=None)
def thumb_across() -> np.ndarray:
    """Thumb (3, 3) angles folded across the palm to the base of the ring finger, long fingers straight (four)."""
    base = hand_angles({}, 0.3, THUMB["folded"], coupled=False)
    m1, r1 = FINGERS["middle"][0][0], FINGERS["ring"][0][0]
    return solve(base, _free(()), [(tip("thumb"), (m1, r1, 0.7))], gap=0.022)[list(THUMB_JOINTS)]


@lru_cache(maxsize=None)
def snap_ready() -> np.ndarray:
    """Before a snap: thumb pressed against the middle fingertip, ring and pinky curled, index half curled."""
    thumb0 = _THUMB_OPPOSED.copy()
    thumb0[2, 0] = np.radians(10.0)  # IP a little straighter: the pad presses flat
    return _tip_to_tip({"index": 0.45, "middle": 0.35, "ring": 0.9, "pinky": 0.95}, "middle", thumb0)


@lru_cache(maxsize=None)
def flick_ready() -> np.ndarray:
    """Before a flick: the curled index's nail held behind the thumb pad."""
    base = hand_angles({"index": 0.75, "middle": 0.6, "ring": 0.7, "pinky": 0.75}, 0.0, _THUMB_OPPOSED, coupled=False)
    i3 = FINGERS["index"][0][2]
    return solve(base, _free(()), [(tip("thumb"), (i3, FINGERS["index"][1], 0.6))], gap=0.012)


def tip_distances(angles: np.ndarray) -> np.ndarray:
    """Thumb tip to index/middle/ring/pinky tip distances (4,) in metres for angles (15, 3)."""
    with torch.no_grad():
        j = fk_right(torch.as_tensor(angles, dtype=torch.float64)[None])[0].numpy()
    return np.linalg.norm(j[17:21] - j[16], axis=-1)


def warm() -> None:
    """Solve every cached contact shape now (before forking workers, so they inherit the results)."""
    for finger in ("index", "middle"):
        opposition(finger, 0.45, 0.25)
    opposition("index", 0.45, 0.55)
    for fn in (ok_sign, tripod, lateral_pinch, fist, snap_ready, flick_ready, thumb_across):
        fn()
    fist(0.6)
    fist(0.3)
    for fingers in (("middle",), ("ring", "pinky"), ("pinky",), ("middle", "ring"), ("middle", "ring", "pinky"),
                    ("ring",)):
        thumb_over(fingers)
