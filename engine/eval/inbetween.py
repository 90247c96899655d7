"""`handmotion eval inbetween`: filling the frames between keyed poses.

Protocol (LaFAN1-style, on whole clips): every clip of the split is keyed every `spacing` frames (and
at its last frame) with its own poses; a method fills the rest. On the frames that are not keys:
MPJPE (mm, all 21 joints of both hands, world), L2P (world joints normalised by the split's per-axis
mean and std), L2Q (global joint quaternions); over the whole clip: NPSS of the global quaternions,
jerk (m/s^3, against the ground truth's own), and the keyframe error (largest angle at any key, rad).

Methods are registered in `INBETWEENERS`: a function (context, motion, key frames) -> motion.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..corpus.actions import two_hand_clips
from ..interpolate import interpolate, key_frames_every
from ..motion import HandMotion
from .metrics import jerk, keyframe_error_rad, l2p, l2q, mpjpe_mm, npss, quat_continuous
from .poses import hand_joints, world_joints, world_quats
from .protocol import load_split
from .t2m import Context

log = logging.getLogger(__name__)

SPACINGS = (15, 30)
Inbetweener = Callable[[Context, HandMotion, np.ndarray], HandMotion]


def _diffusion(mode: str) -> Inbetweener:
    def run(ctx: Context, motion: HandMotion, keys: np.ndarray) -> HandMotion:
        from ..keys import keys_from_motion
        from ..pipeline import Diffusion, inbetween

        return inbetween(keys_from_motion(motion, keys), motion.n_frames, motion.fps,
                         diffusion=Diffusion(seed=0, steps=ctx.cache.get("steps", 20), mode=mode),
                         weights=ctx.cache.get("inbetween_weights"), device=ctx.device)
    return run


INBETWEENERS: dict[str, Inbetweener] = {
    "slerp": lambda ctx, motion, keys: interpolate(motion, keys, "slerp"),
    "bezier": lambda ctx, motion, keys: interpolate(motion, keys, "bezier"),
    "diffusion": _diffusion("trained"),
    "diffusion_inpaint": _diffusion("inpaint"),
}
NEEDS_WEIGHTS = {"diffusion", "diffusion_inpaint"}  # left out of the defaults when no weights are shipped


def _rotations(motion: HandMotion) -> np.ndarray:
    """(T, 16 x hands, 3) local axis-angle rotations, left hand first."""
    return np.concatenate([np.concatenate([tr.global_orient[:, None], tr.hand_pose], 1) for _, tr in motion.hands()], 1)


def default_methods(weights: str | None = None) -> tuple[str, ...]:
    """Every method that can run: the diffusion ones only with weights given or shipped."""
    from ..models.weights import default_dir

    have = weights is not None or (default_dir("inbetween") / "model.safetensors").exists()
    return tuple(m for m in INBETWEENERS if have or m not in NEEDS_WEIGHTS)


def evaluate_inbetween(data: str, split: str | None = "test", methods: tuple[str, ...] | None = None,
                       spacings: tuple[int, ...] = SPACINGS, limit: int | None = None, device: str = "cpu",
                       progress: bool = True, weights: str | None = None, steps: int = 20) -> dict:
    """The in-betweening report: {"spacings": {spacing: {method: scores}}, "react": {method: scores}}.
    `data`: a corpus folder (its `split`), or a folder of motion files (e.g. mocap takes; no reaction table)."""
    methods = methods or default_methods(weights)
    for name in methods:
        if name not in INBETWEENERS:
            raise KeyError(f"unknown in-betweening method {name!r} (known: {', '.join(INBETWEENERS)})")
    corpus = (Path(data) / "manifest.json").exists()
    if corpus:
        test = load_split(data, split, limit)
        gts = [test.motion(i) for i in range(len(test.clips))]
    else:
        from .tokenizer import motion_sources

        test = None
        gts = [m for _, _, m in motion_sources(data, None, limit, ())]
    ctx = Context(test, test, None, device)  # type: ignore[arg-type]  (no evaluator needed)
    ctx.cache.update(inbetween_weights=weights, steps=steps)
    gt_joints = [world_joints(m) for m in gts]
    stacked = np.concatenate([j.reshape(-1, 3) for j in gt_joints])
    mean, std = stacked.mean(0), stacked.std(0)
    gt_quats = [world_quats(m) for m in gts]
    gt_jerk = float(np.mean([jerk(j, m.fps) for j, m in zip(gt_joints, gts)]))
    report = {"data": str(data), "split": split if corpus else None, "clips": len(gts), "fps": gts[0].fps,
              "ground_truth_jerk": gt_jerk,
              "spacings": {}}
    for spacing in spacings:
        table = {}
        for name in methods:
            rows = {k: [] for k in ("mpjpe_mm", "l2p", "l2q", "npss", "jerk", "keyframe_error_rad")}
            for gt, gj, gq in tqdm(list(zip(gts, gt_joints, gt_quats)), desc=f"in-between {name} / {spacing}",
                                   unit="clip", disable=not progress):
                keys = key_frames_every(gt.n_frames, spacing)
                out = INBETWEENERS[name](ctx, gt, keys)
                pj, pq = world_joints(out), world_quats(out)
                free = np.setdiff1d(np.arange(gt.n_frames), keys)
                if free.size:
                    rows["mpjpe_mm"].append(mpjpe_mm(pj[free], gj[free]))
                    rows["l2p"].append(l2p(pj[free], gj[free], mean, std))
                    rows["l2q"].append(l2q(pq[free], gq[free]))
                cq, cg = quat_continuous(pq), quat_continuous(gq)
                cq *= np.where((cq[:1] * cg[:1]).sum(-1, keepdims=True) < 0, -1.0, 1.0)  # same sign at frame 0
                rows["npss"].append(npss(cq.reshape(len(cq), -1), cg.reshape(len(cg), -1)))
                rows["jerk"].append(jerk(pj, gt.fps))
                rows["keyframe_error_rad"].append(keyframe_error_rad(_rotations(out), _rotations(gt), keys))
            scores = {k: float(np.mean(v)) if v else 0.0 for k, v in rows.items()}
            scores["keyframe_error_rad"] = float(np.max(rows["keyframe_error_rad"]))
            scores["jerk_ratio"] = scores["jerk"] / max(gt_jerk, 1e-12)
            table[name] = scores
        report["spacings"][str(spacing)] = table
    react_methods = ["mirror"] + (["diffusion", "diffusion_free"] if "diffusion" in methods else [])
    report["react"] = evaluate_react(ctx, gts, react_methods, progress) if corpus else {}
    return report


def _react_mirror(ctx: Context, motion: HandMotion, given: str, seed: int) -> HandMotion:
    """The baseline: the other hand copies the given one, mirrored across the body's YZ plane."""
    other = "right" if given == "left" else "left"
    return HandMotion(fps=motion.fps, **{given: motion.track(given), other: motion.track(given).mirrored()})


def _react_diffusion(ctx: Context, motion: HandMotion, given: str, seed: int, mirror: float | None = None
                     ) -> HandMotion:
    """The engine's react (its default mirror prior, or `mirror`)."""
    from ..pipeline import Diffusion, react

    return react(motion, given, diffusion=Diffusion(seed=seed, steps=ctx.cache.get("steps", 20)),
                 weights=ctx.cache.get("inbetween_weights"), device=ctx.device, mirror=mirror)


def _react_diffusion_free(ctx: Context, motion: HandMotion, given: str, seed: int) -> HandMotion:
    """The model's own reaction, without the mirror prior (its ablation)."""
    return _react_diffusion(ctx, motion, given, seed, mirror=0.0)


REACTORS = {"mirror": _react_mirror, "diffusion": _react_diffusion, "diffusion_free": _react_diffusion_free}
DETERMINISTIC_REACTORS = {"mirror"}
REACT_SEEDS = (0, 1, 2)  # one sample's contact F1 spreads by ~0.06 between seeds: pool three


def evaluate_react(ctx: Context, gts: list[HandMotion], methods: list[str], progress: bool = True,
                   seeds: tuple[int, ...] = REACT_SEEDS) -> dict:
    """Hand reaction on the split's bimanual clips: each hand given in turn, the other generated, once per
    seed for sampled methods. Contact precision / recall / F1 of the result against the ground truth's
    contacts (pooled over clips and seeds), the lowest and highest single seed's F1, and the generated
    hand's MPJPE (mm)."""
    from .contact import contact_prf, motion_contacts

    idx = two_hand_clips(ctx.test.clips.actions)
    if not len(idx):
        return {}
    truth = {i: (motion_contacts(gts[i]), hand_joints(gts[i])) for i in idx}
    out = {}
    for name in methods:
        runs = seeds[:1] if name in DETERMINISTIC_REACTORS else seeds
        pred, true, err, f1s = [], [], [], []
        for seed in runs:
            seed_pred, seed_true = [], []
            for i in tqdm(idx, desc=f"react {name} (seed {seed})", unit="clip", disable=not progress):
                contacts, joints = truth[i]
                for given, other in (("left", "right"), ("right", "left")):
                    res = REACTORS[name](ctx, gts[i], given, seed)
                    seed_pred.append(motion_contacts(res))
                    seed_true.append(contacts)
                    err.append(mpjpe_mm(hand_joints(res)[other], joints[other]))
            f1s.append(contact_prf(np.concatenate(seed_pred), np.concatenate(seed_true))[2])
            pred += seed_pred
            true += seed_true
        p, r, f1 = contact_prf(np.concatenate(pred), np.concatenate(true))
        out[name] = {"clips": int(len(idx)), "seeds": len(runs), "contact_precision": p, "contact_recall": r,
                     "contact_f1": f1, "contact_f1_min": float(min(f1s)), "contact_f1_max": float(max(f1s)),
                     "other_hand_mpjpe_mm": float(np.mean(err))}
    return out
