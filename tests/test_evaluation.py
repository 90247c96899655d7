"""The evaluation suite end to end on the committed sample corpus: a tiny evaluator trained by the
real command, every `handmotion eval` task, the baselines, the corruption suite and `bench`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.eval.corrupt import KINDS, corrupt, inject
from engine.eval.evaluator import EvaluatorConfig, load_evaluator, pad_clips
from engine.eval.protocol import load_split, pick_caption
from engine.eval.retrieval import MotionIndex, TextIndex
from engine.interpolate import interpolate, key_frames_every
from engine.models.weights import WEIGHTS_ROOT
from engine.rotations import geodesic_angle
from tests.helpers import run_cli, smooth_motion

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "corpus"
TINY = ("steps=4", "batch=4", "eval_every=4", "width=32", "text_width=32", "layers=1", "text_layers=1", "dim=16",
        "heads=2", "threads=1")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval") / "corpus"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.fixture(scope="module")
def evaluator_dir(corpus, tmp_path_factory) -> Path:
    from engine.cli import main

    out = tmp_path_factory.mktemp("evaluator") / "run"
    assert main(["-q", "train", "evaluator", "--no-progress", f"data={corpus}", f"out={out}", *TINY]) == 0
    return out


def test_evaluator_embeddings_are_unit_vectors_for_any_length(evaluator_dir):
    model = load_evaluator(evaluator_dir)
    emb = model.encode_motions([smooth_motion(n, 30.0, seed=n) for n in (1, 3, 50, 400)])
    assert emb.shape == (4, 16)
    assert torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)
    text = model.encode_text(["The right hand waves.", "Both hands clap twice, quickly."])
    assert text.shape == (2, 16) and torch.allclose(text.norm(dim=1), torch.ones(2), atol=1e-5)


def test_evaluator_ignores_padding_and_reloads_identically(evaluator_dir):
    model = load_evaluator(evaluator_dir)
    a = smooth_motion(40, 30.0, seed=1)
    b = smooth_motion(90, 30.0, seed=2)
    alone = model.encode_motions([a])
    padded = model.encode_motions([a, b])[:1]  # a padded to 90 frames next to b
    assert torch.allclose(alone, padded, atol=1e-5)
    again = load_evaluator(evaluator_dir).encode_motions([a])
    assert torch.equal(alone, again)
    x, mask = pad_clips([np.zeros((3, 198), np.float32), np.ones((5, 198), np.float32)])
    assert x.shape == (2, 5, 198) and mask.sum().item() == 8 and x[0, 4].eq(0).all()


def test_minilm_token_table_is_frozen_and_not_saved(evaluator_dir):
    model = load_evaluator(evaluator_dir)
    assert model.cfg.text_init == "minilm"
    assert "text.table" not in model.state_dict()
    assert model.text.table.abs().sum() > 0  # read from the package at load time
    assert not any(p is model.text.table for p in model.parameters())
    with pytest.raises(Exception, match="text_init"):
        EvaluatorConfig(text_init="bag-of-words")


def test_train_log_has_validation_retrieval(evaluator_dir):
    lines = [json.loads(x) for x in (evaluator_dir / "train.log").read_text().splitlines()]
    last = lines[-1]
    assert last["step"] == 4 and 0.0 <= last["val_script_top3"] <= 1.0
    meta = json.loads((evaluator_dir / "config.json").read_text())["meta"]
    assert meta["train"]["steps"] == 4 and meta["corpus"]["clips"] == 8


def test_pick_caption_is_stable_per_clip():
    caps = {"script": ["a", "b", "c"]}
    assert pick_caption(caps, 7) == pick_caption(caps, 7)
    assert {pick_caption(caps, i) for i in range(40)} == {"a", "b", "c"}
    with pytest.raises(KeyError):
        pick_caption(caps, 1, "semantic")


def test_text_index_retrieves_by_words_and_skips_the_query_clip():
    index = TextIndex(["the right hand waves", "both hands clap", "the left hand points"], [0, 1, 2])
    assert index.query(["hands clap together"], 1)[0, 0] == 1
    assert index.query(["the right hand waves"], 2, exclude=[0])[0].tolist()[0] != 0


def test_motion_index_finds_the_same_clip_unless_excluded(corpus):
    split = load_split(corpus, "train")
    index = MotionIndex(split.clips, split.fps)
    clips = [split.clips.clip(i) for i in range(3)]
    assert index.query(clips).tolist() == [0, 1, 2]
    assert all(j != i for i, j in enumerate(index.query(clips, exclude=[int(c) for c in split.clips.ids[:3]])))


@pytest.mark.parametrize("method", ["slerp", "bezier"])
def test_interpolation_hits_keys_exactly_and_holds_outside(method):
    m = smooth_motion(50, 30.0, seed=4)
    keys = [5, 20, 44]
    out = interpolate(m, keys, method)
    for side, tr in out.hands():
        src = m.track(side)
        assert geodesic_angle(tr.hand_pose[keys], src.hand_pose[keys]).max() < 1e-6
        assert np.abs(tr.transl[keys] - src.transl[keys]).max() < 1e-9
        assert np.allclose(tr.transl[:5], src.transl[5]) and np.allclose(tr.transl[45:], src.transl[44])


def test_slerp_midpoint_and_bezier_peaks_stay_at_keys():
    m = smooth_motion(31, 30.0, seed=5)
    half = interpolate(m, [0, 30], "slerp").right
    a, b = m.right.hand_pose[0], m.right.hand_pose[30]
    total = geodesic_angle(a, b)
    assert np.allclose(geodesic_angle(half.hand_pose[15], a), total / 2, atol=1e-6)
    peak = m.right.transl.copy()
    peak[[0, 10, 20, 30]] = [[0, 0, 0], [0.1, -0.1, 0.05], [0, 0, 0.0], [0.1, -0.1, 0.05]]
    m.right.transl = peak
    z = interpolate(m, [0, 10, 20, 30], "bezier").right.transl
    assert np.allclose(z.max(0)[[0, 2]], [0.1, 0.05]) and np.isclose(z.min(0)[1], -0.1)  # extremes flat: no overshoot
    assert (z[:, 0] >= -1e-12).all()
    assert key_frames_every(31, 15).tolist() == [0, 15, 30] and key_frames_every(32, 15).tolist() == [0, 15, 30, 31]


def test_corruptions_touch_only_their_frames():
    clean = smooth_motion(60, 30.0, seed=6)
    rng = np.random.default_rng(0)
    for kind in KINDS:
        bad, d = inject(clean, kind, rng)
        track, ref = bad.track(d.side), clean.track(d.side)
        changed = ~np.isclose(np.concatenate([track.global_orient, track.hand_pose.reshape(60, -1), track.transl], 1),
                              np.concatenate([ref.global_orient, ref.hand_pose.reshape(60, -1), ref.transl], 1)).all(1)
        assert changed[d.start:d.end].any(), kind
        assert not changed[:d.start].any() and not changed[d.end:].any(), kind
        assert bad.track("left" if d.side == "right" else "right").hand_pose.tolist() == \
            clean.track("left" if d.side == "right" else "right").hand_pose.tolist()
    bad, defects = corrupt(clean, np.random.default_rng(1))
    assert [d.kind for d in defects] == list(KINDS)
    dropout = next(d for d in defects if d.kind == "dropout")
    assert not bad.track(dropout.side).valid[dropout.start:dropout.end].any()


def test_eval_all_on_the_sample(corpus, evaluator_dir, tmp_path, capsys, monkeypatch):
    """Every table with the default methods: the baselines only, since this weights folder holds just the
    tokenizer (no language model or in-betweener, whose rows are tested on their own)."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "tokenizer").symlink_to(WEIGHTS_ROOT / "tokenizer")
    monkeypatch.setenv("HANDMOTION_WEIGHTS", str(tmp_path / "weights"))
    out, md = tmp_path / "all.json", tmp_path / "all.md"
    code, text, _ = run_cli(capsys, "-q", "eval", "all", "--data", str(corpus), "--split", "train",
                            "--evaluator", str(evaluator_dir), "--json", str(out), "--md", str(md))
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report) == {"tokenizer", "t2m", "m2t", "inbetween", "refine"}
    t2m = report["t2m"]["methods"]
    assert t2m["ground_truth"]["fid"] == pytest.approx(0.0, abs=1e-6) and t2m["ground_truth"]["contact_f1"] == 1.0
    assert "multimodality" in t2m["retrieval"] and t2m["retrieval"]["length_error_frames"] > 0
    assert t2m["tokenized"]["length_error_frames"] == 0 and "multimodality" not in t2m["tokenized"]
    assert set(report["m2t"]["kinds"]["semantic"]) == {"ground_truth", "retrieval", "rules"}
    assert "rules" not in report["m2t"]["kinds"]["script"]  # the rule captioner cannot name actions
    for spacing in ("15", "30"):
        for scores in report["inbetween"]["spacings"][spacing].values():
            assert scores["keyframe_error_rad"] < 1e-5
    refine = report["refine"]["methods"]
    assert refine["input"]["defects_removed"] == 0.0 and refine["input"]["clean_unchanged"] == 1.0
    assert refine["median"]["mpjpe_ratio"] < 1.0
    assert "R@3" in text and "| method |" in md.read_text()


def test_eval_errors_are_one_line(corpus, evaluator_dir, capsys):
    code, _, err = run_cli(capsys, "eval", "t2m", "--data", str(corpus), "--split", "test",
                           "--evaluator", str(evaluator_dir))
    assert code == 2 and "no clips in split 'test'" in err
    code, _, err = run_cli(capsys, "eval", "inbetween", "--data", str(corpus), "--split", "train", "--methods", "magic")
    assert code == 2 and "unknown in-betweening method 'magic'" in err
    code, _, err = run_cli(capsys, "eval", "t2m", "--data", str(corpus), "--split", "train", "--evaluator",
                           str(corpus))
    assert code == 2 and "no weights here" in err
    for task, bad in (("inbetween", ("--limit", "0")), ("refine", ("--limit", "-3")), ("inbetween", ("--steps", "0"))):
        with pytest.raises(SystemExit) as exit_:
            run_cli(capsys, "eval", task, "--data", str(corpus), *bad)
        assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_bench_times_available_steps_and_says_why_others_are_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HANDMOTION_WEIGHTS", str(tmp_path / "none"))  # nothing shipped: tokenizer cases skip
    out = tmp_path / "bench.json"
    code, text, _ = run_cli(capsys, "bench", "--repeat", "2", "--warmup", "1", "--json", str(out))
    assert code == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["threads"] >= 1
    assert report["cases"]["caption_rules"]["p95_ms"] >= report["cases"]["caption_rules"]["p50_ms"] > 0
    assert "no weights" in report["cases"]["encode"]["skipped"]
    assert "no weights" in report["cases"]["generate"]["skipped"]
    assert "no weights" in report["cases"]["inbetween"]["skipped"]
    assert "no weights" in report["cases"]["refine"]["skipped"]
    code, _, err = run_cli(capsys, "bench", "--only", "teleport")
    assert code == 2 and "unknown bench case" in err


def test_paraphrases_name_known_actions_and_are_not_corpus_captions(corpus, evaluator_dir):
    from engine.corpus.actions import ACTIONS
    from engine.eval.paraphrase import PARAPHRASES, retrieval_scores
    from engine.train.data import load_captions

    assert len(PARAPHRASES) == 20 and all(action in ACTIONS for _, action in PARAPHRASES)
    captions = {c.lower() for caps in load_captions(corpus, None).values() for kind in caps.values() for c in kind}
    assert not captions & {p.lower() for p, _ in PARAPHRASES}
    scores = retrieval_scores(load_evaluator(evaluator_dir), load_split(corpus, "train"))
    present = {a for acts in load_split(corpus, "train").clips.actions for a in acts}
    assert scores["prompts"] == sum(a in present for _, a in PARAPHRASES)


def test_generation_scores_rank_real_clips_around_each_generated_query():
    from types import SimpleNamespace

    from engine.eval.paraphrase import generation_scores

    split = SimpleNamespace(clips=SimpleNamespace(actions=[("wave",), ("clap",), ("wave", "fist"), ("point",)]))
    motion = np.array([[0.0], [1.0], [2.0], [3.0]])
    prompts = (("bye", "wave"), ("applause", "clap"), ("absent", "stir"))
    generated = np.array([[[2.1], [0.9]], [[1.0], [3.0]], [[0.0], [0.0]]])  # (prompts, samples, dim)
    s = generation_scores(split, motion, generated, prompts, k=2)
    assert s["prompts"] == 2  # "stir" occurs in no clip
    wave, clap = s["per_prompt"]
    # wave, query 2.1: nearest clips 2 (wave), 3 -> P@2 0.5, first hit 1; query 0.9: clips 1, 0 (wave) -> 0.5, rank 2
    assert (wave["precision_at_10"], wave["first_hit_rank"]) == (0.5, 1.5)
    # clap, query 1.0: clips 1 (clap), then 0/2 -> 0.5, rank 1; query 3.0: clips 3, 2, then 1 at rank 3 -> 0, 3
    assert (clap["precision_at_10"], clap["first_hit_rank"]) == (0.25, 2.0)
    assert s["named_in_top10"] == 1.0 and s["chance"] == pytest.approx((0.5 + 0.25) / 2)
