"""Token-by-token decoding: the fast T5 state and the generic cached state against the models' full
forward passes, exact grids, forced codes, sampling controls and caption decoding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import HandMotionError
from engine.models.lm import COND_DIM, LMConfig, build_lm, text_condition
from engine.models.lm_decode import CachedState, T5State, decode_motion, decode_text, sample
from engine.models.prompts import encode_prompt
from engine.models.text import text_tokenizer

TINY = LMConfig(d_model=32, layers=2, heads=2, d_ff=64, codes=8)


def tiny(arch: str = "t5"):
    torch.manual_seed(0)
    return build_lm(dataclasses.replace(TINY, arch=arch)).eval()


def prompt_ids(task: str = "t2m") -> np.ndarray:
    return encode_prompt(text_tokenizer(), TINY.vocab(), task, seconds=1.0, text="The right hand waves.")


@pytest.mark.parametrize("state_cls", [T5State, CachedState])
def test_incremental_t5_logits_match_the_full_forward_pass(state_cls):
    model, v = tiny(), TINY.vocab()
    prompt = prompt_ids()
    rng = np.random.default_rng(0)
    seq = np.r_[0, v.bom, v.to_ids(rng.integers(0, 8, (3, 4)))]
    with torch.no_grad():
        full = model(input_ids=torch.as_tensor(prompt[None]), decoder_input_ids=torch.as_tensor(seq[None])).logits[0]
        state = state_cls(model, torch.as_tensor(prompt), 1, len(seq))
        for t, i in enumerate(seq):
            state.feed(torch.tensor([i]))
            lo, hi = v.slot_range(t % 4)
            assert torch.allclose(state.logits(lo, hi)[0], full[t, lo:hi], atol=1e-4)
        with pytest.raises(HandMotionError, match="past"):
            state.feed(torch.tensor([v.bom]))


@pytest.mark.parametrize("state_cls", [T5State, CachedState])
def test_text_condition_is_added_to_every_decoder_input(state_cls):
    """A model with a text condition: the incremental states equal the full forward pass with the condition
    added to the decoder's input embeddings, and the condition changes the logits."""
    model = build_lm(dataclasses.replace(TINY, text_cond="minilm")).eval()
    torch.nn.init.normal_(model.text_cond.weight, std=0.5)  # as if trained (it starts at zero)
    v, prompt = TINY.vocab(), prompt_ids()
    seq = np.r_[0, v.bom, v.to_ids(np.arange(8).reshape(2, 4) % 8)]
    cond = text_condition(model, torch.randn(1, COND_DIM, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        emb = model.get_decoder().get_input_embeddings()(torch.as_tensor(seq[None])) + cond[:, None]
        full = model(input_ids=torch.as_tensor(prompt[None]), decoder_inputs_embeds=emb).logits[0]
        plain = model(input_ids=torch.as_tensor(prompt[None]), decoder_input_ids=torch.as_tensor(seq[None])).logits[0]
        assert not torch.allclose(full, plain, atol=1e-3)
        state = state_cls(model, torch.as_tensor(prompt), 1, len(seq), cond)
        for t, i in enumerate(seq):
            state.feed(torch.tensor([i]))
            assert torch.allclose(state.logits(0, v.size)[0], full[t], atol=1e-4)


def test_text_condition_in_a_decoder_only_model_covers_prompt_and_continuation():
    model = build_lm(dataclasses.replace(TINY, arch="decoder", text_cond="minilm")).eval()
    torch.nn.init.normal_(model.text_cond.weight, std=0.5)
    v, prompt = TINY.vocab(), prompt_ids()
    seq = np.r_[v.bom, v.to_ids(np.arange(8).reshape(2, 4) % 8)]
    cond = text_condition(model, torch.randn(1, COND_DIM, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        emb = model.get_input_embeddings()(torch.as_tensor(np.r_[prompt, seq][None])) + cond[:, None]
        full = model(inputs_embeds=emb).logits[0, len(prompt) - 1:]
        state = CachedState(model, torch.as_tensor(prompt), 1, len(seq), cond)
        assert torch.allclose(state.logits(0, v.size)[0], full[0], atol=1e-4)
        for t, i in enumerate(seq):
            state.feed(torch.tensor([i]))
            assert torch.allclose(state.logits(0, v.size)[0], full[t + 1], atol=1e-4)


def test_cached_state_matches_a_decoder_only_model():
    model, v = tiny("decoder"), TINY.vocab()
    prompt = prompt_ids()
    seq = np.r_[v.bom, v.to_ids(np.arange(8).reshape(2, 4))]
    with torch.no_grad():
        full = model(input_ids=torch.as_tensor(np.r_[prompt, seq][None])).logits[0, len(prompt) - 1:]
        state = CachedState(model, torch.as_tensor(prompt), 1, len(seq))
        assert torch.allclose(state.logits(0, v.size)[0], full[0], atol=1e-4)  # after the prompt alone
        for t, i in enumerate(seq):
            state.feed(torch.tensor([i]))
            assert torch.allclose(state.logits(0, v.size)[0], full[t + 1], atol=1e-4)


@pytest.mark.parametrize("arch", ["t5", "decoder"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_untrained_model_still_generates_exact_grids(arch, temperature):
    model, v = tiny(arch), TINY.vocab()
    forced = -np.ones((7, 4), dtype=np.int64)
    forced[:, 0] = 3  # the left trajectory is given
    kwargs = dict(steps=7, samples=3, seed=1, temperature=temperature, top_k=5, forced=forced)
    grids = decode_motion(model, v, prompt_ids(), **kwargs)
    assert grids.shape == (3, 7, 4) and grids.min() >= 0 and grids.max() < 8
    assert (grids[:, :, 0] == 3).all()
    assert np.array_equal(grids, decode_motion(model, v, prompt_ids(), **kwargs))  # same seed, same grids
    if temperature > 0:
        assert len({g.tobytes() for g in grids}) > 1  # several variations per call
        other = decode_motion(model, v, prompt_ids(), **{**kwargs, "seed": 2})
        assert not np.array_equal(grids, other)
    else:
        assert (grids == grids[:1]).all()
    with pytest.raises(HandMotionError, match="forced codes must be"):
        decode_motion(model, v, prompt_ids(), steps=7, forced=forced[:3])
    with pytest.raises(HandMotionError, match="at least one"):
        decode_motion(model, v, prompt_ids(), steps=0)


@pytest.mark.parametrize("arch", ["t5", "decoder"])
def test_guidance_mixes_the_logits_with_and_without_the_text(arch):
    """Greedy guided decoding picks, at every position, the best code of uncond + g (cond - uncond), computed
    here from two full forward passes; g = 1 is plain decoding, bit for bit."""
    model = build_lm(dataclasses.replace(TINY, arch=arch, text_cond="minilm")).eval()
    torch.nn.init.normal_(model.text_cond.weight, std=0.5)  # as if trained (it starts at zero)
    v, prompt = TINY.vocab(), prompt_ids()
    cond = text_condition(model, torch.randn(1, COND_DIM, generator=torch.Generator().manual_seed(1)))
    uncond = text_condition(model, torch.zeros(1, COND_DIM))
    plain = decode_motion(model, v, prompt, steps=3, samples=2, seed=4, cond=cond)
    assert np.array_equal(plain, decode_motion(model, v, prompt, steps=3, samples=2, seed=4, cond=cond,
                                               guidance=1.0, uncond=uncond))
    g = 3.0
    grid = decode_motion(model, v, prompt, steps=3, temperature=0, cond=cond, guidance=g, uncond=uncond)[0]
    codes = grid.reshape(-1)

    def full_logits(c: torch.Tensor) -> torch.Tensor:
        seq = torch.as_tensor(np.r_[v.bom, v.to_ids(grid)][None])
        if arch == "t5":
            seq = torch.cat([torch.zeros(1, 1, dtype=torch.long), seq], 1)
            emb = model.get_decoder().get_input_embeddings()(seq) + c[:, None]
            return model(input_ids=torch.as_tensor(prompt[None]), decoder_inputs_embeds=emb).logits[0, 1:]
        ids = torch.cat([torch.as_tensor(prompt[None]), seq], 1)
        emb = model.get_input_embeddings()(ids) + c[:, None]
        return model(inputs_embeds=emb).logits[0, len(prompt):]

    with torch.no_grad():
        mixed = full_logits(uncond) + g * (full_logits(cond) - full_logits(uncond))
    for k, code in enumerate(codes):  # position k (after <motion>) predicts code k
        lo, hi = v.slot_range(k % 4)
        assert int(mixed[k, lo:hi].argmax()) == code
    unguided = decode_motion(model, v, prompt, steps=3, temperature=0, cond=cond)[0]
    assert not np.array_equal(grid, unguided)  # the guidance changed the choice somewhere
    with pytest.raises(HandMotionError, match="guidance"):
        decode_motion(model, v, prompt, steps=1, cond=cond, guidance=-1.0, uncond=uncond)


def test_greedy_decoding_picks_each_slots_best_code():
    model, v = tiny(), TINY.vocab()
    prompt = prompt_ids()
    grid = decode_motion(model, v, prompt, steps=2, temperature=0)[0].reshape(-1)
    seq = np.r_[0, v.bom, v.to_ids(grid.reshape(2, 4))]
    with torch.no_grad():
        full = model(input_ids=torch.as_tensor(prompt[None]), decoder_input_ids=torch.as_tensor(seq[None])).logits[0]
    for k, code in enumerate(grid):  # position k + 1 (after <motion>) predicts code k
        lo, hi = v.slot_range(k % 4)
        assert int(full[k + 1, lo:hi].argmax()) == code


def test_sampling_controls():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9]] * 200)
    gen = torch.Generator().manual_seed(0)
    assert (sample(logits, 0.0, 0, 1.0, gen) == 1).all()
    assert set(sample(logits, 1.0, 2, 1.0, gen).tolist()) == {1, 3}  # top-k 2
    assert set(sample(logits, 1.0, 0, 0.3, gen).tolist()) == {1}  # the head alone reaches 0.3
    assert set(sample(logits, 5.0, 0, 1.0, gen).tolist()) == {0, 1, 2, 3}  # hot: everything
    with pytest.raises(HandMotionError):
        decode_motion(tiny(), TINY.vocab(), prompt_ids(), steps=1, temperature=-1)
    with pytest.raises(HandMotionError):
        decode_motion(tiny(), TINY.vocab(), prompt_ids(), steps=1, top_p=0)


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-40, 1e-6])
def test_tiny_temperatures_sample_the_best_code_without_nan(temperature):
    """logits / 1e-300 overflows float32 to inf and the softmax to NaN; a tiny temperature must act as
    greedy decoding instead, drawing between exact ties only."""
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9], [-5.0, -1.0, -1.0, -7.5]] * 100)
    gen = torch.Generator().manual_seed(0)
    for top_k, top_p in ((0, 1.0), (0, 0.95), (3, 0.95)):
        picked = sample(logits, temperature, top_k, top_p, gen)
        assert set(picked[0::2].tolist()) == {1}
        assert set(picked[1::2].tolist()) == {1, 2}  # a tie stays a draw between the tied codes
    model, v = tiny(), TINY.vocab()
    greedy = decode_motion(model, v, prompt_ids(), steps=3, samples=2, temperature=0)
    cold = decode_motion(model, v, prompt_ids(), steps=3, samples=2, temperature=temperature, top_p=0.95)
    assert np.array_equal(cold, greedy)


@pytest.mark.parametrize("arch", ["t5", "decoder"])
def test_caption_decoding_never_repeats_a_trigram(arch):
    model, v = tiny(arch), TINY.vocab()
    prompt = encode_prompt(text_tokenizer(), v, "m2t", codes=np.zeros((2, 4), dtype=int), focus="the actions")
    ids = decode_text(model, prompt, v.text_size, end_id=102, max_tokens=40)
    assert 0 < len(ids) <= 40 and max(ids) < v.text_size and 102 not in ids
    grams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
    assert len(grams) == len(set(grams))
