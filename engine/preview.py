"""Skeleton previews: draw a `HandMotion`'s 21-joint hands with matplotlib, as frames or a GIF.

`render_frame` returns one frame as an (H, W, 3) uint8 array; `render_preview` writes an animated
GIF. Both share `_SkeletonFigure`, a single off-screen figure (`Figure` + `FigureCanvasAgg`, so the
global pyplot backend is never touched) whose line data are updated frame by frame.

World frame (DESIGN.md): metres, Y up, Z toward the viewer. matplotlib's 3D axes are Z-up, so a
world point (x, y, z) is plotted at (x, -z, y): a proper rotation (no mirroring) that makes world Y
the vertical axis, keeps world X to the right and puts world +Z on the camera's side.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from .errors import HandMotionError, MotionValueError
from .motion import HandMotion
from .skeleton import FINGERS, get_hand_model

log = logging.getLogger(__name__)

MAX_GIF_FRAMES = 600
DEFAULT_MAX_FPS = 30.0
VIEW_ELEV, VIEW_AZIM = 22.0, -65.0  # from the front (world +Z), a little above and to the right
ZOOM = 1.2  # box fills the frame without clipping at VIEW_*

FINGER_COLOURS = {"thumb": "#d62728", "index": "#ff7f0e", "middle": "#2ca02c",
                  "ring": "#1f77b4", "pinky": "#9467bd"}
PALM_CHAIN = (1, 4, 10, 7)  # the knuckle arc: index, middle, ring, pinky MCPs
INVALID_COLOUR = "#a8a8a8"


def _shade(colour: str, side: str) -> str:
    """The right hand keeps the base colour; the left hand gets a lighter tint of it."""
    if side == "right":
        return colour
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    rgb = rgb + (1.0 - rgb) * 0.4
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgb)


def _to_plot(p: np.ndarray) -> np.ndarray:
    """World (..., 3) -> plot (..., 3): (x, y, z) -> (x, -z, y), so world Y up is drawn vertical."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def _hand_joints(motion: HandMotion, idx: np.ndarray, mano_dir: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{side: (plot-space joints (N, 21, 3), valid (N,))} for frames `idx` (N,)."""
    out = {}
    for side, track in motion.hands():
        joints = get_hand_model(side, mano_dir).joints_np(
            track.global_orient[idx], track.hand_pose[idx], track.transl[idx], track.betas)
        out[side] = (_to_plot(joints), track.valid[idx])
    return out


def _box(hands: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Centre (3,) and per-axis half-extents (3,) of a box holding every valid frame (every frame
    if none is valid), plus a margin. Axes share one scale, so the box need not be a cube."""
    pts = [j[v] for j, v in hands.values() if v.any()] or [j for j, _ in hands.values()]
    pts = np.concatenate([p.reshape(-1, 3) for p in pts])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (lo + hi) / 2, np.maximum((hi - lo) / 2 + 0.015, 0.06)


class _SkeletonFigure:
    """One off-screen 3D figure; `draw` poses its lines and returns the pixels."""

    def __init__(self, sides: list[str], centre: np.ndarray, half: np.ndarray, size: int, title: str | None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        dpi = 100
        self.size = size
        self.fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        ax = self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 0.9 if title else 0.94), projection="3d")
        ax.set_axis_off()
        ax.view_init(elev=VIEW_ELEV, azim=VIEW_AZIM)
        ax.set_proj_type("persp", focal_length=1.6)
        lo, hi = centre - half, centre + half
        ax.set_xlim(lo[0], hi[0]), ax.set_ylim(lo[1], hi[1]), ax.set_zlim(lo[2], hi[2])
        ax.set_box_aspect(tuple(half), zoom=ZOOM)  # equal scale on every axis
        ax.computed_zorder = False  # keep our layer order: floor, knuckles, fingers, joint dots
        self._floor(lo, hi, float(half.max()))
        scale = size / 480
        self.lw, self.ms = max(2.2 * scale, 0.8), max(3.0 * scale, 1.2)
        fs = max(11 * scale, 6)
        self.title = title
        self.text = self.fig.text(0.5, 0.985, "", ha="center", va="top", fontsize=fs, color="#333333")
        self.lines: dict[str, dict[str, object]] = {}
        for side in sides:
            lines = {f: ax.plot([], [], [], lw=self.lw, solid_capstyle="round", marker="o",
                                markevery=[4], ms=self.ms * 1.9, zorder=3)[0] for f in FINGERS}
            lines["palm"] = ax.plot([], [], [], lw=self.lw * 0.8, solid_capstyle="round", zorder=2)[0]
            lines["joints"] = ax.plot([], [], [], ls="none", marker="o", ms=self.ms, zorder=4)[0]
            lines["label"] = ax.text(0, 0, 0, side[0].upper(), fontsize=fs * 0.9, ha="center", va="top")
            self.lines[side] = lines

    def _floor(self, lo: np.ndarray, hi: np.ndarray, half: float) -> None:
        """A faint grid on the plane under the hands (plot z = box bottom)."""
        step = 10 ** math.floor(math.log10(half)) * (1 if half / 10 ** math.floor(math.log10(half)) < 3 else 2.5)
        for a in np.arange(math.ceil(lo[0] / step) * step, hi[0], step):
            self.ax.plot([a, a], [lo[1], hi[1]], [lo[2]] * 2, color="#e4e4e4", lw=0.6, zorder=1)
        for b in np.arange(math.ceil(lo[1] / step) * step, hi[1], step):
            self.ax.plot([lo[0], hi[0]], [b, b], [lo[2]] * 2, color="#e4e4e4", lw=0.6, zorder=1)

    def draw(self, hands: dict[str, tuple[np.ndarray, bool]], caption: str) -> np.ndarray:
        """Pose every hand (plot-space joints (21, 3), valid) and render -> (size, size, 3) uint8."""
        for side, (j, valid) in hands.items():
            lines = self.lines[side]
            for finger, (chain, tip) in FINGERS.items():
                pts = j[[0, *chain, tip]]
                colour = _shade(FINGER_COLOURS[finger], side) if valid else INVALID_COLOUR
                self._set(lines[finger], pts, colour, valid)
                lines[finger].set_markerfacecolor(colour if side == "right" or not valid else "white")
            dark = ("#3a3a3a" if side == "right" else "#8a8a8a") if valid else INVALID_COLOUR
            self._set(lines["palm"], j[list(PALM_CHAIN)], dark, valid)
            self._set(lines["joints"], j[:16], dark, None)
            label = lines["label"]
            label.set_position_3d(j[0] - [0, 0, 0.012])
            label.set_color(dark)
        self.text.set_text(caption if not self.title else f"{self.title}\n{caption}")
        self.canvas.draw()
        rgb = np.asarray(self.canvas.buffer_rgba())[..., :3]
        if rgb.shape[:2] != (self.size, self.size):  # figure inches * dpi rounding: pad/crop to size
            out = np.full((self.size, self.size, 3), 255, np.uint8)
            h, w = min(rgb.shape[0], self.size), min(rgb.shape[1], self.size)
            out[:h, :w] = rgb[:h, :w]
            return out
        return rgb.copy()

    @staticmethod
    def _set(line, pts: np.ndarray, colour: str, valid: bool | None) -> None:
        """Move `line` to plot points (N, 3); valid=None leaves the line style alone (dots only)."""
        line.set_data_3d(pts[:, 0], pts[:, 1], pts[:, 2])
        line.set_color(colour)
        if valid is not None:
            line.set_linestyle("-" if valid else (0, (2, 2)))
            line.set_alpha(1.0 if valid else 0.7)

    def close(self) -> None:
        self.fig.clear()


def _caption(motion: HandMotion, frame: int, hands: dict[str, tuple[np.ndarray, bool]]) -> str:
    lost = [s for s, (_, v) in hands.items() if not v]
    text = f"frame {frame + 1}/{motion.n_frames}   {frame / motion.fps:.2f} s"
    return text + (f"   ({' & '.join(lost)} hand not tracked)" if lost else "")


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or not 32 <= size <= 4096:
        raise MotionValueError(f"size must be an integer from 32 to 4096 pixels, got {size!r}")
    return int(size)


def render_frame(motion: HandMotion, frame: int, *, size: int = 480, mano_dir: str | None = None,
                 title: str | None = None) -> np.ndarray:
    """Render frame `frame` (negative counts from the end) -> (size, size, 3) uint8 RGB.

    The camera box is the one `render_preview` would use for the whole clip, so frames match.
    """
    size, T = _check_size(size), motion.n_frames
    if not -T <= frame < T:
        raise MotionValueError(f"frame {frame} is out of range for a {T}-frame motion")
    frame %= T
    box_idx = np.unique(np.append(np.linspace(0, T - 1, min(T, MAX_GIF_FRAMES)).round().astype(int), frame))
    hands = _hand_joints(motion, box_idx, mano_dir)
    k = int(np.searchsorted(box_idx, frame))
    now = {s: (j[k], bool(v[k])) for s, (j, v) in hands.items()}
    fig = _SkeletonFigure(motion.sides, *_box(hands), size, title)
    try:
        return fig.draw(now, _caption(motion, frame, now))
    finally:
        fig.close()


def _output_frames(n_frames: int, src_fps: float, fps: float | None) -> tuple[np.ndarray, float]:
    """Source frame indices (N,) to show and the GIF frame rate: subsampled, never interpolated."""
    want = min(src_fps, DEFAULT_MAX_FPS) if fps is None else float(fps)
    if not math.isfinite(want) or want <= 0:
        raise MotionValueError(f"fps must be a positive number, got {fps!r}")
    if want > src_fps:
        log.info("preview fps %.3g is above the clip's %.3g fps; using %.3g", want, src_fps, src_fps)
        want = src_fps
    duration = (n_frames - 1) / src_fps
    n_out = int(math.floor(duration * want + 1e-9)) + 1
    if n_out > MAX_GIF_FRAMES:
        new = (MAX_GIF_FRAMES - 1) / duration
        log.warning("preview of %.1f s at %.3g fps would have %d frames; lowering to %.3g fps (%d frames)",
                    duration, want, n_out, new, MAX_GIF_FRAMES)
        want, n_out = new, MAX_GIF_FRAMES
    idx = np.minimum(np.round(np.arange(n_out) * (src_fps / want)).astype(int), n_frames - 1)
    return np.unique(idx), want


def render_preview(motion: HandMotion, path: str | os.PathLike, *, fps: float | None = None, size: int = 480,
                   mano_dir: str | None = None, title: str | None = None, progress: bool = True) -> Path:
    """Write an animated GIF of both hands' skeletons to `path` (a `.gif`); returns the path.

    fps defaults to min(motion.fps, 30), reached by dropping frames; clips longer than
    `MAX_GIF_FRAMES` output frames are thinned further (with a warning). Invalid frames are grey
    and dashed. Missing parent folders are created; an unwritable path raises `HandMotionError`.
    """
    import imageio.v3 as iio
    from tqdm import tqdm

    size, path = _check_size(size), Path(path)
    if path.suffix.lower() != ".gif":
        raise HandMotionError(f"preview path must end in .gif, got {path.name!r}")
    if motion.n_frames == 0:
        raise MotionValueError("cannot preview an empty motion (0 frames)")
    if path.is_dir():
        raise HandMotionError(f"cannot write preview to {path}: it is a directory")
    idx, out_fps = _output_frames(motion.n_frames, motion.fps, fps)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.gif")  # renamed onto `path` when complete
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(tmp, "wb")
    except OSError as exc:
        why = "part of its folder path is a file" if isinstance(exc, (FileExistsError, NotADirectoryError)) else None
        raise HandMotionError(f"cannot write preview to {path}: {why or exc.strerror or exc}") from None
    fig = None
    try:
        hands = _hand_joints(motion, idx, mano_dir)
        fig = _SkeletonFigure(motion.sides, *_box(hands), size, title)
        with fh, iio.imopen(fh, "w", extension=".gif") as gif:  # closed before the rename
            for k, frame in enumerate(tqdm(idx, desc="preview", unit="frame", disable=not progress, delay=1.0)):
                now = {s: (j[k], bool(v[k])) for s, (j, v) in hands.items()}
                # bits=8: quantise each frame to its own 256-colour palette now, so the frames the
                # writer holds until close take 1 byte per pixel instead of 3.
                gif.write(fig.draw(now, _caption(motion, int(frame), now)), duration=1000.0 / out_fps,
                          loop=0, bits=8)
        os.replace(tmp, path)
    except OSError as exc:
        raise HandMotionError(f"cannot write preview to {path}: {exc.strerror or exc}") from None
    finally:
        fh.close()
        if fig is not None:
            fig.close()
        tmp.unlink(missing_ok=True)
    log.info("wrote %s: %d frames at %.3g fps, %dx%d", path, len(idx), out_fps, size, size)
    return path
