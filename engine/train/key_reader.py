"""`handmotion train keyreader`: add a key reader to in-betweener weights and train it on corpus windows.

The denoiser stays frozen; only the key reader learns. Each window gets keyframes as an animator sets
them (`reader_keys`: a spacing of 6-40 frames, sometimes irregular), and the reader is trained on
the frames strictly between full keys, comparing the fill it improves (the cubic through the keys
plus its estimate) with the real frames: MSE in the denoiser's normalised model space plus the mean
distance of the forward-kinematics joints. Half
the windows (`offset_share`) have their joints turned by constant random rotations, as the denoiser's
training does, so hands held unlike the corpus's do not throw it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..features import HAND_DIM
from ..models.inbetween import InbetweenConfig, InbetweenDenoiser, load_inbetweener, save_inbetweener
from ..models.key_reader import KeyReader, full_keys, inside_gaps
from ..models.kinematics import right_hand_joints
from .config import TrainRun, training_meta
from .data import WindowSampler, train_and_val_clips
from .inbetween import offset_joints, validation_scores
from .loop import run_training

log = logging.getLogger(__name__)


@dataclass
class TrainKeyReaderConfig(TrainRun):
    out: str = "runs/keyreader"
    init_from: str = ""  # the in-betweener weights the reader joins (default: the shipped weights/inbetween)
    hidden: int = 1024  # the reader's width
    basis: int = 12  # sine terms per gap
    steps: int = 6000
    batch: int = 64
    window: int = 120
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 1e-4
    shortest: int = 6  # key spacings drawn from [shortest, longest] frames
    longest: int = 40
    jitter: float = 0.25  # irregular keys: each moved by up to this share of the spacing
    offset_share: float = 0.5  # windows whose joints are turned by constant random rotations
    offset_finger_deg: float = 15.0
    offset_wrist_deg: float = 10.0
    w_joints: float = 0.1  # weight of the joint-distance term (cm) beside the feature MSE
    val_windows: int = 48
    val_steps: int = 10

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.basis < 1:
            raise ValueError("hidden and basis must be at least 1")
        if self.window < 8:
            raise ValueError("window must be at least 8 frames")
        if not 2 <= self.shortest <= self.longest or not 0.0 <= self.jitter < 0.5:
            raise ValueError("key spacings need 2 <= shortest <= longest, and jitter in [0, 0.5)")
        if not 0.0 <= self.offset_share <= 1.0 or min(self.offset_finger_deg, self.offset_wrist_deg) < 0:
            raise ValueError("offset_share must be in [0, 1] and the offset sizes >= 0")


def with_key_reader(model: InbetweenDenoiser, hidden: int, basis: int) -> InbetweenDenoiser:
    """`model` with a new, untrained key reader (replacing any it had); the denoiser's weights are shared
    and frozen, only the reader's parameters train."""
    cfg = InbetweenConfig.from_dict({**vars(model.cfg), "key_reader": hidden, "key_basis": basis})
    model.cfg = cfg
    model.key_reader = KeyReader(hidden, basis, cfg.fps).to(model.mean.device)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("key_reader."))
    return model


def key_reader_loss(model: InbetweenDenoiser, batch: dict[str, torch.Tensor],
                    w_joints: float) -> tuple[torch.Tensor, dict[str, float]]:
    """batch: x (B, T, 198) raw features, mask (B, T, 198) -> (loss, logs) on the frames strictly between
    full keys: MSE of the fill on normalised features + `w_joints` x mean joint distance (cm, both hands
    in right-hand space, forward kinematics). Logs carry the cubic's own numbers for comparison.

    The joint term matters: normalised features weigh every dimension alike, while joint positions
    hang on the wrist's position and orientation far more than on one finger joint, so a reader
    trained on features alone lowered their MSE and raised the joint error."""
    x = model.to_model_space(batch["x"])
    mask = batch["mask"]
    full = full_keys(mask)
    inside = inside_gaps(full)
    if not inside.any():
        zero = sum(p.sum() for p in model.key_reader.parameters()) * 0.0
        return zero, {"loss": 0.0, "cubic": 0.0}
    hands = lambda z: z[inside].reshape(-1, 2, HAND_DIM) * model.std + model.mean  # noqa: E731
    truth = right_hand_joints(hands(x))
    filled = model.fill(x, mask)
    rec = (filled - x)[inside].pow(2).mean()
    cm = (right_hand_joints(hands(filled)) - truth).norm(dim=-1).mean() * 100.0
    with torch.no_grad():
        cubic = filled - model.key_reader(x * mask, full) * (1 - mask)
        cubic_cm = (right_hand_joints(hands(cubic)) - truth).norm(dim=-1).mean() * 100.0
    loss = rec + w_joints * cm
    return loss, {"loss": loss.item(), "cm": cm.item(), "cubic_cm": cubic_cm.item(), "rec": rec.item()}


def reader_keys(T: int, rng: np.random.Generator, shortest: int, longest: int, jitter: float) -> np.ndarray:
    """(T,) bool: keyframes as an animator sets them: a spacing drawn from [shortest, longest] frames, a
    random first key, the clip's ends keyed half the time, and in half the windows every key moved by up
    to `jitter` of the spacing (irregular keys)."""
    every = int(rng.integers(shortest, longest + 1))
    frames = np.arange(int(rng.integers(0, every)), T, every)
    if rng.random() < 0.5:
        frames = frames + np.round(rng.uniform(-jitter, jitter, len(frames)) * every).astype(int)
    keys = np.zeros(T, dtype=bool)
    keys[np.clip(frames, 0, T - 1)] = True
    if rng.random() < 0.5:
        keys[[0, T - 1]] = True
    return keys


def train_key_reader(cfg: TrainKeyReaderConfig, progress: bool = True) -> InbetweenDenoiser:
    """Train a key reader on `cfg.init_from`'s in-betweener and save both to `cfg.out`."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train, val = train_and_val_clips(cfg.data)
    model = with_key_reader(load_inbetweener(cfg.init_from or None).float(), cfg.hidden, cfg.basis)
    n = sum(p.numel() for p in model.key_reader.parameters())
    log.info("key reader: %.2fM parameters on %s", n / 1e6, cfg.init_from or "the shipped in-betweener")
    sampler = WindowSampler(train, cfg.window, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)

    def next_batch() -> dict[str, torch.Tensor]:
        x = offset_joints(sampler.sample(cfg.batch), rng, cfg.offset_share, cfg.offset_finger_deg,
                          cfg.offset_wrist_deg)
        frames = np.stack([reader_keys(cfg.window, rng, cfg.shortest, cfg.longest, cfg.jitter)
                           for _ in range(cfg.batch)])
        mask = torch.from_numpy(np.repeat(frames[:, :, None], x.shape[-1], axis=2).astype(np.float32))
        return {"x": x, "mask": mask}

    val_windows = WindowSampler(val, cfg.window, seed=12345).sample(cfg.val_windows)
    model = run_training(model, lambda m, b: key_reader_loss(m, b, cfg.w_joints), next_batch, cfg, Path(cfg.out),
                         evaluate=lambda m: validation_scores(m, val_windows, cfg.val_steps), progress=progress)
    save_inbetweener(model, cfg.out, meta=training_meta(cfg))
    return model
