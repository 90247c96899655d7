"""The diffusion in-betweener: a transformer denoiser over per-frame two-hand features (CondMDI style).

Every frame is a token. Its input is the noisy motion x_t, the observed values and the observation mask
(all (T, 198) in model space: both hands as right hands, normalised per dimension), and a "filled" track:
each observed dimension interpolated between the frames where it is observed (0 where it never is) by
an auto-clamped cubic, the curve an animator's F-curves would give (`cubic_fill`; `linear_fill` for
older configs). The network predicts the clean motion x0 as `filled + residual` with the residual's
output layer starting at zero, so an untrained network already in-betweens like Bezier keys and
training only has to learn how real hands move differently from them. The diffusion step and an optional sentence embedding
(all-MiniLM-L6-v2, 384-D; a learned null vector when there is no text, which also gives classifier-free
guidance) are added to every token. Attention uses rotary positions, so any clip length works.
With `key_reader` set, the fill also carries the key reader's estimate of the frames between full
keys (`engine.models.key_reader`), a regression the diffusion model refines.

Joint-level masks: `JOINT_SLICES` names the 6D (and translation) blocks of one hand's 99 dimensions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import HandMotionError
from ..features import HAND_DIM, MOTION_DIM
from .key_reader import KeyReader, full_keys
from .tokenizer import MIRROR
from .weights import default_dir, load_weights, save_weights

log = logging.getLogger(__name__)

TEXT_DIM = 384  # all-MiniLM-L6-v2 sentence embeddings


@dataclass
class InbetweenConfig:
    """Everything needed to rebuild the denoiser; saved as config.json beside the weights."""

    d_model: int = 192
    layers: int = 4
    heads: int = 4
    d_ff: int = 768
    dropout: float = 0.1
    text: bool = True  # sentence-embedding conditioning (with a learned null for guidance)
    fps: float = 30.0
    train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    fill: str = "cubic"  # how observed values are carried across the gaps: "cubic" or "linear"
    key_reader: int = 0  # width of the key reader added to the fill between full keys (0: none)
    key_basis: int = 12  # sine terms the key reader predicts per gap

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, not {self.fill!r}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.heads} heads of even width")
        if self.layers < 1 or self.fps <= 0 or self.train_timesteps < 2:
            raise ValueError("layers >= 1, fps > 0 and train_timesteps >= 2 are required")
        if self.key_reader < 0 or self.key_basis < 1:
            raise ValueError("key_reader must be >= 0 (0: none) and key_basis >= 1")

    @classmethod
    def from_dict(cls, d: dict) -> "InbetweenConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - {"component"}
        if unknown:
            raise ValueError(f"unknown in-betweener config keys: {sorted(unknown)}")
        d = {"fill": "linear", **d}  # configs written before the cubic fill existed
        return cls(**{k: v for k, v in d.items() if k in names})


def _observed_neighbours(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame and dimension, the last observed frame at or before it (-1 if none) and the first at or
    after it (T if none). mask: (B, T, D) -> two (B, T, D) long tensors."""
    B, T, D = mask.shape
    known = mask > 0.5
    t = torch.arange(T, device=mask.device).view(1, T, 1).expand(B, T, D)
    prev = torch.where(known, t, torch.full_like(t, -1)).cummax(dim=1).values
    nxt = torch.where(known, t, torch.full_like(t, T)).flip(1).cummin(dim=1).values.flip(1)
    return prev, nxt


def _fill(values: torch.Tensor, mask: torch.Tensor, cubic: bool) -> torch.Tensor:
    B, T, D = values.shape
    prev, nxt = _observed_neighbours(mask)
    has_prev, has_next = prev >= 0, nxt < T
    p, n = prev.clamp(0, T - 1), nxt.clamp(0, T - 1)
    vp, vn = values.gather(1, p), values.gather(1, n)
    span = (n - p).clamp(min=1).to(values.dtype)
    t = torch.arange(T, device=values.device).view(1, T, 1)
    w = ((t - p).to(values.dtype) / span).clamp(0, 1)
    if cubic:
        # slope at every observed frame: central difference over its observed neighbours, 0 at the
        # ends and at local extremes (auto-clamped, no overshoot); Bezier handles a third of the span
        before = torch.cat([torch.full_like(prev[:, :1], -1), prev[:, :-1]], 1)  # last observed < t
        after = torch.cat([nxt[:, 1:], torch.full_like(nxt[:, :1], T)], 1)  # first observed > t
        inner = (before >= 0) & (after < T)
        a, b = before.clamp(0, T - 1), after.clamp(0, T - 1)
        va, vb = values.gather(1, a), values.gather(1, b)
        slope = (vb - va) / (b - a).clamp(min=1).to(values.dtype)
        monotone = (values - va) * (vb - values) > 0
        slope = torch.where(inner & monotone, slope, torch.zeros_like(slope))
        c1 = vp + slope.gather(1, p) * span / 3
        c2 = vn - slope.gather(1, n) * span / 3
        both = (1 - w) ** 3 * vp + 3 * (1 - w) ** 2 * w * c1 + 3 * (1 - w) * w**2 * c2 + w**3 * vn
    else:
        both = vp + (vn - vp) * w
    out = torch.where(has_prev & has_next, both, torch.where(has_prev, vp, torch.where(has_next, vn, 0.0)))
    return out * (mask > 0.5).any(dim=1, keepdim=True)


def linear_fill(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each dimension linearly interpolated over time between the frames where it is observed, held
    before the first and after the last; 0 where a dimension is never observed.

    values, mask: (B, T, D) (mask 0/1) -> (B, T, D)."""
    return _fill(values, mask, cubic=False)


def cubic_fill(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each dimension through its observed frames as an auto-clamped cubic Bezier curve (Blender's
    default F-curve handles, as `engine.interpolate` uses), held before the first and after the last
    observation; 0 where a dimension is never observed.

    values, mask: (B, T, D) (mask 0/1) -> (B, T, D)."""
    return _fill(values, mask, cubic=True)


FILLS = {"linear": linear_fill, "cubic": cubic_fill}


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding on (B, H, T, d): pairs (first half, second half) rotated."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block: rotary self-attention over frames, then a GELU MLP."""

    def __init__(self, d: int, heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.drop = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, d)))
        return h + self.drop(self.mlp(self.norm2(h)))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) diffusion steps -> (B, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class InbetweenDenoiser(nn.Module):
    """x0-predicting denoiser. Buffers `mean`, `std` (99,) are the per-hand feature statistics in
    right-hand space (left hands mirrored), as the tokenizer keeps them."""

    def __init__(self, cfg: InbetweenConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.register_buffer("mean", torch.zeros(HAND_DIM))
        self.register_buffer("std", torch.ones(HAND_DIM))
        self.register_buffer("mirror", MIRROR.clone(), persistent=False)
        self.inp = nn.Linear(4 * MOTION_DIM, d)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        if cfg.text:
            self.text = nn.Linear(TEXT_DIM, d)
            self.null_text = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, MOTION_DIM)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.key_reader = KeyReader(cfg.key_reader, cfg.key_basis, cfg.fps) if cfg.key_reader else None

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def fill(self, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The config's fill of the observed values, plus the key reader's estimate between full keys
        on the dimensions not observed there: (B, T, 198) model space -> (B, T, 198)."""
        known = known * mask
        filled = FILLS[self.cfg.fill](known, mask)
        if self.key_reader is not None:
            filled = filled + (1 - mask) * self.key_reader(known, full_keys(mask))
        return filled

    # --- model space: (B, T, 198), left hand mirrored, normalised -------------------------------
    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        """(..., T, 198) raw features -> (..., T, 198) normalised, left hand mirrored."""
        left, right = x[..., :HAND_DIM] * self.mirror, x[..., HAND_DIM:]
        return torch.cat([(left - self.mean) / self.std, (right - self.mean) / self.std], dim=-1)

    def from_model_space(self, z: torch.Tensor) -> torch.Tensor:
        """(..., T, 198) normalised -> raw features."""
        left, right = z[..., :HAND_DIM] * self.std + self.mean, z[..., HAND_DIM:] * self.std + self.mean
        return torch.cat([left * self.mirror, right], dim=-1)

    def _rotary(self, T: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.cfg.d_model // self.cfg.heads // 2
        inv = 1.0 / (10000.0 ** (torch.arange(half, device=device, dtype=torch.float32) / half))
        ang = torch.arange(T, device=device, dtype=torch.float32)[:, None] * inv[None]
        return ang.cos().to(dtype), ang.sin().to(dtype)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, known: torch.Tensor, mask: torch.Tensor,
                text: torch.Tensor | None = None, filled: torch.Tensor | None = None) -> torch.Tensor:
        """Predict x0 in model space.

        x_t, known, mask: (B, T, 198) (known is x0 where mask is 1, anything elsewhere); t: (B,) steps;
        text: (B, 384) sentence embeddings, rows of NaN (or None) for "no text"; filled: `fill` of
        known (computed when not given) -> (B, T, 198)."""
        known = known * mask
        if filled is None:
            filled = self.fill(known, mask)
        h = self.inp(torch.cat([x_t, known, mask, filled], dim=-1))
        cond = self.time(timestep_embedding(t, self.cfg.d_model))
        if self.cfg.text:
            null = self.null_text.expand(len(x_t), -1)
            if text is not None:
                has = ~torch.isnan(text).any(-1, keepdim=True)
                cond = cond + torch.where(has, self.text(torch.nan_to_num(text)), null)
            else:
                cond = cond + null
        h = h + cond[:, None]
        cos, sin = self._rotary(x_t.shape[1], x_t.device, h.dtype)
        for block in self.blocks:
            h = block(h, cos, sin)
        return filled + self.out(self.norm(h))


def save_inbetweener(model: InbetweenDenoiser, directory: str | Path, meta: dict | None = None) -> None:
    """config.json + model.safetensors + stats.npz (mean, std) into `directory`."""
    stats = {"mean": model.mean.cpu().numpy(), "std": model.std.cpu().numpy()}
    save_weights(directory, {"component": "inbetween", **asdict(model.cfg)}, model.state_dict(), stats, meta)


def load_inbetweener(directory: str | Path | None = None, device: str | torch.device = "cpu") -> InbetweenDenoiser:
    """The denoiser in eval mode from a weights folder (default: the shipped `weights/inbetween`)."""
    directory = Path(directory) if directory else default_dir("inbetween")
    config, state, _ = load_weights(directory)
    if config.get("component", "inbetween") != "inbetween":
        raise HandMotionError(f"{directory}: holds {config.get('component')!r} weights, not an in-betweener")
    try:
        model = InbetweenDenoiser(InbetweenConfig.from_dict(config))
        model.load_state_dict(state)
    except (ValueError, RuntimeError) as exc:
        raise HandMotionError(f"{directory}: weights do not match the in-betweener ({exc})") from None
    log.debug("loaded in-betweener from %s", directory)
    return model.to(device).eval()
