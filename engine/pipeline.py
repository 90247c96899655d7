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
from dataclasses import dataclass, replace
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
CAPTION_CANDIDATES = 1  # captions written per request with caption exemplars (one per nearest training clip)


def pick_device(device: str = "auto") -> torch.device:
    """"auto" -> CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise MotionValueError("--device cuda: no CUDA device is available")
    return torch.device(device)


def _loaded(component: str, loader, weights: str | Path | None, device: str):
    """`loader(weights, device)`'s result, kept per component, weights folder and device."""
    dev = pick_device(device)
    key = (component + ":" + (str(Path(weights).resolve()) if weights else "default"), str(dev))
    if key not in _MODELS:
        _MODELS[key] = loader(weights, dev)
    return _MODELS[key]


def get_tokenizer(weights: str | Path | None = None, device: str = "auto") -> HandTokenizer:
    """The tokenizer from `weights` (default: shipped), loaded once per folder and device."""
    return _loaded("tokenizer", load_tokenizer, weights, device)


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


def placement_for(motion: HandMotion, model: torch.nn.Module) -> Placement:
    """The rigid move (translation + yaw) that puts `motion` where a model's training data was: its mean
    wrist position and mean wrist orientation, from the model's per-hand statistics (`mean`, `std`)."""
    mean = model.mean.cpu().numpy().astype(np.float64)
    six = mean[ORIENT].reshape(3, 2)
    usable = np.linalg.norm(six, axis=0).min() > 1e-3 and abs(np.cross(six[:, 0], six[:, 1])).max() > 1e-3
    spread = model.std.cpu().numpy().astype(np.float64)[TRANSL]
    return fit_placement(motion, mean[TRANSL], rot6d_to_matrix(mean[ORIENT]) if usable else None, spread,
                         max_z=PLACEMENT_MAX_Z, min_yaw_deg=PLACEMENT_MIN_YAW_DEG)


def model_features(motion: HandMotion, model: HandTokenizer) -> tuple[np.ndarray, np.ndarray, Placement]:
    """(features (T, 198) and presence mask (T, 2) at the tokenizer's fps, the placement that put the clip
    where the training data's hands are)."""
    placement = placement_for(motion, model)
    x, mask = motion_to_features(_to_model_rate(placement.apply(motion), model.cfg.fps))
    return x, mask, placement


def tokenize(motion: HandMotion, weights: str | Path | None = None, device: str = "auto") -> Tokens:
    """HandMotion (any fps, >= 1 frame) -> Tokens at the tokenizer's fps."""
    model = get_tokenizer(weights, device)
    return encode_features(model, *model_features(motion, model))


@torch.no_grad()
def encode_features(model: HandTokenizer, x: np.ndarray, mask: np.ndarray, placement: Placement) -> Tokens:
    """`model_features` output -> Tokens: features (T, 198) padded to whole latent steps by holding the
    last frame, then encoded."""
    cfg = model.cfg
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

    return _loaded("lm", load_lm, weights, device)


def _lm_and_tokenizer(weights, tokenizer_weights, device: str):
    """(language model, LMConfig, tokenizer), checked to speak the same codes."""
    model, cfg = get_lm(weights, device)
    tok = get_tokenizer(tokenizer_weights, device)
    if (cfg.slots, cfg.codes) != (len(tok.cfg.slots), tok.cfg.codebook_size):
        raise MotionValueError(f"the language model speaks {cfg.slots} x {cfg.codes} codes but the tokenizer has "
                               f"{len(tok.cfg.slots)} x {tok.cfg.codebook_size}; use the tokenizer it was trained with")
    return model, cfg, tok


DEFAULT_GUIDANCE = 8.0  # classifier-free guidance of prompt and draft (1: none; picked on validation clips)
REACT_MIRROR = 0.25  # react's pull toward the given hand's mirror image (docs/benchmarks.md; 0: none)
DEFAULT_RERANK = 4  # text to motion: candidates drawn per returned motion, kept by caption score (1: none)


@dataclass
class Sampling:
    """How motion ids are drawn: `samples` variations from `seed`; temperature 0 is greedy (one grid, repeated);
    `top_k` 0 and `top_p` 1 switch those filters off; `guidance` scales the prompt text's pull (classifier-free
    guidance; 1: none; only prompts with free text); text to motion draws `rerank` times as many and keeps
    those whose codes the model itself would caption most like the prompt (`caption_scores`; None:
    DEFAULT_RERANK for encoder-decoder models, 1 for decoder-only ones)."""

    seed: int = 0
    samples: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.95
    guidance: float = DEFAULT_GUIDANCE
    rerank: int | None = None

    def check(self) -> None:
        from .models.lm_decode import check_sampling

        if self.samples < 1 or (self.rerank is not None and self.rerank < 1):
            raise MotionValueError("samples and rerank must be at least 1")
        check_sampling(self.temperature, self.top_k, self.top_p, self.guidance)


def _check_seconds(seconds: float, fps: float) -> None:
    if not math.isfinite(seconds) or not (0 < seconds <= MAX_SECONDS):
        raise MotionValueError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not math.isfinite(fps) or not (0 < fps <= 1000):
        raise MotionValueError(f"fps must be in (0, 1000], got {fps}")


def _run_lm(task: str, sampling: Sampling, steps: int, weights, tokenizer_weights, device: str,
            codes: np.ndarray | None = None, forced: np.ndarray | None = None, **fields) -> tuple[np.ndarray, HandTokenizer]:
    """(samples, steps, slots) motion codes for one prompt of `task`, and the tokenizer they belong to."""
    from .models.lm import prompt_condition
    from .models.lm_decode import decode_motion
    from .models.lm_exemplars import prompt_draft
    from .models.prompts import encode_prompt

    sampling.check()
    model, cfg, tok = _lm_and_tokenizer(weights, tokenizer_weights, device)
    prompt = encode_prompt(cfg.tokenizer(), cfg.vocab(), task, codes=codes, max_text_tokens=cfg.max_text_tokens,
                           **fields)
    cond = prompt_condition(model, fields.get("text"))
    uncond = prompt_condition(model, None) if fields.get("text") and sampling.guidance != 1.0 else None
    draft = prompt_draft(model, fields.get("text"), steps) if task == "t2m" else None
    rerank = 1
    if task == "t2m" and sampling.temperature > 0:  # greedy decoding draws one grid however often
        rerank = sampling.rerank or (DEFAULT_RERANK if model.config.is_encoder_decoder else 1)
    with lm_autocast(model):
        grids = decode_motion(model, cfg.vocab(), prompt, steps, sampling.samples * rerank, sampling.seed,
                              sampling.temperature, sampling.top_k, sampling.top_p, forced, cond,
                              sampling.guidance, uncond, draft)
        if rerank > 1:
            grids = grids[np.argsort(-caption_scores(model, cfg, grids, fields["text"]), kind="stable")]
    return grids[:sampling.samples], tok


def caption_scores(model, cfg, grids: np.ndarray, text: str) -> np.ndarray:
    """(N,) how well `text` describes each of the (N, steps, slots) grids: the model's own mean log-probability
    per token of `text` as the grid's script caption (its motion-to-text direction, teacher forced)."""
    from .models.lm import prompt_condition
    from .models.lm_decode import text_log_likelihood
    from .models.prompts import FOCUS, encode_prompt

    text_tok, vocab = cfg.tokenizer(), cfg.vocab()
    prompts = [encode_prompt(text_tok, vocab, "m2t", codes=g, focus=FOCUS["script"], max_text_tokens=cfg.max_text_tokens)
               for g in grids]
    target = text_tok(text, truncation=True, max_length=cfg.max_text_tokens)["input_ids"][1:]  # as in training
    return text_log_likelihood(model, prompts, np.asarray(target), vocab.text_size, prompt_condition(model, None))


def _decode_grid(grid: np.ndarray, tok: HandTokenizer, placement: Placement, fps: float, n_frames: int,
                 tokenizer_weights, device: str) -> HandMotion:
    """Both hands from a (steps, slots) grid, at `fps`, exactly `n_frames` long."""
    mask = np.ones((len(grid) * tok.cfg.stride, 2), dtype=bool)
    tokens = Tokens(grid, tok.cfg.slot_names, tok.cfg.fps, tok.cfg.stride, mask, placement)
    motion = detokenize(tokens, tokenizer_weights, device)
    if abs(fps - tok.cfg.fps) > 1e-9:
        motion = motion.resample(fps)
    if motion.n_frames < n_frames:  # the callers ask for a margin of steps; never return a short clip
        raise MotionValueError(f"decoded {motion.n_frames} frames, {n_frames} requested")
    return within_limits(motion.slice(0, n_frames))


def within_limits(motion: HandMotion) -> HandMotion:
    """`motion` with every hand pose that leaves the joints' range of motion clamped into it (generated
    codes can decode slightly past it); poses inside are unchanged."""
    from .corpus.anatomy import clamp_pose

    return HandMotion(fps=motion.fps, **{side: replace(track, hand_pose=clamp_pose(track.hand_pose, side))
                                         for side, track in motion.hands()})


def _steps_for(seconds: float, tok: HandTokenizer) -> int:
    """Latent steps covering `seconds` at the tokenizer's rate, with a frame of margin for resampling."""
    return math.ceil((math.ceil(seconds * tok.cfg.fps - 1e-9) + 2) / tok.cfg.stride)


def generate(text: str, seconds: float, fps: float = 30.0, seed: int = 0, samples: int = 1, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 0.95, weights: str | Path | None = None,
             tokenizer_weights: str | Path | None = None, device: str = "auto",
             guidance: float | None = None, rerank: int | None = None) -> list[HandMotion]:
    """`samples` two-hand motions for a prompt, each exactly round(seconds * fps) + 1 frames at `fps`;
    `guidance` > 1 follows the prompt's text more strongly (classifier-free guidance, twice the decoding work;
    None: DEFAULT_GUIDANCE); `rerank` > 1 draws that many times as many and keeps the best captioned (None:
    see `Sampling`)."""
    if not text or not text.strip():
        raise MotionValueError("the prompt is empty")
    _check_seconds(seconds, fps)
    guidance = DEFAULT_GUIDANCE if guidance is None else guidance
    tok = get_tokenizer(tokenizer_weights, device)
    grids, tok = _run_lm("t2m", Sampling(seed, samples, temperature, top_k, top_p, guidance, rerank),
                         _steps_for(seconds, tok),
                         weights, tokenizer_weights, device, seconds=seconds, text=text.strip())
    n_frames = int(round(seconds * fps)) + 1
    return [_decode_grid(g, tok, Placement.identity(), fps, n_frames, tokenizer_weights, device) for g in grids]


def exemplar_draft(text: str, seconds: float, fps: float = 30.0, weights: str | Path | None = None,
                   tokenizer_weights: str | Path | None = None, device: str = "auto") -> HandMotion:
    """The draft `generate` starts from for a prompt: the codes of the training clip whose caption best matches
    `text`, stretched to `seconds` and decoded, round(seconds * fps) + 1 frames (the retrieval part of the
    language model alone, for evaluation)."""
    from .models.lm_exemplars import prompt_draft

    _check_seconds(seconds, fps)
    model, cfg, tok = _lm_and_tokenizer(weights, tokenizer_weights, device)
    grid = prompt_draft(model, text.strip(), _steps_for(seconds, tok))
    if grid is None:
        raise MotionValueError("these language model weights have no exemplar drafts (or the prompt is empty)")
    return _decode_grid(grid, tok, Placement.identity(), fps, int(round(seconds * fps)) + 1, tokenizer_weights,
                        device)


def complete_hand(motion: HandMotion, given: str, sampling: Sampling | None = None,
                  weights: str | Path | None = None, tokenizer_weights: str | Path | None = None,
                  device: str = "auto") -> list[HandMotion]:
    """The other hand for `motion`'s `given` hand ("left" or "right"): `sampling.samples` two-hand motions
    at `motion`'s fps and length whose `given` hand is the input's, unchanged."""
    from .models.prompts import HAND_SLOTS

    if given not in HAND_SLOTS:
        raise MotionValueError(f"given must be 'left' or 'right', not {given!r}")
    track = motion.track(given)
    other = "right" if given == "left" else "left"
    tokens = tokenize(HandMotion(motion.fps, **{given: track}), tokenizer_weights, device)
    forced = -np.ones_like(tokens.codes)
    forced[:, list(HAND_SLOTS[given])] = tokens.codes[:, list(HAND_SLOTS[given])]
    grids, tok = _run_lm("complete", sampling or Sampling(), len(tokens.codes), weights, tokenizer_weights, device,
                         codes=tokens.codes, forced=forced, given=given)
    out = []
    for grid in grids:
        both = _decode_grid(grid, tok, tokens.placement, motion.fps, motion.n_frames, tokenizer_weights, device)
        out.append(HandMotion(motion.fps, **{given: track, other: both.track(other)}))
    return out


def continue_motion(motion: HandMotion, seconds: float, sampling: Sampling | None = None,
                    weights: str | Path | None = None, tokenizer_weights: str | Path | None = None,
                    device: str = "auto") -> list[HandMotion]:
    """`motion` (both hands) followed by `seconds` more of generated motion: each result has the input's
    frames unchanged, then round(seconds * fps) new frames at the input's fps."""
    _check_seconds(seconds, motion.fps)
    if len(motion.sides) < 2:
        raise MotionValueError("continuing a motion needs both hands")
    tokens = tokenize(motion, tokenizer_weights, device)
    tok = get_tokenizer(tokenizer_weights, device)
    steps = _steps_for(seconds, tok)
    grids, tok = _run_lm("continue", sampling or Sampling(), steps, weights, tokenizer_weights, device,
                         codes=tokens.codes, seconds=seconds)
    new = int(round(seconds * motion.fps))
    context = len(tokens.codes) * tok.cfg.stride / tok.cfg.fps  # seconds the context covers, padded to whole steps
    skip = int(round(context * motion.fps))
    out = []
    for grid in grids:  # the context and its continuation decoded together, so the seam is the decoder's
        whole = _decode_grid(np.concatenate([tokens.codes, grid]), tok, tokens.placement, motion.fps,
                             skip + new, tokenizer_weights, device)
        out.append(HandMotion.concat([motion, whole.slice(skip, skip + new)]))
    return out


def caption_lm(motion: HandMotion, kind: str = "script", weights: str | Path | None = None,
               tokenizer_weights: str | Path | None = None, device: str = "auto", max_tokens: int = 96,
               candidates: int = CAPTION_CANDIDATES) -> str:
    """A caption of `kind` (script: the actions; semantic; interaction; articulation) written by the LM
    (greedy, without repeated trigrams). With caption exemplars the prompt quotes the caption of a training
    clip near the motion; `candidates` > 1 writes one caption per each of that many nearest clips and keeps
    the one the others agree with most (`consensus`, minimum Bayes risk)."""
    from .models.lm import prompt_condition
    from .models.lm_decode import consensus, decode_text
    from .models.lm_exemplars import motion_examples
    from .models.prompts import FOCUS, encode_prompt

    if kind not in FOCUS:
        raise MotionValueError(f"caption kind must be one of {', '.join(FOCUS)}, not {kind!r}")
    if candidates < 1:
        raise MotionValueError(f"candidates must be at least 1, got {candidates}")
    model, cfg, tok = _lm_and_tokenizer(weights, tokenizer_weights, device)
    text_tok, vocab = cfg.tokenizer(), cfg.vocab()
    features = model_features(motion, tok)  # (x, mask, placement): encoded, and the caption index's key
    codes = encode_features(tok, *features).codes
    examples: list[str | None] = [None]
    if cfg.caption_exemplar:
        examples = motion_examples(model, features[0], kind, candidates) or [None]
    end = text_tok.sep_token_id if text_tok.sep_token_id is not None else text_tok.eos_token_id
    texts = []
    for example in examples:
        prompt = encode_prompt(text_tok, vocab, "m2t", codes=codes, focus=FOCUS[kind],
                               max_text_tokens=cfg.max_text_tokens, example=example)
        with lm_autocast(model):
            ids = decode_text(model, prompt, vocab.text_size, end, max_tokens, cond=prompt_condition(model, None))
        texts.append(text_tok.decode(ids, skip_special_tokens=True).strip())
    return texts[consensus(texts)]


def lm_autocast(model) -> torch.autocast:
    """bf16 autocast on CUDA (fp16 where bf16 is missing); a no-op on the CPU."""
    device = next(model.parameters()).device
    if device.type != "cuda":
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


# --- in-betweening (diffusion) ------------------------------------------------------------------

def get_inbetweener(weights: str | Path | None = None, device: str = "auto"):
    """The in-betweener from `weights` (default: shipped), loaded once per folder and device."""
    from .models.inbetween import load_inbetweener

    return _loaded("inbetween", load_inbetweener, weights, device)


@dataclass
class Diffusion:
    """How the in-betweener samples: `steps` DDIM steps, classifier-free `guidance` when there is text,
    `strength` in [0, 1] (1: keys come out exactly; lower: keys are soft targets), `mode` "trained"
    (learned conditioning) or "inpaint" (training-free soft-mask fallback)."""

    seed: int = 0
    steps: int = 20
    guidance: float = 2.5
    strength: float = 1.0
    mode: str = "trained"

    def check(self) -> None:
        from .models.inbetween_sample import MODES

        if not 1 <= self.steps <= 1000:
            raise MotionValueError(f"steps must be in [1, 1000], got {self.steps}")
        if not 0.0 <= self.strength <= 1.0:
            raise MotionValueError(f"strength must be in [0, 1], got {self.strength}")
        if not math.isfinite(self.guidance) or not 0.0 <= self.guidance <= 20.0:
            raise MotionValueError(f"guidance must be in [0, 20], got {self.guidance}")
        if self.mode not in MODES:
            raise MotionValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")


def _place_keys(known: np.ndarray, mask: np.ndarray, fps: float, model) -> tuple[np.ndarray, Placement]:
    """Keyed values (T, 198) moved rigidly to where the model's training hands are (`placement_for`,
    fitted on the frames that key a whole wrist), and the placement to undo afterwards."""
    from .features import HAND_DIM, track_to_features
    from .models.tokenizer import TRAJ_DIMS
    from .motion import HandTrack

    full = np.stack([mask[:, k * HAND_DIM + TRAJ_DIMS].all(1) for k in range(2)], 1)  # (T, 2)
    if not full.any():
        return known, Placement.identity()
    rest = np.tile(track_to_features(HandTrack.rest(len(known))), (1, 2))
    whole = np.where(mask, known, rest).astype(np.float64)
    placement = placement_for(features_to_motion(whole, fps, full), model)
    moved, _ = motion_to_features(placement.apply(features_to_motion(whole, fps)))
    wrist = np.zeros(known.shape[1], bool)
    wrist[np.r_[TRAJ_DIMS, HAND_DIM + TRAJ_DIMS]] = True
    return np.where(mask & wrist, moved, known).astype(np.float32), placement


def _guide_features(guide: HandMotion, n_frames: int, n_model: int, rate: float, placement: Placement,
                    free: np.ndarray, weight: float, model) -> dict[str, torch.Tensor]:
    """denoise's guide and guide_weight (1, n_model, 198) in model space for a guide motion at the caller's
    fps: its hands at the model rate, placed like the keys, weighted where `free` (n_model, 198) is true."""
    if not 0.0 <= weight <= 1.0:
        raise MotionValueError(f"guide_weight must be in [0, 1], got {weight}")
    if guide.n_frames != n_frames:
        raise MotionValueError(f"the guide has {guide.n_frames} frames, the clip {n_frames}")
    if weight == 0:
        return {}
    g = guide if abs(guide.fps - rate) < 1e-9 else guide.resample(rate)
    x, present = motion_to_features(placement.apply(g))
    rows = np.minimum(np.arange(n_model), len(x) - 1)
    x, present = x[rows], present[rows]
    w = np.repeat(present, x.shape[1] // 2, axis=1) & free
    dev = next(model.parameters()).device
    return {"guide": model.to_model_space(torch.from_numpy(x.astype(np.float32)).to(dev))[None],
            "guide_weight": torch.from_numpy((w * weight).astype(np.float32)).to(dev)[None]}


@torch.no_grad()
def inbetween(keys, n_frames: int, fps: float = 30.0, text: str | None = None, seed: int | None = None,
              strength: float | None = None, diffusion: Diffusion | None = None, weights: str | Path | None = None, device: str = "auto",
              hands: tuple[str, ...] | None = None, progress=None, guide: HandMotion | None = None,
              guide_weight: float = 0.0) -> HandMotion:
    """Fill a clip of `n_frames` at `fps` around keyed (possibly partial) poses, `engine.keys.Keys`
    ({frame: {side: {part: values}}}); `text` optionally says what happens. Keys are hit exactly when
    strength is 1. `seed` and `strength`, when given, override `diffusion`'s (default `Diffusion()`).
    Returns the `hands` asked for (default: every hand that has a key). progress(step, steps) is called
    after each denoising step. `guide` (at `fps`, `n_frames` long): a soft target for the values of its
    hands that no key fixes; each denoising step, and the result, move `guide_weight` of the way to it."""
    from .keys import apply_keys, keyed_hands, keys_to_features
    from .models.inbetween_sample import denoise
    from .models.text import prompt_embedding

    diffusion = replace(diffusion or Diffusion(), **{k: v for k, v in (("seed", seed), ("strength", strength))
                                                      if v is not None})
    diffusion.check()
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
        raise MotionValueError(f"n_frames must be a whole number >= 2, got {n_frames!r}")
    _check_seconds((n_frames - 1) / fps if fps > 0 else float("nan"), fps)
    if text is not None and not text.strip():
        raise MotionValueError("text is empty; leave it out for no text")
    model = get_inbetweener(weights, device)
    rate = model.cfg.fps
    known, mask = keys_to_features(keys, n_frames)
    if abs(rate - fps) > 1e-9:  # keyed frames move to the model's rate: the nearest frame, a later key wins
        n_model = int(round((n_frames - 1) * rate / fps)) + 1
        rows = np.flatnonzero(mask.any(1))
        at = np.round(rows * rate / fps).astype(np.int64)
        known_m, mask_m = np.zeros((n_model, known.shape[1]), known.dtype), np.zeros((n_model, mask.shape[1]), bool)
        known_m[at], mask_m[at] = known[rows], mask[rows]
        known, mask = known_m, mask_m
    moved, placement = _place_keys(known, mask, rate, model)
    dev = next(model.parameters()).device
    z = model.to_model_space(torch.from_numpy(moved).to(dev))[None]
    m = torch.from_numpy(mask.astype(np.float32)).to(dev)[None]
    emb = torch.from_numpy(prompt_embedding(text)).to(dev) if text else None
    gen = torch.Generator(device=dev).manual_seed(int(diffusion.seed))
    soft = {}
    if guide is not None:
        soft = _guide_features(guide, n_frames, len(known), rate, placement, ~mask, guide_weight, model)
    z0 = denoise(model, z, m, emb, diffusion.steps, diffusion.guidance, diffusion.strength, diffusion.mode, gen,
                 progress, **soft)
    raw = model.from_model_space(z0)[0].cpu().numpy().astype(np.float64)
    out = placement.undo(features_to_motion(raw, rate))
    if abs(rate - fps) > 1e-9:
        out = out.resample(fps)
    out = out.slice(0, n_frames)
    if out.n_frames < n_frames:
        out = HandMotion.concat([out] + [out.slice(-1, None)] * (n_frames - out.n_frames))
    if diffusion.strength == 1.0:
        apply_keys(out, keys)
    keep = hands or keyed_hands(keys)
    return HandMotion(fps=fps, **{side: (out.track(side) if side in keep else None) for side in ("left", "right")})


def react(motion: HandMotion, given: str = "left", text: str | None = None, seed: int | None = None,
          diffusion: Diffusion | None = None, weights: str | Path | None = None, device: str = "auto",
          progress=None, mirror: float | None = None) -> HandMotion:
    """The other hand generated for `given` hand's whole track (kept exactly as it is in `motion`).
    `mirror` in [0, 1]: how strongly the other hand is drawn to the given hand's mirror image (a symmetry
    prior for two-hand actions; 0: the model's own reaction; None: REACT_MIRROR)."""
    from .keys import keys_from_motion

    if given not in ("left", "right"):
        raise MotionValueError(f"given must be 'left' or 'right', not {given!r}")
    track = motion.track(given)
    if track is None or not track.valid.any():
        raise MotionValueError(f"the clip has no {given} hand to react to")
    mirror = REACT_MIRROR if mirror is None else mirror
    keys = keys_from_motion(motion, np.flatnonzero(track.valid), hands=(given,))
    other = "right" if given == "left" else "left"
    guide = HandMotion(fps=motion.fps, **{other: track.mirrored()}) if mirror > 0 else None
    out = inbetween(keys, motion.n_frames, motion.fps, text, seed, diffusion=diffusion, weights=weights,
                    device=device, hands=("left", "right"), progress=progress, guide=guide, guide_weight=mirror)
    out.track(given).valid = track.valid.copy()
    return out
