"""`handmotion eval m2t`: motion-to-text quality, per caption kind.

Protocol: for each clip and kind, the seeded caption (`protocol.pick_caption`) is held out and the
clip's other captions of that kind are the references for every method, so the ground-truth row (the
held-out caption itself) is the ceiling a captioner can reach against other human-style wordings.
Scores: BLEU-1, BLEU-4, ROUGE-L, CIDEr-D, and R-Precision of the produced caption (the evaluator ranks
it against the 31 other captions of its pool for the clip's motion).

Methods are registered in `CAPTIONERS`: a function (context, clip indices, kind, seed) -> captions,
or None where the method cannot write that kind.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..caption.describe import describe
from .distribution import r_precision
from .evaluator import get_evaluator
from .protocol import CAPTION_KINDS, POOL, SEED, load_split, pick_caption
from .retrieval import MotionIndex
from .t2m import Context, lm_available
from .text_metrics import bleu, cider_d, rouge_l

log = logging.getLogger(__name__)

RULE_KINDS = ("semantic", "interaction", "articulation")  # what the rule captioner writes


def _ground_truth(ctx: Context, idx: list[int], kind: str, seed: int) -> list[str] | None:
    return [ctx.test.caption_of(i, kind) for i in idx]


def _retrieval(ctx: Context, idx: list[int], kind: str, seed: int) -> list[str] | None:
    if "motion_index" not in ctx.cache:
        ctx.cache["motion_index"] = MotionIndex(ctx.train.clips, ctx.train.fps)
    index: MotionIndex = ctx.cache["motion_index"]
    key = ("m2t_nn", tuple(idx))
    if key not in ctx.cache:
        ctx.cache[key] = index.query([ctx.test.clips.clip(i) for i in idx], [int(ctx.test.clips.ids[i]) for i in idx])
    out = []
    for j in ctx.cache[key]:
        cid = int(ctx.train.clips.ids[j])
        out.append(pick_caption(ctx.train.captions[cid], cid, kind))
    return out


def _rules(ctx: Context, idx: list[int], kind: str, seed: int) -> list[str] | None:
    if kind not in RULE_KINDS:
        return None
    key = ("rules", tuple(idx))
    if key not in ctx.cache:  # one describe() per clip for all kinds; a seed the corpus did not use
        ctx.cache[key] = [describe(ctx.test.motion(i), seed=seed + 7919, n=1)
                          for i in tqdm(idx, desc="rule captions", disable=not ctx.cache.get("progress"))]
    return [getattr(c, kind)[0] for c in ctx.cache[key]]


def _lm(ctx: Context, idx: list[int], kind: str, seed: int) -> list[str] | None:
    from ..pipeline import caption_lm

    extra = {"candidates": ctx.cache["lm_candidates"]} if ctx.cache.get("lm_candidates") else {}
    return [caption_lm(ctx.test.motion(i), kind, ctx.cache.get("lm_weights"), device=ctx.device, **extra)
            for i in tqdm(idx, desc=f"lm captions ({kind})", disable=not ctx.cache.get("progress"))]


CAPTIONERS: dict[str, Callable[[Context, list[int], str, int], list[str] | None]] = {
    "ground_truth": _ground_truth, "retrieval": _retrieval, "rules": _rules, "lm": _lm}


def references(ctx: Context, idx: list[int], kind: str) -> tuple[list[int], list[list[str]]]:
    """Clips that have a held-out caption and at least one other caption of `kind`, and those others."""
    keep, refs = [], []
    for i in idx:
        cid = int(ctx.test.clips.ids[i])
        options = ctx.test.captions[cid].get(kind) or []
        if len(options) < 2:
            continue
        held = pick_caption(ctx.test.captions[cid], cid, kind)
        others = [c for c in options if c != held] or [c for k, c in enumerate(options) if k != options.index(held)]
        keep.append(i)
        refs.append(others)
    return keep, refs


def score_captions(ctx: Context, idx: list[int], hyps: list[str], refs: list[list[str]], seed: int = SEED) -> dict:
    order = np.random.default_rng(seed).permutation(len(idx))
    motion = ctx.evaluator.encode_features([ctx.test.clips.clip(idx[k]) for k in order]).cpu().numpy()
    text = ctx.evaluator.encode_text([hyps[k] for k in order]).cpu().numpy()
    top = r_precision(text, motion, POOL)
    return {"bleu1": bleu(hyps, refs, 1), "bleu4": bleu(hyps, refs, 4), "rouge_l": rouge_l(hyps, refs),
            "cider_d": cider_d(hyps, refs), "r_precision_top1": float(top[0]), "r_precision_top3": float(top[2]),
            "clips": len(idx)}


def evaluate_m2t(data: str, split: str | None = "test", methods: tuple[str, ...] | None = None,
                 kinds: tuple[str, ...] = CAPTION_KINDS, weights: str | None = None, limit: int | None = None,
                 device: str = "cpu", progress: bool = True, lm_weights: str | None = None,
                 lm_candidates: int | None = None) -> dict:
    """The m2t report: {"kinds": {kind: {method: scores}}}; methods that cannot write a kind are omitted.
    Default methods: the baselines, and "lm" when language-model weights exist (`lm_candidates`: its
    captions per clip, see `caption_lm`; None: the engine's default)."""
    if methods is None:
        methods = ("ground_truth", "retrieval", "rules") + (("lm",) if lm_available(lm_weights) else ())
    ctx = Context(load_split(data, split, limit), load_split(data, "train"), get_evaluator(weights, device), device)
    ctx.cache.update(progress=progress, lm_weights=lm_weights, lm_candidates=lm_candidates)
    report = {"data": str(data), "split": split, "clips": len(ctx.test.clips), "kinds": {}}
    for kind in kinds:
        idx, refs = references(ctx, list(range(len(ctx.test.clips))), kind)
        if not idx:
            log.warning("m2t: no clip has two %s captions; skipped", kind)
            continue
        table = {}
        for name in methods:
            if name not in CAPTIONERS:
                raise KeyError(f"unknown m2t method {name!r} (known: {', '.join(CAPTIONERS)})")
            hyps = CAPTIONERS[name](ctx, idx, kind, SEED)
            if hyps is not None:
                table[name] = score_captions(ctx, idx, hyps, refs)
        report["kinds"][kind] = table
    return report
