"""The language model's vocabulary arithmetic, prompts, weights and training, on a tiny T5."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.corpus.anatomy import limit_violation
from engine.errors import HandMotionError
from engine.models.lm import COND_DIM, LMConfig, MotionVocab, build_lm, load_lm, save_lm
from engine.models.prompts import encode_prompt, prompt_text
from engine.models.text import text_tokenizer

TINY = LMConfig(d_model=32, layers=1, heads=2, d_ff=64, codes=8)


def test_motion_ids_are_arithmetic_and_round_trip():
    v = MotionVocab(text_size=100, slots=4, codes=8)
    assert (v.bom, v.eom, v.masked, v.motion_offset, v.size) == (100, 101, 102, 103, 135)
    codes = np.array([[0, 1, 2, 3], [7, 6, 5, 4]])
    ids = v.to_ids(codes)
    assert ids.tolist() == [103, 112, 121, 130, 110, 117, 124, 131]  # offset + slot * 8 + code
    assert v.to_codes(ids).tolist() == codes.tolist()
    assert v.motion_sequence(codes)[[0, -1]].tolist() == [v.bom, v.eom]
    masked = v.to_ids(codes, masked=np.array([[True, True, False, False]] * 2))
    assert masked.tolist()[:2] == [v.masked, v.masked]
    for bad in (np.array([[0, 1, 2, 8]]), np.array([[0, 1, 2]])):
        with pytest.raises(HandMotionError):
            v.to_ids(bad)
    with pytest.raises(HandMotionError, match="out of its slot"):
        v.to_codes(np.array([103, 103, 121, 130]))  # slot 1 given a slot-0 id
    with pytest.raises(HandMotionError, match="whole number"):
        v.to_codes(ids[:5])


def test_prompts_encode_text_then_motion_with_the_other_hand_masked():
    tok = text_tokenizer()
    v = TINY.vocab()
    assert prompt_text("t2m", seconds=4, text="Wave.") == "Generate 4.0 seconds of two-hand motion: Wave."
    with pytest.raises(HandMotionError, match="needs"):
        prompt_text("t2m", text="Wave.")
    codes = np.arange(8).reshape(2, 4) % 8
    ids = encode_prompt(tok, v, "complete", codes, given="left")
    body = ids[list(ids).index(v.bom) + 1:list(ids).index(v.eom)].reshape(2, 4)
    assert (body[:, 2:] == v.masked).all()
    assert (body[:, :2] == v.to_ids(codes).reshape(2, 4)[:, :2]).all()  # the given (left) hand is kept
    assert ids[-1] == tok.sep_token_id
    assert "right hand" in tok.decode(ids[:list(ids).index(v.bom)].tolist())
    with pytest.raises(HandMotionError):
        encode_prompt(tok, v, "complete", codes, given="middle")


def test_lm_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    save_lm(model, TINY, tmp_path / "lm")
    loaded, cfg = load_lm(tmp_path / "lm")
    assert cfg == TINY
    ids = torch.tensor([[5, 6, 7, 102]])
    dec = torch.tensor([[0, TINY.vocab().bom]])
    assert torch.allclose(model(input_ids=ids, decoder_input_ids=dec).logits,
                          loaded(input_ids=ids, decoder_input_ids=dec).logits, atol=1e-6)
    with pytest.raises(HandMotionError, match="no weights"):
        load_lm(tmp_path / "missing")


def test_weights_installed_in_half_precision_load_as_float32(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from engine.models.weights import install_weights, list_weights

    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    save_lm(model, TINY, tmp_path / "run")
    monkeypatch.setenv("HANDMOTION_WEIGHTS", str(tmp_path / "shipped"))
    target = install_weights(tmp_path / "run", "lm", half=True)
    stored = load_file(str(target / "model.safetensors"))
    assert {v.dtype for v in stored.values()} == {torch.float16}
    assert (target / "model.safetensors").stat().st_size < 0.6 * (tmp_path / "run" / "model.safetensors").stat().st_size
    assert list_weights()["lm"]["ok"]
    loaded, _ = load_lm()  # the default folder is the installed one
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for name, p in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], p.half().float()), name


def test_base_model_checkpoint_is_resized_for_motion_ids(tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    base = T5ForConditionalGeneration(T5Config(vocab_size=200, d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                               num_decoder_layers=1, num_heads=2, decoder_start_token_id=0))
    base.save_pretrained(tmp_path / "base", safe_serialization=True)
    model = build_lm(TINY, base_model=tmp_path / "base")
    assert model.get_input_embeddings().num_embeddings == TINY.vocab().size
    with pytest.raises(HandMotionError, match="not a local t5 checkpoint"):
        build_lm(TINY, base_model=tmp_path / "nothing")


# --- training ---------------------------------------------------------------------------------

SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "samples" / "corpus"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("lm") / "corpus"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.fixture(scope="module")
def sampler(corpus):
    from engine.models.tokenizer import load_tokenizer
    from engine.train.data import load_captions
    from engine.train.lm import TaskSampler
    from engine.train.tokens import load_tokens

    tok = load_tokenizer()
    tokens = load_tokens(corpus, "train", tok)
    cfg = dataclasses.replace(TINY, codes=tok.cfg.codebook_size)
    return TaskSampler(tokens, load_captions(corpus, None), cfg, tok.cfg.fps, tok.cfg.stride,
                       {"t2m": 1.0}, seed=0)


def test_token_cache_matches_the_pipeline_and_is_reused(corpus, sampler):
    from engine.eval.protocol import load_split
    from engine.pipeline import tokenize

    split = load_split(corpus, "train")
    grid = sampler.tokens.grid(0)
    assert np.array_equal(grid, tokenize(split.motion(0)).codes)  # corpus clips need no placement
    cache = corpus / "cache" / "tokens_train.npz"
    assert cache.exists()
    stamp = cache.stat().st_mtime_ns
    from engine.models.tokenizer import load_tokenizer
    from engine.train.tokens import load_tokens

    load_tokens(corpus, "train", load_tokenizer())
    assert cache.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("task", ["t2m", "m2t", "complete", "continue"])
def test_every_task_builds_shifted_targets_in_its_vocabulary(sampler, task):
    v = sampler.vocab
    b = sampler.sample(3, task)
    labels, dec = b["labels"], b["decoder_input_ids"]
    assert dec.shape == labels.shape and (dec[:, 0] == 0).all()
    first = labels[0][labels[0] >= 0]
    assert torch.equal(dec[0, 1:len(first)], first[:-1])  # decoder input = labels shifted right
    if task == "m2t":
        assert not bool(b["motion_target"]) and first.max() < v.text_size and first[-1] == 102  # text ending [SEP]
    else:
        assert bool(b["motion_target"]) and first[0] == v.bom and first[-1] == v.eom
        assert len(first[1:-1]) % 4 == 0 and first[1:-1].min() >= v.motion_offset
    if task == "complete":
        assert (b["input_ids"] == v.masked).any()
    assert (b["attention_mask"] == (b["input_ids"] != 0)).all()


def test_text_condition_embeds_t2m_captions_and_zeros_elsewhere(sampler):
    from engine.models.text import sentence_embeddings
    from engine.train.lm import TaskSampler

    cond = TaskSampler(sampler.tokens, {int(i): c for i, c in zip(sampler.tokens.ids, sampler.captions)},
                       dataclasses.replace(sampler.cfg, text_cond="minilm"), 30.0, 4, {"t2m": 1.0}, seed=3)
    b = cond.sample(3, "t2m")
    texts = [text for _, _, text in (cond.example("t2m", 0),)]
    assert b["text_emb"].shape == (3, COND_DIM) and (b["text_emb"].norm(dim=1) > 0.99).all()
    assert np.allclose(cond.embeddings(texts).numpy(), sentence_embeddings(texts), atol=1e-5)
    assert set(cond.embedded) >= set(texts)  # computed once, then looked up
    assert (cond.sample(2, "m2t")["text_emb"] == 0).all() and "text_emb" not in sampler.sample(2, "t2m")


def test_a_new_text_condition_leaves_the_model_unchanged_until_trained():
    from engine.models.lm import attach_text_cond, text_condition

    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    cfg = dataclasses.replace(TINY, text_cond="minilm")
    attach_text_cond(model, cfg)
    cond = text_condition(model, torch.randn(2, COND_DIM))
    assert cond.shape == (2, TINY.d_model) and (cond == 0).all()


def test_train_lm_command_runs_and_saves_loadable_weights(corpus, tmp_path, capsys):
    from engine.train.lm import TrainLMConfig
    from tests.helpers import train_tiny_lm

    out = tmp_path / "run"
    code, text, _ = train_tiny_lm(capsys, corpus, out, "corrupt=0.3", steps=3)
    assert code == 0 and "language model weights written" in text
    model, cfg = load_lm(out)
    assert cfg.codes == 512 and cfg.slots == 4  # taken from the tokenizer
    log = (out / "train.log").read_text()
    assert "val_t2m_loss" in log and "val_m2t_acc" in log and "val_t2m_text_gain" in log
    with pytest.raises(HandMotionError, match="unknown task"):
        TrainLMConfig(mix="t2m=1,dance=1")


def test_corruption_replaces_motion_ids_within_their_slot_only():
    from engine.train.lm import corrupt_motion_ids

    v = MotionVocab(text_size=100, slots=4, codes=8)
    ids = torch.as_tensor(np.r_[5, 7, v.bom, v.to_ids(np.random.default_rng(0).integers(0, 8, (50, 4))), v.eom])
    out = corrupt_motion_ids(ids, v, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out[:3], ids[:3]) and out[-1] == v.eom  # text ids and specials kept
    body, orig = out[3:-1] - v.motion_offset, ids[3:-1] - v.motion_offset
    assert torch.equal(body // 8, orig // 8)  # every id stays in its slot
    assert 0.2 < (body != orig).float().mean() < 0.6  # about p x (1 - 1/codes) changed
    assert torch.equal(corrupt_motion_ids(ids, v, 0.0), ids)


# --- pipeline and commands ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    cfg = dataclasses.replace(TINY, codes=512)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tinylm") / "lm"
    save_lm(build_lm(cfg).eval(), cfg, out)
    return out


def test_exemplar_draft_needs_weights_with_exemplars(tiny_lm):
    from engine.errors import MotionValueError
    from engine.pipeline import exemplar_draft

    with pytest.raises(MotionValueError, match="no exemplar drafts"):
        exemplar_draft("The right hand waves.", 1.0, weights=tiny_lm, device="cpu")


@pytest.mark.parametrize("seconds,fps", [(1.0, 30.0), (0.5, 24.0), (2.3, 120.0), (0.05, 30.0)])
def test_generate_meets_the_requested_duration_exactly(tiny_lm, seconds, fps):
    from engine.pipeline import generate

    motions = generate("The right hand waves.", seconds, fps, seed=3, samples=2, weights=tiny_lm, device="cpu")
    assert len(motions) == 2
    for m in motions:
        assert m.fps == fps and m.n_frames == round(seconds * fps) + 1
        assert m.duration == pytest.approx(round(seconds * fps) / fps)
        assert m.sides == ["left", "right"]
        for side, track in m.hands():  # an untrained model's codes decode anywhere: clamped into range
            assert limit_violation(track.hand_pose, side).max() < 1e-9


def test_within_limits_clamps_only_the_poses_out_of_range():
    from engine.corpus.anatomy import JOINT_LIMITS, angles_to_pose
    from engine.motion import HandMotion, HandTrack
    from engine.pipeline import within_limits

    angles = np.repeat(JOINT_LIMITS.mean(-1)[None], 4, axis=0)  # (4, 15, 3): mid-range everywhere
    angles[2, 5, 0] = JOINT_LIMITS[5, 0, 1] + 0.3  # one joint bent 0.3 rad too far
    pose = angles_to_pose(angles, "left")
    m = HandMotion(fps=30.0, left=HandTrack(np.zeros((4, 3)), pose, np.zeros((4, 3))))
    out = within_limits(m).left.hand_pose
    assert limit_violation(pose, "left")[2] == pytest.approx(0.3, abs=1e-6)
    assert limit_violation(out, "left").max() < 1e-9
    assert np.array_equal(np.delete(out, 2, 0), np.delete(pose, 2, 0))  # the other frames are untouched
    assert np.abs(out[2] - pose[2]).max() > 0.1


def test_generate_refuses_bad_requests(tiny_lm):
    from engine.errors import MotionValueError
    from engine.pipeline import generate

    for kwargs in ({"text": " ", "seconds": 1.0}, {"text": "wave", "seconds": 0.0}, {"text": "wave", "seconds": 61.0},
                   {"text": "wave", "seconds": float("nan")}):
        with pytest.raises(MotionValueError):
            generate(weights=tiny_lm, device="cpu", **kwargs)
    mismatched = tiny_lm.parent / "mismatch"
    cfg = dataclasses.replace(TINY, codes=8)
    save_lm(build_lm(cfg), cfg, mismatched)
    with pytest.raises(MotionValueError, match="tokenizer"):
        generate("wave", 1.0, weights=mismatched, device="cpu")


def test_generate_and_caption_commands(tiny_lm, tmp_path, capsys):
    from engine.io import load_motion
    from tests.helpers import run_cli

    out = tmp_path / "wave.npz"
    code, text, _ = run_cli(capsys, "-q", "generate", "The right hand waves.", "-o", str(out), "--seconds", "1",
                            "--samples", "2", "--weights", str(tiny_lm), "--device", "cpu")
    assert code == 0 and "wave_0.npz" in text and "wave_1.npz" in text
    assert load_motion(tmp_path / "wave_1.npz").n_frames == 31
    code, text, _ = run_cli(capsys, "-q", "caption", str(tmp_path / "wave_0.npz"), "--model", "lm", "--weights",
                            str(tiny_lm), "--device", "cpu")
    assert code == 0
    code, _, err = run_cli(capsys, "generate", "wave", "-o", str(out), "--samples", "0", "--weights", str(tiny_lm))
    assert code == 2 and "--samples" in err
    code, _, err = run_cli(capsys, "generate", "wave", "-o", str(out), "--weights", str(tmp_path / "none"))
    assert code == 2 and "no weights" in err


def test_complete_keeps_the_given_hand_and_continue_keeps_the_input(tiny_lm):
    from engine.errors import MotionValueError
    from engine.motion import HandMotion
    from engine.pipeline import Sampling, complete_hand, continue_motion, generate

    clip = generate("The right hand waves.", 1.0, 24.0, seed=1, weights=tiny_lm, device="cpu")[0]
    done = complete_hand(clip, "right", Sampling(seed=2, samples=2), weights=tiny_lm, device="cpu")
    assert len(done) == 2
    for m in done:
        assert m.fps == 24.0 and m.n_frames == clip.n_frames and m.sides == ["left", "right"]
        assert m.right is clip.right  # the given hand is the input's own track
    one_hand = HandMotion(clip.fps, left=clip.left)
    assert complete_hand(one_hand, "left", weights=tiny_lm, device="cpu")[0].left is clip.left
    with pytest.raises(MotionValueError, match="no right hand"):
        complete_hand(one_hand, "right", weights=tiny_lm, device="cpu")
    more = continue_motion(clip, 0.5, Sampling(seed=0), weights=tiny_lm, device="cpu")[0]
    assert more.n_frames == clip.n_frames + 12 and more.fps == 24.0
    for side, track in clip.hands():
        assert np.array_equal(more.track(side).slice(0, clip.n_frames).hand_pose, track.hand_pose)
    with pytest.raises(MotionValueError, match="both hands"):
        continue_motion(one_hand, 1.0, weights=tiny_lm, device="cpu")
    with pytest.raises(MotionValueError, match="seconds"):
        continue_motion(clip, 0.0, weights=tiny_lm, device="cpu")


def test_complete_and_continue_commands(tiny_lm, tmp_path, capsys):
    from engine.io import load_motion
    from tests.helpers import run_cli

    clip = tmp_path / "clip.npz"
    run_cli(capsys, "-q", "generate", "wave", "-o", str(clip), "--seconds", "1", "--weights", str(tiny_lm),
            "--device", "cpu")
    code, text, _ = run_cli(capsys, "-q", "complete", str(clip), "--given", "left", "-o", str(tmp_path / "c.npz"),
                            "--weights", str(tiny_lm), "--device", "cpu")
    assert code == 0 and load_motion(tmp_path / "c.npz").n_frames == 31
    code, text, _ = run_cli(capsys, "-q", "continue", str(clip), "--seconds", "1", "-o", str(tmp_path / "k.npz"),
                            "--weights", str(tiny_lm), "--device", "cpu")
    assert code == 0 and load_motion(tmp_path / "k.npz").n_frames == 61
    code, _, err = run_cli(capsys, "complete", str(tmp_path / "missing.npz"), "--given", "left", "-o",
                           str(tmp_path / "x.npz"), "--weights", str(tiny_lm))
    assert code == 2 and "missing.npz" in err


def test_eval_t2m_and_m2t_score_the_lm(tiny_lm, corpus, tmp_path, capsys):
    from engine.eval.m2t import evaluate_m2t
    from engine.eval.t2m import evaluate_t2m
    from engine.models.weights import default_dir

    evaluator = default_dir("evaluator")
    t2m = evaluate_t2m(str(corpus), "train", ("ground_truth", "lm"), weights=str(evaluator), limit=4, mm_prompts=2,
                       mm_samples=2, progress=False, lm_weights=str(tiny_lm))
    assert t2m["methods"]["lm"]["length_error_frames"] == 0.0 and "multimodality" in t2m["methods"]["lm"]
    m2t = evaluate_m2t(str(corpus), "train", ("lm",), ("script",), weights=str(evaluator), limit=4, progress=False,
                       lm_weights=str(tiny_lm))
    assert set(m2t["kinds"]["script"]["lm"]) >= {"bleu4", "rouge_l", "cider_d", "r_precision_top3"}


def test_geometric_loss_is_zero_at_the_truth_and_sends_gradients_to_the_logits(sampler):
    from engine.models.tokenizer import load_tokenizer
    from engine.train.lm import geometric_loss

    tok = load_tokenizer()
    v = sampler.vocab
    b = sampler.sample(2, "t2m")
    labels = b["labels"]
    L = labels.shape[1]
    width = v.size - v.text_size
    truth = torch.full((2, L, width), -30.0)
    idx = (labels - v.text_size).clamp_min(0)
    truth.scatter_(2, idx[..., None], 30.0)  # the ground-truth id far likelier everywhere
    assert geometric_loss(tok, v, truth, labels, tau=1.0, w_fk=1.0).item() == pytest.approx(0.0, abs=1e-6)
    logits = torch.randn(2, L, width, requires_grad=True)
    loss = geometric_loss(tok, v, logits, labels, tau=1.0, w_fk=1.0)
    loss.backward()
    assert loss.item() > 0 and logits.grad.abs().sum() > 0
    assert logits.grad[:, 0].abs().sum() == 0  # <motion> and padding positions get no geometric gradient


def test_train_lm_with_geometric_refinement(corpus, tmp_path, capsys):
    from tests.helpers import train_tiny_lm

    out = tmp_path / "geo"
    code, _, _ = train_tiny_lm(capsys, corpus, out, "w_geo=1.0", "mix=t2m=1")
    assert code == 0 and (out / "model.safetensors").exists()


def test_train_lm_phases_chain_with_init_from(corpus, tmp_path, capsys):
    from tests.helpers import run_cli

    tiny = ("batch=2", "d_model=32", "layers=1", "heads=2", "d_ff=64", "threads=1", "--no-progress")
    pre = tmp_path / "pre"
    assert run_cli(capsys, "-q", "train", "lm", f"data={corpus}", f"out={pre}", "steps=2", "eval_every=2",
                   "mix=continue=0.5,complete=0.5", "text_cond=none", *tiny)[0] == 0
    inst = tmp_path / "inst"
    code, _, _ = run_cli(capsys, "-q", "train", "lm", f"data={corpus}", f"out={inst}", "steps=1", "eval_every=1",
                         f"init_from={pre}", "d_model=64", "batch=2", "threads=1", "--no-progress")
    assert code == 0
    first, _ = load_lm(pre)
    second, cfg = load_lm(inst)
    assert cfg.d_model == 32  # the earlier run's model config wins over d_model=64
    assert cfg.text_cond == "minilm" and hasattr(second, "text_cond")  # the new phase added the text condition
    assert not torch.equal(first.shared.weight, second.shared.weight)  # and it trained on
    code, _, err = run_cli(capsys, "train", "lm", f"data={corpus}", f"out={tmp_path / 'x'}", f"init_from={pre}",
                           f"base_model={pre}", *tiny)
    assert code == 2 and "either init_from or base_model" in err


def test_decoder_only_option_trains_generates_and_captions(corpus, tmp_path, capsys):
    from engine.pipeline import caption_lm, generate
    from tests.helpers import train_tiny_lm

    out = tmp_path / "dec"
    code, _, _ = train_tiny_lm(capsys, corpus, out, "arch=decoder", "w_geo=0.5")
    assert code == 0
    model, cfg = load_lm(out)
    assert cfg.arch == "decoder" and not model.config.is_encoder_decoder
    motions = generate("Both hands clap.", 0.7, 24.0, seed=2, samples=2, weights=out, device="cpu")
    assert [m.n_frames for m in motions] == [round(0.7 * 24) + 1] * 2
    caption_lm(motions[0], "semantic", out, device="cpu", max_tokens=5)  # the prompt-prefix path runs
    with pytest.raises(HandMotionError, match="arch"):
        LMConfig(arch="rnn")


def test_decoder_only_states_line_up_with_targets(sampler):
    from engine.train.lm import LMTrainer

    cfg = dataclasses.replace(sampler.cfg, arch="decoder")
    model = LMTrainer(build_lm(cfg).eval(), cfg.vocab())
    b = sampler.sample(3, "t2m")
    states = model.target_states(b)
    assert states.shape[:2] == b["labels"].shape
    # row 0 alone gives the same states for its own targets (no leakage from other rows' padding)
    one = {k: (v[:1] if v.dim() else v) for k, v in b.items()}
    n = int((b["labels"][0] >= 0).sum())
    alone = model.target_states({**one, "input_ids": one["input_ids"][:, :int(one["attention_mask"].sum())]})
    assert torch.allclose(states[0, :n], alone[0, :n], atol=1e-5)


def test_bench_times_a_given_language_model(tiny_lm, tmp_path, capsys):
    import json

    from tests.helpers import run_cli

    code, text, _ = run_cli(capsys, "bench", "--only", "generate,caption_lm", "--lm", str(tiny_lm), "--device", "cpu",
                            "--warmup", "0", "--repeat", "2", "--json", str(tmp_path / "b.json"))
    cases = json.loads((tmp_path / "b.json").read_text())["cases"]
    assert code == 0 and cases["generate"]["p50_ms"] > 0 and cases["caption_lm"]["p50_ms"] > 0
    code, _, _ = run_cli(capsys, "bench", "--only", "generate", "--lm", str(tmp_path / "none"), "--device", "cpu",
                         "--json", str(tmp_path / "c.json"))
    assert "no weights" in json.loads((tmp_path / "c.json").read_text())["cases"]["generate"]["skipped"]
