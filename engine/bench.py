"""`handmotion bench`: latency of each engine step on the current device, after warm-up.

Each case builds its inputs and loads its model once (`setup`), runs `warmup` untimed calls, then
`repeat` timed calls (CUDA synchronised before each clock read) and reports p50 / p95 / mean in ms.
The input is the built-in two-hand greeting clip, looped or cut to the case's length.
Steps whose component is not in this build or has no weights are listed with the reason instead.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import HandMotionError
from .examples import greeting
from .motion import HandMotion

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """A case that cannot run here (no weights, no component); the message says why."""


@dataclass
class Case:
    name: str
    what: str
    setup: Callable[[str, dict[str, str]], Callable[[], object]]  # (device, {component: weights}) -> the call to time


def clip_of(seconds: float, fps: float = 30.0) -> HandMotion:
    """The greeting clip looped or cut to `seconds` at `fps`."""
    base = greeting(fps)
    n = max(int(round(seconds * fps)), 2)
    reps = -(-n // base.n_frames)
    return HandMotion.concat([base] * reps).slice(0, n)


def _weights(component: str):
    from .models.weights import default_dir

    d = default_dir(component)
    if not (d / "config.json").exists():
        raise Unavailable(f"no weights in {d}")
    return d


def _tokenize(device: str, weights: dict[str, str]):
    from .pipeline import get_tokenizer, tokenize

    _weights("tokenizer")
    get_tokenizer(None, device)
    motion = clip_of(4.0)
    return lambda: tokenize(motion, device=device)


def _detokenize(device: str, weights: dict[str, str]):
    from .pipeline import detokenize, tokenize

    _weights("tokenizer")
    tokens = tokenize(clip_of(4.0), device=device)
    return lambda: detokenize(tokens, device=device)


def _caption_rules(device: str, weights: dict[str, str]):
    from .caption import describe

    motion = clip_of(4.0)
    return lambda: describe(motion, n=1)


def _evaluator(device: str, weights: dict[str, str]):
    from .eval.evaluator import get_evaluator

    _weights("evaluator")
    model = get_evaluator(None, device)
    motion = clip_of(4.0)
    return lambda: (model.encode_motions([motion]), model.encode_text(["The right hand waves hello."]))


def _given_or_shipped(weights: dict[str, str], component: str):
    """The weights folder given for `component`, else the shipped one; Unavailable when neither has weights."""
    if component not in weights:
        return _weights(component)
    if not (Path(weights[component]) / "config.json").exists():
        raise Unavailable(f"no weights in {weights[component]}")
    return weights[component]


def _generate(device: str, weights: dict[str, str]):
    from .pipeline import generate, get_lm

    lm = _given_or_shipped(weights, "lm")
    get_lm(lm, device)
    return lambda: generate("The right hand waves hello.", 4.0, 30.0, seed=0, weights=lm, device=device)


def _caption_lm(device: str, weights: dict[str, str]):
    from .pipeline import caption_lm

    lm = _given_or_shipped(weights, "lm")
    motion = clip_of(4.0)
    return lambda: caption_lm(motion, weights=lm, device=device)


def _inbetween(device: str, weights: dict[str, str]):
    from .interpolate import key_frames_every
    from .keys import keys_from_motion
    from .pipeline import Diffusion, get_inbetweener, inbetween

    folder = _given_or_shipped(weights, "inbetween")
    get_inbetweener(folder, device)
    motion = clip_of(4.0)  # 120 frames
    keys = keys_from_motion(motion, key_frames_every(motion.n_frames, 15))
    return lambda: inbetween(keys, motion.n_frames, motion.fps, diffusion=Diffusion(seed=0), weights=folder,
                             device=device)


def _refine(device: str, weights: dict[str, str]):
    from .eval.corrupt import corrupt
    from .pipeline import get_inbetweener
    from .repair import refine

    folder = _given_or_shipped(weights, "inbetween")
    get_inbetweener(folder, device)
    bad, _ = corrupt(clip_of(4.0), np.random.default_rng(0))  # one defect of every kind
    return lambda: refine(bad, seed=0, weights=folder, device=device)


CASES = (
    Case("encode", "tokenize a 4 s two-hand clip (SHIFT encoder)", _tokenize),
    Case("decode", "detokenize 4 s of tokens to motion (SHIFT decoder)", _detokenize),
    Case("caption_rules", "rule captioner on a 4 s clip (features, gestures, text)", _caption_rules),
    Case("evaluator", "embed a 4 s clip and one prompt (text-motion evaluator)", _evaluator),
    Case("generate", "text to a 4 s two-hand clip (language model + SHIFT decoder)", _generate),
    Case("caption_lm", "caption a 4 s clip with the language model (greedy)", _caption_lm),
    Case("inbetween", "in-between 120 frames keyed every 15 (diffusion, 20 DDIM steps)", _inbetween),
    Case("refine", "find and repair 5 defects in a 4 s two-hand clip (detection + 20 DDIM steps)", _refine),
)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str, warmup: int, repeat: int) -> dict[str, float]:
    """p50 / p95 / mean / min latency (ms) of `repeat` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000.0)
    t = np.asarray(times)
    return {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95)), "mean_ms": float(t.mean()),
            "min_ms": float(t.min()), "repeat": repeat}


def device_info(device: str) -> dict:
    info = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_bench(device: str = "cpu", warmup: int = 3, repeat: int = 20, only: tuple[str, ...] | None = None,
              weights: dict[str, str] | None = None) -> dict:
    """{"device": info, "cases": {name: timings or {"skipped": reason}}}. `weights`: {component: folder}
    to time instead of the shipped weights ("lm", "inbetween")."""
    known = [c.name for c in CASES]
    for name in only or ():
        if name not in known:
            raise HandMotionError(f"unknown bench case {name!r} (known: {', '.join(known)})")
    cases = {}
    for case in CASES:
        if only and case.name not in only:
            continue
        try:
            fn = case.setup(device, weights or {})
        except Unavailable as exc:
            cases[case.name] = {"what": case.what, "skipped": str(exc)}
            continue
        log.info("bench %s", case.name)
        cases[case.name] = {"what": case.what, **time_call(fn, device, warmup, repeat)}
    return {**device_info(device), "warmup": warmup, "cases": cases}


def bench_table(report: dict) -> str:
    lines = [f"device {report['device']}" + (f" ({report['gpu']})" if "gpu" in report else "")
             + f", torch {report['torch']}, {report['threads']} threads, {report['cpu_count']} CPUs"]
    for name, c in report["cases"].items():
        if "skipped" in c:
            lines.append(f"{name:14s} skipped: {c['skipped']}")
        else:
            lines.append(f"{name:14s} p50 {c['p50_ms']:8.1f} ms  p95 {c['p95_ms']:8.1f} ms  ({c['what']})")
    return "\n".join(lines)
