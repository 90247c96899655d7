"""Corpus generator: anatomy, contacts, timing, determinism, every action, sharded build and splits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.corpus import contact
from engine.corpus.actions import ACTIONS
from engine.corpus.anatomy import (
    JOINT_LIMITS,
    THUMB,
    angles_to_pose,
    clamp_angles,
    enslave,
    hand_angles,
    limit_violation,
    pose_to_angles,
)
from engine.corpus.build import build_corpus, read_corpus, split_of
from engine.corpus.generator import MAX_SECONDS, MIN_SECONDS, Step, generate
from engine.corpus.timeline import min_jerk, pink_noise
from engine.errors import HandMotionError
from engine.skeleton import get_hand_model


def test_angles_pose_roundtrip_and_limits():
    rng = np.random.default_rng(0)
    a = clamp_angles(rng.uniform(-2, 2, (50, 15, 3)))
    for side in ("left", "right"):
        pose = angles_to_pose(a, side)
        np.testing.assert_allclose(pose_to_angles(pose, side), a, atol=1e-9)
        assert limit_violation(pose, side).max() < 1e-9
    bad = a.copy()
    bad[3, 1, 0] = JOINT_LIMITS[1, 0, 1] + 0.2  # PIP flexed 0.2 rad past its limit
    assert limit_violation(angles_to_pose(bad), "right")[3] == pytest.approx(0.2, abs=1e-6)


def test_left_angles_mirror_right():
    a = hand_angles({"index": 0.5, "ring": 0.8}, 0.4)
    left = angles_to_pose(a, "left")
    np.testing.assert_allclose(left, angles_to_pose(a, "right") * [1, -1, -1], atol=1e-9)


def test_flexion_curls_toward_palm_and_enslaving():
    model = get_hand_model("right")
    flat = model.joints_np(np.zeros(3), np.zeros((15, 3)), np.zeros(3))
    curled = model.joints_np(np.zeros(3), angles_to_pose(hand_angles({"index": 1.0})), np.zeros(3))
    assert curled[17, 1] < flat[17, 1] - 0.015  # the index tip moves to the palm side (-Y) ...
    reach = lambda j: np.linalg.norm(j[17] - j[0])  # noqa: E731
    assert reach(curled) < 0.6 * reach(flat)  # ... and folds back toward the wrist
    c = enslave(np.array([0.0, 0.0, 1.0, 0.0, 0.0]))
    assert c[2] == 1.0 and c[3] > c[1] > 0.0 and c[0] == 0.0  # ring follows the middle more than index does


def test_contact_shapes_touch():
    assert contact.tip_distances(contact.opposition("index"))[0] < 0.015
    assert contact.tip_distances(contact.opposition("middle"))[1] < 0.015
    assert contact.tip_distances(contact.ok_sign())[0] < 0.015
    d = contact.tip_distances(contact.tripod())
    assert d[0] < 0.025 and d[1] < 0.025
    assert contact.tip_distances(hand_angles({}, 0.0, THUMB["out"]))[0] > 0.05  # an open hand: no contact


def test_min_jerk_and_pink_noise():
    s = np.linspace(0, 1, 11)
    y = min_jerk(s)
    assert y[0] == 0 and y[-1] == 1 and np.all(np.diff(y) >= 0)
    x = pink_noise(np.random.default_rng(1), 4096, (8,), fps=30.0)
    f = np.fft.rfftfreq(4096, 1 / 30.0)
    power = (np.abs(np.fft.rfft(x, axis=0)) ** 2).mean(axis=1)
    band = (f > 0.5) & (f < 10)
    slope = np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
    assert -1.3 < slope < -0.7  # 1/f, not white (0) nor Brownian (-2)


def test_generate_is_deterministic_and_bounded():
    a, b = generate(123), generate(123)
    for side in ("left", "right"):
        np.testing.assert_array_equal(a.motion.track(side).hand_pose, b.motion.track(side).hand_pose)
        np.testing.assert_array_equal(a.motion.track(side).transl, b.motion.track(side).transl)
    assert a.spans == b.spans
    c = generate(124)
    assert not np.array_equal(a.motion.right.hand_pose[:10], c.motion.right.hand_pose[:10])
    for seed in range(12):
        clip = generate(seed)
        assert MIN_SECONDS - 0.05 <= clip.motion.duration <= MAX_SECONDS + 0.05
        assert 1 <= len(clip.plan) <= 4
        for span in clip.spans:
            assert 0 <= span["start"] < span["end"] <= clip.motion.n_frames


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_is_human(name):
    clip = generate(7, [Step(name)])
    assert clip.spans and clip.spans[0]["action"] == name
    for side, track in clip.motion.hands():
        assert np.isfinite(track.hand_pose).all()
        assert limit_violation(track.hand_pose, side).max() < 1e-6
        joints = get_hand_model(side).joints_np(track.global_orient, track.hand_pose, track.transl)
        speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max() * clip.motion.fps
        assert speed < 4.0, f"{side} joint speed {speed:.2f} m/s"


def test_catalogue_covers_the_required_actions():
    kinds = {a.kind for a in ACTIONS.values()}
    assert len(ACTIONS) >= 40 and kinds == {"gesture", "single", "grasp", "bimanual"}
    for name in ("fist", "ok", "call_me", "wave", "stir", "knead", "clap", "pass_object", "grasp_hook"):
        assert name in ACTIONS


def test_handedness_varies():
    assert {generate(s).dominant for s in range(30)} == {"left", "right"}


def test_splits_hold_out_combinations():
    assert split_of(["wave", "fist"], 1) == split_of(["fist", "wave"], 99)  # the set decides, not the clip
    combos = [[a, b] for a in sorted(ACTIONS) for b in sorted(ACTIONS) if a < b]
    splits = [split_of(c, 0) for c in combos]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.02 < share["test"] < 0.09 and 0.02 < share["val"] < 0.09


def test_build_is_deterministic_and_resumable(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    report = build_corpus(a, 5, seed=3, shard_size=2, workers=1, progress=False)
    assert report.shards == 3 and sum(report.splits.values()) == 5
    build_corpus(b, 5, seed=3, shard_size=2, workers=2, progress=False)
    for f in sorted(a.glob("shard_*")):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    before = (a / "shard_00001.npz").read_bytes()
    (a / "shard_00001.npz").unlink()
    again = build_corpus(a, 5, seed=3, shard_size=2, workers=1, progress=False)
    assert again.reused_shards == 2 and (a / "shard_00001.npz").read_bytes() == before
    clips = list(read_corpus(a))
    assert len(clips) == 5
    motion, record = clips[0]
    assert motion.n_frames == record["n_frames"] and set(record["captions"]) == {
        "script", "semantic", "interaction", "articulation"}
    assert all(len(v) >= 1 for v in record["captions"].values())
    with pytest.raises(HandMotionError, match="other parameters"):
        build_corpus(a, 6, seed=3, shard_size=2, workers=1, progress=False)


def test_cli_corpus(tmp_path, capsys):
    assert main(["corpus", "actions"]) == 0
    assert "total: " in capsys.readouterr().out
    assert main(["corpus", "sample", "--action", "clap", "--seed", "2", "-o", str(tmp_path / "s")]) == 0
    record = json.loads((tmp_path / "s" / "clip_000002_clap.captions.json").read_text())
    assert record["actions"] == ["clap"] and record["captions"]["script"]
    assert main(["corpus", "sample", "--action", "juggle", "-o", str(tmp_path / "s")]) == 2
    assert main(["corpus", "build", "--clips", "2", "--shard-size", "2", "--workers", "1", "-o", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "manifest.json").exists()


def test_committed_sample_matches_the_generator():
    """samples/corpus is `handmotion corpus build --clips 8 --seed 0 --shard-size 8 -o samples/corpus`;
    rebuild it when the generator changes on purpose."""
    clips = list(read_corpus("samples/corpus"))
    assert len(clips) == 8
    motion, record = clips[1]
    clip = generate(record["seed"])
    assert clip.actions == record["actions"] and clip.spans == record["spans"]
    np.testing.assert_allclose(motion.right.hand_pose, clip.motion.right.hand_pose, atol=1e-5)
    for motion, record in clips:
        assert all(record["captions"][k] for k in ("script", "semantic", "interaction", "articulation"))
        for side, track in motion.hands():
            assert limit_violation(track.hand_pose, side).max() < 1e-4  # float32 storage
