"""The state an action writes into: two hand scripts, the performer's style, and the labelled spans.

Hands are named by role: "dom" (the dominant hand) and "off". Both are scripted in the right-hand
frame (see `timeline`); the generator maps roles to left/right at the end (a left-handed performer
is the mirror image of a right-handed one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..examples import facing
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .anatomy import LONG_FINGERS, THUMB, hand_angles
from .contact import fk_right
from .timeline import Key, Script

ROLES = ("dom", "off")

# Wrist orientations (right-hand frame) as (finger direction, palm direction); see `examples.facing`.
ORIENTS = {
    "table": ((0.0, -0.25, 1.0), (0.25, -1.0, 0.0)),  # forearm on a table, palm down
    "front": ((0.0, 1.0, 0.1), (0.0, 0.0, 1.0)),  # fingers up, palm to the front
    "self": ((0.0, 1.0, 0.15), (0.0, 0.0, -1.0)),  # fingers up, palm toward the face
    "forward": ((0.0, -0.1, 1.0), (0.0, -1.0, 0.0)),  # fingers forward, palm down
    "thumb_up": ((0.1, 0.0, 1.0), (1.0, 0.0, 0.0)),  # fist knuckles forward, thumb up
    "palm_up": ((0.15, 0.0, 1.0), (0.0, 1.0, 0.0)),  # fingers forward, palm up
    "medial": ((0.1, 0.5, 1.0), (1.0, 0.0, 0.0)),  # fingers forward-up, palm toward the midline
    "down": ((0.0, -1.0, 0.2), (1.0, 0.0, 0.0)),  # arm hanging, palm toward the body
}

# Wrist positions (right-hand frame, metres): person's right is -X, forward +Z, Y up.
PLACES = {
    "table": (-0.17, 0.92, 0.32),
    "gesture": (-0.20, 1.18, 0.33),
    "chest": (-0.12, 1.12, 0.28),
    "centre": (-0.10, 1.02, 0.36),
    "side": (-0.28, 0.80, 0.10),
}


def orient(name: str, rng: np.random.Generator | None = None, jitter: float = 0.12) -> np.ndarray:
    """Named wrist orientation (3,) axis-angle, with a little random variation when `rng` is given."""
    fingers, palm = (np.array(v, float) for v in ORIENTS[name])
    if rng is not None:
        fingers = fingers / np.linalg.norm(fingers) + rng.normal(0.0, jitter, 3)
        palm = palm / np.linalg.norm(palm) + rng.normal(0.0, jitter, 3)
    return np.array(facing(tuple(fingers), tuple(palm)))


def turn(base: np.ndarray, axis: tuple[float, float, float], angle: float) -> np.ndarray:
    """Wrist orientation `base` (3,) turned by `angle` rad about the world `axis` (right-hand frame)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    return matrix_to_axis_angle(axis_angle_to_matrix(a * angle) @ axis_angle_to_matrix(np.asarray(base, float)))


def hand_points(angles: np.ndarray, wrist_orient: np.ndarray, position: np.ndarray) -> np.ndarray:
    """World joints (21, 3) of a right-frame hand with finger `angles` (15, 3), wrist orientation
    (3,) and wrist world position (3,) -- for placing one hand relative to the other."""
    with torch.no_grad():
        local = fk_right(torch.as_tensor(np.asarray(angles, float))[None])[0].numpy()
    local = local - local[0]
    return local @ axis_angle_to_matrix(np.asarray(wrist_orient, float)).T + np.asarray(position, float)


@dataclass
class Style:
    """How this performer moves: `tempo` (>1 faster), `amplitude` of movements, resting finger curls
    (4,), resting spread, and a personal offset of the wrist places (m)."""

    tempo: float
    amplitude: float
    rest_curl: np.ndarray
    rest_spread: float
    offset: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Style":
        base = rng.uniform(0.12, 0.3)
        return cls(
            tempo=float(np.exp(rng.normal(0.0, 0.2))),
            amplitude=float(np.clip(rng.normal(1.0, 0.15), 0.65, 1.35)),
            rest_curl=np.clip(base + np.array([0.0, 0.05, 0.1, 0.15]) + rng.normal(0, 0.04, 4), 0.02, 0.6),
            rest_spread=float(rng.uniform(-0.2, 0.4)),
            offset=rng.normal(0.0, [0.025, 0.03, 0.03]),
        )


@dataclass
class Span:
    """A labelled action: `name`, roles involved ("dom", "off" or both), start/end seconds, parameters."""

    name: str
    roles: tuple[str, ...]
    start: float
    end: float
    params: dict = field(default_factory=dict)


class Context:
    """Two hand scripts and the spans written so far; actions append keys through it."""

    def __init__(self, rng: np.random.Generator, style: Style | None = None):
        self.rng = rng
        self.style = style or Style.sample(rng)
        self.scripts = {role: Script() for role in ROLES}
        self.spans: list[Span] = []
        for role in ROLES:
            self.scripts[role].keys.append(Key(0.0, self.relaxed(), orient("table", rng), self.place("table", role)))

    # -- durations, places, shapes --------------------------------------------------------------
    def dur(self, base: float, jitter: float = 0.2) -> float:
        """A duration of about `base` seconds for this performer's tempo."""
        return base * self.rng.uniform(1 - jitter, 1 + jitter) / self.style.tempo

    def amp(self, base: float, jitter: float = 0.2) -> float:
        """A movement amplitude of about `base` for this performer."""
        return base * self.style.amplitude * self.rng.uniform(1 - jitter, 1 + jitter)

    def place(self, name: str, role: str = "dom", jitter: float = 0.02) -> np.ndarray:
        p = np.array(PLACES[name]) + self.style.offset + self.rng.normal(0.0, jitter, 3)
        if role == "off":
            p = p + np.array([0.0, -0.02, -0.02])  # the other hand tends to stay a little lower
        return p

    def relaxed(self, jitter: float = 0.04) -> np.ndarray:
        """The performer's resting hand (15, 3), slightly varied."""
        curl = np.clip(self.style.rest_curl + self.rng.normal(0.0, jitter, 4), 0.0, 0.7)
        return hand_angles(curl, self.style.rest_spread, THUMB["relaxed"] + self.rng.normal(0, 0.04, (3, 3)))

    def vary(self, angles: np.ndarray, sigma: float = 0.03) -> np.ndarray:
        """Small per-instance variation of a shape (15, 3): flexion jitter of `sigma` rad."""
        out = angles.copy()
        out[:, 0] += self.rng.normal(0.0, sigma, 15)
        return out

    def curl_dict(self, curl: dict[str, float], jitter: float = 0.04) -> dict[str, float]:
        return {f: float(np.clip(curl.get(f, 0.0) + self.rng.normal(0, jitter), 0.0, 1.0)) for f in LONG_FINGERS}

    # -- spans ------------------------------------------------------------------------------------
    def start(self) -> float:
        """Synchronise both hands to the later end and return that time (an action's start)."""
        t = max(s.end for s in self.scripts.values())
        for s in self.scripts.values():
            s.hold_until(t)
        return t

    def label(self, name: str, roles: tuple[str, ...], start: float, **params) -> None:
        end = self.start()
        self.spans.append(Span(name, roles, start, end, params))

    def key(self, role: str, dt: float, angles: np.ndarray | None = None, orient: np.ndarray | None = None,
            position: np.ndarray | None = None) -> Key:
        return self.scripts[role].add(dt, angles, orient, position)

    def rest(self, role: str, dt: float | None = None) -> None:
        """Bring a hand back to its resting place and shape."""
        self.key(role, dt or self.dur(0.6), self.relaxed(), orient("table", self.rng), self.place("table", role))
