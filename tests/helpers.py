"""Small motion builders shared by the tests (smooth, deterministic, realistic ranges)."""

from __future__ import annotations

import numpy as np

from engine.motion import HandMotion, HandTrack


def smooth_track(n_frames: int, fps: float, seed: int = 0, amplitude: float = 0.5) -> HandTrack:
    """A smooth random hand track: sums of low-frequency sines (<= 1.5 Hz) on every parameter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps

    def wave(dims: tuple[int, ...], amp: float) -> np.ndarray:
        freq = rng.uniform(0.2, 1.5, size=(3,) + dims)
        phase = rng.uniform(0, 2 * np.pi, size=(3,) + dims)
        weight = rng.uniform(0.3, 1.0, size=(3,) + dims)
        out = sum(weight[k] * np.sin(2 * np.pi * freq[k] * t.reshape((-1,) + (1,) * len(dims)) + phase[k]) for k in range(3))
        return amp * out / 3

    return HandTrack(
        global_orient=wave((3,), 0.8) + np.array([0.3, 0.0, 0.2]),
        hand_pose=wave((15, 3), amplitude) + np.array([0.0, 0.0, 0.4]),
        transl=wave((3,), 0.1),
    )


def smooth_motion(n_frames: int = 60, fps: float = 30.0, seed: int = 0) -> HandMotion:
    """Two-hand smooth motion; the left hand is an independent track mirrored into the left convention."""
    return HandMotion(fps=fps, left=smooth_track(n_frames, fps, seed + 1).mirrored(), right=smooth_track(n_frames, fps, seed))
