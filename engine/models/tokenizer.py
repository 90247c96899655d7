"""SHIFT motion tokenizer (CLUTCH): a part-decomposed VQ-VAE over two-hand features, and baselines.

Layouts (`TokenizerConfig.layout`), one token per slot per latent step (x4 temporal downsampling):
  "shift"       per hand a trajectory VQ-VAE (decodes the 9-D wrist orientation + translation) and a
                finger-pose VQ-VAE (decodes the 90-D joint rotations); every encoder sees the hand's
                full 99-D features. Slots [L-traj, L-pose, R-traj, R-pose].
  "hands"       one VQ-VAE per hand (99-D in and out). Slots [L-hand, R-hand].
  "monolithic"  one VQ-VAE over both hands (198-D), T2M-GPT style. Slot [both].
With `share_hands` (default) both hands run through the same networks and codebooks, stacked on the
batch axis, the left hand mirrored into right-hand space first; otherwise each side has its own.

Input and output are raw 198-D features (engine/features.py) with the left hand in its own
convention; mirroring and normalisation (stored statistics, one set for both hands in right-hand
space) happen inside, so `decode(encode(x))` returns features a `HandMotion` can be built from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import HandMotionError
from ..features import HAND_DIM, ORIENT, POSE, TRANSL
from .conv1d import Decoder, Encoder
from .quantize import FSQ_LEVELS, Quantizer
from .weights import default_dir, load_weights, save_weights

LAYOUTS = {
    "shift": ("traj", "pose"),
    "hands": ("hand",),
    "monolithic": ("both",),
}
TRAJ_DIMS = np.r_[np.arange(96)[ORIENT], np.arange(99)[TRANSL]]  # 9 feature indices the trajectory part decodes
POSE_DIMS = np.arange(96)[POSE]  # 90 finger-rotation indices


def _mirror_signs() -> torch.Tensor:
    """(99,) signs taking a hand's features to its mirror image across the YZ plane.

    Mirroring is R -> M R M with M = diag(-1, 1, 1), i.e. R_ij -> m_i m_j R_ij, and the 6D layout
    stores R[:, :2] row-major; translation x -> -x.
    """
    m = np.array([-1.0, 1.0, 1.0])
    six = (m[:, None] * m[None, :2]).reshape(6)
    return torch.tensor(np.r_[np.tile(six, 16), m], dtype=torch.float32)


MIRROR = _mirror_signs()


@dataclass
class TokenizerConfig:
    """Everything needed to rebuild a tokenizer; saved as config.json beside the weights."""

    layout: str = "shift"
    share_hands: bool = True
    quantizer: str = "vq"  # "vq" (EMA + dead-code reset) or "fsq"
    codebook_size: int = 512  # codes per codebook
    code_dim: int = 64
    width: int = 128  # conv channels; a part's network
    depth: int = 2  # residual blocks per resolution
    down: int = 2  # temporal downsampling 2**down
    fps: float = 30.0
    commitment: float = 0.02

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {self.layout!r}")
        if self.quantizer not in ("vq", "fsq"):
            raise ValueError(f"quantizer must be 'vq' or 'fsq', got {self.quantizer!r}")
        if self.quantizer == "fsq" and self.codebook_size not in FSQ_LEVELS:
            raise ValueError(f"an fsq codebook_size must be one of {sorted(FSQ_LEVELS)}, got {self.codebook_size}")

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown tokenizer config keys: {sorted(unknown)}")
        return cls(**d)

    @property
    def parts(self) -> tuple[str, ...]:
        return LAYOUTS[self.layout]

    @property
    def per_hand(self) -> bool:
        return self.layout != "monolithic"

    @property
    def slots(self) -> list[tuple[str, str]]:
        """Token columns as (side, part); side "both" for the monolithic layout."""
        if not self.per_hand:
            return [("both", "both")]
        return [(side, part) for side in ("left", "right") for part in self.parts]

    @property
    def slot_names(self) -> list[str]:
        """Printable slot names: "L-traj", "L-pose", "R-traj", "R-pose" (or "L-hand", ..., "both")."""
        return ["both" if side == "both" else f"{side[0].upper()}-{part}" for side, part in self.slots]

    def net_key(self, side: str, part: str) -> str:
        """The network (and codebook) a slot uses: one per part when hands share, else per side."""
        return part if (self.share_hands or not self.per_hand) else f"{side}_{part}"

    @property
    def stride(self) -> int:
        return 2**self.down


def _out_dims(part: str) -> int:
    return {"traj": len(TRAJ_DIMS), "pose": len(POSE_DIMS), "hand": HAND_DIM, "both": 2 * HAND_DIM}[part]


class PartVQVAE(nn.Module):
    """Encoder -> quantizer -> decoder for one part: (B, T, in_dim) -> (B, T, out_dim)."""

    def __init__(self, cfg: TokenizerConfig, in_dim: int, out_dim: int):
        super().__init__()
        self.encoder = Encoder(in_dim, cfg.code_dim, cfg.width, cfg.depth, cfg.down)
        self.quantizer = Quantizer(cfg.quantizer, cfg.code_dim, cfg.codebook_size, cfg.commitment)
        self.decoder = Decoder(cfg.code_dim, out_dim, cfg.width, cfg.depth, cfg.down)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, in) -> quantized (B, N, code_dim), codes (B, N), aux loss."""
        return self.quantizer(self.encoder(x))


class HandTokenizer(nn.Module):
    """Motion features (B, T, 198) <-> token grid (B, T / stride, n_slots)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        # Normalisation statistics live in stats.npz beside the weights, not in the state dict.
        self.register_buffer("mean", torch.zeros(HAND_DIM), persistent=False)
        self.register_buffer("std", torch.ones(HAND_DIM), persistent=False)
        self.register_buffer("mirror", MIRROR.clone(), persistent=False)
        in_dim = HAND_DIM if cfg.per_hand else 2 * HAND_DIM
        parts = {cfg.net_key(side, part): part for side, part in cfg.slots}
        self.nets = nn.ModuleDict({key: PartVQVAE(cfg, in_dim, _out_dims(part)) for key, part in parts.items()})

    def _net(self, side: str, part: str) -> PartVQVAE:
        return self.nets[self.cfg.net_key(side, part)]

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Per-hand feature statistics (99,) in right-hand space."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    # --- model space: both hands as right hands, normalised -------------------------------------
    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 198) raw features -> (B, T, 2, 99) normalised, left hand mirrored."""
        hands = x.reshape(*x.shape[:-1], 2, HAND_DIM)
        hands = torch.stack([hands[..., 0, :] * self.mirror, hands[..., 1, :]], dim=-2)
        return (hands - self.mean) / self.std

    def from_model_space(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, 2, 99) normalised -> (B, T, 198) raw features."""
        raw = h * self.std + self.mean
        raw = torch.stack([raw[..., 0, :] * self.mirror, raw[..., 1, :]], dim=-2)
        return raw.reshape(*raw.shape[:-2], 2 * HAND_DIM)

    # --- tokens -----------------------------------------------------------------------------
    def _quantize(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(B, T, 198) raw -> per-slot quantized latents, codes (B, N, S), aux loss."""
        h = self.to_model_space(x)
        B = x.shape[0]
        if not self.cfg.per_hand:
            zq, c, a = self._net("both", "both").encode(h.flatten(-2))
            return [zq], c[..., None], a
        out: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        aux = x.new_zeros(())
        for part in self.cfg.parts:
            if self.cfg.share_hands:  # both hands through one network, stacked on the batch axis
                zq, c, a = self._net("right", part).encode(torch.cat([h[..., 0, :], h[..., 1, :]], dim=0))
                out["left", part], out["right", part] = (zq[:B], c[:B]), (zq[B:], c[B:])
                aux = aux + a
                continue
            for k, side in enumerate(("left", "right")):
                zq, c, a = self._net(side, part).encode(h[..., k, :])
                out[side, part] = (zq, c)
                aux = aux + a
        slots = self.cfg.slots
        return [out[s][0] for s in slots], torch.stack([out[s][1] for s in slots], dim=-1), aux

    def _decode_latents(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Per-slot quantized latents (B, N, code_dim) -> normalised model space (B, T, 2, 99)."""
        if not self.cfg.per_hand:
            out = self._net("both", "both").decoder(latents[0])
            return out.reshape(*out.shape[:-1], 2, HAND_DIM)
        by_slot = dict(zip(self.cfg.slots, latents))
        hands = []
        for side in ("left", "right"):
            if self.cfg.layout == "hands":
                hands.append(self._net(side, "hand").decoder(by_slot[(side, "hand")]))
                continue
            traj = self._net(side, "traj").decoder(by_slot[(side, "traj")])
            pose = self._net(side, "pose").decoder(by_slot[(side, "pose")])
            hand = traj.new_zeros(*traj.shape[:-1], HAND_DIM)
            hand[..., TRAJ_DIMS] = traj
            hand[..., POSE_DIMS] = pose
            hands.append(hand)
        return torch.stack(hands, dim=-2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 198) raw features, T a multiple of `cfg.stride` -> codes (B, T / stride, n_slots) long."""
        return self._quantize(x)[1]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, N, n_slots) -> raw features (B, N * stride, 198)."""
        latents = []
        for s, (side, part) in enumerate(self.cfg.slots):
            latents.append(self._net(side, part).quantizer.lookup(codes[..., s]))
        return self.from_model_space(self._decode_latents(latents))

    def codebook(self, slot: int) -> torch.Tensor:
        """(codebook_size, code_dim): every code vector of slot `slot`, as `decode` looks them up."""
        side, part = self.cfg.slots[slot]
        q = self._net(side, part).quantizer
        return q.lookup(torch.arange(self.cfg.codebook_size, device=self.mean.device)[None])[0]

    def decode_soft(self, probs: torch.Tensor) -> torch.Tensor:
        """Differentiable decode of code distributions (B, N, n_slots, codebook_size) -> raw features
        (B, N * stride, 198): each slot's latent is the probability-weighted mix of its code vectors, so
        one-hot rows give exactly `decode` of those codes."""
        latents = [probs[..., s, :].to(self.mean.dtype) @ self.codebook(s) for s in range(len(self.cfg.slots))]
        return self.from_model_space(self._decode_latents(latents))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, T, 198) raw -> {"features": raw reconstruction (B, T, 198), "normed": the same in
        model space (B, T, 2, 99), "codes": (B, N, n_slots), "aux": quantizer loss ()}."""
        latents, codes, aux = self._quantize(x)
        normed = self._decode_latents(latents)
        return {"features": self.from_model_space(normed), "normed": normed, "codes": codes, "aux": aux}

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_tokenizer(model: HandTokenizer, directory: str | Path, meta: dict | None = None) -> None:
    """config.json + model.safetensors + stats.npz (mean, std) into `directory`."""
    stats = {"mean": model.mean.cpu().numpy(), "std": model.std.cpu().numpy()}
    save_weights(directory, asdict(model.cfg), model.state_dict(), stats, meta)


def load_tokenizer(directory: str | Path | None = None, device: str | torch.device = "cpu") -> HandTokenizer:
    """A tokenizer in eval mode from a weights folder (default: the shipped `weights/tokenizer`)."""
    directory = Path(directory) if directory else default_dir("tokenizer")
    config, state, stats = load_weights(directory)
    try:
        model = HandTokenizer(TokenizerConfig.from_dict(config))
    except ValueError as exc:
        raise HandMotionError(f"{directory}/config.json: {exc}") from None
    if "mean" not in stats or "std" not in stats:
        raise HandMotionError(f"{directory}: stats.npz with mean and std is missing")
    model.load_state_dict(state)
    model.set_stats(stats["mean"], stats["std"])
    return model.to(device).eval()
