"""Repairing malformed hand poses (`handmotion refine`): HandRefiner's idea, transplanted to motion.

HandRefiner inpaints only the malformed hand of an image, guided by a control signal (the depth map of
a plausible hand mesh fitted to the bad one) at a control strength. Here:

1. `engine.refine.detect` flags (frame, slot) pairs; the mask is dilated by `dilate` frames where a
   defect's edges are fuzzy (range-of-motion breaks, overlaps), not where they are exact (jumps away
   and back, dropouts: `exact_edges`), so the frames next to a glitch stay the input's.
2. The control signal is the input made plausible where it is flagged (`control_motion`): flagged
   values are bridged by a cubic through the two unflagged frames on each side of the gap (`gap_fill`,
   on quaternions for rotations), so motion carries through it, and joints beyond their range are
   clamped into it; a range break that came on gradually is only clamped (a pose bent too far keeps
   its motion and intent at the range's edge).
3. The in-betweener re-synthesises only the masked values: everything else is shown to it as observed
   (trained masked conditioning), and the masked values are pulled toward the control with strength s
   at every denoising step (`denoise(guide=...)`): s = 0 is the model's own fill, s = 1 the control.
4. Only the masked (frame, slot) values are written back; every other value is the input's, bit for bit.
   A clip with nothing flagged comes back unchanged without running the model.

`strength="auto"` is HandRefiner's adaptive rule with a fixed seed: repair at every strength of
`STRENGTHS` and keep the lowest whose error is within `AUTO_TOLERANCE` x the full-strength error,
the error being `engine.refine.validity_error` on the repaired frames. When nothing passes (an error
that is not a number), the full-strength result is returned, not the last one tried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .caption.features import true_runs
from .corpus.anatomy import angles_to_pose, clamp_angles, pose_to_angles
from .errors import MotionValueError
from .features import HAND_DIM, ORIENT, TRANSL, features_to_motion, motion_to_features
from .motion import HandMotion, HandTrack
from .refine import POSITION, SLOTS, Detection, Finding, Thresholds, detect, validity_error
from .rotations import axis_angle_to_quat, quat_sign_continuous, quat_to_axis_angle

log = logging.getLogger(__name__)

STRENGTHS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Chosen by the strength sweep on 100 corpus validation clips (docs/benchmarks.md "Refiner"): the most
# defects back near the clean motion (0.948; 0.934 at 0.1, 0.940 at 1.0): accuracy peaks between the
# model's own fill and the control; HandRefiner's images settled at 0.55.
DEFAULT_STRENGTH = 0.5
AUTO_TOLERANCE = 1.15
GAP_REACH = 2  # kept frames each side that a gap's cubic runs through


def slot_dims(slot: int) -> np.ndarray:
    """Feature dimensions (within one hand's 99) of a slot: 0 orientation, 1-15 joints, 16 position."""
    if slot == 0:
        return np.arange(ORIENT.start, ORIENT.stop)
    if slot == POSITION:
        return np.arange(TRANSL.start, TRANSL.stop)
    return np.arange(6 + 6 * (slot - 1), 6 + 6 * slot)


def exact_edges(f: Finding, found: Detection) -> bool:
    """Are the finding's frames known exactly (`Finding.exact`: it starts and ends with a jump or a
    gap), or does it lie inside the frames and slots of one that is (the hand moved inside the other
    by its wrist's jump there, a spike that also bends a joint past its range)? Then the frames either
    side are the untouched motion and are not widened; other findings (range breaks and overlaps that
    come on gradually) are widened by `dilate`."""
    return f.exact or any(g.exact and g.side == f.side and g.start <= f.start and f.end <= g.end
                          and set(f.slots) <= set(g.slots) for g in found.findings)


def span(f: Finding, found: Detection, dilate: int) -> tuple[int, int]:
    """Frames [a, b) repaired for a finding of `found`: its own, widened by `dilate` on each side unless
    its edges are exact (`exact_edges`)."""
    d = 0 if exact_edges(f, found) else dilate
    return max(0, f.start - d), f.end + d


def dilate_masks(found: Detection, frames: int) -> dict[str, np.ndarray]:
    """Per hand (T, 17) bool: every finding's slots over its `span` (the detection's mask, grown by
    `frames` on each side in time where the edges are not exact)."""
    out = {side: mask.copy() for side, mask in found.masks.items()}
    for f in found.findings:
        a, b = span(f, found, frames)
        out[f.side][a:b, f.slots] = True
    return out


def gap_fill(values: np.ndarray, keep: np.ndarray, rotation: bool, reach: int = GAP_REACH) -> np.ndarray:
    """values (T, 3) with every run of frames where keep is False replaced by the cubic through the
    `reach` kept frames on each side of it (fewer where fewer exist: a line through two, a hold of one;
    a run that touches a clip end holds the kept value next to it). This is the spline gap fill of
    optical mocap tools: measured on the corruption suite's gaps of the clean corpus it stays closer to
    the hidden motion than the Bezier F-curve through all kept frames (docs/benchmarks.md "Refiner").
    Rotations (axis-angle) are filled on sign-continuous quaternions and renormalised. Unchanged if
    nothing or everything is kept."""
    kept = np.flatnonzero(keep)
    if not kept.size or kept.size == len(values):
        return values.copy()
    data = quat_sign_continuous(axis_angle_to_quat(values[kept])) if rotation else values[kept]
    out = np.empty((len(values), data.shape[-1]))
    out[kept] = data
    for a, b in true_runs(~keep):
        at = np.searchsorted(kept, a)  # kept[at - 1] < a <= b - 1 < kept[at]
        before, after = kept[max(0, at - reach):at], kept[at:at + reach]
        if not before.size or not after.size:
            out[a:b] = data[at - 1] if before.size else data[at]
            continue
        t = np.concatenate([before, after]).astype(np.float64)
        y = data[np.concatenate([np.arange(max(0, at - reach), at), np.arange(at, at + after.size)])]
        mid, scale = 0.5 * (a + b - 1), max(b - a, 1)
        basis = lambda x: ((x - mid) / scale)[:, None] ** np.arange(len(t))  # noqa: E731
        out[a:b] = basis(np.arange(a, b, dtype=np.float64)) @ np.linalg.solve(basis(t), y)
    if not rotation:
        return out
    filled = values.copy()
    gone = ~keep
    filled[gone] = quat_to_axis_angle(out[gone] / np.linalg.norm(out[gone], axis=-1, keepdims=True))
    return filled


def control_motion(motion: HandMotion, found: Detection, masks: dict[str, np.ndarray], dilate: int = 2) -> HandMotion:
    """The input made plausible where it is flagged: flagged values (over their finding's `span`) are
    bridged from the nearest values that are not (`gap_fill`), and frames with a joint beyond its range
    are clamped into it. A range break that came on gradually is only clamped, so a pose bent too far
    keeps its motion and intent at the edge of the range; one entered and left by a jump (a glitch) is
    bridged first, so it gives way to the motion around it. The rest is the input."""
    bridge = {side: np.zeros_like(m) for side, m in masks.items()}
    limit = {side: np.zeros(len(m), dtype=bool) for side, m in masks.items()}
    for f in found.findings:
        a, b = span(f, found, dilate)
        if f.kind == "limit":
            limit[f.side][a:b] = True
        if f.kind != "limit" or exact_edges(f, found):
            bridge[f.side][a:b, f.slots] = True
    tracks = {}
    for side, track in motion.hands():
        keep = ~bridge[side]
        orient = gap_fill(track.global_orient, keep[:, 0], rotation=True)
        pose = np.stack([gap_fill(track.hand_pose[:, j], keep[:, j + 1], rotation=True) for j in range(15)], 1)
        rows = limit[side]
        if rows.any():
            pose[rows] = angles_to_pose(clamp_angles(pose_to_angles(pose[rows], side)), side)
        transl = gap_fill(track.transl, keep[:, POSITION], rotation=False)
        tracks[side] = HandTrack(orient, pose, transl, track.betas, track.valid | masks[side].any(1))
    return HandMotion(fps=motion.fps, **tracks)


@dataclass
class Repair:
    """A refined motion and how it came about."""

    motion: HandMotion
    detection: Detection
    strength: float
    masks: dict[str, np.ndarray]
    remaining: Detection | None = None
    sweep: list[dict] = field(default_factory=list)  # strength "auto": {strength, error} per strength tried

    def report(self) -> dict:
        return {"strength": self.strength, "input": self.detection.to_dict(),
                "repaired_values": {s: int(m.sum()) for s, m in self.masks.items()},
                "remaining": None if self.remaining is None else self.remaining.to_dict(),
                "auto_sweep": self.sweep}


def _model_rate_masks(masks: dict[str, np.ndarray], fps: float, rate: float, n_model: int) -> np.ndarray:
    """(n_model, 198) bool: feature dims to re-synthesise at the model's frame rate."""
    out = np.zeros((n_model, 2 * HAND_DIM), dtype=bool)
    src = np.clip(np.round(np.arange(n_model) * fps / rate).astype(np.int64), 0, None)
    for k, side in enumerate(("left", "right")):
        if side not in masks:
            continue
        m = masks[side][np.minimum(src, len(masks[side]) - 1)]
        for slot in range(SLOTS):
            out[:, k * HAND_DIM + slot_dims(slot)] |= m[:, slot:slot + 1]
    return out


def _synthesise(motion: HandMotion, control: HandMotion, masks: dict[str, np.ndarray], strength: float,
                seed: int, steps: int, model, progress=None) -> HandMotion:
    """The in-betweener's re-synthesis of the masked values at `strength`, at the motion's fps."""
    from .models.inbetween_sample import denoise
    from .pipeline import placement_for

    rate, fps, T = model.cfg.fps, motion.fps, motion.n_frames
    at_rate = (lambda m: m) if abs(rate - fps) < 1e-9 else (lambda m: m.resample(rate))  # noqa: E731
    src, ctl = at_rate(motion), at_rate(control)
    placement = placement_for(ctl, model)
    known, present = motion_to_features(placement.apply(src))
    guide, _ = motion_to_features(placement.apply(ctl))
    redo = _model_rate_masks(masks, fps, rate, len(known))
    hands = np.repeat(present, HAND_DIM, axis=1) | redo
    observed = hands & ~redo
    dev = next(model.parameters()).device
    z = lambda a: model.to_model_space(torch.from_numpy(a.astype(np.float32)).to(dev))[None]  # noqa: E731
    m = torch.from_numpy(observed.astype(np.float32)).to(dev)[None]
    w = torch.from_numpy((redo * strength).astype(np.float32)).to(dev)[None]
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    z0 = denoise(model, z(known), m, None, steps, strength=1.0, generator=gen, progress=progress,
                 guide=z(guide), guide_weight=w)
    raw = model.from_model_space(z0)[0].cpu().numpy().astype(np.float64)
    out = placement.undo(features_to_motion(raw, rate))
    if abs(rate - fps) > 1e-9:
        out = out.resample(fps)
    out = out.slice(0, T)
    if out.n_frames < T:
        out = HandMotion.concat([out] + [out.slice(-1, None)] * (T - out.n_frames))
    return out


def _write_back(motion: HandMotion, synth: HandMotion, masks: dict[str, np.ndarray]) -> HandMotion:
    """The input with only the masked (frame, slot) values taken from `synth`."""
    tracks = {}
    for side, track in motion.hands():
        mask, new = masks[side], synth.track(side)
        orient, pose, transl = track.global_orient.copy(), track.hand_pose.copy(), track.transl.copy()
        orient[mask[:, 0]] = new.global_orient[mask[:, 0]]
        for j in range(15):
            pose[mask[:, j + 1], j] = new.hand_pose[mask[:, j + 1], j]
        transl[mask[:, POSITION]] = new.transl[mask[:, POSITION]]
        tracks[side] = HandTrack(orient, pose, transl, track.betas, track.valid | mask.any(1))
    return HandMotion(fps=motion.fps, **tracks)


def refine(motion: HandMotion, strength: float | str = DEFAULT_STRENGTH, seed: int = 0, steps: int = 20,
           dilate: int = 2, thresholds: Thresholds | None = None, weights: str | Path | None = None,
           device: str = "auto", progress=None) -> Repair:
    """Find malformed poses and re-synthesise only them. strength: the control strength in [0, 1] or
    "auto" (HandRefiner's adaptive rule). progress(step, steps) after each denoising step."""
    from .pipeline import get_inbetweener

    if isinstance(strength, str) and strength != "auto":
        raise MotionValueError(f"strength must be a number in [0, 1] or 'auto', not {strength!r}")
    if not isinstance(strength, str) and not 0.0 <= float(strength) <= 1.0:
        raise MotionValueError(f"strength must be in [0, 1], got {strength}")
    if dilate < 0:
        raise MotionValueError(f"dilate must be >= 0 frames, got {dilate}")
    found = detect(motion, thresholds)
    if found.clean:
        return Repair(motion, found, 0.0 if strength == "auto" else float(strength), found.masks, found)
    masks = dilate_masks(found, dilate)
    control = control_motion(motion, found, masks, dilate)
    model = get_inbetweener(weights, device)
    frames = np.any([m.any(1) for m in masks.values()], axis=0)

    def attempt(s: float) -> HandMotion:
        return _write_back(motion, _synthesise(motion, control, masks, s, seed, steps, model, progress), masks)

    sweep: list[dict] = []
    if strength == "auto":
        tried = {s: attempt(s) for s in STRENGTHS}
        checked = {s: detect(m, thresholds) for s, m in tried.items()}
        errors = {s: validity_error(m, thresholds, frames, checked[s]) for s, m in tried.items()}
        sweep = [{"strength": s, "error": e} for s, e in errors.items()]
        full = errors[1.0]
        passing = [s for s in STRENGTHS if np.isfinite(errors[s]) and errors[s] <= AUTO_TOLERANCE * full + 1e-9]
        chosen = passing[0] if passing else 1.0
        out, remaining = tried[chosen], checked[chosen]
        log.info("auto strength %.2f (error %.3f; full strength %.3f)", chosen, errors[chosen], full)
    else:
        chosen = float(strength)
        out = attempt(chosen)
        remaining = detect(out, thresholds)
    return Repair(out, found, chosen, masks, remaining, sweep)
