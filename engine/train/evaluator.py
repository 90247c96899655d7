"""`handmotion train evaluator`: the contrastive text-motion evaluator on corpus clips and captions.

Each step draws `batch` training clips (whole clips, padded) and one caption per clip: a kind drawn
uniformly from CAPTION_KINDS, one of its variants, and with probability `p_combine` the script caption
followed by a caption of another kind. The loss is symmetric InfoNCE with a learned temperature;
pairs in the batch whose texts are identical are not used as negatives of each other.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import HandMotionError
from ..eval.distribution import r_precision
from ..eval.evaluator import Evaluator, EvaluatorConfig, pad_clips, save_evaluator
from ..eval.protocol import CAPTION_KINDS, POOL, PROMPT_KIND, pick_caption
from ..models.tokenizer import MIRROR
from .config import TrainRun, training_meta
from .data import ClipSet, feature_stats, load_captions, load_clips
from .loop import run_training

log = logging.getLogger(__name__)


@dataclass
class TrainEvaluatorConfig(TrainRun):
    out: str = "runs/evaluator"
    # model (EvaluatorConfig fields)
    dim: int = 128
    width: int = 128
    layers: int = 3
    heads: int = 4
    down: int = 4
    text_init: str = "minilm"
    text_width: int = 128
    text_layers: int = 2
    max_text_tokens: int = 128
    dropout: float = 0.1
    # training
    steps: int = 2000
    weight_decay: float = 0.01
    p_combine: float = 0.25

    def __post_init__(self) -> None:
        self.model_config()

    def model_config(self) -> EvaluatorConfig:
        return self.pick(EvaluatorConfig)


class PairSampler:
    """Random (clip, caption) batches: {"x" (B, T, 198), "mask" (B, T), "ids", "attention" (B, L),
    "same" (B, B) bool: texts identical}."""

    def __init__(self, model: Evaluator, clips: ClipSet, captions: dict[int, dict[str, list[str]]],
                 p_combine: float, seed: int):
        self.model, self.clips, self.p_combine = model, clips, p_combine
        self.captions = [captions[int(i)] for i in clips.ids]
        self.rng = np.random.default_rng(seed)

    def text(self, caps: dict[str, list[str]]) -> str:
        kinds = [k for k in CAPTION_KINDS if caps.get(k)]
        kind = kinds[self.rng.integers(len(kinds))]
        text = caps[kind][self.rng.integers(len(caps[kind]))]
        if kind != PROMPT_KIND and caps.get(PROMPT_KIND) and self.rng.random() < self.p_combine:
            text = f"{caps[PROMPT_KIND][self.rng.integers(len(caps[PROMPT_KIND]))]} {text}"
        return text

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        idx = self.rng.choice(len(self.clips), size=batch, replace=False)
        texts = [self.text(self.captions[i]) for i in idx]
        x, mask = pad_clips([self.clips.clip(i) for i in idx])
        ids, attention = self.model.tokenize(texts)
        same = torch.tensor([[a == b for b in texts] for a in texts])
        return {"x": x, "mask": mask, "ids": ids.cpu(), "attention": attention.cpu(), "same": same}


def contrastive_loss(model: Evaluator, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Symmetric InfoNCE over the (B, B) similarity matrix; identical-text pairs off the diagonal masked."""
    m = model.motion(batch["x"], batch["mask"])
    t = model.text(batch["ids"], batch["attention"])
    scale = model.logit_scale.clamp(max=math.log(100.0)).exp()
    logits = scale * t @ m.T  # (B texts, B motions)
    eye = torch.eye(len(m), dtype=torch.bool, device=m.device)
    logits = logits.masked_fill(batch["same"] & ~eye, float("-inf"))
    target = torch.arange(len(m), device=m.device)
    loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    acc = (logits.argmax(1) == target).float().mean()
    return loss, {"loss": loss.item(), "top1": acc.item(), "temp": 1.0 / scale.item()}


def validation_scores(model: Evaluator, clips: ClipSet, captions: dict[int, dict[str, list[str]]],
                      limit: int = 640) -> dict[str, float]:
    """R-Precision top-1/3 on up to `limit` clips with their protocol prompt (and a semantic caption)."""
    n = min(limit, len(clips))
    motion = model.encode_features([clips.clip(i) for i in range(n)]).cpu().numpy()
    out = {}
    for kind in (PROMPT_KIND, "semantic"):
        text = model.encode_text([pick_caption(captions[int(i)], int(i), kind) for i in clips.ids[:n]]).cpu().numpy()
        r = r_precision(text, motion, POOL)
        out[f"{kind}_top1"], out[f"{kind}_top3"] = float(r[0]), float(r[2])
    return out


def train_evaluator(cfg: TrainEvaluatorConfig, progress: bool = True) -> Evaluator:
    """Train and save to `cfg.out` (the weights folder layout); returns the trained model."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train, captions = load_clips(cfg.data, "train"), load_captions(cfg.data, None)
    try:
        val = load_clips(cfg.data, "val")
    except HandMotionError:
        log.warning("%s has no val split; validating on training clips", cfg.data)
        val = train
    if cfg.batch > len(train):
        raise HandMotionError(f"batch {cfg.batch} is larger than the {len(train)} training clips")
    model = Evaluator(cfg.model_config())
    model.set_stats(*feature_stats(train, MIRROR.numpy()))
    log.info("evaluator: %.2fM trained parameters, %d train clips",
             sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, len(train))
    sampler = PairSampler(model, train, captions, cfg.p_combine, cfg.seed)
    model = run_training(model, contrastive_loss, lambda: sampler.sample(cfg.batch), cfg, Path(cfg.out),
                         evaluate=lambda m: validation_scores(m, val, captions), progress=progress)
    save_evaluator(model, cfg.out, meta=training_meta(cfg))
    return model
