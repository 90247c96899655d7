"""The key reader: what the keys say about the frames between them, learnt directly.

Between two full keyframes the in-betweener starts from an auto-clamped cubic through the keys (the
curve an animator's F-curves give). Real hands do not move like that cubic: they hold, then move
quickly, and the keys around a gap tell when. The key reader is a regression network that predicts,
for each gap between consecutive full keys, how the motion departs from the cubic there, from the
four keys around the gap (the one before, both ends, the one after) and the lengths of the three gaps
they span. It predicts the coefficients of a sine series over the gap, sum_k c_k sin(k pi tau) with
tau the position in the gap from 0 to 1, so the departure is smooth, zero at both keys and defined
for a gap of any length.

Its output is added to the fill the denoiser starts from (`InbetweenDenoiser.fill`): a
deterministic estimate of the conditional mean that the diffusion model then refines. Trained on
its own with MSE (`handmotion train keyreader`), which learns in minutes what the diffusion objective
learns only slowly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..features import MOTION_DIM

CONTEXT_KEYS = 4  # the key before the gap, its two ends, the key after it


def full_keys(mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) 0/1 observation mask -> (B, T) bool: frames where every dimension is observed."""
    return (mask > 0.5).all(dim=-1)


def neighbour_keys(full: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For every frame, the last full key strictly before it (-1 if none) and the first strictly after it
    (T if none). full: (B, T) bool -> two (B, T) long tensors."""
    B, T = full.shape
    t = torch.arange(T, device=full.device).expand(B, T)
    at_or_before = torch.where(full, t, torch.full_like(t, -1)).cummax(dim=1).values
    at_or_after = torch.where(full, t, torch.full_like(t, T)).flip(1).cummin(dim=1).values.flip(1)
    before = torch.cat([torch.full_like(t[:, :1], -1), at_or_before[:, :-1]], dim=1)
    after = torch.cat([at_or_after[:, 1:], torch.full_like(t[:, :1], T)], dim=1)
    return before, after


def inside_gaps(full: torch.Tensor) -> torch.Tensor:
    """(B, T) bool full keys -> (B, T) bool: frames strictly between two full keys (where the reader
    speaks)."""
    before, after = neighbour_keys(full)
    return ~full & (before >= 0) & (after < full.shape[1])


class KeyReader(nn.Module):
    """MLP from the keys around a gap to a sine series of the departure from the fill over the gap.

    hidden: the MLP's width; basis: the number of sine terms; fps: frames per second of the model
    (gap lengths enter in seconds)."""

    def __init__(self, hidden: int = 1024, basis: int = 12, fps: float = 30.0):
        super().__init__()
        self.basis, self.fps = basis, fps
        n_in = CONTEXT_KEYS * MOTION_DIM + 3 + 2  # keys, three gap lengths, has-before / has-after
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, basis * MOTION_DIM),
        )
        nn.init.zeros_(self.mlp[-1].weight)  # untrained, it leaves the fill as it is
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, values: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
        """The departure from the fill on every frame inside a gap between two full keys (0 elsewhere:
        at keys, before the first and after the last full key).

        values: (B, T, 198) model space (read at full keys only); full: (B, T) bool -> (B, T, 198)."""
        B, T, D = values.shape
        out = values.new_zeros(B, T, D)
        before, after = neighbour_keys(full)
        # a gap starts at a full key whose next full key is at least two frames on
        start = full & (after < T) & (after - torch.arange(T, device=full.device) >= 2)
        bi, a = start.nonzero(as_tuple=True)
        if not len(a):
            return out
        b = after[bi, a]
        a0, b1 = before[bi, a], after[bi, b]  # the keys around the gap (-1 / T when there is none)
        has_a0, has_b1 = a0 >= 0, b1 < T
        a0c, b1c = torch.where(has_a0, a0, a), torch.where(has_b1, b1, b)
        keys = torch.stack([values[bi, a0c], values[bi, a], values[bi, b], values[bi, b1c]], dim=1)
        spans = torch.stack([(a - a0c), (b - a), (b1c - b)], dim=1).to(values.dtype) / self.fps
        flags = torch.stack([has_a0, has_b1], dim=1).to(values.dtype)
        coef = self.mlp(torch.cat([keys.flatten(1), spans, flags], dim=1)).view(-1, self.basis, D)
        # every frame strictly inside a gap: its gap's row, and its position tau in (0, 1)
        gap_of = torch.full((B, T), -1, dtype=torch.long, device=values.device)
        gap_of[bi, a] = torch.arange(len(a), device=values.device)
        prev, nxt = before, after
        fb, ft = inside_gaps(full).nonzero(as_tuple=True)
        g = gap_of[fb, prev[fb, ft]]
        tau = (ft - prev[fb, ft]).to(values.dtype) / (nxt[fb, ft] - prev[fb, ft]).to(values.dtype)
        k = torch.arange(1, self.basis + 1, device=values.device, dtype=values.dtype)
        sines = torch.sin(math.pi * tau[:, None] * k[None])  # (frames, basis)
        out[fb, ft] = torch.einsum("nk,nkd->nd", sines, coef[g])
        return out
