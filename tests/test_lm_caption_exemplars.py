"""Caption exemplars for motion to text: the motion-keyed index, its exclusions and storage, the prompt that
quotes a neighbour's caption, and a short training run whose m2t prompts quote clips of other combinations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import HandMotionError
from engine.models.lm import LMConfig, build_lm, load_lm, save_lm
from engine.models.lm_decode import consensus
from engine.models.lm_exemplars import CaptionIndex, motion_examples
from engine.models.prompts import EXAMPLE, encode_prompt
from engine.models.text import text_tokenizer

TINY = LMConfig(d_model=32, layers=2, heads=2, d_ff=64, codes=8, caption_exemplar=True)


def wordpiece(tok, text: str) -> str:
    """`text` as it reads back after encoding (lower case, punctuation spaced)."""
    return tok.decode(tok(text, add_special_tokens=False)["input_ids"])


def clips(n: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Clips whose features sit at distinct levels, so each is nearest to itself."""
    rng = np.random.default_rng(seed)
    return [(k + 0.05 * rng.standard_normal((20 + 5 * k, 198))).astype(np.float32) for k in range(n)]


def index(groups=(0, 0, 1, 1, 2, 3)) -> CaptionIndex:
    caps = [{"script": [f"clip {k} taps."], "semantic": [f"motion {k}", "other"]} for k in range(len(groups))]
    caps[5]["script"] = ["Die Hand öffnet sich."]  # not ASCII
    return CaptionIndex.build(clips(len(groups)), caps, 30.0, rank=4, groups=np.asarray(groups))


def test_nearest_by_motion_leaves_out_the_whole_combination():
    idx = index()
    assert idx.keys.shape == (6, 4) and idx.keys.dtype == np.float16
    own = np.stack([idx.key(x) for x in clips()])
    assert list(idx.nearest(own)[:, 0]) == list(range(6))
    ranked = idx.nearest(own, k=3)
    assert ranked.shape == (6, 3) and list(ranked[2]) == [2, 3, 1]  # nearest first
    hits = idx.nearest(own, k=2, exclude=np.arange(6))
    for row, got in enumerate(hits):
        assert all(idx.groups[g] != idx.groups[row] for g in got)
    lonely = CaptionIndex(idx.keys, idx.mean, idx.std, idx.center, idx.basis, idx.captions, 30.0, np.zeros(6, int))
    assert (lonely.nearest(own[:1], k=2, exclude=np.array([0])) == -1).all()  # nothing of another combination
    with pytest.raises(HandMotionError, match="groups"):
        CaptionIndex(idx.keys, idx.mean, idx.std, idx.center, idx.basis, idx.captions, 30.0).nearest(own, exclude=[0])
    with pytest.raises(HandMotionError, match="agree"):
        CaptionIndex(idx.keys[:5], idx.mean, idx.std, idx.center, idx.basis, idx.captions, 30.0)
    assert idx.caption(0, "script") == "clip 0 taps." and idx.caption(1, "semantic") == "motion 1"
    assert idx.caption(0, "articulation") == ""


def test_caption_index_round_trips_through_the_weights_folder(tmp_path):
    torch.manual_seed(0)
    model = build_lm(TINY).eval()
    with pytest.raises(HandMotionError, match="caption_exemplars"):
        save_lm(model, TINY, tmp_path / "lm")
    model.caption_exemplars = index()
    save_lm(model, TINY, tmp_path / "lm")
    loaded, cfg = load_lm(tmp_path / "lm")
    got = loaded.caption_exemplars
    assert cfg.caption_exemplar and got.captions == model.caption_exemplars.captions and got.groups is None
    assert got.caption(5, "script") == "Die Hand öffnet sich."
    x = clips()[3]
    assert np.allclose(got.key(x), model.caption_exemplars.key(x))
    assert motion_examples(loaded, x, "script") == ["clip 3 taps."]
    near = motion_examples(loaded, x, "script", k=3)
    assert near[0] == "clip 3 taps." and set(near) == {"clip 3 taps.", "clip 2 taps.", "clip 4 taps."}
    assert motion_examples(loaded, x, "articulation", k=3) == []  # no neighbour has a caption of that kind
    assert motion_examples(build_lm(dataclasses.replace(TINY, caption_exemplar=False)), x, "script") == []
    stats = dict(np.load(tmp_path / "lm" / "stats.npz"))
    del stats["caption_basis"]
    np.savez(tmp_path / "lm" / "stats.npz", **stats)
    with pytest.raises(HandMotionError, match="caption_basis"):
        load_lm(tmp_path / "lm")


def test_consensus_keeps_the_caption_the_others_agree_with():
    texts = ["The right hand waves.", "The right hand waves twice.", "Both hands clap.", "The right hand waves!"]
    assert consensus(texts) in (0, 3)
    assert consensus(["Only one."]) == 0 and consensus(["", "a b"]) == 0
    with pytest.raises(HandMotionError):
        consensus([])


def test_the_m2t_prompt_quotes_the_example_before_the_motion():
    tok, v = text_tokenizer(), TINY.vocab()
    codes = np.zeros((2, 4), dtype=int)
    plain = encode_prompt(tok, v, "m2t", codes=codes, focus="the actions")
    quoted = encode_prompt(tok, v, "m2t", codes=codes, focus="the actions", example="The right hand waves.")
    assert np.array_equal(encode_prompt(tok, v, "m2t", codes=codes, focus="the actions", example=None), plain)
    text = tok.decode(quoted[:list(quoted).index(v.bom)])
    assert text.endswith(wordpiece(tok, EXAMPLE.format(example="The right hand waves.")))
    assert np.array_equal(quoted[-(len(codes) * 4 + 3):], plain[-(len(codes) * 4 + 3):])  # the same motion part


def test_train_lm_m2t_prompts_quote_clips_of_other_combinations(tmp_path, capsys):
    """On the sample corpus: every m2t prompt quotes a caption of one of its clip's hinted training clips, all
    of other action combinations; other tasks quote nothing; the trained weights caption with their index."""
    import shutil

    from engine.eval.protocol import load_split
    from engine.models.tokenizer import load_tokenizer
    from engine.pipeline import caption_lm, model_features
    from engine.train.data import load_captions, load_combinations
    from engine.train.lm import TaskSampler, caption_hints
    from engine.train.tokens import load_tokens
    from tests.helpers import SAMPLE_CORPUS, train_tiny_lm

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    tok = load_tokenizer()
    train = load_tokens(corpus, "train", tok)
    captions = load_captions(corpus, None)
    idx, hints, val_hints = caption_hints(corpus, train, train, captions, tok.cfg.fps)
    assert hints.shape == (len(train), 3) and val_hints is hints
    combos = load_combinations(corpus, "train")
    hinted = 0
    for row, got in enumerate(hints):
        for g in got[got >= 0]:
            assert combos[int(train.ids[g])] != combos[int(train.ids[row])]
            hinted += 1
    assert hinted > 0
    cfg = dataclasses.replace(TINY, codes=512)
    hint_captions = [captions[int(i)] for i in train.ids]
    sampler = TaskSampler(train, captions, cfg, tok.cfg.fps, tok.cfg.stride, {"m2t": 1.0}, 0,
                          hints=hints, hint_captions=hint_captions)
    text_tok, v = cfg.tokenizer(), cfg.vocab()
    marker = wordpiece(text_tok, EXAMPLE.split("{")[0])
    quoted = 0
    for _ in range(4):
        state = sampler.rng.bit_generator.state  # replayed below: the rows the batch was drawn from
        b = sampler.sample(4, "m2t")
        sampler.rng.bit_generator.state = state
        picked = sampler.rng.choice(len(train), size=4)
        for k, i in enumerate(picked):
            ids = b["input_ids"][k].tolist()
            text = text_tok.decode(ids[:ids.index(v.bom)])
            if marker not in text:
                assert (hints[i] < 0).all()
                continue
            quote = text.split(marker, 1)[1].strip()
            sources = {wordpiece(text_tok, c) for g in hints[i][hints[i] >= 0] for cs in hint_captions[g].values()
                       for c in cs}
            assert quote in sources
            quoted += 1
    assert quoted > 0
    sampler.own_quote = 1.0  # quote_own_share: another of the clip's own captions of the kind, never the target
    for i in range(len(train)):
        own = captions[int(train.ids[i])].get("script") or []
        if len(own) > 1:
            assert all(sampler.hint(i, "script", own[0]) in own[1:] for _ in range(5))
    sampler.own_quote = 0.0
    t2m = TaskSampler(train, captions, cfg, tok.cfg.fps, tok.cfg.stride, {"t2m": 1.0}, 0, hints=hints,
                      hint_captions=hint_captions).sample(2)
    assert all(marker not in text_tok.decode(r.tolist()) for r in t2m["input_ids"])

    out = tmp_path / "run"
    code, _, _ = train_tiny_lm(capsys, corpus, out, "caption_exemplar=true", "mix=m2t=1")
    assert code == 0
    model, lm_cfg = load_lm(out)
    assert lm_cfg.caption_exemplar and len(model.caption_exemplars) == len(train)
    motion = load_split(corpus, "train").motion(0)
    examples = motion_examples(model, model_features(motion, tok)[0], "script", k=2)
    assert examples and set(examples) <= {c for cs in hint_captions for c in cs.get("script", [])}
    assert isinstance(caption_lm(motion, "script", weights=out, max_tokens=8, candidates=2), str)
    with pytest.raises(HandMotionError, match="candidates"):
        caption_lm(motion, "script", weights=out, candidates=0)
