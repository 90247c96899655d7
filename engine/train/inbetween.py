"""`handmotion train inbetween`: the diffusion in-betweener on corpus windows, through `run_training`.

Each window (B, T, 198) gets a random observation mask (`random_masks`: keyframes at a spacing or at
random frames, known intervals, one whole hand, wrists only, some fingers, or nothing), a random
diffusion step and, for `text_share` of the windows, the sentence embedding of one of its clip's
captions. A `reaction_share` of the windows is drawn from two-hand-action clips instead, with one hand
given and the other free (`reaction_mask`). In `offset_share` of the windows every joint of each hand is
first turned by a constant random rotation (`offset_joints`), so the network also sees hands held and
articulated unlike the corpus's (captured hands twist their fingers in ways the corpus's anatomy never
does). Loss on the predicted clean motion x0:
  MSE on normalised features + `w_velocity` x MSE on their frame differences
  + `w_fk` x L1 on forward-kinematics joint positions (cm, both hands in right-hand space).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..corpus.actions import two_hand_clips
from ..features import HAND_DIM, MOTION_DIM, TRANSL
from ..models.inbetween import InbetweenConfig, InbetweenDenoiser, load_inbetweener, save_inbetweener
from ..models.inbetween_sample import denoise, training_scheduler
from ..models.kinematics import feature_rotmats, right_hand_joints
from ..models.tokenizer import MIRROR, TRAJ_DIMS
from ..rotations import axis_angle_to_matrix, matrix_to_rot6d
from .config import TrainRun, training_meta
from .data import WindowSampler, caption_embeddings, feature_stats, train_and_val_clips
from .loop import run_training

log = logging.getLogger(__name__)

FINGER_DIMS = [np.arange(6 + 18 * f, 6 + 18 * (f + 1)) for f in range(5)]  # MANO order: index middle pinky ring thumb
MASK_KINDS = ("keys", "intervals", "one_hand", "wrists", "fingers", "nothing")  # what random_mask draws
MASK_WEIGHTS = (0.45, 0.1, 0.15, 0.1, 0.1, 0.1)


@dataclass
class TrainInbetweenConfig(TrainRun):
    out: str = "runs/inbetween"
    init_from: str = ""  # an earlier run's output or a weights folder to continue from (its model config and stats win)
    # model (InbetweenConfig fields)
    d_model: int = 192
    layers: int = 4
    heads: int = 4
    d_ff: int = 768
    dropout: float = 0.1
    text: bool = True
    fps: float = 30.0
    train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    fill: str = "cubic"
    # training
    steps: int = 4000
    batch: int = 24
    window: int = 120
    lr: float = 4e-4
    weight_decay: float = 0.01
    w_velocity: float = 1.0
    w_fk: float = 0.05
    text_share: float = 0.7  # windows that see their caption; the rest learn the null (for guidance)
    high_noise_share: float = 0.5  # windows whose diffusion step is drawn from the noisiest fifth
    mask_weights: tuple[float, ...] = MASK_WEIGHTS  # how often each of MASK_KINDS is drawn
    reaction_share: float = 0.0  # windows from two-hand-action clips with one hand known, the other free
    offset_share: float = 0.5  # windows whose joints are turned by constant random rotations
    offset_finger_deg: float = 15.0  # their size (std of the angle) at the 15 finger joints
    offset_wrist_deg: float = 10.0  # and at the wrist's orientation
    val_windows: int = 48
    val_steps: int = 10

    def __post_init__(self) -> None:
        self.model_config()
        if self.window < 8:
            raise ValueError("window must be at least 8 frames")
        if len(self.mask_weights) != len(MASK_KINDS) or min(self.mask_weights) < 0 or sum(self.mask_weights) <= 0:
            raise ValueError(f"mask_weights needs {len(MASK_KINDS)} weights >= 0 ({', '.join(MASK_KINDS)}), not all 0")
        if not 0.0 <= self.reaction_share <= 1.0:
            raise ValueError("reaction_share must be in [0, 1]")
        if not 0.0 <= self.offset_share <= 1.0 or min(self.offset_finger_deg, self.offset_wrist_deg) < 0:
            raise ValueError("offset_share must be in [0, 1] and the offset sizes >= 0")

    def model_config(self) -> InbetweenConfig:
        return self.pick(InbetweenConfig)


def _keys_mask(T: int, rng: np.random.Generator) -> np.ndarray:
    """(T,) bool: keyframes at a random spacing and offset (mostly with both ends), or random frames."""
    frames = np.zeros(T, dtype=bool)
    if rng.random() < 0.7:
        every = int(rng.integers(2, 46))
        frames[int(rng.integers(0, every))::every] = True
        if rng.random() < 0.7:
            frames[[0, T - 1]] = True
    else:
        frames[rng.choice(T, size=int(rng.integers(1, max(2, T // 8))), replace=False)] = True
    return frames


def random_mask(T: int, rng: np.random.Generator, weights: tuple[float, ...] = MASK_WEIGHTS) -> np.ndarray:
    """One window's observation mask (T, 198) bool, drawn from the kinds an animator gives
    (`MASK_KINDS`, in proportion to `weights`)."""
    m = np.zeros((T, MOTION_DIM), dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    kind = rng.choice(len(MASK_KINDS), p=w / w.sum())
    if kind == 0:  # keyframes
        m[_keys_mask(T, rng)] = True
    elif kind == 1:  # known intervals: a start, an end, or both
        a, b = sorted(rng.integers(1, T, size=2))
        side = rng.integers(3)
        if side in (0, 2):
            m[:a] = True
        if side in (1, 2):
            m[b:] = True
    elif kind == 2:  # one whole hand, the other free or keyed sparsely
        hand = int(rng.integers(2))
        m[:, hand * HAND_DIM:(hand + 1) * HAND_DIM] = True
        if rng.random() < 0.5:
            other = slice((1 - hand) * HAND_DIM, (2 - hand) * HAND_DIM)
            m[_keys_mask(T, rng), other] = True
    elif kind in (3, 4):  # wrists only / some fingers, all frames, sometimes with sparse full keys
        for hand in range(2):
            if kind == 3:
                m[:, hand * HAND_DIM + TRAJ_DIMS] = True
            else:
                for f in np.flatnonzero(rng.random(5) < 0.4):
                    m[:, hand * HAND_DIM + FINGER_DIMS[f]] = True
        if rng.random() < 0.5:
            m[_keys_mask(T, rng)] = True
    return m  # kind 5: nothing observed (the unconditional model, for inpainting)


def reaction_mask(T: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 198) bool: one whole hand known on every frame, the other free (what `react` asks)."""
    m = np.zeros((T, MOTION_DIM), dtype=bool)
    hand = int(rng.integers(2))
    m[:, hand * HAND_DIM:(hand + 1) * HAND_DIM] = True
    return m


def random_masks(batch: int, T: int, rng: np.random.Generator, weights: tuple[float, ...] = MASK_WEIGHTS) -> torch.Tensor:
    """(batch, T, 198) float 0/1."""
    return torch.from_numpy(np.stack([random_mask(T, rng, weights) for _ in range(batch)]).astype(np.float32))


def offset_joints(x: torch.Tensor, rng: np.random.Generator, share: float, finger_deg: float,
                  wrist_deg: float) -> torch.Tensor:
    """Turn every joint of each hand in a `share` of the windows by a constant rotation in the joint's
    own frame (R -> R @ R_off): a random axis, an angle drawn from N(0, finger_deg) at the finger
    joints and N(0, wrist_deg) at the wrist. The motion over time is the same; only how the hand is
    held changes. Translations are untouched.

    x: (B, T, 198) raw features -> (B, T, 198)."""
    B, T, _ = x.shape
    chosen = np.flatnonzero(rng.random(B) < share)
    if not len(chosen):
        return x
    axes = rng.standard_normal((len(chosen), 2, 16, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    sizes = np.radians(np.r_[wrist_deg, np.full(15, finger_deg)])
    angles = rng.standard_normal((len(chosen), 2, 16, 1)) * sizes[:, None]
    offset = axis_angle_to_matrix(torch.from_numpy(axes * angles).to(x))  # (n, 2, 16, 3, 3)
    hands = x[chosen].reshape(len(chosen), T, 2, HAND_DIM)
    turned = matrix_to_rot6d(feature_rotmats(hands) @ offset[:, None]).reshape(len(chosen), T, 2, TRANSL.start)
    out = x.clone()
    out[chosen] = torch.cat([turned, hands[..., TRANSL]], dim=-1).reshape(len(chosen), T, MOTION_DIM)
    return out


def diffusion_steps(batch: int, total: int, high_noise_share: float, device=None) -> torch.Tensor:
    """(batch,) training steps: uniform over [0, total), except a `high_noise_share` of them drawn from the
    noisiest fifth. There x_t says almost nothing, so the network must answer from the observed values;
    trained uniformly it leans on x_t and its first sampling steps do no better than the linear fill."""
    t = torch.randint(0, total, (batch,), device=device)
    high = torch.randint(int(0.8 * total), total, (batch,), device=device)
    return torch.where(torch.rand(batch, device=device) < high_noise_share, high, t)


def inbetween_loss(model: InbetweenDenoiser, batch: dict[str, torch.Tensor], noise_sched, w_velocity: float,
                   w_fk: float, high_noise_share: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """batch: x (B, T, 198) raw features, mask (B, T, 198), text (B, 384) or NaN rows -> (loss, logs)."""
    x0 = model.to_model_space(batch["x"])
    B = len(x0)
    t = diffusion_steps(B, noise_sched.config.num_train_timesteps, high_noise_share, x0.device)
    x_t = noise_sched.add_noise(x0, torch.randn_like(x0), t)
    pred = model(x_t, t, x0, batch["mask"], batch.get("text"))
    rec = F.mse_loss(pred, x0)
    vel = F.mse_loss(pred[:, 1:] - pred[:, :-1], x0[:, 1:] - x0[:, :-1])
    hands = lambda z: (z.reshape(*z.shape[:-1], 2, HAND_DIM) * model.std + model.mean)  # noqa: E731  right-hand space
    fk = (right_hand_joints(hands(pred)) - right_hand_joints(hands(x0))).abs().mean() * 100.0
    loss = rec + w_velocity * vel + w_fk * fk
    return loss, {"loss": loss.item(), "rec": rec.item(), "vel": vel.item(), "fk_cm": fk.item()}


@torch.no_grad()
def validation_scores(model: InbetweenDenoiser, windows: torch.Tensor, steps: int, spacings=(15, 30)) -> dict[str, float]:
    """Joint error (mm, both hands, right-hand space) on the frames between keys every 15 and 30 frames,
    for the model and for its fill of the keys alone (the same windows every time)."""
    device = next(model.parameters()).device
    x = windows.to(device)
    x0 = model.to_model_space(x)
    B, T, _ = x0.shape
    joints = lambda z: right_hand_joints(z.reshape(B, T, 2, HAND_DIM) * model.std + model.mean)  # noqa: E731
    truth = joints(x0)
    out = {}
    for every in spacings:
        mask = torch.zeros_like(x0)
        keys = np.unique(np.r_[np.arange(0, T, every), T - 1])
        mask[:, keys] = 1.0
        free = torch.ones(T, dtype=torch.bool, device=device)
        free[torch.as_tensor(keys, device=device)] = False
        gen = torch.Generator(device=device).manual_seed(0)
        pred = denoise(model, x0, mask, steps=steps, generator=gen)
        fill = model.fill(x0, mask)
        out[f"mm_{every}"] = ((joints(pred) - truth).norm(dim=-1)[:, free].mean() * 1000).item()
        out[f"fill_mm_{every}"] = ((joints(fill) - truth).norm(dim=-1)[:, free].mean() * 1000).item()
    return out


def _initial_model(cfg: TrainInbetweenConfig, train) -> InbetweenDenoiser:
    """A fresh denoiser with the training clips' feature statistics, or `init_from`'s weights as they are
    (model config and statistics included: the weights were learnt in that normalisation)."""
    if not cfg.init_from:
        model = InbetweenDenoiser(cfg.model_config())
        model.set_stats(*feature_stats(train, MIRROR.numpy()))
        return model
    model = load_inbetweener(cfg.init_from).float().train()
    ours = asdict(cfg)
    differ = sorted(k for k, v in asdict(model.cfg).items() if k in ours and ours[k] != v)
    if differ:
        log.warning("init_from %s: its model config is kept (%s differ from this run's)", cfg.init_from,
                    ", ".join(differ))
    if model.key_reader is not None:  # trained on its own (`train keyreader`); the denoiser learns around it
        model.key_reader.requires_grad_(False)
        log.info("init_from %s: its key reader is kept frozen", cfg.init_from)
    log.info("continuing from %s", cfg.init_from)
    return model


def train_inbetween(cfg: TrainInbetweenConfig, progress: bool = True) -> InbetweenDenoiser:
    """Train and save to `cfg.out` (the weights folder layout); returns the trained model."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train, val = train_and_val_clips(cfg.data)
    model = _initial_model(cfg, train)
    log.info("in-betweener: %.2fM parameters, windows of %d frames", model.n_parameters() / 1e6, cfg.window)
    text = caption_embeddings(cfg.data, train.ids) if cfg.text else None
    sampler = WindowSampler(train, cfg.window, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    noise_sched = training_scheduler(model.cfg)

    pairs = two_hand_clips(train.actions) if cfg.reaction_share > 0 else np.zeros(0, np.int64)
    if cfg.reaction_share > 0 and not len(pairs):
        log.warning("no two-hand-action clips in %s: reaction_share ignored", cfg.data)
    in_pairs = np.zeros(len(train), dtype=bool)
    in_pairs[pairs] = True
    pair_sampler = WindowSampler(train.select(in_pairs), cfg.window, seed=cfg.seed + 2) if len(pairs) else None

    def next_batch() -> dict[str, torch.Tensor]:
        x, idx = sampler.sample_with_index(cfg.batch)
        mask = random_masks(cfg.batch, cfg.window, rng, cfg.mask_weights)
        react = np.flatnonzero(rng.random(cfg.batch) < cfg.reaction_share) if pair_sampler else []
        if len(react):  # two-hand clips, one hand given: the reaction task on data where it matters
            x[react], picked = pair_sampler.sample_with_index(len(react))
            idx[react] = pairs[picked]
            mask[react] = torch.from_numpy(np.stack([reaction_mask(cfg.window, rng) for _ in react]).astype(np.float32))
        x = offset_joints(x, rng, cfg.offset_share, cfg.offset_finger_deg, cfg.offset_wrist_deg)
        batch = {"x": x, "mask": mask}
        if text is not None:
            kinds = rng.integers(text.shape[1], size=cfg.batch)
            emb = text[idx, kinds].copy()
            emb[rng.random(cfg.batch) >= cfg.text_share] = np.nan
            batch["text"] = torch.from_numpy(emb)
        return batch

    val_windows = WindowSampler(val, cfg.window, seed=12345).sample(cfg.val_windows)
    model = run_training(
        model,
        lambda m, b: inbetween_loss(m, b, noise_sched, cfg.w_velocity, cfg.w_fk, cfg.high_noise_share),
        next_batch,
        cfg,
        Path(cfg.out),
        evaluate=lambda m: validation_scores(m, val_windows, cfg.val_steps),
        progress=progress,
    )
    save_inbetweener(model, cfg.out, meta=training_meta(cfg))
    return model
