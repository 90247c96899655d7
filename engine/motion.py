"""`HandMotion` and `HandTrack`: the one motion representation inside the engine.

A `HandTrack` holds one hand's MANO parameters over T frames; a `HandMotion` holds a frame rate and
up to two tracks of equal length. Arrays are float64 numpy; see DESIGN.md for the conventions
(flat-hand zero `hand_pose`, MANO joint order, metres, Y up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np

from .errors import MotionValueError
from .rotations import mirror_axis_angle, slerp_axis_angle
from .skeleton import SIDES, mirror_points

MAX_FRAMES = 1_000_000  # ~2.3 h at 120 fps: anything larger is a corrupt header, not a clip


def _as_float(name: str, value: object) -> np.ndarray:
    """Coerce to a float64 array (no copy when it already is one)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MotionValueError(f"{name}: not a numeric array ({exc})") from None


def _as_array(name: str, value: object, shape: tuple[int | None, ...]) -> np.ndarray:
    """Coerce to float64 and check shape (None = any size) and finiteness."""
    arr = _as_float(name, value)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise MotionValueError(f"{name}: expected shape {want}, got {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise MotionValueError(f"{name}: non-finite value (NaN or inf) at index {tuple(int(i) for i in bad)}")
    return arr


@dataclass
class HandTrack:
    """One hand over T frames.

    global_orient (T, 3) axis-angle; hand_pose (T, 15, 3) axis-angle, MANO order, flat hand = 0;
    transl (T, 3) metres; betas (10,) or None; valid (T,) bool, frames where the hand was seen.
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray | None = None
    valid: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.global_orient = _as_array("global_orient", self.global_orient, (None, 3))
        T = self.global_orient.shape[0]
        hp = _as_float("hand_pose", self.hand_pose)  # once: nested lists from the wire are converted here
        if hp.ndim == 2 and hp.shape[1] == 45:  # (T, 45) flattened, as in files
            hp = hp.reshape(-1, 15, 3)
        self.hand_pose = _as_array("hand_pose", hp, (T, 15, 3))
        self.transl = _as_array("transl", self.transl, (T, 3))
        if self.betas is not None:
            self.betas = _as_array("betas", np.asarray(self.betas).reshape(-1), (None,))
        if self.valid is None:
            self.valid = np.ones(T, dtype=bool)
        else:
            valid = np.asarray(self.valid)
            if valid.shape != (T,):
                raise MotionValueError(f"valid: expected shape ({T},), got {tuple(valid.shape)}")
            self.valid = valid.astype(bool)
        if T > MAX_FRAMES:
            raise MotionValueError(f"{T} frames is more than the limit of {MAX_FRAMES}")

    @property
    def n_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @classmethod
    def rest(cls, n_frames: int, valid: bool = True) -> "HandTrack":
        """A flat hand with identity orientation and zero transl for `n_frames` frames."""
        return cls(
            global_orient=np.zeros((n_frames, 3)),
            hand_pose=np.zeros((n_frames, 15, 3)),
            transl=np.zeros((n_frames, 3)),
            valid=np.full(n_frames, valid),
        )

    def slice(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> "HandTrack":
        s = slice(start, stop, step)
        return replace(
            self, global_orient=self.global_orient[s], hand_pose=self.hand_pose[s],
            transl=self.transl[s], valid=self.valid[s],
        )

    @staticmethod
    def concat(tracks: Sequence["HandTrack"]) -> "HandTrack":
        """Concatenate along time; betas are taken from the first track that has them."""
        if not tracks:
            raise MotionValueError("nothing to concatenate")
        betas = next((t.betas for t in tracks if t.betas is not None), None)
        return HandTrack(
            global_orient=np.concatenate([t.global_orient for t in tracks]),
            hand_pose=np.concatenate([t.hand_pose for t in tracks]),
            transl=np.concatenate([t.transl for t in tracks]),
            betas=betas,
            valid=np.concatenate([t.valid for t in tracks]),
        )

    def mirrored(self) -> "HandTrack":
        """The same motion performed by the other hand, reflected across the YZ plane.

        Rotations (rx, ry, rz) -> (rx, -ry, -rz); transl x -> -x. Because the left MANO rest hand is the
        mirror of the right one (wrist included), world joint positions are mirrored exactly.
        """
        return replace(
            self,
            global_orient=mirror_axis_angle(self.global_orient),
            hand_pose=mirror_axis_angle(self.hand_pose),
            transl=mirror_points(self.transl),
            valid=self.valid.copy(),
        )

    def resample(self, src_fps: float, dst_fps: float) -> "HandTrack":
        """Resample to `dst_fps` over the same time span: slerp for rotations, linear for transl.

        Output frame k samples time k / dst_fps; the last output frame is the last one that falls
        within the source clip. A resampled frame is valid when both source frames it blends are.
        """
        T = self.n_frames
        if T == 0:
            return self.slice(0, 0)
        n_out = int(math.floor((T - 1) * dst_fps / src_fps + 1e-9)) + 1
        t = np.arange(n_out) * (src_fps / dst_fps)
        i0 = np.clip(np.floor(t + 1e-9).astype(int), 0, T - 1)
        i1 = np.minimum(i0 + 1, T - 1)
        w = np.clip(t - i0, 0.0, 1.0)
        w[i0 == i1] = 0.0
        rot = np.concatenate([self.global_orient[:, None], self.hand_pose], axis=1)  # (T, 16, 3)
        rot_out = slerp_axis_angle(rot[i0], rot[i1], np.repeat(w[:, None], 16, axis=1))
        transl = self.transl[i0] * (1 - w[:, None]) + self.transl[i1] * w[:, None]
        valid = self.valid[i0] & (self.valid[i1] | (w < 1e-9))
        return replace(self, global_orient=rot_out[:, 0], hand_pose=rot_out[:, 1:], transl=transl, valid=valid)


@dataclass
class HandMotion:
    """Two-hand motion: `fps` and up to two `HandTrack`s of equal length (at least one)."""

    fps: float
    left: HandTrack | None = None
    right: HandTrack | None = None

    def __post_init__(self) -> None:
        try:
            self.fps = float(self.fps)
        except (TypeError, ValueError):
            raise MotionValueError(f"fps must be a number, got {self.fps!r}") from None
        if not math.isfinite(self.fps) or not (0 < self.fps <= 1000):
            raise MotionValueError(f"fps must be in (0, 1000], got {self.fps}")
        if self.left is None and self.right is None:
            raise MotionValueError("a motion needs at least one hand")
        if self.left is not None and self.right is not None and self.left.n_frames != self.right.n_frames:
            raise MotionValueError(
                f"left and right hands differ in length ({self.left.n_frames} vs {self.right.n_frames} frames)"
            )

    @property
    def n_frames(self) -> int:
        return (self.left or self.right).n_frames  # type: ignore[union-attr]

    @property
    def duration(self) -> float:
        """Seconds spanned from the first to the last frame."""
        return max(self.n_frames - 1, 0) / self.fps

    @property
    def sides(self) -> list[str]:
        return [s for s in SIDES if getattr(self, s) is not None]

    def hands(self) -> Iterator[tuple[str, HandTrack]]:
        """(side, track) for each present hand, left first."""
        for side in self.sides:
            yield side, getattr(self, side)

    def track(self, side: str) -> HandTrack:
        if side not in SIDES:
            raise MotionValueError(f"side must be 'left' or 'right', got {side!r}")
        track = getattr(self, side)
        if track is None:
            raise MotionValueError(f"this motion has no {side} hand")
        return track

    @property
    def valid(self) -> np.ndarray:
        """(T,) frames where every present hand is valid."""
        return np.logical_and.reduce([t.valid for _, t in self.hands()])

    def _map(self, fn) -> "HandMotion":
        return HandMotion(
            fps=self.fps,
            left=None if self.left is None else fn(self.left),
            right=None if self.right is None else fn(self.right),
        )

    def slice(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> "HandMotion":
        """Frames [start:stop:step]; a step changes fps accordingly."""
        out = self._map(lambda t: t.slice(start, stop, step))
        if step not in (None, 1):
            out.fps = self.fps / step
        return out

    def __getitem__(self, index: slice) -> "HandMotion":
        if not isinstance(index, slice):
            raise TypeError("HandMotion supports slicing only, e.g. motion[10:40]")
        return self.slice(index.start, index.stop, index.step)

    def __len__(self) -> int:
        return self.n_frames

    @staticmethod
    def concat(motions: Sequence["HandMotion"]) -> "HandMotion":
        """Concatenate along time. All parts must share fps; a hand missing from some parts is filled
        with invalid rest frames there, so the result keeps every hand any part had."""
        if not motions:
            raise MotionValueError("nothing to concatenate")
        fps = motions[0].fps
        if any(abs(m.fps - fps) > 1e-6 for m in motions):
            raise MotionValueError("cannot concatenate motions with different fps; resample first")
        out = {}
        for side in SIDES:
            if all(getattr(m, side) is None for m in motions):
                out[side] = None
                continue
            out[side] = HandTrack.concat(
                [getattr(m, side) or HandTrack.rest(m.n_frames, valid=False) for m in motions]
            )
        return HandMotion(fps=fps, **out)

    def resample(self, fps: float) -> "HandMotion":
        """The same motion at another frame rate (slerp rotations, lerp translations)."""
        fps = float(fps)
        if not math.isfinite(fps) or not (0 < fps <= 1000):
            raise MotionValueError(f"fps must be in (0, 1000], got {fps}")
        if abs(fps - self.fps) < 1e-9:
            return self._map(lambda t: t.slice())
        out = self._map(lambda t: t.resample(self.fps, fps))
        out.fps = fps
        return out

    def mirror(self) -> "HandMotion":
        """Swap hands and reflect across the YZ plane; mirror(mirror(m)) == m."""
        return HandMotion(
            fps=self.fps,
            left=None if self.right is None else self.right.mirrored(),
            right=None if self.left is None else self.left.mirrored(),
        )
