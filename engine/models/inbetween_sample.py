"""Sampling the in-betweener with a diffusers scheduler; the denoising loop is ours.

Two modes:
- "trained" (default): the denoiser sees the observed values and their mask (what it was trained for).
  After every x0 prediction the observed values are put back (blended by `strength`, 1 = replaced),
  and once more after the last step, so with strength 1 every observed value comes out exactly.
- "inpaint": training-free soft-mask inpainting with the same network run unconditionally (empty
  mask). At each step the prediction is pulled towards the per-dimension fill (the model's cubic or linear) of the observed
  values with a soft mask that is 1 on observed frames and falls off as a Gaussian of the distance to
  the nearest observation, its width shrinking from `INPAINT_SIGMA` frames to 0 as the noise goes;
  observed values are put back exactly at the end. A fallback for masks the trained path handles
  badly, and the baseline the trained conditioning is measured against.
"""

from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from .inbetween import InbetweenConfig, InbetweenDenoiser

MODES = ("trained", "inpaint")
INPAINT_SIGMA = 8.0  # frames


def training_scheduler(cfg: InbetweenConfig) -> DDPMScheduler:
    """The forward process the denoiser is trained on (`add_noise`)."""
    return DDPMScheduler(num_train_timesteps=cfg.train_timesteps, beta_schedule=cfg.beta_schedule,
                         prediction_type="sample", clip_sample=False)


def sampling_scheduler(cfg: InbetweenConfig, steps: int) -> DDIMScheduler:
    """DDIM, deterministic (eta 0), x0 prediction, no clipping, "trailing" spacing so the first step
    starts from pure noise and the last lands on alpha 1 (the output is the final x0)."""
    sched = DDIMScheduler(num_train_timesteps=cfg.train_timesteps, beta_schedule=cfg.beta_schedule,
                          prediction_type="sample", clip_sample=False, set_alpha_to_one=True,
                          timestep_spacing="trailing")
    sched.set_timesteps(steps)
    return sched


def _distance_to_observed(mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) 0/1 -> (B, T, D) frames to the nearest observed frame of that dimension (inf if none)."""
    B, T, D = mask.shape
    t = torch.arange(T, device=mask.device, dtype=torch.float32).view(1, T, 1).expand(B, T, D)
    big = torch.full_like(t, float("inf"))
    known = mask > 0.5
    prev = torch.where(known, t, -big).cummax(dim=1).values
    nxt = torch.where(known, t, big).flip(1).cummin(dim=1).values.flip(1)
    return torch.minimum(t - prev, nxt - t)


@torch.no_grad()
def denoise(model: InbetweenDenoiser, known: torch.Tensor, mask: torch.Tensor, text: torch.Tensor | None = None,
            steps: int = 20, guidance: float = 2.5, strength: float = 1.0, mode: str = "trained",
            generator: torch.Generator | None = None,
            progress: Callable[[int, int], None] | None = None, noise_scale: float = 1.0,
            guide: torch.Tensor | None = None, guide_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sample clips that agree with the observed values.

    known, mask: (B, T, 198) in model space (mask 0/1 per dimension); text: (B, 384) sentence embeddings
    or None (classifier-free guidance with weight `guidance` when given); strength in [0, 1]: how much
    of the observed values is put back each step (1: exactly). progress(step, steps) after each step.
    noise_scale: the starting noise's scale (1: a sample; lower: closer to the average motion).
    guide, guide_weight: (B, T, 198) soft targets for values the network is not shown (a control
    signal, as a refiner's corrected pose): each x0 prediction, and the result, move that share of the
    way to them (0: free, 1: exactly the guide).
    Returns x0 (B, T, 198) in model space."""
    if mode not in MODES:
        raise ValueError(f"unknown sampling mode {mode!r} (known: {', '.join(MODES)})")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    sched = sampling_scheduler(model.cfg, steps)
    known = known * mask
    x = noise_scale * torch.randn(known.shape, generator=generator, device=known.device, dtype=known.dtype)
    B = len(known)
    use_text = text is not None and model.cfg.text and guidance != 0
    fill = model.fill(known, mask)
    if mode == "inpaint":  # the network sees nothing observed; the soft mask pulls towards the fill
        empty = torch.zeros_like(mask)
        dist, seen = _distance_to_observed(mask), mask.any(dim=1, keepdim=True)
    total = sched.config.num_train_timesteps
    for i, t in enumerate(sched.timesteps):
        tt = torch.full((B,), int(t), device=known.device, dtype=torch.long)
        if mode == "trained":
            x0 = model(x, tt, known, mask, text if use_text else None, fill)
            if use_text and guidance != 1.0:
                x0 = x0 + (guidance - 1.0) * (x0 - model(x, tt, known, mask, None, fill))
            x0 = x0 + strength * mask * (known - x0)
        else:
            x0 = model(x, tt, empty, empty, text if use_text else None, empty)
            if use_text and guidance != 1.0:
                x0 = x0 + (guidance - 1.0) * (x0 - model(x, tt, empty, empty, None, empty))
            sigma = INPAINT_SIGMA * float(t) / total
            soft = torch.exp(-0.5 * (dist / max(sigma, 1e-6)) ** 2) * seen
            x0 = x0 + strength * soft * (fill - x0)
        if guide is not None:
            x0 = x0 + guide_weight * (guide - x0)
        x = sched.step(x0, t, x).prev_sample
        if progress:
            progress(i + 1, steps)
    if guide is not None:
        x = x + guide_weight * (guide - x)
    return x + strength * mask * (known - x)
