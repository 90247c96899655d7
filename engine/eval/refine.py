"""`handmotion eval refine`: repairing corrupted motion, on the corruption suite (`eval/corrupt.py`).

Protocol: every clip of the split gets one defect of each kind (seeded per clip); a method repairs
the corrupted clip. Scores: the share of defects removed, overall and per kind (a rotation defect --
limit, spike, flip -- counts as removed when the joint's rotation stays within REMOVED_DEG of the clean
clip's over its frames; a dropout or interpenetration when the hand is valid there and its joints are
within REMOVED_MM of the clean clip, MPJPE), and the share the detector no longer finds ("gone": the
glitch an animator would see is not there, however far the repair is from the unknown truth); MPJPE
of the output and of the corrupted input to the clean clip; the share of frames far from every defect
(more than DILATE frames away) left bit-identical; and whether a clean clip passes through unchanged.

Methods are registered in `REFINERS`: a function (options, motion) -> motion. Baselines: "input"
(no repair) and "median" (classic mocap clean-up: gaps filled by slerp between valid frames, then a
5-frame median filter on quaternion components and positions). "refiner" is `engine.repair.refine`
at its default strength, "refiner_auto" with the adaptive rule (both need in-betweener weights).
A strength sweep (`sweep=True`) adds a row per strength "refiner@s" with two more columns: how closely
the output follows the control signal (the detected pose made plausible, `engine.repair.control_motion`),
in mm on the repaired frames ("control_mm"), and the validity error left there ("validity",
`engine.refine.validity_error`); MPJPE to the clean clip is the accuracy beside them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
from scipy.ndimage import median_filter
from tqdm import tqdm

from ..interpolate import interpolate
from ..motion import HandMotion, HandTrack
from ..rotations import axis_angle_to_quat, geodesic_angle, quat_to_axis_angle
from .corrupt import KINDS, Defect, corrupt
from .metrics import mpjpe_mm, quat_continuous
from .poses import hand_joints
from .protocol import SEED, load_split

log = logging.getLogger(__name__)

REMOVED_MM = 20.0
REMOVED_DEG = 20.0
ROTATION_KINDS = ("limit", "spike", "flip")
DILATE = 3


def _median_track(track: HandTrack, size: int = 5) -> HandTrack:
    rot = np.concatenate([track.global_orient[:, None], track.hand_pose], 1)
    q = quat_continuous(axis_angle_to_quat(rot))
    q = median_filter(q, size=(size, 1, 1), mode="nearest")
    q /= np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    aa = quat_to_axis_angle(q)
    transl = median_filter(track.transl, size=(size, 1), mode="nearest")
    return HandTrack(aa[:, 0], aa[:, 1:], transl, track.betas)


def median_cleanup(motion: HandMotion) -> HandMotion:
    """Gap-fill invalid frames by slerp from the valid ones, then a 5-frame median filter."""
    tracks = {}
    for side, track in motion.hands():
        keys = np.flatnonzero(track.valid)
        if keys.size and keys.size < track.n_frames:
            track = interpolate(HandMotion(fps=motion.fps, **{side: track}), keys, "slerp").track(side)
        tracks[side] = _median_track(track)
    return HandMotion(fps=motion.fps, **tracks)


@dataclass
class Options:
    """What the learned refiners need: in-betweener weights, device, seed, and a fixed strength."""

    weights: str | None = None
    device: str = "cpu"
    seed: int = 0
    strength: float | str | None = None  # None: the refiner's default


def _refiner(opts: Options, motion: HandMotion, strength: float | str | None = None) -> HandMotion:
    from ..repair import DEFAULT_STRENGTH, refine

    s = strength if strength is not None else opts.strength if opts.strength is not None else DEFAULT_STRENGTH
    return refine(motion, s, seed=opts.seed, weights=opts.weights, device=opts.device).motion


REFINERS: dict[str, Callable[[Options, HandMotion], HandMotion]] = {
    "input": lambda opts, motion: motion,
    "median": lambda opts, motion: median_cleanup(motion),
    "refiner": _refiner,
    "refiner_auto": lambda opts, motion: _refiner(opts, motion, "auto"),
}
NEEDS_WEIGHTS = {"refiner", "refiner_auto"}


def default_methods(weights: str | None = None) -> tuple[str, ...]:
    """Every method that can run: the learned ones only with in-betweener weights given or shipped."""
    from ..models.weights import default_dir

    have = weights is not None or (default_dir("inbetween") / "model.safetensors").exists()
    return tuple(m for m in REFINERS if have or m not in NEEDS_WEIGHTS)


def _joint_rotation(motion: HandMotion, d: Defect) -> np.ndarray:
    track = motion.track(d.side)
    return (track.global_orient if d.joint == 0 else track.hand_pose[:, d.joint - 1])[d.start:d.end]


def defect_removed(out: HandMotion, clean: HandMotion, out_joints: dict[str, np.ndarray],
                   clean_joints: dict[str, np.ndarray], d: Defect) -> bool:
    """Is the defect gone: rotation back within REMOVED_DEG, or the hand valid and within REMOVED_MM?"""
    if not out.track(d.side).valid[d.start:d.end].all():
        return False
    if d.kind in ROTATION_KINDS:
        return bool(np.degrees(geodesic_angle(_joint_rotation(out, d), _joint_rotation(clean, d)).max()) < REMOVED_DEG)
    return mpjpe_mm(out_joints[d.side][d.start:d.end], clean_joints[d.side][d.start:d.end]) < REMOVED_MM


def defect_gone(out: HandMotion, found, d: Defect) -> bool:
    """Is the defect no longer there as the detector sees it: the hand valid over its frames and
    nothing flagged at its joint (the wrist position for interpenetration, anything for a dropout)?
    found: `engine.refine.detect(out)`."""
    if not out.track(d.side).valid[d.start:d.end].all():
        return False
    mask = found.masks[d.side][d.start:d.end]
    if d.kind == "dropout":
        return not mask.any()
    from ..refine import POSITION

    return not mask[:, POSITION if d.kind == "interpenetration" else d.joint].any()


def _far_frames(n: int, defects: list[Defect]) -> np.ndarray:
    near = np.zeros(n, dtype=bool)
    for d in defects:
        near[max(0, d.start - DILATE):min(n, d.end + DILATE)] = True
    return ~near


def _identical(a: HandMotion, b: HandMotion, frames: np.ndarray) -> np.ndarray:
    """(frames,) bool: every present hand's pose, orientation and position bit-identical."""
    same = np.ones(int(frames.sum()), dtype=bool)
    for side, ta in a.hands():
        tb = b.track(side)
        for x, y in ((ta.global_orient, tb.global_orient), (ta.hand_pose, tb.hand_pose), (ta.transl, tb.transl)):
            same &= (x[frames] == y[frames]).reshape(int(frames.sum()), -1).all(1)
    return same


@dataclass
class Case:
    """One clip of the suite: clean, corrupted, the defects; what every method's scoring reads of them
    is computed once (joints, the detection on the corrupted clip, the refiner's masks and control)."""

    clean: HandMotion
    bad: HandMotion
    defects: list[Defect]

    @cached_property
    def clean_joints(self) -> dict[str, np.ndarray]:
        return hand_joints(self.clean)

    @cached_property
    def bad_joints(self) -> dict[str, np.ndarray]:
        return hand_joints(self.bad)

    @cached_property
    def found(self):
        """`engine.refine.detect` on the corrupted clip."""
        from ..refine import detect

        return detect(self.bad)

    @cached_property
    def repair_masks(self) -> dict[str, np.ndarray]:
        """The refiner's dilated masks (T, 17) per hand."""
        from ..repair import dilate_masks

        return dilate_masks(self.found, 2)

    @cached_property
    def control_joints(self) -> dict[str, np.ndarray]:
        """Joints of the refiner's control signal (`engine.repair.control_motion`)."""
        from ..repair import control_motion

        return hand_joints(control_motion(self.bad, self.found, self.repair_masks))


def detection_scores(cases: list[Case]) -> dict:
    """How well `engine.refine.detect` finds the suite's defects: per kind, the share whose joint is
    flagged on most of its frames; and the share of clean clips with anything flagged."""
    from ..refine import POSITION, detect

    found = {k: [] for k in KINDS}
    clean_flagged = []
    for case in cases:
        for d in case.defects:
            slot = POSITION if d.kind == "interpenetration" else d.joint
            found[d.kind].append(bool(case.found.masks[d.side][d.start:d.end, slot].mean() > 0.5))
        clean_flagged.append(not detect(case.clean).clean)
    return {**{f"found_{k}": float(np.mean(v)) for k, v in found.items() if v},
            "clean_clips_flagged": float(np.mean(clean_flagged)) if clean_flagged else 0.0}


def _score(method: Callable[[HandMotion], HandMotion], cases: list[Case], extra: bool, progress: bool,
           desc: str) -> dict:
    from ..refine import detect, validity_error

    removed = {k: [] for k in KINDS}
    gone = []
    err_out, err_in, kept, passthrough, follow, validity = [], [], [], [], [], []
    for case in tqdm(cases, desc=desc, unit="clip", disable=not progress):
        clean, bad, defects = case.clean, case.bad, case.defects
        out = method(bad)
        cj, oj, bj = case.clean_joints, hand_joints(out), case.bad_joints
        found_out = detect(out)
        for d in defects:
            removed[d.kind].append(defect_removed(out, clean, oj, cj, d))
            gone.append(defect_gone(out, found_out, d))
        err_out.append(np.mean([mpjpe_mm(oj[s], cj[s]) for s in cj]))
        err_in.append(np.mean([mpjpe_mm(bj[s], cj[s]) for s in cj]))
        far = _far_frames(clean.n_frames, defects)
        if far.any():
            kept.append(_identical(out, bad, far).mean())
        passthrough.append(bool(_identical(method(clean), clean, np.ones(clean.n_frames, bool)).all()))
        if extra:
            masks, ctl = case.repair_masks, case.control_joints
            follow += [mpjpe_mm(oj[s][masks[s].any(1)], ctl[s][masks[s].any(1)]) for s in masks if masks[s].any()]
            repaired = np.any([m.any(1) for m in masks.values()], axis=0)
            validity.append(validity_error(out, frames=repaired, found=found_out))
    flat = [x for v in removed.values() for x in v]
    scores = {
        "defects_removed": float(np.mean(flat)) if flat else 0.0,
        **{f"removed_{k}": float(np.mean(v)) for k, v in removed.items() if v},
        "defects_gone": float(np.mean(gone)) if gone else 0.0,
        "mpjpe_mm": float(np.mean(err_out)), "input_mpjpe_mm": float(np.mean(err_in)),
        "mpjpe_ratio": float(np.mean(err_out) / max(np.mean(err_in), 1e-12)),
        "far_frames_identical": float(np.mean(kept)) if kept else 1.0,
        "clean_unchanged": float(np.mean(passthrough)),
    }
    if extra:
        scores.update(control_mm=float(np.mean(follow)) if follow else 0.0, validity=float(np.mean(validity)))
    return scores


def evaluate_refine(data: str, split: str | None = "test", methods: tuple[str, ...] | None = None,
                    limit: int | None = None, device: str = "cpu", seed: int = SEED, progress: bool = True,
                    weights: str | None = None, sweep: bool = False) -> dict:
    """The refinement report: {"methods": {name: scores}} on the corruption suite of the split; with
    `sweep`, also "refiner@s" rows for every strength of `engine.repair.STRENGTHS`."""
    from ..repair import STRENGTHS

    methods = methods or default_methods(weights)
    for name in methods:
        if name not in REFINERS:
            raise KeyError(f"unknown refine method {name!r} (known: {', '.join(REFINERS)})")
    test = load_split(data, split, limit)
    opts = Options(weights, device)
    cases = []
    for i in range(len(test.clips)):
        clean = test.motion(i)
        cases.append(Case(clean, *corrupt(clean, np.random.default_rng([seed, int(test.clips.ids[i])]))))
    report = {"data": str(data), "split": split, "clips": len(cases), "removed_below_mm": REMOVED_MM,
              "removed_below_deg": REMOVED_DEG, "kinds": list(KINDS), "detection": detection_scores(cases),
              "methods": {}}
    for name in methods:
        report["methods"][name] = _score(lambda m, name=name: REFINERS[name](opts, m), cases, sweep, progress,
                                         f"refine {name}")
    if sweep:
        for s in STRENGTHS:
            report["methods"][f"refiner@{s:g}"] = _score(lambda m, s=s: _refiner(opts, m, s), cases, True, progress,
                                                         f"refine at {s:g}")
    return report
