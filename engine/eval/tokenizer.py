"""`handmotion eval tokenizer`: reconstruction quality of a tokenizer on corpus clips or motion files.

Per clip the motion goes through `pipeline.tokenize` and `detokenize` and is compared with the input
at the input's fps (so resampling to the model fps is part of what is measured), on the frames
where the hand is valid:
  finger MPJPE   finger joints relative to the wrist in the hand's own frame (articulation only)
  root-rel MPJPE joints minus the wrist, world orientation kept
  global MPJPE   world joints (wrist trajectory included)
  accel error    world joints, mm / frame^2 at the clip's fps
  joint angle    mean geodesic error of the 15 finger joint rotations (degrees); wrist separately
Codebook usage and perplexity are over every token of the evaluated clips, per codebook.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import HandMotionError
from ..io import load_motion
from ..models.weights import default_dir
from ..motion import HandMotion
from ..pipeline import detokenize, get_tokenizer, match_timing, tokenize
from ..skeleton import get_hand_model
from .metrics import accel_error_mm, codebook_stats, joint_angle_error_deg, mpjpe_mm

log = logging.getLogger(__name__)

METRICS = ("finger_mpjpe_mm", "rootrel_mpjpe_mm", "global_mpjpe_mm", "accel_error_mm", "finger_angle_deg",
           "wrist_angle_deg")


@dataclass
class Accumulator:
    """Frame-weighted means of the per-clip metrics."""

    sums: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in METRICS})
    frames: int = 0
    clips: int = 0

    def add(self, scores: dict[str, float], n: int) -> None:
        for k in METRICS:
            self.sums[k] += scores[k] * n
        self.frames += n
        self.clips += 1

    def means(self) -> dict[str, float]:
        out = {k: round(v / max(self.frames, 1), 4) for k, v in self.sums.items()}
        return {"clips": self.clips, "frames": self.frames, **out}


def clip_scores(pred: HandMotion, gt: HandMotion, mano_dir: str | None = None) -> tuple[dict[str, float], int]:
    """Metrics of one reconstruction against its input, averaged over both hands' valid frames."""
    acc = Accumulator()
    for side, g in gt.hands():
        p = pred.track(side)
        keep = g.valid & p.valid
        if keep.sum() == 0:
            continue
        model = get_hand_model(side, mano_dir)
        jp = model.joints_np(p.global_orient, p.hand_pose, p.transl)
        jg = model.joints_np(g.global_orient, g.hand_pose, g.transl)
        zero_o, zero_t = np.zeros_like(g.global_orient), np.zeros_like(g.transl)
        lp = model.joints_np(zero_o, p.hand_pose, zero_t)
        lg = model.joints_np(zero_o, g.hand_pose, zero_t)
        scores = {
            "finger_mpjpe_mm": mpjpe_mm((lp[:, 1:] - lp[:, :1])[keep], (lg[:, 1:] - lg[:, :1])[keep]),
            "rootrel_mpjpe_mm": mpjpe_mm((jp[:, 1:] - jp[:, :1])[keep], (jg[:, 1:] - jg[:, :1])[keep]),
            "global_mpjpe_mm": mpjpe_mm(jp[keep], jg[keep]),
            "accel_error_mm": accel_error_mm(jp, jg) if keep.all() else accel_error_mm(jp[keep], jg[keep]),
            "finger_angle_deg": joint_angle_error_deg(p.hand_pose[keep], g.hand_pose[keep]),
            "wrist_angle_deg": joint_angle_error_deg(p.global_orient[keep], g.global_orient[keep]),
        }
        acc.add(scores, int(keep.sum()))
    means = acc.means()
    return {k: means[k] for k in METRICS}, acc.frames


def motion_sources(data: str, split: str | None, limit: int | None, held_out: tuple[str, ...]):
    """Yield (group names, name, motion) from a corpus folder or a folder / list of motion files."""
    root = Path(data)
    if (root / "manifest.json").exists():
        from ..corpus.build import read_corpus

        for k, (motion, record) in enumerate(read_corpus(root, split)):
            if limit is not None and k >= limit:
                return
            seen = not (set(record["actions"]) & set(held_out))
            groups = ["all"] + ([("seen actions" if seen else "held-out actions")] if held_out else [])
            yield groups, f"clip {record['id']}", motion
        return
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".npz", ".bvh", ".json")) if root.is_dir() else [root]
    if not files:
        raise HandMotionError(f"{data}: no motion files (.npz, .bvh, .json) and no corpus manifest")
    for k, path in enumerate(files[:limit]):
        try:
            motion = load_motion(path)
        except HandMotionError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        yield ["all", path.stem], path.name, motion


def evaluate_tokenizer(data: str, weights: str | None = None, split: str | None = "test", limit: int | None = None,
                       device: str = "auto", progress: bool = True) -> dict:
    """Reconstruction report (a JSON-ready dict) of the tokenizer in `weights` on `data`."""
    model = get_tokenizer(weights, device)
    cfg = model.cfg
    meta = json.loads((Path(weights or default_dir("tokenizer")) / "config.json").read_text()).get("meta", {})
    held_out = tuple(meta.get("train", {}).get("exclude_actions", ()))
    groups: dict[str, Accumulator] = {}
    codes = []
    for names, name, motion in tqdm(motion_sources(data, split, limit, held_out), desc="eval tokenizer", unit="clip",
                                    disable=not progress):
        tokens = tokenize(motion, weights, device)
        pred = match_timing(detokenize(tokens, weights, device), motion)
        scores, n = clip_scores(pred, motion)
        if n == 0:
            continue
        codes.append(tokens.codes)
        for g in names:
            groups.setdefault(g, Accumulator()).add(scores, n)
    if not codes:
        raise HandMotionError(f"{data}: nothing to evaluate")
    grid = np.concatenate(codes)  # (steps, slots)
    slot_names = cfg.slot_names
    books: dict[str, list[int]] = {}
    for s, (side, part) in enumerate(cfg.slots):
        books.setdefault(cfg.net_key(side, part), []).append(s)
    codebooks = {}
    for key, cols in books.items():
        usage, ppl = codebook_stats(grid[:, cols], cfg.codebook_size)
        codebooks[key] = {"slots": [slot_names[c] for c in cols], "size": cfg.codebook_size,
                          "usage": round(usage, 4), "perplexity": round(ppl, 1)}
    return {
        "weights": str(weights or default_dir("tokenizer")),
        "data": str(data),
        "split": split,
        "config": {"layout": cfg.layout, "share_hands": cfg.share_hands, "quantizer": cfg.quantizer,
                   "codebook_size": cfg.codebook_size, "slots": slot_names},
        "parameters": model.n_parameters(),
        "vocabulary": len(cfg.slots) * cfg.codebook_size,
        "bits_per_step": round(len(cfg.slots) * float(np.log2(cfg.codebook_size)), 2),
        "held_out_actions": list(held_out),
        "groups": {k: v.means() for k, v in groups.items()},
        "codebooks": codebooks,
    }


def report_table(report: dict) -> str:
    """Human-readable lines for one report."""
    head = (f"{report['config']['layout']} ({'shared' if report['config']['share_hands'] else 'separate'} hands, "
            f"{report['config']['quantizer']}, {len(report['config']['slots'])} x {report['config']['codebook_size']} codes, "
            f"{report['parameters'] / 1e6:.2f}M params)")
    cols = ("clips", "frames") + METRICS
    lines = [head, "group".ljust(24) + "".join(c.replace("_mm", " mm").replace("_deg", " deg").rjust(18) for c in cols)]
    for g, s in report["groups"].items():
        lines.append(g[:24].ljust(24) + "".join(f"{s[c]:18.3f}" if isinstance(s[c], float) else f"{s[c]:18d}" for c in cols))
    for key, b in report["codebooks"].items():
        lines.append(f"codebook {key} ({', '.join(b['slots'])}): usage {b['usage']:.3f}, perplexity {b['perplexity']:.1f} of {b['size']}")
    return "\n".join(lines)
