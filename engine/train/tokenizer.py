"""`handmotion train tokenizer`: SHIFT (or a baseline layout) on a corpus, through `run_training`.

Loss per batch of windows (B, T, 198):
  smooth-L1 on normalised features + `w_velocity` x smooth-L1 on their frame differences; with
  `balance_parts` each is the mean over the 9 wrist dimensions plus the mean over the 90 finger
  dimensions, so the wrist is not outweighed ten to one by the fingers (otherwise a plain mean)
  + `w_fk` x L1 on forward-kinematics joint positions (cm, canonical right hand, all 21 joints)
  + the quantizer's commitment loss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import HandMotionError
from ..models.kinematics import feature_rotmats, local_finger_joints, right_hand_joints
from ..models.tokenizer import MIRROR, POSE_DIMS, TRAJ_DIMS, HandTokenizer, TokenizerConfig, save_tokenizer
from ..rotations import axis_angle_to_matrix
from ..skeleton import SIDES, CanonicalHand
from .config import TrainRun, training_meta
from .data import WindowSampler, feature_stats, load_clips
from .loop import run_training

log = logging.getLogger(__name__)

# Actions kept out of the default tokenizer's training data: the out-of-corpus check encodes clips
# made of them, motion the tokenizer has never seen (one gesture, one dynamic, one grasp, one bimanual).
HELD_OUT_ACTIONS = ("rock_on", "piano_arpeggio", "grasp_lateral", "knit")


@dataclass
class TrainTokenizerConfig(TrainRun):
    out: str = "runs/tokenizer"
    # model (TokenizerConfig fields)
    layout: str = "shift"
    share_hands: bool = True
    quantizer: str = "vq"
    codebook_size: int = 512
    code_dim: int = 64
    width: int = 128
    depth: int = 2
    down: int = 2
    fps: float = 30.0
    commitment: float = 0.02
    # training
    steps: int = 2500
    window: int = 64
    lr: float = 4e-4
    w_velocity: float = 0.5
    w_fk: float = 0.1
    balance_parts: bool = True
    rigid_aug_deg: float = 60.0  # rotate a share of windows rigidly (random axis, angle up to this)
    rigid_aug_shift: float = 0.1  # and shift them (uniform, up to this many metres per axis)
    aug_share: float = 0.5
    exclude_actions: tuple[str, ...] = HELD_OUT_ACTIONS

    def __post_init__(self) -> None:
        self.model_config()  # validates the model fields now, before any data is read

    def model_config(self) -> TokenizerConfig:
        return self.pick(TokenizerConfig)


def _smooth_l1(pred: torch.Tensor, target: torch.Tensor, balance_parts: bool) -> torch.Tensor:
    """Smooth-L1 over (..., 99) hand features: a plain mean, or wrist mean + finger mean."""
    err = F.smooth_l1_loss(pred, target, reduction="none")
    if not balance_parts:
        return err.mean()
    return err[..., TRAJ_DIMS].mean() + err[..., POSE_DIMS].mean()


def tokenizer_loss(model: HandTokenizer, x: torch.Tensor, w_velocity: float, w_fk: float, balance_parts: bool = True
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """x (B, T, 198) raw features -> (total loss, per-term floats)."""
    out = model(x)
    pred, target = out["normed"], model.to_model_space(x)  # (B, T, 2, 99)
    rec = _smooth_l1(pred, target, balance_parts)
    vel = _smooth_l1(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1], balance_parts)
    raw_pred, raw_target = pred * model.std + model.mean, target * model.std + model.mean
    fk = (right_hand_joints(raw_pred) - right_hand_joints(raw_target)).abs().mean() * 100.0  # cm
    loss = rec + w_velocity * vel + w_fk * fk + out["aux"]
    return loss, {"loss": loss.item(), "rec": rec.item(), "vel": vel.item(), "fk_cm": fk.item(), "aux": out["aux"].item()}


_REST_WRISTS = torch.stack([torch.as_tensor(CanonicalHand(side).rest_joints()[0], dtype=torch.float32)
                            for side in SIDES])  # (2, 3)


def rigid_augment(x: torch.Tensor, gen: torch.Generator, max_deg: float, max_shift: float, share: float
                  ) -> torch.Tensor:
    """Move a `share` of the windows (B, T, 198) rigidly: both hands rotate together about their mean
    wrist position by a random rotation (uniform axis, angle up to `max_deg`) and shift by up to
    `max_shift` metres per axis. Finger poses are untouched. Teaches the trajectory codes wrist
    orientations and places the generator pairs less often."""
    B, T, _ = x.shape
    pick = torch.rand(B, generator=gen) < share
    n = int(pick.sum())
    if n == 0:
        return x
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    angle = torch.rand(n, 1, generator=gen) * np.radians(max_deg)
    R = axis_angle_to_matrix(axis * angle).float()  # (n, 3, 3)
    shift = (torch.rand(n, 1, 3, generator=gen) * 2 - 1) * max_shift
    hands = x[pick].reshape(n, T, 2, 99)
    six = hands[..., :6].reshape(n, T, 2, 3, 2)
    six = torch.einsum("nij,ntkjc->ntkic", R, six).reshape(n, T, 2, 6)
    wrist = hands[..., 96:99] + _REST_WRISTS  # (n, T, 2, 3) world wrists
    centre = wrist.mean(dim=(1, 2), keepdim=True)
    wrist = torch.einsum("nij,ntkj->ntki", R, wrist - centre) + centre + shift[:, :, None]
    moved = torch.cat([six, hands[..., 6:96], wrist - _REST_WRISTS], dim=-1)
    out = x.clone()
    out[pick] = moved.reshape(n, T, 198)
    return out


@torch.no_grad()
def validation_scores(model: HandTokenizer, windows: torch.Tensor) -> dict[str, float]:
    """Finger (hand-local) and global joint error (mm), wrist orientation error (degrees) and the
    mean number of distinct codes per slot on fixed windows."""
    device = next(model.parameters()).device
    x = windows.to(device)
    out = model(x)
    pred = model.to_model_space(out["features"]) * model.std + model.mean
    target = model.to_model_space(x) * model.std + model.mean
    finger = (local_finger_joints(pred) - local_finger_joints(target)).norm(dim=-1).mean() * 1000
    glob = (right_hand_joints(pred) - right_hand_joints(target)).norm(dim=-1).mean() * 1000
    Rp, Rt = feature_rotmats(pred)[..., 0, :, :], feature_rotmats(target)[..., 0, :, :]
    cos = ((Rp * Rt).sum(dim=(-1, -2)) - 1) / 2
    wrist = torch.rad2deg(torch.arccos(cos.clamp(-1, 1))).mean()
    used = np.mean([len(torch.unique(out["codes"][..., s])) for s in range(out["codes"].shape[-1])])
    return {"finger_mm": finger.item(), "global_mm": glob.item(), "wrist_deg": wrist.item(), "codes_used": float(used)}


def train_tokenizer(cfg: TrainTokenizerConfig, progress: bool = True) -> HandTokenizer:
    """Train and save to `cfg.out` (the weights folder layout); returns the trained model."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train = load_clips(cfg.data, "train")
    if cfg.exclude_actions:
        n = len(train)
        train = train.with_actions(cfg.exclude_actions, present=False)
        log.info("training on %d of %d train clips (held out: %s)", len(train), n, ", ".join(cfg.exclude_actions))
    try:
        val = load_clips(cfg.data, "val")
    except HandMotionError:
        log.warning("%s has no val split; validating on training windows", cfg.data)
        val = train
    model = HandTokenizer(cfg.model_config())
    mean, std = feature_stats(train, MIRROR.numpy())
    model.set_stats(mean, std)
    log.info("tokenizer %s: %.2fM parameters, %d slots x %d codes", cfg.layout, model.n_parameters() / 1e6,
             len(model.cfg.slots), cfg.codebook_size)
    sampler = WindowSampler(train, cfg.window, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)

    def next_batch() -> torch.Tensor:
        batch = sampler.sample(cfg.batch)
        if cfg.rigid_aug_deg or cfg.rigid_aug_shift:
            batch = rigid_augment(batch, gen, cfg.rigid_aug_deg, cfg.rigid_aug_shift, cfg.aug_share)
        return batch
    val_windows = WindowSampler(val, cfg.window, seed=12345).sample(256)
    model = run_training(
        model,
        lambda m, x: tokenizer_loss(m, x, cfg.w_velocity, cfg.w_fk, cfg.balance_parts),
        next_batch,
        cfg,
        Path(cfg.out),
        evaluate=lambda m: validation_scores(m, val_windows),
        progress=progress,
    )
    save_tokenizer(model, cfg.out, meta=training_meta(cfg))
    return model
