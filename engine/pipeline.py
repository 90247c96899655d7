"""The engine's composed operations on `HandMotion`s; models are loaded once and kept.

Motion <-> SHIFT tokens (`tokenize`, `detokenize`, `reconstruct`); text -> motion (`generate`) and
motion -> text (`caption_lm`) through the language model and the tokenizer. Any length and fps go
in: motion is resampled to the tokenizer's fps, padded to whole latent steps by holding the last
frame, and on the way back resampled to the original fps and trimmed to the original length.

Any placement goes in too: a clip recorded elsewhere in space (a Leap Motion take near the origin,
a rig at another height or facing another way) is moved rigidly (translation + yaw,
`engine/placement.py`) to where the training data's hands are, and moved back after decoding.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import MotionValueError
from .features import ORIENT, TRANSL, features_to_motion, motion_to_features
from .models.tokenizer import HandTokenizer, load_tokenizer
from .motion import HandMotion
from .placement import Placement, fit_placement
from .rotations import rot6d_to_matrix

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str], torch.nn.Module] = {}
# A clip is moved only when it is atypical for the training data: its mean wrist beyond this many
# standard deviations of the training wrists (per axis), or its heading off by more than this.
PLACEMENT_MAX_Z = 2.5
PLACEMENT_MIN_YAW_DEG = 45.0


def pick_device(device: str = "auto") -> torch.device:
    """"auto" -> CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise MotionValueError("--device cuda: no CUDA device is available")
    return torch.device(device)


def get_tokenizer(weights: str | Path | None = None, device: str = "auto") -> HandTokenizer:
    """The tokenizer from `weights` (default: shipped), loaded once per folder and device."""
    dev = pick_device(device)
    key = (str(Path(weights).resolve()) if weights else "default", str(dev))
    if key not in _MODELS:
        _MODELS[key] = load_tokenizer(weights, dev)
    return _MODELS[key]


@dataclass
class Tokens:
    """A token grid: codes (N, n_slots) int64 for N latent steps; `slots` names the columns
    ("L-traj", ...); `mask` (N * stride, 2) the hand-presence mask at the model fps."""

    codes: np.ndarray
    slots: list[str]
    fps: float
    stride: int
    mask: np.ndarray
    placement: Placement  # the rigid move applied before encoding and undone after decoding

    def to_dict(self) -> dict:
        return {"slots": self.slots, "fps": self.fps, "stride": self.stride, "placement": self.placement.to_dict(),
                "codes": self.codes.tolist()}


def _to_model_rate(motion: HandMotion, fps: float) -> HandMotion:
    """Resample to `fps`, first holding the last frame long enough that the resampled clip reaches
    the end of the original."""
    if abs(motion.fps - fps) < 1e-9:
        return motion
    n_out = math.ceil((motion.n_frames - 1) * fps / motion.fps - 1e-9) + 1
    need = math.ceil((n_out - 1) * motion.fps / fps - 1e-9) + 1
    if need > motion.n_frames:
        motion = HandMotion.concat([motion] + [motion.slice(-1, None)] * (need - motion.n_frames))
    return motion.resample(fps)


def placement_for(motion: HandMotion, model: HandTokenizer) -> Placement:
    """The rigid move (translation + yaw) that puts `motion` where the tokenizer's training data was:
    its mean wrist position and mean wrist orientation, from the tokenizer's statistics."""
    mean = model.mean.cpu().numpy().astype(np.float64)
    six = mean[ORIENT].reshape(3, 2)
    usable = np.linalg.norm(six, axis=0).min() > 1e-3 and abs(np.cross(six[:, 0], six[:, 1])).max() > 1e-3
    spread = model.std.cpu().numpy().astype(np.float64)[TRANSL]
    return fit_placement(motion, mean[TRANSL], rot6d_to_matrix(mean[ORIENT]) if usable else None, spread,
                         max_z=PLACEMENT_MAX_Z, min_yaw_deg=PLACEMENT_MIN_YAW_DEG)


@torch.no_grad()
def tokenize(motion: HandMotion, weights: str | Path | None = None, device: str = "auto") -> Tokens:
    """HandMotion (any fps, >= 1 frame) -> Tokens at the tokenizer's fps."""
    model = get_tokenizer(weights, device)
    cfg = model.cfg
    placement = placement_for(motion, model)
    m = _to_model_rate(placement.apply(motion), cfg.fps)
    x, mask = motion_to_features(m)
    T = len(x)
    pad = (-T) % cfg.stride
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        mask = np.concatenate([mask, np.repeat(mask[-1:], pad, axis=0)])
    dev = next(model.parameters()).device
    codes = model.encode(torch.from_numpy(x)[None].to(dev))[0].cpu().numpy()
    return Tokens(codes=codes, slots=cfg.slot_names, fps=cfg.fps, stride=cfg.stride, mask=mask, placement=placement)


@torch.no_grad()
def detokenize(tokens: Tokens, weights: str | Path | None = None, device: str = "auto") -> HandMotion:
    """Tokens -> HandMotion at the tokenizer's fps (N * stride frames; hands absent in the mask dropped)."""
    model = get_tokenizer(weights, device)
    dev = next(model.parameters()).device
    x = model.decode(torch.as_tensor(tokens.codes, dtype=torch.long)[None].to(dev))[0].cpu().numpy()
    motion = features_to_motion(x.astype(np.float64), tokens.fps, tokens.mask[:len(x)])
    return tokens.placement.undo(motion)


def match_timing(out: HandMotion, like: HandMotion) -> HandMotion:
    """`out` (at the model fps) resampled to `like`'s fps and trimmed to its frame count; a frame is
    valid only where it was valid in `like`."""
    if abs(out.fps - like.fps) > 1e-9:
        out = out.resample(like.fps)
    out = out.slice(0, like.n_frames)
    for side, track in out.hands():
        track.valid = track.valid & like.track(side).valid
    return out


def reconstruct(motion: HandMotion, weights: str | Path | None = None, device: str = "auto") -> HandMotion:
    """Encode and decode: same fps and number of frames as `motion`."""
    return match_timing(detokenize(tokenize(motion, weights, device), weights, device), motion)


MAX_SECONDS = 60.0


def get_lm(weights: str | Path | None = None, device: str = "auto"):
    """(language model, LMConfig) from `weights` (default: shipped), loaded once per folder and device."""
    from .models.lm import load_lm

    dev = pick_device(device)
    key = ("lm:" + (str(Path(weights).resolve()) if weights else "default"), str(dev))
    if key not in _MODELS:
        _MODELS[key] = load_lm(weights, dev)
    return _MODELS[key]


def _check_lm_matches(cfg, tok: HandTokenizer) -> None:
    if (cfg.slots, cfg.codes) != (len(tok.cfg.slots), tok.cfg.codebook_size):
        raise MotionValueError(f"the language model speaks {cfg.slots} x {cfg.codes} codes but the tokenizer has "
                               f"{len(tok.cfg.slots)} x {tok.cfg.codebook_size}; use the tokenizer it was trained with")


def generate(text: str, seconds: float, fps: float = 30.0, seed: int = 0, samples: int = 1, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 0.95, weights: str | Path | None = None,
             tokenizer_weights: str | Path | None = None, device: str = "auto") -> list[HandMotion]:
    """`samples` two-hand motions for a prompt, each exactly round(seconds * fps) + 1 frames at `fps`."""
    from .models.lm import generate_codes
    from .models.prompts import encode_prompt

    if not text or not text.strip():
        raise MotionValueError("the prompt is empty")
    if not (0 < seconds <= MAX_SECONDS) or not math.isfinite(seconds):
        raise MotionValueError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not (0 < fps <= 1000):
        raise MotionValueError(f"fps must be in (0, 1000], got {fps}")
    if samples < 1:
        raise MotionValueError("samples must be at least 1")
    model, cfg = get_lm(weights, device)
    tok = get_tokenizer(tokenizer_weights, device)
    _check_lm_matches(cfg, tok)
    n_frames = int(round(seconds * fps)) + 1
    steps = math.ceil((math.ceil(seconds * tok.cfg.fps) + 2) / tok.cfg.stride)  # a frame of margin for resampling
    prompt = encode_prompt(cfg.tokenizer(), cfg.vocab(), "t2m", seconds=seconds, text=text.strip(),
                           max_text_tokens=cfg.max_text_tokens)
    grids = generate_codes(model, cfg.vocab(), prompt, steps, samples, seed, temperature, top_k, top_p)
    out = []
    for grid in grids:
        mask = np.ones((steps * tok.cfg.stride, 2), dtype=bool)
        tokens = Tokens(grid, tok.cfg.slot_names, tok.cfg.fps, tok.cfg.stride, mask, Placement.identity())
        motion = detokenize(tokens, tokenizer_weights, device)
        if abs(fps - tok.cfg.fps) > 1e-9:
            motion = motion.resample(fps)
        if motion.n_frames < n_frames:  # cannot happen with the margin above; never return a short clip
            raise MotionValueError(f"decoded {motion.n_frames} frames, {n_frames} requested")
        out.append(motion.slice(0, n_frames))
    return out


@torch.no_grad()
def caption_lm(motion: HandMotion, kind: str = "script", weights: str | Path | None = None,
               tokenizer_weights: str | Path | None = None, device: str = "auto", max_tokens: int = 96) -> str:
    """A caption of `kind` (script: the actions; semantic; interaction; articulation) written by the LM."""
    from transformers import LogitsProcessorList

    from .models.lm import TextOnly
    from .models.prompts import FOCUS, encode_prompt

    if kind not in FOCUS:
        raise MotionValueError(f"caption kind must be one of {', '.join(FOCUS)}, not {kind!r}")
    model, cfg = get_lm(weights, device)
    tok = get_tokenizer(tokenizer_weights, device)
    _check_lm_matches(cfg, tok)
    text_tok, vocab = cfg.tokenizer(), cfg.vocab()
    codes = tokenize(motion, tokenizer_weights, device).codes
    prompt = encode_prompt(text_tok, vocab, "m2t", codes=codes, focus=FOCUS[kind], max_text_tokens=cfg.max_text_tokens)
    ids = torch.as_tensor(prompt[None], device=next(model.parameters()).device)
    end = text_tok.sep_token_id if text_tok.sep_token_id is not None else text_tok.eos_token_id
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=False,
                         num_beams=1, logits_processor=LogitsProcessorList([TextOnly(vocab.text_size)]),
                         eos_token_id=end, pad_token_id=0)
    new = out[0] if model.config.is_encoder_decoder else out[0, ids.shape[1]:]  # decoder-only: after the prompt
    return text_tok.decode(new.tolist(), skip_special_tokens=True).strip()
