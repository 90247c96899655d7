"""Finding malformed hand poses in motion, per frame and joint (`handmotion check`; repair: `engine.repair`).

Every hand gets a mask over (frame, slot) with 17 slots: 0 the wrist orientation, 1-15 the MANO finger
joints, 16 the wrist position. What is looked for (thresholds in `Thresholds`, defaults measured on the
clean corpus and real captures so clean motion passes; see docs/benchmarks.md "Refiner"):

- "limit": a finger joint beyond its range of motion by more than `limit_deg` in flexion, abduction or
  twist, against the documented per-joint table `engine.corpus.anatomy.JOINT_LIMITS` (AAOS / Hume).
- "spike": a joint that jumps away by more than `jump_deg` in one frame and jumps back within
  `max_spike_frames` to within half that angle of where it left (a tracker glitch); a jump with no
  way back is fast real motion and is left alone. The wrist position likewise, with `jump_mm`, for up
  to `max_teleport_frames` (a hand that leaves and comes back, as a tracker swapping hands does).
- "flip": the same on the wrist orientation when the jump is near a half turn (> `flip_deg`), as when
  a tracker confuses palm and back; up to `max_flip_frames` long. A lone turn that large flags the
  frames between it and the nearer end of the tracked stretch (a flip running into the clip's start or
  end, or into a dropout).
- "dropout": frames where the hand is not valid (`HandTrack.valid` false, or NaN read as a gap).
- "self_intersection": capsules of two different long fingers overlapping by more than `self_mm`
  (`engine.capsules`). The procedural corpus itself has long fingers passing through each other in
  some poses, so this kind is the one clean corpus clips trip (measured in docs/benchmarks.md). The
  thumb is not checked, because thumb-to-finger contact in clean motion
  reads as overlaps up to the full capsule width on the canonical hand (measured: 10% of clean corpus
  frames above 8 mm, against 0.4% for the long fingers).
- "interpenetration": one hand inside the other: the two palms' capsules overlapping by more than
  `palms_mm` summed over the 25 palm-to-palm pairs (touching, clapping and interlaced fingers stay
  below); flagged on the wrist position of the hand that jumped there, or of both when neither did.

A finding is `exact` when its frames are known exactly, because it starts and ends with a jump or a
gap (spikes, flips, teleports, dropouts, and range breaks entered and left by a jump): the repair does
not widen those (`engine.repair.exact_edges`).

Angles are compared per frame, so the jump thresholds are for 30 fps and scale with 30 / fps.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from .capsules import CAPSULE_FINGER, CAPSULE_JOINT, hands_depth_mm, self_depth_mm
from .caption.features import true_runs
from .corpus.anatomy import JOINT_LIMITS, pose_to_angles
from .eval.poses import hand_joints
from .motion import HandMotion, HandTrack
from .rotations import axis_angle_to_matrix
from .skeleton import JOINT_NAMES_16

log = logging.getLogger(__name__)

SLOTS = 17  # 0 wrist orientation, 1-15 finger joints, 16 wrist position
POSITION = 16
KINDS = ("limit", "spike", "flip", "dropout", "self_intersection", "interpenetration")
UNITS = {"limit": "deg", "spike": "deg", "flip": "deg", "dropout": "frames", "self_intersection": "mm",
         "interpenetration": "mm"}
_PALM = np.flatnonzero(CAPSULE_FINGER < 0)


@dataclass
class Thresholds:
    """What counts as malformed. Jump thresholds are per frame at 30 fps."""

    limit_deg: float = 15.0
    jump_deg: float = 40.0
    flip_deg: float = 120.0
    jump_mm: float = 60.0
    max_spike_frames: int = 4
    max_flip_frames: int = 30
    max_teleport_frames: int = 30
    self_mm: float = 12.0
    palms_mm: float = 100.0


@dataclass
class Finding:
    """One defect: a kind, a hand, frames [start, end), the slots it touches and how bad it is."""

    kind: str
    side: str
    start: int
    end: int
    slots: list[int]
    severity: float  # in UNITS[kind]: degrees beyond/jumped, mm of overlap, frames missing
    exact: bool = False  # its frames are known exactly: it starts and ends with a jump or a gap

    def __post_init__(self) -> None:
        self.start, self.end, self.severity = int(self.start), int(self.end), float(self.severity)
        self.exact = bool(self.exact)
        self.slots = [int(s) for s in self.slots]

    def describe(self, fps: float) -> str:
        what = ", ".join(_slot_name(s) for s in self.slots[:4]) + (" ..." if len(self.slots) > 4 else "")
        span = f"frame {self.start}" if self.end - self.start == 1 else f"frames {self.start}-{self.end - 1}"
        return (f"{self.side} hand, {span} ({self.start / fps:.2f} s): {self.kind.replace('_', ' ')} "
                f"{self.severity:.1f} {UNITS[self.kind]} at {what}")


@dataclass
class Detection:
    """The result of `detect`: per-hand masks (T, 17) bool and the findings behind them."""

    fps: float
    n_frames: int
    masks: dict[str, np.ndarray]
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def flagged_frames(self) -> int:
        return int(np.any([m.any(1) for m in self.masks.values()], axis=0).sum()) if self.masks else 0

    def counts(self) -> dict[str, int]:
        """Findings per kind (every kind of `KINDS`, 0 when none)."""
        return {k: sum(f.kind == k for f in self.findings) for k in KINDS}

    def to_dict(self) -> dict:
        counts = self.counts()
        return {"fps": self.fps, "frames": self.n_frames, "flagged_frames": self.flagged_frames(),
                "clean": self.clean, "counts": counts, "findings": [asdict(f) for f in self.findings]}

    def summary(self) -> str:
        if self.clean:
            return f"clean: {self.n_frames} frames, no malformed poses found"
        counts = self.counts()
        head = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
        lines = [f"{len(self.findings)} defect(s) on {self.flagged_frames()} of {self.n_frames} frames: {head}"]
        return "\n".join(lines + ["  " + f.describe(self.fps) for f in self.findings])


def _slot_name(slot: int) -> str:
    return "wrist position" if slot == POSITION else "wrist orientation" if slot == 0 else JOINT_NAMES_16[slot]


def _rotations(track: HandTrack) -> np.ndarray:
    """(T, 16, 3, 3) local rotations, wrist first."""
    return axis_angle_to_matrix(np.concatenate([track.global_orient[:, None], track.hand_pose], 1))


def _angle(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between rotation matrices (..., 3, 3)."""
    tr = np.einsum("...ij,...ij->...", Ra, Rb)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def _jump_runs(step: np.ndarray, dist, limit: float, max_len: int, valid: np.ndarray,
               lone: float = np.inf) -> list[tuple[int, int, float]]:
    """Frames [a, b) that jumped away and back: step (T-1,) jump sizes between frames t and t+1;
    dist(i, j) the distance between frames i and j. Two jumps above `lone` within `max_len` frames
    are a turn and its undoing whatever lies between (the motion under a flip may itself turn fast).
    A jump with no way back (fast real motion looks like that) counts only above `lone`, as the part
    between it and the nearer end of the stretch it was tracked over (the clip's end or a dropout)."""
    jumps = [t for t in np.flatnonzero(step > limit) if valid[t] and valid[t + 1]]
    out, used = [], set()
    for k, t in enumerate(jumps):
        if t in used:
            continue
        back = next((u for u in jumps[k + 1:] if u - t <= max_len and u not in used
                     and (dist(t, u + 1) < 0.5 * step[t] or min(step[t], step[u]) > lone)), None)
        if back is not None:
            used.add(back)
            out.append((t + 1, back + 1, float(step[t])))
        elif step[t] > lone:  # a lone turn: the part between it and the nearer end of the tracked stretch
            lo = t - int(np.argmin(valid[t::-1])) + 1 if not valid[:t + 1].all() else 0  # (a dropout is an end)
            hi = t + 1 + int(np.argmin(valid[t + 1:])) if not valid[t + 1:].all() else len(valid)
            if t + 1 - lo <= max_len and t + 1 - lo <= hi - t - 1:
                out.append((lo, t + 1, float(step[t])))
            elif hi - t - 1 <= max_len:
                out.append((t + 1, hi, float(step[t])))
            else:
                out.append((t + 1, t + 2, float(step[t])))
    return out


def _detect_hand(side: str, track: HandTrack, joints: np.ndarray, fps: float, th: Thresholds,
                 mask: np.ndarray) -> list[Finding]:
    found: list[Finding] = []
    valid = track.valid.copy()
    T = track.n_frames
    for a, b in true_runs(~valid):
        mask[a:b] = True
        found.append(Finding("dropout", side, a, b, list(range(SLOTS)), float(b - a), exact=True))
    scale = 30.0 / fps
    # range of motion
    angles = pose_to_angles(track.hand_pose, side)  # (T, 15, 3)
    over = np.maximum(angles - JOINT_LIMITS[..., 1], 0.0) + np.maximum(JOINT_LIMITS[..., 0] - angles, 0.0)
    over = np.degrees(over.max(-1)) * valid[:, None]  # (T, 15)
    R = _rotations(track)
    step = _angle(R[1:], R[:-1]) if T > 1 else np.zeros((0, 16))  # (T-1, 16) degrees turned per frame
    jumped = lambda t, j: t < 0 or t >= T - 1 or step[t, j] > th.jump_deg * scale  # noqa: E731
    for j in range(15):
        for a, b in true_runs(over[:, j] > th.limit_deg):
            mask[a:b, j + 1] = True
            sudden = jumped(a - 1, j + 1) and jumped(b - 1, j + 1)  # a glitch, not a pose bent too far
            found.append(Finding("limit", side, a, b, [j + 1], float(over[a:b, j].max()), exact=sudden))
    # spikes and flips
    if T > 1:
        for j in range(16):
            dist = lambda u, v, j=j: float(_angle(R[u, j], R[v, j]))  # noqa: E731
            limit = th.jump_deg * scale
            longest = th.max_flip_frames if j == 0 else th.max_spike_frames
            lone = th.flip_deg * scale if j == 0 else np.inf
            for a, b, size in _jump_runs(step[:, j], dist, limit, longest, valid, lone):
                kind = "flip" if j == 0 and size > th.flip_deg else "spike"
                if kind == "spike" and b - a > th.max_spike_frames:
                    continue
                mask[a:b, j] = True
                found.append(Finding(kind, side, a, b, [j], size, exact=True))
        wrist = joints[:, 0]
        pstep = np.linalg.norm(np.diff(wrist, axis=0), axis=-1) * 1000.0
        dist = lambda u, v: float(np.linalg.norm(wrist[u] - wrist[v]) * 1000.0)  # noqa: E731
        for a, b, size in _jump_runs(pstep, dist, th.jump_mm * scale, th.max_teleport_frames, valid):
            mask[a:b, POSITION] = True
            found.append(Finding("spike", side, a, b, [POSITION], size, exact=True))
    # fingers through fingers (long fingers only, see the module docstring)
    depth = self_depth_mm(joints, thumb=False) * valid[:, None]  # (T, 20), thumb capsules 0
    deep = depth > th.self_mm
    for a, b in true_runs(deep.any(1)):
        caps = np.flatnonzero(deep[a:b].any(0))
        slots = sorted({int(CAPSULE_JOINT[c]) for c in caps})
        mask[a:b][:, slots] = True
        found.append(Finding("self_intersection", side, a, b, slots, float(depth[a:b][:, caps].max())))
    return found


def _interpenetration(motion: HandMotion, joints: dict[str, np.ndarray], th: Thresholds,
                      masks: dict[str, np.ndarray]) -> list[Finding]:
    if len(joints) < 2:
        return []
    both = motion.left.valid & motion.right.valid
    palms = hands_depth_mm(joints["left"], joints["right"])[:, _PALM][:, :, _PALM].sum((1, 2)) * both
    found = []
    for a, b in true_runs(palms > th.palms_mm):
        def jumped(side: str) -> float:
            w = joints[side][:, 0]
            edges = [np.linalg.norm(w[a] - w[a - 1]) if a > 0 else 0.0,
                     np.linalg.norm(w[b] - w[b - 1]) if b < len(w) else 0.0]
            return float(max(edges))
        jl, jr = jumped("left"), jumped("right")
        sides = ["left", "right"] if max(jl, jr) < 0.02 or 0.5 < jl / max(jr, 1e-9) < 2.0 else \
            ["left" if jl > jr else "right"]
        for side in sides:
            masks[side][a:b, POSITION] = True
            found.append(Finding("interpenetration", side, a, b, [POSITION], float(palms[a:b].max())))
    return found


def detect(motion: HandMotion, thresholds: Thresholds | None = None) -> Detection:
    """Find malformed poses. Returns a `Detection` with a (T, 17) bool mask per present hand."""
    th = thresholds or Thresholds()
    joints = hand_joints(motion)  # (T, 21, 3) per hand
    masks = {side: np.zeros((motion.n_frames, SLOTS), dtype=bool) for side, _ in motion.hands()}
    findings: list[Finding] = []
    for side, track in motion.hands():
        findings += _detect_hand(side, track, joints[side], motion.fps, th, masks[side])
    findings += _interpenetration(motion, joints, th, masks)
    findings.sort(key=lambda f: (f.start, f.side, f.kind))
    log.debug("%d finding(s) on %d frames", len(findings), motion.n_frames)
    return Detection(motion.fps, motion.n_frames, masks, findings)


def validity_error(motion: HandMotion, thresholds: Thresholds | None = None, frames: np.ndarray | None = None,
                   found: Detection | None = None) -> float:
    """How malformed a motion is, as one number (0 = nothing found): per frame, the detected excess
    beyond each threshold (degrees beyond the limit, degrees jumped, mm of overlap; a dropout counts
    as one threshold's worth), summed over hands and kinds, averaged over `frames` ((T,) bool; all).
    found: `detect(motion, thresholds)` when the caller already has it."""
    det = found if found is not None else detect(motion, thresholds)
    th = thresholds or Thresholds()
    per_frame = np.zeros(motion.n_frames)
    base = {"limit": 0.0, "spike": th.jump_deg, "flip": th.jump_deg, "dropout": 0.0,
            "self_intersection": th.self_mm, "interpenetration": th.palms_mm}
    unit = {"limit": th.limit_deg, "spike": th.jump_deg, "flip": th.jump_deg, "dropout": 1.0,
            "self_intersection": th.self_mm, "interpenetration": th.palms_mm}
    for f in det.findings:
        amount = 1.0 if f.kind == "dropout" else max(f.severity - base[f.kind], 0.0) / unit[f.kind] + 1.0
        per_frame[f.start:f.end] += amount
    if frames is not None:
        per_frame = per_frame[frames]
    return float(per_frame.mean()) if per_frame.size else 0.0
