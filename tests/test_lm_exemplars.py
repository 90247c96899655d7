"""Exemplar drafts for text to motion: the index and its exclusions, stretching, the alignment of draft
codes with decoder positions in training and in decoding, and the weights round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import HandMotionError
from engine.models.lm import LMConfig, build_lm, load_lm, save_lm
from engine.models.lm_decode import CachedState, T5State, decode_motion
from engine.models.lm_exemplars import NONE, ExemplarIndex, draft_embedding, draft_positions, stretch
from engine.models.prompts import encode_prompt
from engine.models.text import text_tokenizer
from engine.train.lm import LMTrainer

TINY = LMConfig(d_model=32, layers=2, heads=2, d_ff=64, codes=8, exemplar=True)


def index(groups=(0, 0, 1, 2)) -> ExemplarIndex:
    rng = np.random.default_rng(0)
    lengths = [3, 5, 2, 4][:len(groups)]
    codes = rng.integers(0, 8, (sum(lengths), 4)).astype(np.int16)
    keys = np.eye(len(groups), 384, dtype=np.float32)
    return ExemplarIndex(codes, np.r_[0, np.cumsum(lengths)], keys, np.asarray(groups))


def test_nearest_leaves_out_the_query_clips_whole_combination():
    idx = index()
    queries = np.eye(4, 384, dtype=np.float32) + 0.1 * np.eye(4, 384, k=1, dtype=np.float32)
    assert list(idx.nearest(queries)) == [0, 1, 2, 3]
    hits = idx.nearest(queries, exclude=[0, 1, 2, -1])
    assert idx.groups[hits[0]] != 0 and idx.groups[hits[1]] != 0 and hits[2] != 2 and hits[3] == 3
    lonely = ExemplarIndex(idx.codes, idx.offsets, idx.keys, np.zeros(4, np.int64))
    assert list(lonely.nearest(queries[:1], exclude=[0])) == [-1]  # nothing of another combination
    with pytest.raises(HandMotionError, match="groups"):
        ExemplarIndex(idx.codes, idx.offsets, idx.keys).nearest(queries[:1], exclude=[0])
    with pytest.raises(HandMotionError, match="agree"):
        ExemplarIndex(idx.codes, idx.offsets, idx.keys[:3])


def test_stretch_resamples_in_time_and_keeps_the_ends():
    grid = np.arange(12).reshape(3, 4)
    assert np.array_equal(stretch(grid, 3), grid)
    long = stretch(grid, 7)
    assert long.shape == (7, 4) and np.array_equal(long[0], grid[0]) and np.array_equal(long[-1], grid[-1])
    assert np.array_equal(stretch(grid, 1), grid[1:2])
    with pytest.raises(HandMotionError):
        stretch(grid, 0)


def test_draft_positions_line_up_with_the_codes_they_predict():
    ids = np.array([10, 11, 12])
    # decoder input: start, <motion>, m0, m1, m2 -> predicts <motion>, m0, m1, m2, </motion>
    assert list(draft_positions(ids, 5)) == [NONE, 10, 11, 12, NONE]
    assert list(draft_positions(ids, 3)) == [NONE, 10, 11]


@pytest.mark.parametrize("state_cls", [T5State, CachedState])
def test_training_and_decoding_add_the_draft_at_the_same_positions(state_cls):
    """The trainer's hidden states for a t2m target with a draft equal the incremental decoder's, position by
    position, for both decoder states: the draft code of step s, slot k is seen exactly where the model
    predicts step s, slot k."""
    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    torch.nn.init.normal_(model.exemplar_proj.weight, std=0.3)  # as if trained (it starts at zero)
    v = TINY.vocab()
    rng = np.random.default_rng(1)
    target = v.motion_sequence(rng.integers(0, 8, (3, 4)))
    draft = v.to_ids(rng.integers(0, 8, (3, 4)))
    prompt = encode_prompt(text_tokenizer(), v, "t2m", seconds=1.0, text="The right hand waves.")
    labels = torch.as_tensor(target[None])
    dec = torch.cat([torch.zeros(1, 1, dtype=torch.long), labels[:, :-1]], 1)
    batch = {"input_ids": torch.as_tensor(prompt[None]), "attention_mask": torch.ones(1, len(prompt), dtype=torch.long),
             "decoder_input_ids": dec, "labels": labels, "motion_target": torch.tensor(True),
             "draft": torch.as_tensor(draft_positions(draft, dec.shape[1])[None])}
    trainer = LMTrainer(model, v).eval()
    with torch.no_grad():
        states = trainer.target_states(batch)[0] @ model.lm_head.weight.T  # (L, V)
        plain = trainer.target_states({k: x for k, x in batch.items() if k != "draft"})[0] @ model.lm_head.weight.T
        assert not torch.allclose(states, plain, atol=1e-3)
        extra = draft_embedding(model, batch["draft"])
        state = state_cls(model, torch.as_tensor(prompt), 1, dec.shape[1], extra=extra)
        for t, i in enumerate(dec[0]):
            state.feed(i[None])
            assert torch.allclose(state.logits(0, v.size)[0], states[t], atol=1e-4)


def test_a_new_exemplar_projection_leaves_decoding_unchanged_and_drafts_are_checked():
    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    v = TINY.vocab()
    prompt = encode_prompt(text_tokenizer(), v, "t2m", seconds=1.0, text="The right hand waves.")
    draft = np.random.default_rng(0).integers(0, 8, (3, 4))
    with_draft = decode_motion(model, v, prompt, 3, samples=2, seed=4, draft=draft)
    assert np.array_equal(with_draft, decode_motion(model, v, prompt, 3, samples=2, seed=4))
    with pytest.raises(HandMotionError, match="draft"):
        decode_motion(model, v, prompt, 3, draft=draft[:2])
    with pytest.raises(HandMotionError, match="t5"):
        dataclasses.replace(TINY, arch="decoder")


def test_exemplar_weights_keep_their_index(tmp_path):
    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    with pytest.raises(HandMotionError, match="index"):
        save_lm(model, TINY, tmp_path / "lm")
    model.exemplars = index()
    save_lm(model, TINY, tmp_path / "lm")
    loaded, cfg = load_lm(tmp_path / "lm")
    assert cfg.exemplar and len(loaded.exemplars) == 4 and loaded.exemplars.groups is None
    assert np.array_equal(loaded.exemplars.grid(1), model.exemplars.grid(1))
    (tmp_path / "lm" / "stats.npz").unlink()
    with pytest.raises(HandMotionError, match="stats.npz"):
        load_lm(tmp_path / "lm")


def test_train_lm_with_exemplars_drafts_t2m_from_other_combinations(tmp_path, capsys):
    """A short run on the sample corpus: every t2m example's draft comes from a training clip of another
    action combination, other tasks get none, and generate() follows the shipped index."""
    import shutil

    from engine.models.tokenizer import load_tokenizer
    from engine.pipeline import generate
    from engine.train.data import load_captions, load_combinations
    from engine.train.lm import TaskSampler, exemplar_index
    from engine.train.tokens import load_tokens
    from tests.helpers import SAMPLE_CORPUS, train_tiny_lm

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    tok = load_tokenizer()
    train = load_tokens(corpus, "train", tok)
    idx = exemplar_index(corpus, train)
    combos = load_combinations(corpus, "train")
    cfg = dataclasses.replace(TINY, codes=512, text_cond="minilm")
    sampler = TaskSampler(train, load_captions(corpus, None), cfg, tok.cfg.fps, tok.cfg.stride, {"t2m": 1.0}, 0, idx)
    v = cfg.vocab()
    for _ in range(3):
        state = sampler.rng.bit_generator.state  # replayed below: the rows the batch was drawn from
        b = sampler.sample(4, "t2m")
        sampler.rng.bit_generator.state = state
        picked = sampler.rng.choice(len(train), size=4)
        for k, i in enumerate(picked):
            body = b["draft"][k][b["draft"][k] >= 0].numpy()
            if len(body) == 0:  # a clip whose combination is the whole sample corpus
                continue
            n = int((b["labels"][k] >= 0).sum()) - 2
            assert len(body) == n and np.all((body >= v.motion_offset) & (body < v.size))
            grid = v.to_codes(body)
            owners = [r for r in range(len(train)) if np.array_equal(stretch(train.grid(r), n // 4), grid)]
            assert owners and all(combos[int(train.ids[r])] != combos[int(train.ids[i])] for r in owners)
    assert (sampler.sample(2, "m2t")["draft"] == NONE).all()
    grid = train.grid(0)
    sampler.own_noise = 0.0
    kept = sampler.own_draft(grid)  # only warped in time: every step is one of the clip's
    assert kept.shape == grid.shape and all((grid == row).all(1).any() for row in kept)
    other = np.full_like(grid, cfg.codes - 1) if grid.max() < cfg.codes - 1 else np.zeros_like(grid)
    sampler.own_splice = 1.0
    spliced = [sampler.own_draft(grid, other) for _ in range(20)]
    for d in spliced:  # one span of steps is the neighbour's, the rest the clip's own
        theirs = np.flatnonzero((d == other[0]).all(1))
        assert len(theirs) == 0 or np.array_equal(theirs, np.arange(theirs[0], theirs[-1] + 1))
    assert any((d == other[0]).all(1).any() for d in spliced) and any(not (d == other[0]).all(1).all() for d in spliced)
    sampler.own_noise, sampler.own_splice = 0.5, 0.0
    noisy = sampler.own_draft(grid)
    assert noisy.shape == grid.shape and noisy.min() >= 0 and noisy.max() < cfg.codes
    from engine.train.lm import TrainLMConfig

    for name in ("draft_own_share", "draft_noise", "draft_splice", "quote_own_share"):
        with pytest.raises(HandMotionError, match=name):
            TrainLMConfig(**{name: 1.5})

    out = tmp_path / "run"
    code, text, _ = train_tiny_lm(capsys, corpus, out, "exemplar=true", steps=3)
    assert code == 0 and (out / "stats.npz").exists()
    model, lm_cfg = load_lm(out)
    assert lm_cfg.exemplar and len(model.exemplars) == len(train)
    motions = generate("The right hand waves hello.", 1.0, weights=out, samples=2)
    assert len(motions) == 2 and all(m.n_frames == 31 for m in motions)

    from engine.pipeline import exemplar_draft

    text = "The right hand waves hello."
    draft = exemplar_draft(text, 1.0, 30.0, weights=out)  # the nearest clip's codes, stretched and decoded
    again = exemplar_draft(text, 1.0, 30.0, weights=out)
    assert draft.n_frames == 31 and np.array_equal(draft.right.hand_pose, again.right.hand_pose)
