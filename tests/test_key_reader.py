"""The key reader: where it speaks, what it reads, how it trains and ships with the in-betweener."""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file

from engine.interpolate import key_frames_every
from engine.keys import keys_from_motion
from engine.models.inbetween import load_inbetweener
from engine.models.inbetween_sample import denoise
from engine.models.key_reader import KeyReader, full_keys, inside_gaps
from engine.pipeline import Diffusion, inbetween
from tests.helpers import run_cli, sample_corpus_copy, smooth_motion, train_tiny_inbetweener


def _reader(seed: int = 0) -> KeyReader:
    torch.manual_seed(seed)
    reader = KeyReader(hidden=16, basis=4)
    torch.nn.init.normal_(reader.mlp[-1].weight, std=0.5)  # a trained-looking reader: not all zero
    return reader


def test_reader_speaks_only_strictly_between_full_keys():
    full = torch.zeros(2, 12, dtype=torch.bool)
    full[0, [2, 3, 7]] = True  # gaps: (3, 7) only; 2-3 are neighbours
    full[1, 5] = True  # a single key: no gap at all
    inside = inside_gaps(full)
    assert inside[0].nonzero().flatten().tolist() == [4, 5, 6]
    assert not inside[1].any()
    out = _reader()(torch.randn(2, 12, 198), full)
    assert out[0, [4, 5, 6]].abs().sum() > 0
    assert (out[0, [0, 1, 2, 3, 7, 8, 9, 10, 11]] == 0).all() and (out[1] == 0).all()


def test_full_keys_need_every_dimension():
    mask = torch.ones(1, 4, 198)
    mask[0, 1, 5] = 0
    mask[0, 3] = 0
    assert full_keys(mask)[0].tolist() == [True, False, True, False]


def test_reader_reads_the_four_keys_around_its_gap_and_nothing_else():
    reader = _reader(1)
    full = torch.zeros(1, 40, dtype=torch.bool)
    full[0, [0, 10, 20, 30, 39]] = True
    values = torch.randn(1, 40, 198)
    base = reader(values, full)
    far = values.clone()
    far[0, 39] += 1.0  # three keys away from the gap (10, 20)
    far[0, 25] += 1.0  # not a key at all
    assert torch.allclose(reader(far, full)[0, 11:20], base[0, 11:20])
    near = values.clone()
    near[0, 0] += 1.0  # the key before the gap
    assert not torch.allclose(reader(near, full)[0, 11:20], base[0, 11:20])


def test_untrained_reader_leaves_the_fill_alone_and_batches_are_independent():
    assert (KeyReader(hidden=8, basis=3)(torch.randn(1, 20, 198), torch.ones(1, 20, dtype=torch.bool)) == 0).all()
    reader = _reader(2)
    full = torch.zeros(2, 30, dtype=torch.bool)
    full[:, [0, 12, 29]] = True
    values = torch.randn(2, 30, 198)
    both = reader(values, full)
    alone = reader(values[:1], full[:1])
    assert torch.allclose(both[:1], alone, atol=1e-6)


def test_departure_is_a_short_sine_series_over_a_gap_of_any_length():
    reader = _reader(3)  # basis 4
    for gap in (2, 5, 17, 60):
        full = torch.zeros(1, gap + 1, dtype=torch.bool)
        full[0, [0, gap]] = True
        out = reader(torch.randn(1, gap + 1, 198), full)[0].detach().double()
        assert torch.isfinite(out).all() and (out[[0, gap]] == 0).all()
        if gap > 4:  # enough frames to tell: every dimension lies in the span of sin(k pi tau), k = 1..4
            tau = torch.arange(gap + 1, dtype=torch.float64) / gap
            basis = torch.sin(torch.pi * tau[:, None] * torch.arange(1, 5, dtype=torch.float64)[None])
            fit = basis @ torch.linalg.lstsq(basis, out).solution
            assert (fit - out).abs().max() < 1e-4 and out.abs().max() > 1e-3


def test_train_keyreader_trains_only_the_reader_and_ships_with_the_denoiser(tmp_path, capsys):
    corpus = sample_corpus_copy(tmp_path)
    base = train_tiny_inbetweener(corpus, tmp_path / "ib")
    code, out, err = run_cli(capsys, "-q", "train", "keyreader", "--no-progress", f"data={corpus}",
                             f"init_from={base}", f"out={tmp_path / 'kr'}", "steps=8", "batch=4", "window=48",
                             "hidden=32", "basis=4", "eval_every=8", "val_windows=4", "val_steps=2", "threads=1",
                             "lr=3e-3", "warmup=1")
    assert code == 0, err
    before, after = load_file(base / "model.safetensors"), load_file(tmp_path / "kr" / "model.safetensors")
    assert set(after) - set(before) and all(k.startswith("key_reader.") for k in set(after) - set(before))
    assert all(torch.equal(before[k], after[k]) for k in before)  # the denoiser is untouched
    model = load_inbetweener(tmp_path / "kr")
    assert model.cfg.key_reader == 32 and model.key_reader.mlp[-1].weight.abs().sum() > 0
    logs = [line for line in (tmp_path / "kr" / "train.log").read_text().splitlines() if "val_fill_mm_15" in line]
    assert logs, "validation ran"

    # the in-betweener with its reader still hits every key exactly, at any spacing
    m = smooth_motion(50, 30.0, seed=1)
    for every in (7, 15, 49):
        frames = key_frames_every(m.n_frames, every)
        res = inbetween(keys_from_motion(m, frames), m.n_frames, m.fps, diffusion=Diffusion(steps=2),
                        weights=tmp_path / "kr", device="cpu")
        assert np.abs(res.right.hand_pose[frames] - m.right.hand_pose[frames]).max() <= 1e-5

    # and a denoiser trained on from it keeps the reader frozen
    cont = train_tiny_inbetweener(corpus, tmp_path / "cont", f"init_from={tmp_path / 'kr'}")
    again = load_file(cont / "model.safetensors")
    assert all(torch.equal(after[k], again[k]) for k in after if k.startswith("key_reader."))


def test_denoise_with_a_reader_uses_its_fill_and_keeps_keys():
    model = load_inbetweener().float()
    from engine.train.key_reader import with_key_reader

    plain = model.fill(torch.randn(1, 31, 198), torch.ones(1, 31, 198))
    assert plain.shape == (1, 31, 198)
    model = with_key_reader(model, 16, 4)
    torch.nn.init.normal_(model.key_reader.mlp[-1].weight, std=0.1)
    known = torch.randn(1, 31, 198)
    mask = torch.zeros(1, 31, 198)
    mask[:, [0, 15, 30]] = 1
    filled = model.fill(known, mask)
    from engine.models.inbetween import cubic_fill

    assert not torch.allclose(filled, cubic_fill(known * mask, mask))
    assert torch.equal(filled[:, [0, 15, 30]], known[:, [0, 15, 30]])
    x = denoise(model, known, mask, steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x[:, [0, 15, 30]], known[:, [0, 15, 30]])
