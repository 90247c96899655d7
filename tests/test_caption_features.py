"""Kinematic caption features and events on constructed clips with known geometry."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
from scipy.optimize import minimize

from engine.caption import compute_features, describe
from engine.caption.features import CONTACT_ON_M, direction_words, intervals, palm_sample_weights
from engine.errors import MotionValueError
from engine.examples import KeyPose, facing, finger_pose, keyframed_track
from engine.motion import HandMotion, HandTrack
from engine.skeleton import get_hand_model

FPS = 30.0
ALL = ("thumb", "index", "middle", "ring", "pinky")


# --- builders shared with test_describe.py ------------------------------------------------------

def static_track(pose: np.ndarray, n: int = 30, orient=(0.0, 0.0, 0.0), transl=(0.0, 0.0, 0.0)) -> HandTrack:
    """A right-hand track holding `pose` (15, 3) for n frames."""
    return HandTrack(np.tile(orient, (n, 1)), np.repeat(pose[None], n, 0), np.tile(transl, (n, 1)))


def one_hand(track: HandTrack, side: str = "right", fps: float = FPS) -> HandMotion:
    """A one-hand clip; `track` is authored as a right hand and mirrored for the left."""
    return HandMotion(fps, **{side: track.mirrored() if side == "left" else track})


def pose_sequence(keys: list[tuple[float, np.ndarray]], fps: float = FPS, orient=(0.0, 0.0, 0.0)) -> HandTrack:
    """Right-hand track through (time s, hand_pose (15, 3)) keys, linear in axis-angle between keys."""
    times = np.array([k[0] for k in keys])
    t = np.arange(int(round(times[-1] * fps)) + 1) / fps
    poses = np.stack([k[1] for k in keys]).reshape(len(keys), -1)
    hp = np.stack([np.interp(t, times, poses[:, j]) for j in range(poses.shape[1])], axis=1).reshape(-1, 15, 3)
    n = len(t)
    return HandTrack(np.tile(orient, (n, 1)), hp, np.zeros((n, 3)))


@functools.lru_cache(maxsize=None)
def touch_pose(curl_items: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Right hand_pose (15, 3) with the given finger curls and a thumb solved (L-BFGS over its three
    joints' axis-angles) so that its tip touches the index tip."""
    base = finger_pose(dict(curl_items))
    model = get_hand_model("right")

    def cost(x: np.ndarray) -> float:
        hp = base.copy()
        hp[12:15] = x.reshape(3, 3)
        J = model.joints_np(np.zeros(3), hp, np.zeros(3))
        return float(np.sum((J[16] - J[17]) ** 2) * 1e4 + 1e-3 * np.sum(x ** 2))

    res = minimize(cost, base[12:15].ravel(), method="L-BFGS-B")
    pose = base.copy()
    pose[12:15] = res.x.reshape(3, 3)
    J = model.joints_np(np.zeros(3), pose, np.zeros(3))
    assert np.linalg.norm(J[16] - J[17]) < 0.015, "thumb solve failed"
    return pose


OK_CURL = (("index", 0.55),)
PINCH_CURL = (("index", 0.45), ("middle", 0.7), ("ring", 0.8), ("pinky", 0.85))


def clap_motion(fps: float = FPS, gap: float = 0.20) -> HandMotion:
    """Palms facing each other (fingers up) start `gap` metres apart, meet at 1 s, hold 0.3 s, part.

    Positions are solved from FK: world wrist = rest wrist + transl, so each hand is shifted until its
    palm-surface point sits on x = -/+ 1 mm at contact."""
    orient = facing(fingers=(0.0, 1.0, 0.2), palm=(1.0, 0.0, 0.0))  # right palm faces +X, to the left
    probe = compute_features(HandMotion(fps, right=static_track(np.zeros((15, 3)), 1, orient)))
    centre_x = probe.hands["right"].palm_centre[0, 0]
    touch_x, far_x = -0.001 - centre_x, -gap / 2 - centre_x
    keys = [KeyPose(0.0, {}, 0.0, orient, (far_x, 0, 0)), KeyPose(1.0, {}, 0.0, orient, (touch_x, 0, 0)),
            KeyPose(1.3, {}, 0.0, orient, (touch_x, 0, 0)), KeyPose(2.3, {}, 0.0, orient, (far_x, 0, 0))]
    return HandMotion(fps, left=keyframed_track(keys, fps, "left"), right=keyframed_track(keys, fps, "right"))


def kinds(feat, kind: str, side: str | None = None):
    return [e for e in feat.events if e.kind == kind and (side is None or e.side == side)]


# --- per-hand features --------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["left", "right"])
def test_rest_pose_frame_and_zero_curl(side):
    f = compute_features(one_hand(static_track(np.zeros((15, 3)), 5), side))
    h = f.hands[side]
    assert h.joints.shape == (5, 21, 3) and h.curl.shape == (5, 5) and h.spacing.shape == (5, 4)
    np.testing.assert_allclose(h.palm_normal[0], [0, -1, 0], atol=0.2)  # palm faces -Y at rest, both hands
    np.testing.assert_allclose(h.finger_dir[0, 0], -1.0 if side == "right" else 1.0, atol=0.05)
    np.testing.assert_allclose(h.curl, 0.0, atol=0.02)
    assert h.palm_centre[0, 1] < h.joints[0, [0, 1, 4, 7, 10], 1].mean()  # on the palm side (-Y)
    np.testing.assert_allclose(h.thumb_out, 1.0, atol=0.05)
    np.testing.assert_allclose(h.wrist_vel, 0.0, atol=1e-9)


@pytest.mark.parametrize("c", [0.25, 0.5, 0.75, 1.0])
def test_curl_follows_authored_curl(c):
    h = compute_features(one_hand(static_track(finger_pose({f: c for f in ALL})), "left")).hands["left"]
    np.testing.assert_allclose(h.curl[0], c, atol=0.06)
    assert np.all(h.flexion[0] > 100 * c)  # degrees of bend from positions, not from the pose input


def test_spacing_grows_with_spread_and_thumb_folds():
    flat = compute_features(one_hand(static_track(finger_pose({}, 0.0)))).hands["right"]
    wide = compute_features(one_hand(static_track(finger_pose({}, 1.0)))).hands["right"]
    assert np.all(wide.spacing[0, 1:] > flat.spacing[0, 1:] + 4.0)
    folded = compute_features(one_hand(static_track(finger_pose({"thumb": 0.9})))).hands["right"]
    assert folded.thumb_out[0] < 0.3 < 0.9 < flat.thumb_out[0]


def test_wrist_velocity_and_move_event_directions():
    # right hand: 0.3 m up and 0.2 m to the person's left (+X) in 0.6 s, then 0.12 m forward in 2 s
    keys = [KeyPose(0.0), KeyPose(0.6, position=(0.2, 0.3, 0.0)), KeyPose(1.0, position=(0.2, 0.3, 0.0)),
            KeyPose(3.0, position=(0.2, 0.3, 0.12))]
    f = compute_features(HandMotion(FPS, right=keyframed_track(keys, FPS)))
    h = f.hands["right"]
    peak = h.speed[:18].max()
    assert 0.75 < peak < 1.3  # min-jerk peak = 1.875 * 0.36 m / 0.6 s = 1.13 m/s, lightly smoothed
    moves = kinds(f, "wrist_move", "right")
    assert len(moves) == 2, moves
    assert moves[0].detail["direction"] == ["up", "left"] and moves[0].speed == "quickly"
    assert moves[1].detail["direction"] == ["forward"] and moves[1].speed == "slowly"
    mirrored = compute_features(HandMotion(FPS, right=keyframed_track(keys, FPS)).mirror())
    assert [m.detail["direction"] for m in kinds(mirrored, "wrist_move", "left")] == [["up", "right"], ["forward"]]


def test_direction_words_and_palm_samples():
    assert direction_words(np.array([-0.1, 0.0, 0.02])) == ["right"]
    assert direction_words(np.array([0.05, -0.1, 0.0])) == ["down", "left"]
    assert direction_words(np.array([0.0, 0.01, -0.3])) == ["back"]
    W = palm_sample_weights(0)
    assert W.shape == (32, 5) and np.all(W >= 0) and np.allclose(W.sum(1), 1.0)
    np.testing.assert_array_equal(W, palm_sample_weights(0))
    assert not np.allclose(W, palm_sample_weights(1))


# --- contacts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["left", "right"])
def test_index_pinch_gives_thumb_contact_event(side):
    pinch, open_ = touch_pose(PINCH_CURL), finger_pose({})
    track = pose_sequence([(0.0, open_), (0.5, pinch), (1.5, pinch), (2.0, open_)])
    f = compute_features(one_hand(track, side))
    h = f.hands[side]
    assert h.thumb_dist[30, 0] < CONTACT_ON_M and h.thumb_contact[30, 0] and not h.thumb_contact[0].any()
    contacts = kinds(f, "thumb_contact")
    assert len(contacts) == 1, contacts
    e = contacts[0]
    assert e.side == side and e.detail["finger"] == "index"
    assert 5 <= e.start <= 15 and 45 <= e.end <= 55  # in contact around 0.5-1.5 s
    assert not kinds(f, "palm_contact") and not kinds(f, "tip_on_palm")
    flex = kinds(f, "flex", side)
    assert flex and {"middle", "ring", "pinky"} <= set(flex[0].detail["fingers"])
    assert kinds(f, "extend", side)


def test_invalid_frames_produce_no_events():
    pinch, open_ = touch_pose(PINCH_CURL), finger_pose({})
    track = pose_sequence([(0.0, open_), (0.5, pinch), (1.5, pinch), (2.0, open_)])
    track.valid[:] = False
    f = compute_features(one_hand(track))
    assert f.events == []


def test_open_hands_have_no_contacts():
    right = static_track(finger_pose({}, 0.5), 40, facing((0, 1, 0.2), (0, 0, 1)), (-0.35, 0.2, 0.1))
    f = compute_features(HandMotion(FPS, left=right.mirrored(), right=right))
    for side in ("left", "right"):
        assert not f.hands[side].thumb_contact.any()
        assert not f.tip_on_palm[side].any()
    assert not f.palm_contact.any()
    assert not [e for e in f.events if e.kind in ("thumb_contact", "palm_contact", "tip_on_palm")]
    assert {e.kind for e in f.events} == {"hold"}  # a still clip: each hand just holds


def test_clap_gives_palm_contact():
    f = compute_features(clap_motion())
    assert f.palm_distance[0] > 0.15 and f.palm_distance[33] < 0.01
    assert f.palm_contact[30:39].all() and not f.palm_contact[:15].any() and not f.palm_contact[-10:].any()
    claps = kinds(f, "palm_contact", "both")
    assert len(claps) == 1 and claps[0].start < 30 and claps[0].end > 39
    assert kinds(f, "approach", "both") and kinds(f, "separate", "both")
    assert np.sum(f.hands["left"].palm_normal[33] * f.hands["right"].palm_normal[33]) < -0.9


def test_near_but_not_facing_is_no_clap():
    # right palm faces +X as in the clap; the left palm faces up with its palm point 2 cm away
    m = clap_motion()
    right = m.right.slice(33, 34)
    r = compute_features(HandMotion(FPS, right=right)).hands["right"]
    left = static_track(np.zeros((15, 3)), 1, facing((0.0, 0.0, 1.0), (0.0, 1.0, 0.0))).mirrored()
    probe = compute_features(HandMotion(FPS, left=left)).hands["left"]
    left.transl[:] = r.palm_centre[0] - probe.palm_centre[0] + [0.0, 0.0, 0.02]
    f = compute_features(HandMotion(FPS, left=left, right=right))
    assert f.palm_distance[0] == pytest.approx(0.02, abs=1e-6)
    assert abs(np.sum(f.hands["left"].palm_normal[0] * f.hands["right"].palm_normal[0])) < 0.3
    assert not f.palm_contact.any()


def test_fingertip_on_other_palm():
    # left palm up (+Y) in front of the body; right index points down with its tip on that palm
    left_orient = facing(fingers=(0.0, 0.0, 1.0), palm=(0.0, 1.0, 0.0))
    left = static_track(np.zeros((15, 3)), 40, left_orient, (0.0, 0.0, 0.0)).mirrored()
    lf = compute_features(HandMotion(FPS, left=left)).hands["left"]
    target = lf.palm_centre[0]
    pose = finger_pose({"thumb": 0.9, "middle": 1, "ring": 1, "pinky": 1})
    r_orient = facing(fingers=(0.0, -1.0, 0.1), palm=(0.0, 0.0, 1.0))
    probe = compute_features(HandMotion(FPS, right=static_track(pose, 1, r_orient))).hands["right"]
    transl = target - probe.joints[0, 17] + [0, 0.005, 0]
    lifted = transl + [0, 0.10, 0]
    keys_t = np.array([lifted, transl, transl, lifted])
    t = np.arange(61) / FPS
    tr = np.stack([np.interp(t, [0, 0.6, 1.4, 2.0], keys_t[:, k]) for k in range(3)], 1)
    right = HandTrack(np.tile(r_orient, (61, 1)), np.repeat(pose[None], 61, 0), tr)
    left = static_track(np.zeros((15, 3)), 61, left_orient).mirrored()
    f = compute_features(HandMotion(FPS, left=left, right=right))
    assert f.tip_on_palm["right"][30, 1] and not f.tip_on_palm["right"][0].any()
    assert not f.tip_on_palm["left"].any()
    ev = kinds(f, "tip_on_palm", "right")
    assert len(ev) == 1 and "index" in ev[0].detail["fingers"] and "pinky" not in ev[0].detail["fingers"]
    assert not kinds(f, "palm_contact")


# --- event machinery ------------------------------------------------------------------------------

def test_hysteresis_merges_jitter_and_drops_blips():
    T = 90
    rng = np.random.default_rng(0)
    d = np.full(T, 0.05)
    d[20:60] = 0.0195 + rng.uniform(-0.002, 0.004, 40)  # hovering at the 2 cm threshold
    d[75:77] = 0.01  # a 2-frame blip (< 0.1 s at 30 fps)
    valid = np.ones(T, bool)
    runs = intervals(d < 0.020, d < 0.025, valid, FPS)
    assert runs == [(20, 60)]
    valid[40] = False
    assert intervals(d < 0.020, d < 0.025, valid, FPS) == [(20, 40), (41, 60)]


def test_empty_clip_is_an_error():
    with pytest.raises(MotionValueError):
        compute_features(HandMotion(FPS, right=HandTrack.rest(0)))


def test_speed_two_hands_240_frames():
    from engine.examples import greeting

    m = greeting(fps=60.0)  # 241 frames, two hands
    compute_features(m)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        describe(compute_features(m))
        best = min(best, time.perf_counter() - t0)
    assert best < 0.25, f"{best * 1000:.1f} ms"  # ~15 ms measured; generous for loaded CI machines
