"""Structured kinematic features of a two-hand clip (HandX-style), computed from joint positions.

`compute_features` runs forward kinematics once per hand (one batched call, the model's rest pose
appended as an extra frame for reference values) and derives, per frame: finger flexion and curl,
finger spacing, thumb-to-fingertip contacts, thumb opposition, the palm frame and wrist velocity;
between hands: palm distance, palm contact and fingertips on the other palm. Thresholded features
become `Event`s (hysteresis, minimum duration, gap merging) for the captioner.

World frame (engine convention): metres, Y up, the person faces +Z, so the person's right is -X.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import MotionValueError
from ..motion import HandMotion
from ..skeleton import FINGERS, get_hand_model

log = logging.getLogger(__name__)

FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
PAIR_NAMES = ("thumb-index", "index-middle", "middle-ring", "ring-pinky")
CONTACT_FINGERS = ("index", "middle", "ring", "pinky")  # thumb_contact columns

# --- thresholds -------------------------------------------------------------------------------
# Curl scale: degrees of flexion (beyond the model's rest pose) that count as curl 1. They equal the
# flexion of the engine's keyframing full curl (`examples.finger_pose(curl=1)`) measured with
# `_flexion` on the canonical skeleton (index MCP 67 + PIP 90 + DIP 60 = 217 deg), so authored and
# measured curls share one scale; a tighter real fist (MCP 90, PIP 110, DIP 80 deg, Hume et al.
# 1990) clips at 1.
FLEX_RANGE_DEG = {"thumb": 210.0, "index": 216.0, "middle": 212.0, "ring": 212.0, "pinky": 214.0}
# thumb_out is scaled so the canonical flat hand (thumb 45 deg out in the palm plane) reads 1.0;
# finger_pose thumb curl 0.5 reads 0.7, 0.9 (folded over the fingers) 0.18.
THUMB_OUT_SCALE = 1.40
CONTACT_ON_M = 0.020  # thumb tip to fingertip: touching (pad-to-pad centres ~ 2 x 8 mm pulp + slack)
CONTACT_OFF_M = 0.025  # hysteresis: a contact ends only beyond this
PALM_OFFSET_M = 0.012  # joint centres lie ~12 mm under the palm skin (half a ~25 mm palm thickness)
PALM_CONTACT_M = 0.035  # palm-surface points this close, palms facing: palms touch (clap)
PALM_CONTACT_OFF_M = 0.045
PALM_FACING_DOT = -0.5  # palm normals at > 120 deg: facing each other
TIP_ON_PALM_M = 0.025  # fingertip within this of the other palm's sampled surface points
TIP_ON_PALM_OFF_M = 0.032
N_PALM_SAMPLES = 32
MIN_EVENT_S = 0.10  # events shorter than this are jitter
MERGE_GAP_S = 0.10  # gaps shorter than this inside an event are closed
SMOOTH_S = 0.05  # moving-average window for velocities
FLEX_RATE_ON = 1.0  # curl units / s to start a flex/extend event (full curl in 1 s)
FLEX_RATE_OFF = 0.3  # ... and to keep it going
MIN_CURL_CHANGE = 0.2  # net curl change for a flex/extend event to count
WRIST_SPEED_ON = 0.08  # m/s to start a wrist movement (a 0.12 m move over 2 s peaks at 0.11 m/s)
WRIST_SPEED_OFF = 0.04  # m/s to keep it going
WRIST_MIN_DISPLACEMENT_M = 0.03
TURN_RATE_ON_DEG = 90.0  # deg/s of wrist rotation to start a turn
TURN_RATE_OFF_DEG = 30.0
MIN_TURN_DEG = 20.0
APPROACH_MIN_M = 0.05  # palm distance change for hands approaching / separating (same speed thresholds)
HOLD_SPEED_M = 0.03  # a hand holds still: wrist slower than this and curls changing slower than
HOLD_CURL_RATE = 0.25  # this (curl units / s), turning slower than
HOLD_TURN_DEG = 20.0  # this (deg/s) ...
HOLD_MIN_S = 0.5  # ... for at least this long
# Speed words. Wrist: mean speed over the movement, m/s (< 0.15 slow, < 0.5 moderate, else fast:
# everyday reaching peaks at ~0.5-1 m/s). Fingers and contacts: event duration in seconds.
WRIST_SLOW_MS, WRIST_FAST_MS = 0.15, 0.5
QUICK_S, SLOW_S = 0.35, 0.9


@dataclass
class Event:
    """A thing that happens over frames [start, end) (end exclusive).

    kind: thumb_contact | palm_contact | tip_on_palm | flex | extend | wrist_move | wrist_turn | hold |
    approach | separate;
    side: "left" | "right" | "both"; detail: finger names, direction words, amounts;
    speed: "slowly" | "steadily" | "quickly"."""

    kind: str
    side: str
    start: int
    end: int
    detail: dict = field(default_factory=dict)
    speed: str = "steadily"

    def to_dict(self, fps: float | None = None) -> dict:
        """JSON-ready dict; with `fps` also start_s / end_s in seconds."""
        out = dict(vars(self), detail=dict(self.detail))
        return out if not fps else dict(out, start_s=round(self.start / fps, 3), end_s=round(self.end / fps, 3))


@dataclass
class HandFeatures:
    """Per-frame features of one hand over T frames (metres, degrees, seconds).

    joints (T, 21, 3); flexion (T, 5) degrees, thumb..pinky; curl (T, 5) 0 straight .. 1 curled;
    curl_rate (T, 5) curl units / s; spacing (T, 4) degrees between adjacent finger directions
    (thumb-index, index-middle, middle-ring, ring-pinky); thumb_dist (T, 4) metres, thumb tip to the
    index/middle/ring/pinky tips; thumb_contact (T, 4) bool; thumb_out (T,) about 0 (thumb folded
    across the palm) .. 1 (thumb out, abducted and extended); palm_normal (T, 3) unit, out of the
    palm; finger_dir (T, 3) unit, wrist -> middle MCP; radial (T, 3) unit, across the palm toward the
    thumb; palm_centre (T, 3) a point on the palm surface; wrist_vel (T, 3) m/s; speed (T,) m/s;
    turn_vel (T, 3) world angular velocity of the hand, deg/s; turn_rate (T,) its norm; valid (T,) bool.
    """

    side: str
    joints: np.ndarray
    flexion: np.ndarray
    curl: np.ndarray
    curl_rate: np.ndarray
    spacing: np.ndarray
    thumb_dist: np.ndarray
    thumb_contact: np.ndarray
    thumb_out: np.ndarray
    palm_normal: np.ndarray
    finger_dir: np.ndarray
    radial: np.ndarray
    palm_centre: np.ndarray
    wrist_vel: np.ndarray
    speed: np.ndarray
    turn_vel: np.ndarray
    turn_rate: np.ndarray
    valid: np.ndarray


@dataclass
class MotionFeatures:
    """Features of a clip: `hands` side -> HandFeatures; with both hands also palm_distance (T,)
    metres between palm-surface points, palm_contact (T,) bool, tip_on_palm side -> (T, 5) bool
    (fingertips of that hand on the other palm), tip_palm_dist side -> (T, 5) metres; and `events`."""

    fps: float
    n_frames: int
    hands: dict[str, HandFeatures]
    palm_distance: np.ndarray | None = None
    palm_contact: np.ndarray | None = None
    tip_on_palm: dict[str, np.ndarray] = field(default_factory=dict)
    tip_palm_dist: dict[str, np.ndarray] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def sides(self) -> list[str]:
        return [s for s in ("left", "right") if s in self.hands]


# --- small vector helpers ---------------------------------------------------------------------

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unsigned angle in degrees between (..., 3) vectors."""
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), axis=-1), -1.0, 1.0)))


def _smooth(x: np.ndarray, fps: float) -> np.ndarray:
    """Centred moving average along axis 0 over ~SMOOTH_S seconds (edge-padded)."""
    k = int(round(SMOOTH_S * fps)) | 1
    if k < 3 or x.shape[0] < 3:
        return x
    pad = [(k // 2, k // 2)] + [(0, 0)] * (x.ndim - 1)
    c = np.cumsum(np.pad(x, pad, mode="edge"), axis=0)
    c = np.concatenate([np.zeros_like(c[:1]), c], axis=0)
    return (c[k:] - c[:-k]) / k


def _rate(x: np.ndarray, fps: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Time derivative (per second) along axis 0 by central differences, lightly smoothed; zero
    within the smoothing window of an invalid frame, whose values are not to be trusted."""
    if x.shape[0] < 2:
        return np.zeros_like(x)
    return _mask_invalid(np.gradient(_smooth(x, fps), axis=0) * fps, valid, fps)


def _mask_invalid(r: np.ndarray, valid: np.ndarray | None, fps: float) -> np.ndarray:
    if valid is not None and not valid.all():
        k = int(round(SMOOTH_S * fps)) // 2 + 1
        r[np.convolve((~valid).astype(float), np.ones(2 * k + 1), "same") > 0] = 0.0
    return r


# --- per hand --------------------------------------------------------------------------------

def palm_surface(J: np.ndarray, side: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """Palm-surface point and outward palm normal, each (..., 3), of joints J (..., 21, 3): the mean
    of the wrist and the four MCPs moved PALM_OFFSET_M out of the palm."""
    normal = _unit(np.cross(J[..., 1, :] - J[..., 0, :], J[..., 7, :] - J[..., 0, :]))
    if side == "left":
        normal = -normal
    return J[..., [0, 1, 4, 7, 10], :].mean(axis=-2) + PALM_OFFSET_M * normal, normal


def _hand_frame(J: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Palm normal (out of the palm), finger direction and radial axis, each (..., 3)."""
    _, normal = palm_surface(J, side)
    fdir = _unit(J[..., 4, :] - J[..., 0, :])
    radial = J[..., 1, :] - J[..., 7, :]  # pinky MCP -> index MCP, made orthogonal to normal and fdir
    radial = radial - np.sum(radial * normal, -1, keepdims=True) * normal
    radial = _unit(radial - np.sum(radial * fdir, -1, keepdims=True) * fdir)
    return normal, fdir, radial


def _flexion(J: np.ndarray, normal: np.ndarray, fdir: np.ndarray, radial: np.ndarray,
             thumb_rest_dir: np.ndarray) -> np.ndarray:
    """(..., 5) degrees: sum of the angles between consecutive segments.

    Fingers: wrist->MCP->PIP->DIP->tip, each angle measured in the hand's flexion plane (segments
    projected off the lateral axis, so side-to-side splay does not count) and signed, positive toward
    the palm. Thumb: unsigned angles CMC->MCP->IP->tip plus the angle of its metacarpal away from its
    rest direction in the hand frame (`thumb_rest_dir`, (3,) in (finger_dir, normal, radial))."""
    lateral = np.cross(fdir, normal)[..., None, :]  # bending toward the palm turns about +lateral
    out = []
    for finger in FINGER_NAMES:
        (j1, j2, j3), tip = FINGERS[finger]
        chain = [j1, j2, j3, tip] if finger == "thumb" else [0, j1, j2, j3, tip]
        segs = J[..., chain[1:], :] - J[..., chain[:-1], :]  # (..., S, 3)
        s1, s2 = segs[..., :-1, :], segs[..., 1:, :]
        if finger == "thumb":
            meta = _unit(segs[..., 0, :])
            local = np.stack([np.sum(meta * fdir, -1), np.sum(meta * normal, -1), np.sum(meta * radial, -1)], -1)
            out.append(_angle(s1, s2).sum(-1) + _angle(local, thumb_rest_dir))
            continue
        s1 = s1 - np.sum(s1 * lateral, -1, keepdims=True) * lateral
        s2 = s2 - np.sum(s2 * lateral, -1, keepdims=True) * lateral
        ang = np.arctan2(np.sum(np.cross(s1, s2) * lateral, -1), np.sum(s1 * s2, -1))
        out.append(np.degrees(ang).sum(-1))
    return np.stack(out, axis=-1)


def _thumb_out(J: np.ndarray, normal: np.ndarray, fdir: np.ndarray, radial: np.ndarray) -> np.ndarray:
    """(...,) how far the thumb tip is out from the palm: its radial offset from the index MCP plus
    half its height off the palm plane, in palm widths / THUMB_OUT_SCALE. 1 at rest, ~0.2 folded."""
    width = np.linalg.norm(J[..., 1, :] - J[..., 7, :], axis=-1)
    rel = J[..., 16, :] - J[..., 1, :]
    out = np.sum(rel * radial, -1) + 0.5 * np.abs(np.sum(rel * normal, -1))
    return out / np.maximum(width, 1e-6) / THUMB_OUT_SCALE


def _spacing(J: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """(..., 4) degrees between adjacent finger directions (MCP -> tip of the proximal segment),
    projected into the palm plane so flexion does not read as spread."""
    dirs = []
    for finger in FINGER_NAMES:
        (j1, j2, _), _tip = FINGERS[finger]
        d = J[..., j2, :] - J[..., j1, :]
        dirs.append(d - np.sum(d * normal, -1, keepdims=True) * normal)
    return np.stack([_angle(a, b) for a, b in zip(dirs[:-1], dirs[1:])], axis=-1)


def _rate_of_rotation(R: np.ndarray, fps: float, valid: np.ndarray) -> np.ndarray:
    """World angular velocity (T, 3) deg/s of hand frames R (T, 3, 3), centred and smoothed."""
    if len(R) < 2:
        return np.zeros((len(R), 3))
    M = R[1:] @ np.swapaxes(R[:-1], -1, -2)  # world-frame rotation from frame t to t + 1
    angle = np.arccos(np.clip((np.einsum("tii->t", M) - 1) / 2, -1.0, 1.0))
    axis = _unit(np.stack([M[:, 2, 1] - M[:, 1, 2], M[:, 0, 2] - M[:, 2, 0], M[:, 1, 0] - M[:, 0, 1]], -1))
    w = np.degrees(angle)[:, None] * axis * fps  # (T - 1, 3) between frames
    return _mask_invalid(_smooth(np.concatenate([w[:1], (w[:-1] + w[1:]) / 2, w[-1:]]), fps), valid, fps)


def _swings(p: np.ndarray, frac: float = 0.3) -> int:
    """Number of same-sign lobes of a signed rate `p` (only samples above `frac` of its peak count)."""
    big = p[np.abs(p) > frac * np.abs(p).max()] if len(p) else p
    return int(np.count_nonzero(np.diff(np.sign(big)))) + 1 if len(big) else 0


def _hand_features(side: str, track, fps: float, mano_dir: str | None) -> HandFeatures:
    model = get_hand_model(side, mano_dir)
    go = np.concatenate([track.global_orient, np.zeros((1, 3))])  # last frame: the rest pose
    hp = np.concatenate([track.hand_pose, np.zeros((1, 15, 3))])
    tr = np.concatenate([track.transl, np.zeros((1, 3))])
    J_all = model.joints_np(go, hp, tr, track.betas)  # (T + 1, 21, 3), one batched FK call
    normal_all, fdir_all, radial_all = _hand_frame(J_all, side)
    rest_meta = _unit(J_all[-1, 14] - J_all[-1, 13])
    thumb_rest = np.array([rest_meta @ fdir_all[-1], rest_meta @ normal_all[-1], rest_meta @ radial_all[-1]])
    flex_all = _flexion(J_all, normal_all, fdir_all, radial_all, thumb_rest)
    J, normal, fdir, radial = J_all[:-1], normal_all[:-1], fdir_all[:-1], radial_all[:-1]
    flexion, valid = flex_all[:-1], track.valid.copy()
    curl = np.clip((flexion - flex_all[-1]) / [FLEX_RANGE_DEG[f] for f in FINGER_NAMES], 0.0, 1.0)
    thumb_dist = np.linalg.norm(J[:, 17:21] - J[:, 16:17], axis=-1)  # to the index..pinky tips
    palm_centre, _ = palm_surface(J, side)
    wrist_vel = _rate(J[:, 0], fps, valid)
    turn_vel = _rate_of_rotation(np.stack([fdir, normal, radial], axis=-1), fps, valid)
    return HandFeatures(
        side=side, joints=J, flexion=flexion, curl=curl, curl_rate=_rate(curl, fps, valid),
        spacing=_spacing(J, normal), thumb_dist=thumb_dist, thumb_contact=thumb_dist < CONTACT_ON_M,
        thumb_out=_thumb_out(J, normal, fdir, radial), palm_normal=normal, finger_dir=fdir, radial=radial,
        palm_centre=palm_centre, wrist_vel=wrist_vel, speed=np.linalg.norm(wrist_vel, axis=-1),
        turn_vel=turn_vel, turn_rate=np.linalg.norm(turn_vel, axis=-1), valid=valid,
    )


def palm_sample_weights(seed: int = 0, n: int = N_PALM_SAMPLES) -> np.ndarray:
    """(n, 5) barycentric weights over (wrist, index MCP, middle MCP, ring MCP, pinky MCP): uniform
    samples in the triangle fan wrist/index/middle, wrist/middle/ring, wrist/ring/pinky."""
    rng = np.random.default_rng(seed)
    tri = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4]])[rng.integers(0, 3, size=n)]
    r1, r2 = np.sqrt(rng.random(n)), rng.random(n)
    bary = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], axis=1)
    W = np.zeros((n, 5))
    np.add.at(W, (np.arange(n)[:, None], tri), bary)
    return W


# --- intervals and events --------------------------------------------------------------------

def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def intervals(on: np.ndarray, stay: np.ndarray, valid: np.ndarray, fps: float,
              min_s: float = MIN_EVENT_S) -> list[tuple[int, int]]:
    """Hysteresis thresholding: runs of `stay` that contain an `on` frame, gaps < MERGE_GAP_S closed,
    runs shorter than `min_s` dropped. Invalid frames are never inside a run. Bool arrays (T,)."""
    stay = (stay | on) & valid
    runs = [(a, b) for a, b in true_runs(stay) if on[a:b].any()]
    gap, min_len = int(round(MERGE_GAP_S * fps)), max(int(round(min_s * fps)), 1)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < gap and valid[merged[-1][1]:a].all():
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a >= min_len]


def _duration_word(n: int, fps: float) -> str:
    s = n / fps
    return "quickly" if s < QUICK_S else "slowly" if s > SLOW_S else "steadily"


def _speed_word(mean_speed: float) -> str:
    return "slowly" if mean_speed < WRIST_SLOW_MS else "quickly" if mean_speed >= WRIST_FAST_MS else "steadily"


AXIS_WORDS = (("left", "right"), ("up", "down"), ("forward", "back"))  # +X/-X, +Y/-Y, +Z/-Z


def direction_words(v: np.ndarray, ratio: float = 0.5) -> list[str]:
    """Words for a displacement in the person's frame: the dominant axis, plus the second one when
    it is at least `ratio` of the first. (+X is the person's left, +Y up, +Z forward.)"""
    order = np.argsort(-np.abs(v))
    words = [AXIS_WORDS[order[0]][0 if v[order[0]] >= 0 else 1]]
    if abs(v[order[1]]) >= ratio * abs(v[order[0]]) and abs(v[order[1]]) > 0:
        words.append(AXIS_WORDS[order[1]][0 if v[order[1]] >= 0 else 1])
    return words


def _hand_events(h: HandFeatures, fps: float) -> list[Event]:
    ev: list[Event] = []
    side, valid = h.side, h.valid
    for k, finger in enumerate(CONTACT_FINGERS):
        d = h.thumb_dist[:, k]
        for a, b in intervals(d < CONTACT_ON_M, d < CONTACT_OFF_M, valid, fps):
            ev.append(Event("thumb_contact", side, a, b, {"finger": finger, "fingers": [finger],
                            "min_distance": round(float(d[a:b].min()), 4)}, _duration_word(b - a, fps)))
    per_finger: list[Event] = []
    for k, finger in enumerate(FINGER_NAMES):
        r = h.curl_rate[:, k]
        for kind, sgn in (("flex", 1.0), ("extend", -1.0)):
            for a, b in intervals(sgn * r > FLEX_RATE_ON, sgn * r > FLEX_RATE_OFF, valid, fps):
                c0, c1 = float(h.curl[a, k]), float(h.curl[b - 1, k])
                if sgn * (c1 - c0) >= MIN_CURL_CHANGE:
                    per_finger.append(Event(kind, side, a, b, {"fingers": [finger], "from": round(c0, 2),
                                                               "to": round(c1, 2)}))
    ev += _group_fingers(per_finger, fps)
    for a, b in intervals(h.speed > WRIST_SPEED_ON, h.speed > WRIST_SPEED_OFF, valid, fps):
        disp = h.joints[b - 1, 0] - h.joints[a, 0]
        if np.linalg.norm(disp) < WRIST_MIN_DISPLACEMENT_M:
            continue
        mean_speed = float(h.speed[a:b].mean())
        ev.append(Event("wrist_move", side, a, b, {"direction": direction_words(disp), "distance": round(
            float(np.linalg.norm(disp)), 3), "mean_speed": round(mean_speed, 3)}, _speed_word(mean_speed)))
    R = np.stack([h.finger_dir, h.palm_normal, h.radial], axis=-1)  # (T, 3, 3) hand frames
    for a, b in intervals(h.turn_rate > TURN_RATE_ON_DEG, h.turn_rate > TURN_RATE_OFF_DEG, valid, fps):
        angle = float(np.degrees(np.arccos(np.clip((np.trace(R[a].T @ R[b - 1]) - 1) / 2, -1, 1))))
        w = h.turn_vel[a:b]
        axis = np.linalg.svd(w, full_matrices=False)[2][0] if len(w) > 1 else np.zeros(3)
        swings = _swings(w @ axis)
        if angle >= MIN_TURN_DEG or swings >= 3:
            ev.append(Event("wrist_turn", side, a, b, {
                "angle": round(angle, 1), "swings": swings,
                "palm_from": direction_words(h.palm_normal[a], 2.0)[0],
                "palm_to": direction_words(h.palm_normal[b - 1], 2.0)[0]}, _duration_word(b - a, fps)))
    still = h.speed < HOLD_SPEED_M
    calm = (np.abs(h.curl_rate).max(axis=1) < HOLD_CURL_RATE) & (h.turn_rate < HOLD_TURN_DEG)
    for a, b in intervals(still & calm, (h.speed < 1.5 * HOLD_SPEED_M) & calm, valid, fps, HOLD_MIN_S):
        ev.append(Event("hold", side, a, b, {}, "slowly"))
    return ev


def _group_fingers(events: list[Event], fps: float) -> list[Event]:
    """Merge same-kind finger events that start within 0.15 s of each other and overlap."""
    out: list[Event] = []
    for e in sorted(events, key=lambda e: (e.kind, e.start)):
        last = next((o for o in reversed(out) if o.kind == e.kind), None)
        if last is not None and e.start - last.start <= 0.15 * fps and e.start < last.end:
            last.detail["fingers"] = [f for f in FINGER_NAMES if f in last.detail["fingers"] + e.detail["fingers"]]
            last.end = max(last.end, e.end)
        else:
            out.append(Event(e.kind, e.side, e.start, e.end, dict(e.detail)))
    for e in out:
        e.speed = _duration_word(e.end - e.start, fps)
        if len(e.detail["fingers"]) > 1:  # per-finger curl values only make sense for one finger
            e.detail = {"fingers": e.detail["fingers"]}
    return out


def _two_hand(feat: MotionFeatures, seed: int) -> None:
    L, R = feat.hands["left"], feat.hands["right"]
    valid = L.valid & R.valid
    feat.palm_distance = np.linalg.norm(L.palm_centre - R.palm_centre, axis=-1)
    facing = np.sum(L.palm_normal * R.palm_normal, -1)
    feat.palm_contact = (feat.palm_distance < PALM_CONTACT_M) & (facing < PALM_FACING_DOT) & valid
    W = palm_sample_weights(seed)
    for side, me, other in (("left", L, R), ("right", R, L)):
        pts = np.einsum("nk,tkd->tnd", W, other.joints[:, [0, 1, 4, 10, 7]]) + PALM_OFFSET_M * other.palm_normal[:, None]
        d = np.linalg.norm(me.joints[:, 16:21, None] - pts[:, None], axis=-1).min(axis=-1)  # (T, 5)
        feat.tip_palm_dist[side] = d
        feat.tip_on_palm[side] = (d < TIP_ON_PALM_M) & valid[:, None]
        for a, b in intervals((d < TIP_ON_PALM_M).any(1), (d < TIP_ON_PALM_OFF_M).any(1), valid, feat.fps):
            fingers = [f for k, f in enumerate(FINGER_NAMES) if (d[a:b, k] < TIP_ON_PALM_M).any()]
            feat.events.append(Event("tip_on_palm", side, a, b, {"fingers": fingers},
                                     _duration_word(b - a, feat.fps)))
    rate = _rate(feat.palm_distance, feat.fps, valid)
    for kind, sgn in (("approach", -1.0), ("separate", 1.0)):
        for a, b in intervals(sgn * rate > WRIST_SPEED_ON, sgn * rate > WRIST_SPEED_OFF, valid, feat.fps):
            change = float(feat.palm_distance[b - 1] - feat.palm_distance[a])
            if sgn * change >= APPROACH_MIN_M:
                word = _speed_word(abs(change) / ((b - a) / feat.fps))
                feat.events.append(Event(kind, "both", a, b, {"from": round(float(feat.palm_distance[a]), 3),
                                                              "to": round(float(feat.palm_distance[b - 1]), 3)}, word))
    near = (feat.palm_distance < PALM_CONTACT_OFF_M) & (facing < PALM_FACING_DOT + 0.1)
    for a, b in intervals(feat.palm_contact, near, valid, feat.fps):
        closest = round(float(feat.palm_distance[a:b].min()), 4)
        feat.events.append(Event("palm_contact", "both", a, b, {"min_distance": closest},
                                 _duration_word(b - a, feat.fps)))


def compute_features(motion: HandMotion, mano_dir: str | None = None, seed: int = 0) -> MotionFeatures:
    """Kinematic features and events of `motion` (T frames; see HandFeatures / MotionFeatures)."""
    if motion.n_frames == 0:
        raise MotionValueError("the clip has no frames to describe")
    feat = MotionFeatures(fps=motion.fps, n_frames=motion.n_frames, hands={})
    for side, track in motion.hands():
        feat.hands[side] = _hand_features(side, track, motion.fps, mano_dir)
        feat.events += _hand_events(feat.hands[side], motion.fps)
    if len(feat.hands) == 2:
        _two_hand(feat, seed)
    feat.events.sort(key=lambda e: (e.start, e.end, e.kind, e.side))
    log.debug("%d events over %d frames", len(feat.events), motion.n_frames)
    return feat
