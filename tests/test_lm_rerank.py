"""Reranking text-to-motion candidates by the model's own caption score: the score is the training loss's
own quantity, and generate keeps the best-scored candidates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import HandMotionError
from engine.models.lm import LMConfig, build_lm, prompt_condition, save_lm
from engine.models.lm_decode import decode_motion, text_log_likelihood
from engine.models.prompts import FOCUS, encode_prompt
from engine.train.lm import LMTrainer

TINY = LMConfig(d_model=32, layers=2, heads=2, d_ff=64, codes=512, text_cond="minilm")


def test_caption_log_likelihood_is_the_training_loss_per_token():
    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    torch.nn.init.normal_(model.text_cond.weight, std=0.3)  # as if trained (it starts at zero)
    tok, v = TINY.tokenizer(), TINY.vocab()
    rng = np.random.default_rng(0)
    grids = [rng.integers(0, 512, (3, 4)), rng.integers(0, 512, (5, 4))]
    prompts = [encode_prompt(tok, v, "m2t", codes=g, focus=FOCUS["script"]) for g in grids]
    target = np.asarray(tok("The right hand waves.")["input_ids"][1:])
    got = text_log_likelihood(model, prompts, target, v.text_size, prompt_condition(model, None))
    trainer = LMTrainer(model, v).eval()
    for p, score in zip(prompts, got):
        labels = torch.as_tensor(target[None])
        batch = {"input_ids": torch.as_tensor(p[None]), "attention_mask": torch.ones(1, len(p), dtype=torch.long),
                 "decoder_input_ids": torch.cat([torch.zeros(1, 1, dtype=torch.long), labels[:, :-1]], 1),
                 "labels": labels, "motion_target": torch.tensor(False), "text_emb": torch.zeros(1, 384)}
        with torch.no_grad():
            loss, _ = trainer(batch)
        assert score == pytest.approx(-float(loss), abs=1e-4)
    assert got[0] != pytest.approx(got[1], abs=1e-6)  # the motion matters
    decoder_only = build_lm(LMConfig(arch="decoder", d_model=32, layers=1, heads=2, d_ff=64, codes=8)).eval()
    with pytest.raises(HandMotionError, match="encoder-decoder"):
        text_log_likelihood(decoder_only, prompts[:1], target, v.text_size)


def test_generate_keeps_the_best_captioned_candidates(tmp_path):
    from engine.pipeline import caption_scores, generate, get_lm, get_tokenizer

    torch.manual_seed(0)
    save_lm(build_lm(TINY), TINY, tmp_path / "lm")
    text, seconds = "Both hands clap twice.", 1.0
    kept = generate(text, seconds, seed=3, samples=2, rerank=3, weights=tmp_path / "lm")
    assert len(kept) == 2 and all(m.n_frames == 31 for m in kept)
    model, cfg = get_lm(tmp_path / "lm", "auto")
    prompt = encode_prompt(cfg.tokenizer(), cfg.vocab(), "t2m", seconds=seconds, text=text)
    steps = int(np.ceil((31 + 2) / get_tokenizer(None, "auto").cfg.stride))
    cond, uncond = prompt_condition(model, text), prompt_condition(model, None)
    grids = decode_motion(model, cfg.vocab(), prompt, steps, 6, 3, top_p=0.95, cond=cond, guidance=3.0,
                          uncond=uncond)  # generate's own draws
    scores = caption_scores(model, cfg, grids, text)
    best = np.argsort(-scores, kind="stable")[:2]
    assert list(best) != [0, 1]  # this seed's best are not simply the first draws
    plain = generate(text, seconds, seed=3, samples=6, weights=tmp_path / "lm", rerank=1)  # the same 6 draws
    for got, k in zip(kept, best):
        assert np.allclose(got.right.hand_pose, plain[k].right.hand_pose)
    with pytest.raises(HandMotionError, match="rerank"):
        generate(text, seconds, rerank=0, weights=tmp_path / "lm")
