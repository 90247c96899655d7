"""SHIFT tokenizer and baselines: exact encode/decode, mirroring, training (shared and separate
codebooks), resume, weights round trip, the pipeline at any length and fps, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import HandMotionError
from engine.features import motion_to_features, track_to_features
from engine.io import save_motion
from engine.models.tokenizer import MIRROR, HandTokenizer, TokenizerConfig, load_tokenizer, save_tokenizer
from engine.motion import HandMotion
from engine.pipeline import reconstruct, tokenize
from engine.placement import Placement
from engine.train.config import build_config
from engine.train.tokenizer import TrainTokenizerConfig, tokenizer_loss, train_tokenizer
from tests.helpers import run_cli, smooth_motion, smooth_track

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "corpus"
TINY = dict(width=16, depth=1, code_dim=8, codebook_size=32)


def _features(n_frames: int = 32, seed: int = 0) -> torch.Tensor:
    x, _ = motion_to_features(smooth_motion(n_frames, seed=seed))
    return torch.from_numpy(x)[None]


@pytest.mark.parametrize("layout,share,quantizer", [
    ("shift", True, "vq"), ("shift", False, "vq"), ("shift", True, "fsq"),
    ("hands", True, "vq"), ("monolithic", True, "vq"),
])
def test_decode_of_encode_equals_forward_in_eval_mode(layout, share, quantizer):
    torch.manual_seed(0)
    size = 240 if quantizer == "fsq" else 32
    model = HandTokenizer(TokenizerConfig(layout=layout, share_hands=share, quantizer=quantizer,
                                          **{**TINY, "codebook_size": size}))
    x = torch.cat([_features(32, 0), _features(32, 1)])
    model.train()
    model(x)  # k-means initialisation of the codebooks from a first batch
    model.eval()
    with torch.no_grad():
        out = model(x)
        codes = model.encode(x)
        again = model.decode(codes)
    slots = {"shift": 4, "hands": 2, "monolithic": 1}[layout]
    assert codes.shape == (2, 8, slots) and codes.dtype == torch.long
    assert int(codes.max()) < size and int(codes.min()) >= 0
    torch.testing.assert_close(out["codes"], codes, rtol=0, atol=0)
    torch.testing.assert_close(again, out["features"], rtol=0, atol=1e-6)
    assert again.shape == x.shape


def test_mirror_signs_match_handtrack_mirror_and_model_space_round_trips():
    track = smooth_track(20, 30.0, seed=4)
    a, b = track_to_features(track), track_to_features(track.mirrored())
    np.testing.assert_allclose(a * MIRROR.numpy(), b, atol=1e-6)
    model = HandTokenizer(TokenizerConfig(**TINY))
    model.set_stats(np.linspace(-0.1, 0.1, 99), np.linspace(0.5, 2.0, 99))
    x = _features(12)
    h = model.to_model_space(x)
    assert h.shape == (1, 12, 2, 99)
    torch.testing.assert_close(model.from_model_space(h), x, atol=1e-6, rtol=0)
    # The left hand of a mirrored-symmetric motion equals the right hand in model space.
    sym = HandMotion(fps=30.0, left=track.mirrored(), right=track)
    hs = model.to_model_space(torch.from_numpy(motion_to_features(sym)[0])[None])
    torch.testing.assert_close(hs[..., 0, :], hs[..., 1, :], atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "c"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.mark.parametrize("share", [True, False])
def test_shared_and_separate_codebooks_both_train(corpus, tmp_path, share):
    cfg = TrainTokenizerConfig(data=str(corpus), out=str(tmp_path / "w"), share_hands=share, steps=60, batch=8,
                               window=32, lr=3e-3, warmup=5, exclude_actions=(), eval_every=30, save_every=1000,
                               cpu=True, **TINY)
    torch.manual_seed(0)
    x = torch.from_numpy(np.concatenate([motion_to_features(smooth_motion(32, seed=s))[0][None] for s in range(4)]))
    model = train_tokenizer(cfg, progress=False)
    assert (tmp_path / "w" / "model.safetensors").exists() and (tmp_path / "w" / "stats.npz").exists()
    names = set(model.nets.keys())
    assert names == ({"traj", "pose"} if share else {"left_traj", "left_pose", "right_traj", "right_pose"})
    log = [json.loads(line) for line in (tmp_path / "w" / "train.log").read_text().splitlines()]
    assert log[-1]["step"] == 60 and "val_finger_mm" in log[-1]
    # Training lowered the loss against a freshly initialised model with the same statistics.
    fresh = HandTokenizer(model.cfg)
    fresh.set_stats(model.mean.numpy(), model.std.numpy())
    with torch.no_grad():
        fresh.train(), model.train()
        before, _ = tokenizer_loss(fresh, x, 0.5, 0.1)
        model.eval()
        after = torch.nn.functional.smooth_l1_loss(model(x)["normed"], model.to_model_space(x))
    assert after.item() < 0.5 * before.item()


def test_training_resumes_from_its_checkpoint(corpus, tmp_path, capsys):
    args = ["train", "tokenizer", f"data={corpus}", f"out={tmp_path / 'w'}", "steps=12", "batch=4", "window=16",
            "save_every=6", "eval_every=100", "warmup=2", "cpu=true", "exclude_actions=", "--no-progress",
            "width=8", "depth=1", "code_dim=4", "codebook_size=16"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "tokenizer weights written" in out
    assert json.loads((tmp_path / "w" / "checkpoint" / "step.json").read_text())["step"] == 12
    code, _, _ = run_cli(capsys, *[a.replace("steps=12", "steps=18") for a in args])
    assert code == 0
    steps = [json.loads(line)["step"] for line in (tmp_path / "w" / "train.log").read_text().splitlines()]
    assert steps[-1] == 18 and steps.count(12) == 1  # continued from 12, did not start over


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = HandTokenizer(TokenizerConfig(**TINY))
    x = torch.cat([_features(32, s) for s in range(3)])
    hands = torch.cat([x[..., :99] * MIRROR, x[..., 99:]]).reshape(-1, 99)
    std = np.ones(99)
    std[96:] = [0.06, 0.11, 0.06]  # wrist placement spread like the corpus's (metres)
    model.set_stats(hands.mean(0).numpy(), std)
    model(x)  # initialise the codebooks
    out = tmp_path_factory.mktemp("tok") / "w"
    save_tokenizer(model.eval(), out)
    return out


def test_weights_round_trip_and_bad_folders(weights, tmp_path):
    model = load_tokenizer(weights)
    again = load_tokenizer(weights)
    x = _features(16)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["features"], again(x)["features"], rtol=0, atol=0)
    assert json.loads((weights / "config.json").read_text())["layout"] == "shift"
    with pytest.raises(HandMotionError, match="no weights"):
        load_tokenizer(tmp_path)
    bad = tmp_path / "bad"
    shutil.copytree(weights, bad)
    (bad / "config.json").write_text(json.dumps({"layout": "spiral"}))
    with pytest.raises(HandMotionError, match="layout"):
        load_tokenizer(bad)


@pytest.mark.parametrize("n_frames,fps", [(1, 30.0), (37, 24.0), (121, 120.0), (50, 30.0)])
def test_reconstruct_keeps_length_fps_and_hands(weights, n_frames, fps):
    motion = smooth_motion(n_frames, fps=fps, seed=2)
    out = reconstruct(motion, weights=weights, device="cpu")
    assert out.n_frames == n_frames and out.fps == fps and out.sides == ["left", "right"]
    one = HandMotion(fps=fps, right=motion.right)
    out1 = reconstruct(one, weights=weights, device="cpu")
    assert out1.sides == ["right"] and out1.n_frames == n_frames
    tokens = tokenize(motion, weights=weights, device="cpu")
    assert tokens.codes.shape[1] == 4 and tokens.slots == ["L-traj", "L-pose", "R-traj", "R-pose"]


def test_reconstruct_is_the_same_wherever_the_clip_was_captured(weights):
    from engine.pipeline import get_tokenizer
    from engine.placement import fit_placement
    from engine.rotations import rot6d_to_matrix

    model = get_tokenizer(weights, "cpu")
    raw = smooth_motion(40, seed=7)
    mean = model.mean.numpy().astype(np.float64)
    typical = fit_placement(raw, mean[96:99], rot6d_to_matrix(mean[:6])).apply(raw)  # heading and place of the data
    c, s = np.cos(np.radians(180.0)), np.sin(np.radians(180.0))
    move = Placement(np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]), np.zeros(3), np.array([0.8, -1.1, 0.4]))
    a = move.apply(reconstruct(typical, weights=weights, device="cpu"))
    b = reconstruct(move.apply(typical), weights=weights, device="cpu")
    for side in ("left", "right"):
        np.testing.assert_allclose(a.track(side).transl, b.track(side).transl, atol=1e-4)
        np.testing.assert_allclose(a.track(side).hand_pose, b.track(side).hand_pose, atol=1e-3)


def test_cli_tokenize_reconstruct_and_eval(weights, tmp_path, capsys):
    path = tmp_path / "in.npz"
    save_motion(smooth_motion(45, fps=30.0, seed=3), path)
    code, out, _ = run_cli(capsys, "tokenize", str(path), "--weights", str(weights))
    assert code == 0 and "L-traj" in out and "12 steps x 4 slots" in out
    code, out, _ = run_cli(capsys, "tokenize", str(path), "--weights", str(weights), "--json")
    assert len(json.loads(out)["codes"]) == 12
    code, out, _ = run_cli(capsys, "reconstruct", str(path), "-o", str(tmp_path / "out.bvh"), "--weights", str(weights))
    assert code == 0 and (tmp_path / "out.bvh").exists() and "45 frames" in out
    code, out, _ = run_cli(capsys, "-q", "eval", "tokenizer", "--data", str(SAMPLE), "--split", "all", "--limit", "2",
                           "--weights", str(weights), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and report["groups"]["all"]["clips"] == 2 and report["vocabulary"] == 4 * 32
    assert report["groups"]["all"]["finger_mpjpe_mm"] > 0
    code, _, err = run_cli(capsys, "reconstruct", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "o.npz"),
                           "--weights", str(weights))
    assert code == 2 and "missing.npz" in err
    code, _, err = run_cli(capsys, "tokenize", str(path), "--weights", str(tmp_path / "nowhere"))
    assert code == 2 and "no weights" in err


def test_train_config_overrides_and_errors(tmp_path, capsys):
    cfg = build_config(TrainTokenizerConfig, None, ["share_hands=false", "exclude_actions=clap,wave", "--lr=1e-3"])
    assert cfg.share_hands is False and cfg.exclude_actions == ("clap", "wave") and cfg.lr == 1e-3
    (tmp_path / "c.json").write_text(json.dumps({"layout": "hands", "steps": 5}))
    cfg = build_config(TrainTokenizerConfig, str(tmp_path / "c.json"), ["steps=7"])
    assert cfg.layout == "hands" and cfg.steps == 7
    with pytest.raises(HandMotionError, match="unknown config key"):
        build_config(TrainTokenizerConfig, None, ["colour=red"])
    with pytest.raises(HandMotionError, match="expected true or false"):
        build_config(TrainTokenizerConfig, None, ["share_hands=maybe"])
    code, _, err = run_cli(capsys, "train", "tokenizer", "layout=spiral", f"out={tmp_path}/x")
    assert code == 2 and "layout" in err
    code, _, err = run_cli(capsys, "train", "tokenizer", f"data={tmp_path}/none", f"out={tmp_path}/x")
    assert code == 2 and "not a corpus folder" in err


def test_weights_install_list_and_tamper_check(weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HANDMOTION_WEIGHTS", str(tmp_path / "shipped"))
    code, out, _ = run_cli(capsys, "weights", "install", str(weights), "tokenizer")
    assert code == 0 and (tmp_path / "shipped" / "tokenizer" / "model.safetensors").exists()
    manifest = json.loads((tmp_path / "shipped" / "MANIFEST.json").read_text())
    assert set(manifest["tokenizer"]) == {"config.json", "model.safetensors", "stats.npz"}
    code, out, _ = run_cli(capsys, "weights", "list")
    assert code == 0 and "tokenizer" in out and "sha256 ok" in out
    assert load_tokenizer().cfg.codebook_size == 32  # the default folder now resolves to the installed one
    stats = tmp_path / "shipped" / "tokenizer" / "stats.npz"
    np.savez(stats, mean=np.zeros(99), std=np.full(99, 2.0))
    with pytest.raises(HandMotionError, match="sha256"):
        load_tokenizer()
    code, out, _ = run_cli(capsys, "weights", "list")
    assert code == 1 and "MISMATCH" in out
    code, _, err = run_cli(capsys, "weights", "install", str(tmp_path / "nothing"), "tokenizer")
    assert code == 2 and "no weights" in err


def test_shipped_weights_load_and_the_demo_tokenizes_the_example(tmp_path, capsys):
    from engine.models.weights import list_weights

    shipped = list_weights()
    assert shipped["tokenizer"]["ok"], "weights/tokenizer must match weights/MANIFEST.json"
    assert sum(shipped["tokenizer"]["files"].values()) < 20e6
    model = load_tokenizer()
    assert model.cfg.layout == "shift" and model.cfg.share_hands
    code, out, _ = run_cli(capsys, "demo", "-o", str(tmp_path))
    assert code == 0 and "SHIFT tokenizer" in out and (tmp_path / "greeting_tokenized.bvh").exists()
    finger_mm = float(out.split("decoded finger error ")[1].split(" mm")[0])
    assert finger_mm < 15.0  # a hand-keyframed clip the tokenizer never saw


def test_rigid_augmentation_moves_both_hands_as_one_body():
    from engine.features import features_to_motion
    from engine.skeleton import get_hand_model
    from engine.train.tokenizer import rigid_augment

    x = torch.cat([_features(20, seed=s) for s in range(3)])
    y = rigid_augment(x, torch.Generator().manual_seed(0), 60.0, 0.1, share=1.0)
    assert rigid_augment(x, torch.Generator().manual_seed(0), 60.0, 0.1, share=0.0) is x

    def joints(feats: torch.Tensor) -> np.ndarray:
        m = features_to_motion(feats.double().numpy(), 30.0)
        return np.concatenate([get_hand_model(s).joints_np(m.track(s).global_orient, m.track(s).hand_pose,
                                                            m.track(s).transl) for s in ("left", "right")], axis=1)

    for k in range(3):
        P, Q = joints(x[k]), joints(y[k])
        dist = lambda p: np.linalg.norm(p[:, :, None] - p[:, None], axis=-1)  # noqa: E731
        assert np.abs(dist(P) - dist(Q)).max() < 1e-4  # every distance within and between the hands kept
        assert np.linalg.norm(P - Q, axis=-1).mean() > 0.005  # and it did move
        torch.testing.assert_close(y[k][:, 6:96], x[k][:, 6:96])  # fingers untouched


def test_decode_soft_of_one_hot_codes_is_decode():
    from engine.models.tokenizer import load_tokenizer

    model = load_tokenizer()
    codes = torch.randint(0, model.cfg.codebook_size, (2, 5, len(model.cfg.slots)))
    onehot = torch.nn.functional.one_hot(codes, model.cfg.codebook_size).float().requires_grad_(True)
    out = model.decode_soft(onehot)
    assert torch.equal(out, model.decode(codes))
    out.sum().backward()
    assert onehot.grad.abs().sum() > 0  # differentiable in the code probabilities
