"""The diffusion in-betweener: masks, keys, exact keyframes, partial poses, reaction, commands and the
evaluation rows, on a tiny model trained by the real command on the committed sample corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.corpus.actions import ACTIONS, two_hand_clips
from engine.errors import HandMotionError, MotionValueError
from engine.interpolate import bezier_curves, key_frames_every
from engine.keys import apply_keys, keyed_hands, keys_from_motion, keys_to_features
from engine.models.inbetween import InbetweenConfig, InbetweenDenoiser, cubic_fill, linear_fill, load_inbetweener
from engine.models.inbetween_sample import denoise
from engine.models.tokenizer import TRAJ_DIMS
from engine.motion import HandMotion
from engine.pipeline import Diffusion, inbetween, react
from engine.rotations import geodesic_angle
from engine.train.config import build_config
from engine.train.inbetween import (
    FINGER_DIMS,
    TrainInbetweenConfig,
    diffusion_steps,
    offset_joints,
    random_mask,
    reaction_mask,
)
from tests.helpers import (
    SAMPLE_CORPUS,
    TINY_INBETWEENER,
    run_cli,
    sample_corpus_copy,
    smooth_motion,
    train_tiny_inbetweener,
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    corpus = sample_corpus_copy(tmp_path_factory.mktemp("ib"))
    return train_tiny_inbetweener(corpus, tmp_path_factory.mktemp("ib") / "run")


def _max_key_angle(out, ref, frames, side="right") -> float:
    a, b = out.track(side), ref.track(side)
    rot = lambda t: np.concatenate([t.global_orient[:, None], t.hand_pose], 1)[frames]  # noqa: E731
    return float(geodesic_angle(rot(a), rot(b)).max())


def test_linear_fill_interpolates_each_dimension_between_its_own_observations():
    T = 7
    values = torch.zeros(1, T, 3)
    mask = torch.zeros(1, T, 3)
    values[0, [1, 5], 0], mask[0, [1, 5], 0] = torch.tensor([2.0, 6.0]), 1  # dim 0: frames 1 and 5
    values[0, 3, 1], mask[0, 3, 1] = 4.0, 1  # dim 1: one frame, held everywhere
    out = linear_fill(values, mask)[0]
    assert torch.allclose(out[:, 0], torch.tensor([2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0]))
    assert torch.allclose(out[:, 1], torch.full((T,), 4.0))
    assert torch.equal(out[:, 2], torch.zeros(T))  # never observed


def test_cubic_fill_is_the_bezier_f_curve_through_each_dimensions_own_keys():
    rng = np.random.default_rng(3)
    T, D = 50, 4
    values = torch.as_tensor(rng.normal(size=(1, T, D)))
    mask = torch.zeros(1, T, D)
    keys = {0: [0, 7, 20, 21, 35, 49], 1: [3, 30], 2: [12], 3: []}
    for d, frames in keys.items():
        mask[0, frames, d] = 1
    out = cubic_fill(values, mask)[0].numpy()
    for d in (0, 1):
        k = np.array(keys[d])
        inside = slice(k[0], k[-1] + 1)
        want = bezier_curves(k, values[0, k, d].numpy()[:, None], T)[:, 0]
        np.testing.assert_allclose(out[inside, d], want[inside], atol=1e-9)
        np.testing.assert_allclose(out[: k[0], d], values[0, k[0], d].item())  # held before the first key
        np.testing.assert_allclose(out[k[-1]:, d], values[0, k[-1], d].item())  # and after the last
    np.testing.assert_allclose(out[:, 2], values[0, 12, 2].item())
    assert not out[:, 3].any()
    # auto-clamped: never beyond the two keys around a frame
    k, v = np.array(keys[0]), values[0, :, 0].numpy()
    lo, hi = np.minimum(v[k[:-1]], v[k[1:]]), np.maximum(v[k[:-1]], v[k[1:]])
    seg = np.searchsorted(k, np.arange(k[0], k[-1]), side="right") - 1
    assert (out[k[0]:k[-1], 0] >= lo[seg] - 1e-9).all() and (out[k[0]:k[-1], 0] <= hi[seg] + 1e-9).all()


def test_training_masks_cover_every_kind_an_animator_gives():
    rng = np.random.default_rng(0)
    masks = [random_mask(64, rng) for _ in range(400)]
    kinds = {"empty": 0, "whole frames": 0, "one hand": 0, "wrists only": 0, "some fingers": 0}
    for m in masks:
        frames = m.all(1)
        if not m.any():
            kinds["empty"] += 1
        elif m[:, :99].all() != m[:, 99:].all():
            kinds["one hand"] += 1
        elif m[:, TRAJ_DIMS].all() and not m[:, FINGER_DIMS[0]].all() and not frames.any():
            kinds["wrists only"] += 1
        elif any(m[:, 99 * h + FINGER_DIMS[f]].all() for h in range(2) for f in range(5)) and not frames.all():
            kinds["some fingers"] += 1
        elif frames.any():
            kinds["whole frames"] += 1
    assert all(n > 10 for n in kinds.values()), kinds
    for m in masks:  # joints are observed whole: a 6D block is all in or all out
        blocks = m[:, :96].reshape(64, 16, 6)
        assert (blocks.all(-1) == blocks.any(-1)).all()
    for m in (reaction_mask(64, rng) for _ in range(20)):  # one hand on every frame, the other free
        assert m[:, :99].all() != m[:, 99:].all() and m[:, :99].any() != m[:, 99:].any()
    assert ACTIONS["clap"].bimanual and not ACTIONS["wave"].bimanual
    assert list(two_hand_clips([["wave"], ["wave", "clap"], [], ["rub_palms"], ["not_an_action"]])) == [1, 3]
    only_hands = [random_mask(64, rng, (0, 0, 1, 0, 0, 0)) for _ in range(50)]
    assert all(m[:, :99].all() != m[:, 99:].all() for m in only_hands)
    with pytest.raises(HandMotionError, match="mask_weights"):
        build_config(TrainInbetweenConfig, None, ["mask_weights=1,1"])


def test_training_steps_lean_on_the_noisiest_fifth_as_asked():
    torch.manual_seed(0)
    assert (diffusion_steps(1000, 1000, 1.0) >= 800).all()
    t = diffusion_steps(4000, 1000, 0.0)
    assert t.min() >= 0 and t.max() < 1000 and 0.15 < (t >= 800).float().mean() < 0.25
    assert 0.55 < (diffusion_steps(4000, 1000, 0.5) >= 800).float().mean() < 0.65


def test_joint_offsets_turn_each_joint_by_one_constant_rotation():
    from engine.features import motion_to_features
    from engine.rotations import rot6d_to_matrix

    x = torch.from_numpy(motion_to_features(smooth_motion(40))[0])[None].repeat(8, 1, 1)
    rng = np.random.default_rng(0)
    assert offset_joints(x, rng, 0.0, 15.0, 10.0) is x
    y = offset_joints(x, rng, 1.0, 15.0, 0.0)
    assert torch.equal(y[..., 96:99], x[..., 96:99]) and torch.equal(y[..., 195:], x[..., 195:])
    rot = lambda z: rot6d_to_matrix(torch.cat([z[..., :96], z[..., 99:195]], -1).reshape(8, 40, 32, 6).double())  # noqa: E731
    rel = rot(x).transpose(-1, -2) @ rot(y)
    deg = torch.rad2deg(torch.arccos(((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)))
    assert (rel - rel[:, :1]).abs().max() < 1e-4  # the same offset on every frame
    wrists = [0, 16]
    assert deg[..., wrists].max() < 0.1  # wrist size 0: untouched
    fingers = np.delete(np.arange(32), wrists)
    assert 9.0 < deg[..., fingers].mean() < 15.0  # |N(0, 15 deg)| averages 12
    half = offset_joints(x, np.random.default_rng(1), 0.5, 15.0, 10.0)
    changed = (half - x).abs().amax(dim=(1, 2)) > 1e-3
    assert 0 < changed.sum() < 8

def test_keys_validate_and_write_back_exactly():
    m = smooth_motion(30, 30.0, seed=3)
    keys = {4: {"right": {"hand_pose": {"index1": [0.1, 0.2, 0.3], 14: [0.0, 0.5, 0.0]}, "transl": [0.1, 0.2, 0.3]}}}
    known, mask = keys_to_features(keys, 30)
    assert mask.sum() == 6 + 6 + 3 and mask[4].sum() == 15
    assert keyed_hands(keys) == ("right",)
    apply_keys(m, keys)
    assert np.allclose(m.right.hand_pose[4, 0], [0.1, 0.2, 0.3]) and np.allclose(m.right.transl[4], [0.1, 0.2, 0.3])
    bad = [({40: {"right": {"transl": [0, 0, 0]}}}, "outside"), ({1: {"middle": {"transl": [0, 0, 0]}}}, "unknown hand"),
           ({1: {"right": {"elbow": [0, 0, 0]}}}, "unknown part"),
           ({1: {"right": {"hand_pose": {"index9": [0, 0, 0]}}}}, "unknown joint"),
           ({1: {"right": {"transl": [0, float("nan"), 0]}}}, "NaN"), ({1: {"right": {"transl": [0, 0]}}}, "3 numbers"),
           ({}, "at least one key"), ({"x": {"right": {"transl": [0, 0, 0]}}}, "whole number")]
    for k, msg in bad:
        with pytest.raises(MotionValueError, match=msg):
            keys_to_features(k, 30)


def test_keyframes_come_out_exactly_for_any_spacing_and_at_the_ends(weights):
    m = smooth_motion(50, 30.0, seed=1)
    for every in (1, 7, 15, 49):
        frames = key_frames_every(m.n_frames, every)
        out = inbetween(keys_from_motion(m, frames), m.n_frames, m.fps, diffusion=Diffusion(steps=3), weights=weights,
                        device="cpu")
        assert out.n_frames == m.n_frames and out.fps == m.fps
        for side in ("left", "right"):
            assert _max_key_angle(out, m, frames, side) <= 1e-5
            assert np.abs(out.track(side).transl[frames] - m.track(side).transl[frames]).max() <= 1e-6
    for mode in ("trained", "inpaint"):  # and in the training-free mode, and off the model's frame rate
        m24 = m.resample(24.0)
        frames = [0, 11, m24.n_frames - 1]
        out = inbetween(keys_from_motion(m24, frames), m24.n_frames, 24.0, diffusion=Diffusion(steps=3, mode=mode),
                        weights=weights, device="cpu")
        assert out.fps == 24.0 and out.n_frames == m24.n_frames
        assert _max_key_angle(out, m24, frames) <= 1e-5


def test_partial_keys_are_hit_and_only_keyed_hands_returned(weights):
    keys = {0: {"right": {"global_orient": [0.1, 0.2, 0.0], "transl": [0.05, 0.0, 0.0]}},
            20: {"right": {"hand_pose": {"index1": [0.0, 0.0, 0.8]}}}}
    out = inbetween(keys, 30, 30.0, diffusion=Diffusion(steps=3), weights=weights, device="cpu")
    assert out.left is None and out.right is not None
    assert np.allclose(out.right.global_orient[0], [0.1, 0.2, 0.0]) and np.allclose(out.right.transl[0], [0.05, 0, 0])
    assert np.allclose(out.right.hand_pose[20, 0], [0.0, 0.0, 0.8])
    assert np.isfinite(out.right.hand_pose).all()


def test_seeds_strength_text_and_steps_change_the_sample_deterministically(weights):
    m = smooth_motion(40, 30.0, seed=2)
    keys = keys_from_motion(m, [0, 39])
    run = lambda **kw: inbetween(keys, 40, 30.0, weights=weights, device="cpu",  # noqa: E731
                                 **{"diffusion": Diffusion(steps=3, **kw.pop("d", {})), **kw}).right.hand_pose
    a, b = run(d={"seed": 1}), run(d={"seed": 1})
    assert np.array_equal(a, b)
    assert not np.allclose(a, run(d={"seed": 2}))
    assert np.array_equal(a, inbetween(keys, 40, 30.0, seed=1, diffusion=Diffusion(steps=3, seed=7), weights=weights,
                                       device="cpu").right.hand_pose)  # an explicit seed wins
    assert not np.allclose(a, run(d={"seed": 1}, text="the fingers drum on a table"))
    soft = inbetween(keys, 40, 30.0, diffusion=Diffusion(steps=3, strength=0.5), weights=weights, device="cpu")
    assert geodesic_angle(soft.right.hand_pose[[0]], m.right.hand_pose[[0]]).max() > 1e-5  # keys are soft targets
    for bad in (Diffusion(steps=0), Diffusion(strength=1.5), Diffusion(mode="dream"), Diffusion(guidance=float("nan"))):
        with pytest.raises(MotionValueError):
            inbetween(keys, 40, 30.0, diffusion=bad, weights=weights, device="cpu")
    with pytest.raises(MotionValueError):
        inbetween(keys, 10**6, 30.0, weights=weights, device="cpu")
    with pytest.raises(MotionValueError, match="text is empty"):
        inbetween(keys, 40, 30.0, text="  ", weights=weights, device="cpu")


def test_react_keeps_the_given_hand_exactly(weights):
    m = smooth_motion(45, 30.0, seed=4)
    out = react(m, "left", diffusion=Diffusion(steps=3), weights=weights, device="cpu")
    assert np.array_equal(out.left.hand_pose, m.left.hand_pose) and np.array_equal(out.left.transl, m.left.transl)
    assert out.right.n_frames == 45 and np.isfinite(out.right.hand_pose).all()
    with pytest.raises(MotionValueError, match="no right hand"):
        react(HandMotion(fps=30.0, left=m.left), "right", weights=weights, device="cpu")


def test_react_mirror_prior_pulls_the_other_hand_to_the_given_ones_mirror_image(weights):
    from engine.eval.poses import hand_joints

    m = smooth_motion(45, 30.0, seed=4)
    run = lambda w, fps=30.0: react(m if fps == 30.0 else m.resample(fps), "left",  # noqa: E731
                                    diffusion=Diffusion(steps=3), weights=weights, device="cpu", mirror=w)
    mirror = hand_joints(HandMotion(fps=30.0, right=m.left.mirrored()))["right"]
    err = {w: np.linalg.norm(hand_joints(run(w))["right"] - mirror, axis=-1).mean() for w in (0.0, 0.5, 1.0)}
    assert err[1.0] < 1e-4 < err[0.5] < err[0.0]  # weight 1 is the mirror image itself
    from engine.pipeline import REACT_MIRROR

    default = react(m, "left", diffusion=Diffusion(steps=3), weights=weights, device="cpu")
    assert np.array_equal(run(REACT_MIRROR).right.hand_pose, default.right.hand_pose)
    out = run(0.5)
    assert np.array_equal(out.left.hand_pose, m.left.hand_pose)  # the given hand is still kept exactly
    assert run(0.5, fps=60.0).n_frames == m.resample(60.0).n_frames
    with pytest.raises(MotionValueError, match="guide_weight"):
        run(1.5)


def test_denoiser_reloads_identically_and_refuses_other_weights(weights, tmp_path):
    model = load_inbetweener(weights)
    x = torch.randn(2, 20, 198)
    mask = (torch.rand(2, 20, 198) < 0.3).float()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = denoise(model, x, mask, steps=2, generator=gen())
    assert torch.equal(a, denoise(load_inbetweener(weights), x, mask, steps=2, generator=gen()))
    assert torch.equal(a[mask > 0], x[mask > 0])
    calm = [denoise(model, x, mask, steps=2, generator=torch.Generator().manual_seed(k), noise_scale=0.0) for k in (1, 2)]
    assert torch.equal(calm[0], calm[1])  # no starting noise: the same motion from any seed
    with pytest.raises(HandMotionError, match="no weights"):
        load_inbetweener(tmp_path)
    with pytest.raises(ValueError):
        InbetweenConfig(d_model=30, heads=4)
    assert InbetweenDenoiser(InbetweenConfig(d_model=32, heads=2, layers=1, d_ff=32, text=False))(
        x, torch.zeros(2, dtype=torch.long), x, mask).shape == (2, 20, 198)


def test_inbetween_and_react_commands(weights, tmp_path, capsys):
    from engine.io import load_motion, save_motion

    src = tmp_path / "in.npz"
    m = smooth_motion(33, 24.0, seed=5)
    save_motion(m, src)
    code, out, _ = run_cli(capsys, "inbetween", str(src), "--keys", "0,10,32", "-o", str(tmp_path / "ib.npz"),
                           "--weights", str(weights), "--steps", "2", "--device", "cpu")
    assert code == 0 and "keyed frames: 0, 10, 32" in out
    got = load_motion(tmp_path / "ib.npz")
    assert got.n_frames == 33 and got.fps == 24.0
    assert _max_key_angle(got, m, [0, 10, 32]) <= 1e-5
    code, _, _ = run_cli(capsys, "react", str(src), "--given", "right", "-o", str(tmp_path / "r.npz"), "--weights",
                         str(weights), "--steps", "2", "--text", "both hands clap", "--device", "cpu")
    assert code == 0 and np.allclose(load_motion(tmp_path / "r.npz").right.hand_pose, m.right.hand_pose, atol=1e-6)
    code, _, err = run_cli(capsys, "inbetween", str(src), "--keys", "0,99", "-o", str(tmp_path / "x.npz"),
                           "--weights", str(weights))
    assert code != 0 and "outside the clip" in err


def test_eval_inbetween_reports_diffusion_and_reaction(weights, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "-q", "eval", "inbetween", "--data", str(SAMPLE_CORPUS), "--split", "all",
                           "--inbetween", str(weights), "--steps", "2", "--json", str(tmp_path / "r.json"))
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    for table in report["spacings"].values():
        assert {"slerp", "bezier", "diffusion", "diffusion_inpaint"} <= set(table)
        assert table["diffusion"]["keyframe_error_rad"] <= 1e-5
    react = report["react"]
    assert {"mirror", "diffusion", "diffusion_free"} == set(react) and react["mirror"]["clips"] == 2
    assert react["mirror"]["seeds"] == 1 and react["diffusion"]["seeds"] == 3  # samples pooled over seeds
    for scores in react.values():
        assert scores["contact_f1_min"] <= scores["contact_f1_max"]
    assert react["mirror"]["contact_f1_min"] == react["mirror"]["contact_f1"] == react["mirror"]["contact_f1_max"]
    assert "hand reaction" in out and "F1" in out


def test_bench_times_a_given_inbetweener(weights, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code, text, _ = run_cli(capsys, "bench", "--only", "inbetween", "--inbetween", str(weights), "--device", "cpu",
                            "--repeat", "1", "--warmup", "0", "--json", str(out))
    assert code == 0 and "inbetween" in text
    assert json.loads(out.read_text())["cases"]["inbetween"]["p50_ms"] > 0


def test_training_continues_from_weights_with_their_config_and_statistics(weights, tmp_path, caplog, capsys):
    corpus = sample_corpus_copy(tmp_path)
    before = load_inbetweener(weights)
    out = tmp_path / "more"
    with caplog.at_level("WARNING", logger="engine.train.inbetween"):
        train_tiny_inbetweener(corpus, out, f"init_from={weights}", "d_model=64", "steps=2", "eval_every=2")
    after = load_inbetweener(out)
    assert after.cfg == before.cfg  # the earlier run's model config wins over this run's d_model
    assert "d_model" in caplog.text
    assert torch.equal(after.mean, before.mean) and torch.equal(after.std, before.std)
    assert any(not torch.equal(a, b) for a, b in zip(after.state_dict().values(), before.state_dict().values()))
    code, _, err = run_cli(capsys, "-q", "train", "inbetween", "--no-progress", f"data={corpus}",
                           f"out={tmp_path / 'none'}", f"init_from={tmp_path / 'missing'}", *TINY_INBETWEENER)
    assert code == 2 and "no weights" in err
