"""Key poses on a timeline, minimum-jerk in between, 1/f micro-motion on top.

Every hand is scripted in the right-hand frame: a left hand's keys are written as if it were a right
hand in the mirrored world and the rendered track is mirrored at the end, so one action definition
serves either hand and symmetric two-hand actions use the same keys for both.

World frame (right-hand frame): metres, Y up, the person faces +Z, their right is -X. A key's
`position` is the wrist's world position; `transl` = position - the MANO rest wrist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion import HandTrack
from ..rotations import slerp_axis_angle
from ..skeleton import MANO_REST_WRIST_RIGHT
from .anatomy import angles_to_pose, clamp_angles


@dataclass
class Key:
    """One key: `time` s, finger `angles` (15, 3) rad, wrist `orient` (3,) axis-angle, wrist `position` (3,) m."""

    time: float
    angles: np.ndarray
    orient: np.ndarray
    position: np.ndarray


@dataclass
class Script:
    """The keys of one hand, in time order."""

    keys: list[Key] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.keys[-1].time if self.keys else 0.0

    @property
    def last(self) -> Key:
        return self.keys[-1]

    def add(self, dt: float, angles: np.ndarray | None = None, orient: np.ndarray | None = None,
            position: np.ndarray | None = None) -> Key:
        """Append a key `dt` seconds after the last one; None keeps the last key's value."""
        last = self.keys[-1]
        key = Key(
            last.time + max(float(dt), 1e-3),
            last.angles if angles is None else clamp_angles(np.asarray(angles, float)),
            last.orient if orient is None else np.asarray(orient, float),
            last.position if position is None else np.asarray(position, float),
        )
        self.keys.append(key)
        return key

    def hold_until(self, time: float) -> None:
        if time > self.end + 1e-6:
            self.add(time - self.end)


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 10s^3 - 15s^4 + 6s^5 on s in [0, 1]."""
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def pink_noise(rng: np.random.Generator, n: int, dims: tuple[int, ...], fmin: float = 0.2, fps: float = 30.0) -> np.ndarray:
    """1/f noise (power ~ 1/f above `fmin` Hz), unit standard deviation per channel: (n, *dims)."""
    m = max(n, 2)
    spec = rng.standard_normal((m // 2 + 1,) + dims) + 1j * rng.standard_normal((m // 2 + 1,) + dims)
    f = np.fft.rfftfreq(m, 1.0 / fps)
    spec *= (1.0 / np.sqrt(np.maximum(f, fmin))).reshape((-1,) + (1,) * len(dims))
    spec[0] = 0.0
    x = np.fft.irfft(spec, n=m, axis=0)[:n]
    return x / (x.std(axis=0, keepdims=True) + 1e-12)


@dataclass
class MicroMotion:
    """Standard deviations of the 1/f micro-motion: finger angles (rad), wrist orientation (rad), position (m)."""

    fingers: float = np.radians(1.2)
    orient: float = np.radians(0.8)
    position: float = 0.0015


def render(script: Script, fps: float, n_frames: int, rng: np.random.Generator,
           micro: MicroMotion | None = MicroMotion(), side: str = "right") -> HandTrack:
    """Render a script to a HandTrack of `n_frames` at `fps` (held after the last key).

    Finger angles are clamped into the joint limits after the micro-motion is added. A "left"
    script is rendered in the right-hand frame and mirrored.
    """
    keys = script.keys
    times = np.array([k.time for k in keys])
    t = np.arange(n_frames) / fps
    if len(keys) == 1:
        seg = np.zeros(n_frames, dtype=int)
        s = np.zeros(n_frames)
        keys = keys + keys
        times = np.array([0.0, 1.0])
    else:
        seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 2)
        s = min_jerk(np.clip((t - times[seg]) / (times[seg + 1] - times[seg]), 0.0, 1.0))
    A = np.stack([k.angles for k in keys])
    O = np.stack([k.orient for k in keys])
    P = np.stack([k.position for k in keys])
    angles = A[seg] + (A[seg + 1] - A[seg]) * s[:, None, None]
    orient = slerp_axis_angle(O[seg], O[seg + 1], s)
    position = P[seg] + (P[seg + 1] - P[seg]) * s[:, None]
    if micro is not None:
        # Finger tremor is correlated within a finger (shared tendons): one noise per finger, split.
        finger_noise = pink_noise(rng, n_frames, (5,), fps=fps)
        per_joint = np.repeat(finger_noise[:, [1, 2, 4, 3, 0]], 3, axis=1)  # MANO order: index, middle, pinky, ring, thumb
        angles = angles.copy()
        angles[..., 0] += micro.fingers * (0.7 * per_joint + 0.3 * pink_noise(rng, n_frames, (15,), fps=fps))
        angles[..., 1] += 0.3 * micro.fingers * pink_noise(rng, n_frames, (15,), fps=fps)
        orient = orient + micro.orient * pink_noise(rng, n_frames, (3,), fps=fps)
        position = position + micro.position * pink_noise(rng, n_frames, (3,), fps=fps)
    angles = clamp_angles(angles)
    track = HandTrack(global_orient=orient, hand_pose=angles_to_pose(angles, "right"),
                      transl=position - MANO_REST_WRIST_RIGHT)
    return track.mirrored() if side == "left" else track
