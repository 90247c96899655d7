"""Repairing malformed poses: only flagged values change, defects go, clean clips pass untouched, the
strength knob and HandRefiner's adaptive rule, the `refine` command and the evaluation rows; on a tiny
in-betweener trained by the real command on the committed sample corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine.repair as repair_module
from engine.corpus.anatomy import JOINT_LIMITS, angles_to_pose, clamp_angles, pose_to_angles
from engine.errors import MotionValueError
from engine.eval.corrupt import KINDS, corrupt, inject
from engine.eval.metrics import mpjpe_mm
from engine.eval.poses import hand_joints
from engine.eval.refine import defect_removed, evaluate_refine
from engine.examples import greeting
from engine.io import load_motion, save_motion
from engine.motion import HandMotion, HandTrack
from engine.refine import POSITION, detect
from engine.repair import STRENGTHS, control_motion, dilate_masks, gap_fill, refine
from engine.rotations import geodesic_angle
from tests.helpers import run_cli, sample_corpus_copy, train_tiny_inbetweener


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return sample_corpus_copy(tmp_path_factory.mktemp("refine"))


@pytest.fixture(scope="module")
def weights(corpus, tmp_path_factory) -> Path:
    return train_tiny_inbetweener(corpus, tmp_path_factory.mktemp("refine") / "run")


def _slow_greeting() -> HandMotion:
    """The greeting example at a third of its speed (a calmer clip: a defect's neighbours say more)."""
    m = greeting().resample(90.0)
    return HandMotion(fps=30.0, left=m.left, right=m.right)


def _error(a, b) -> float:
    ja, jb = hand_joints(a), hand_joints(b)
    return float(np.mean([mpjpe_mm(ja[s], jb[s]) for s in ja]))


def test_a_clean_clip_comes_back_unchanged_without_loading_a_model():
    clean = greeting()
    done = refine(clean, weights="/nonexistent/weights")  # never loaded: nothing to repair
    assert done.detection.clean and done.remaining.clean
    for side, track in clean.hands():
        out = done.motion.track(side)
        for name in ("global_orient", "hand_pose", "transl", "valid"):
            assert np.array_equal(getattr(out, name), getattr(track, name))


@pytest.mark.parametrize("kind", KINDS)
def test_each_defect_is_repaired_and_nothing_else_changes(weights, kind):
    clean = _slow_greeting()
    bad, d = inject(clean, kind, np.random.default_rng(4))
    done = refine(bad, 0.1, weights=weights, device="cpu")
    out = done.motion
    if kind in ("limit", "spike", "flip"):  # short: back within 20 deg of the clean rotation
        assert defect_removed(out, clean, hand_joints(out), hand_joints(clean), d), done.remaining.summary()
    else:  # up to 20 frames of a moving hand: no method recovers it exactly; it comes back valid and closer
        assert out.track(d.side).valid[d.start:d.end].all()
    assert _error(out, clean) <= 0.5 * _error(bad, clean)
    for side, track in bad.hands():
        keep = ~done.masks[side]  # (T, 17): untouched values are the input's, bit for bit
        new = out.track(side)
        assert np.array_equal(new.global_orient[keep[:, 0]], track.global_orient[keep[:, 0]])
        for j in range(15):
            assert np.array_equal(new.hand_pose[keep[:, j + 1], j], track.hand_pose[keep[:, j + 1], j])
        assert np.array_equal(new.transl[keep[:, 16]], track.transl[keep[:, 16]])
    assert not any(f.kind == kind for f in done.remaining.findings)


def test_gap_fill_runs_a_cubic_through_two_frames_each_side_and_holds_at_clip_ends():
    t = np.arange(40, dtype=np.float64)
    values = np.stack([0.001 * t**3 - 0.02 * t**2 + t, np.sin(0.0 * t), -2.0 * t], axis=-1)
    keep = np.ones(40, dtype=bool)
    keep[10:22] = keep[:3] = keep[36:] = False
    keep[30] = False
    out = gap_fill(values, keep, rotation=False)
    assert np.allclose(out[3:36], values[3:36])  # a cubic in time comes back exactly across each gap
    assert np.array_equal(out[keep], values[keep])
    assert np.allclose(out[:3], values[3]) and np.allclose(out[36:], values[35])
    # a steady rotation (8 degrees a frame about one axis) carries on through a 10-frame gap
    spin = np.radians(8.0) * t[:, None] * np.array([0.0, 0.0, 1.0])
    keep = np.ones(40, dtype=bool)
    keep[15:25] = False
    got = gap_fill(spin, keep, rotation=True)
    assert np.degrees(geodesic_angle(got, spin)).max() < 0.05  # a cubic through sines: 0.013 degrees off
    assert np.array_equal(gap_fill(spin, np.ones(40, dtype=bool), rotation=True), spin)


def test_masks_grow_only_where_a_defects_edges_are_not_exact():
    clean = _slow_greeting()
    for kind in KINDS:  # every injected glitch starts and ends with a jump or a gap: not widened
        bad, d = inject(clean, kind, np.random.default_rng(3))
        found = detect(bad)
        slot = POSITION if kind == "interpenetration" else d.joint
        rows = np.flatnonzero(dilate_masks(found, 2)[d.side][:, slot])
        assert (rows.min(), rows.max()) == (d.start, d.end - 1), kind
    # a finger curled past its range gradually (over 12 frames and back) is widened by 2 frames
    angles = pose_to_angles(clean.right.hand_pose, "right")
    ramp = np.interp(np.arange(clean.n_frames), [30, 42, 60, 72], [0.0, 1.0, 1.0, 0.0])
    angles[:, 4, 0] = (1 - ramp) * angles[:, 4, 0] + ramp * (JOINT_LIMITS[4, 0, 1] + np.radians(40.0))
    r = clean.right
    bent = HandMotion(fps=clean.fps, left=clean.left,
                      right=HandTrack(r.global_orient, angles_to_pose(angles, "right"), r.transl, r.betas))
    found = detect(bent)
    (f,) = found.findings
    assert f.kind == "limit" and not f.exact
    rows = np.flatnonzero(dilate_masks(found, 2)["right"][:, 5])
    assert (rows.min(), rows.max()) == (f.start - 2, f.end + 1)
    control = control_motion(bent, found, dilate_masks(found, 2))
    assert detect(control).clean
    # a gradual break is only clamped (its motion kept at the range's edge), not bridged over
    rows = np.flatnonzero(dilate_masks(found, 2)["right"][:, 5])
    clamped = angles_to_pose(clamp_angles(pose_to_angles(bent.right.hand_pose[rows], "right")), "right")
    np.testing.assert_allclose(control.right.hand_pose[rows, 4], clamped[:, 4], atol=1e-9)


def test_full_strength_follows_the_control_and_zero_is_the_models_own(weights):
    clean = greeting()
    bad, d = inject(clean, "limit", np.random.default_rng(2))
    found = detect(bad)
    masks = dilate_masks(found, 2)
    control = control_motion(bad, found, masks)
    full = refine(bad, 1.0, weights=weights, device="cpu").motion
    free = refine(bad, 0.0, weights=weights, device="cpu").motion
    rows = masks[d.side][:, d.joint]
    want = control.track(d.side).hand_pose[rows, d.joint - 1]
    assert geodesic_angle(full.track(d.side).hand_pose[rows, d.joint - 1], want).max() < 1e-3
    assert geodesic_angle(free.track(d.side).hand_pose[rows, d.joint - 1], want).max() > 1e-3
    assert detect(control).clean  # the control is the input made plausible


def test_auto_strength_is_the_lowest_within_tolerance_of_full_strength(weights, monkeypatch):
    bad, _ = corrupt(greeting(), np.random.default_rng(7))
    done = refine(bad, "auto", weights=weights, device="cpu")
    errors = {row["strength"]: row["error"] for row in done.sweep}
    assert list(errors) == list(STRENGTHS)
    passing = [s for s in STRENGTHS if errors[s] <= 1.15 * errors[1.0] + 1e-9]
    assert done.strength == passing[0]
    # when nothing passes (an error that is not a number) the full-strength result is kept
    monkeypatch.setattr(repair_module, "validity_error", lambda *a, **k: float("nan"))
    again = refine(bad, "auto", weights=weights, device="cpu")
    assert again.strength == 1.0
    full = refine(bad, 1.0, weights=weights, device="cpu")
    assert _error(again.motion, full.motion) == 0.0


def test_bad_settings_are_clear_errors():
    bad, _ = inject(greeting(), "spike", np.random.default_rng(0))
    for strength in (1.5, -0.1, "strong"):
        with pytest.raises(MotionValueError, match="strength"):
            refine(bad, strength)
    with pytest.raises(MotionValueError, match="dilate"):
        refine(bad, 0.5, dilate=-1)


def test_refine_command_writes_the_repair_and_a_report(weights, tmp_path, capsys):
    bad, _ = corrupt(greeting(), np.random.default_rng(1))
    src, out, report = tmp_path / "bad.npz", tmp_path / "fixed.npz", tmp_path / "report.json"
    save_motion(bad, src)
    code, text, _ = run_cli(capsys, "refine", str(src), "-o", str(out), "--strength", "auto", "--report",
                            str(report), "--weights", str(weights), "--device", "cpu")
    assert code == 0 and "repaired at strength" in text
    fixed = load_motion(out)
    data = json.loads(report.read_text())
    assert data["input"]["counts"]["flip"] >= 1 and len(data["auto_sweep"]) == len(STRENGTHS)
    assert sum(data["repaired_values"].values()) > 0
    assert _error(fixed, greeting()) < _error(bad, greeting())
    code, _, err = run_cli(capsys, "refine", str(src), "-o", str(out), "--strength", "lots")
    assert code == 2 and "--strength" in err


def test_evaluation_rows_for_the_refiner_and_the_strength_sweep(corpus, weights):
    report = evaluate_refine(str(corpus), split=None, limit=2, weights=str(weights),
                             methods=("input", "refiner"), sweep=True, progress=False)
    assert report["detection"]["found_dropout"] == 1.0 and report["detection"]["found_spike"] == 1.0
    assert report["detection"]["clean_clips_flagged"] == 0.0
    rows = report["methods"]
    assert set(rows) == {"input", "refiner"} | {f"refiner@{s:g}" for s in STRENGTHS}
    assert rows["refiner"]["defects_removed"] > rows["input"]["defects_removed"]
    assert rows["refiner"]["clean_unchanged"] == 1.0 and rows["refiner"]["far_frames_identical"] == 1.0
    assert all(np.isfinite(r["validity"]) for name, r in rows.items() if name.startswith("refiner@"))
    # full strength is the control itself on the repaired values; lower strengths leave it
    assert rows["refiner@1"]["control_mm"] < 0.5 < rows["refiner@0.1"]["control_mm"]
    assert rows["refiner"]["defects_gone"] >= rows["refiner"]["defects_removed"] > 0


def test_bench_times_the_refiner(weights, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code, text, _ = run_cli(capsys, "bench", "--only", "refine", "--inbetween", str(weights), "--device", "cpu",
                            "--repeat", "1", "--warmup", "0", "--json", str(out))
    assert code == 0 and "refine" in text
    assert json.loads(out.read_text())["cases"]["refine"]["p50_ms"] > 0
