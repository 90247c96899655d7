"""Corpus features for training: every clip of a split as (T, 198) float32, and random windows.

Converting a 20k-clip corpus to features takes a minute, so the arrays are cached in
`<corpus>/cache/features_<split>.npz` (rebuilt when the corpus manifest changes).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from ..corpus.build import combination_key, read_corpus
from ..errors import HandMotionError
from ..features import motion_to_features

log = logging.getLogger(__name__)


@dataclass
class ClipSet:
    """Concatenated clip features. features (F, 198) float32, offsets (n + 1,), actions per clip."""

    features: np.ndarray
    offsets: np.ndarray
    actions: list[list[str]]
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def clip(self, i: int) -> np.ndarray:
        return self.features[self.offsets[i]:self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, keep: np.ndarray) -> "ClipSet":
        """A ClipSet of the clips where `keep` (n,) bool is true."""
        idx = np.flatnonzero(keep)
        parts = [self.clip(i) for i in idx]
        offsets = np.r_[0, np.cumsum([len(p) for p in parts])].astype(np.int64)
        feats = np.concatenate(parts) if parts else self.features[:0]
        return ClipSet(feats, offsets, [self.actions[i] for i in idx], self.ids[idx])

    def with_actions(self, actions: tuple[str, ...], present: bool) -> "ClipSet":
        """Clips that contain any of `actions` (present=True) or none of them (present=False)."""
        hit = np.array([bool(set(a) & set(actions)) for a in self.actions], dtype=bool)
        return self.select(hit if present else ~hit)


def load_clips(corpus_dir: str | Path, split: str | None) -> ClipSet:
    """All clips of `split` (None: every split) as features; cached beside the corpus."""
    root = Path(corpus_dir)
    manifest = root / "manifest.json"
    if not manifest.exists():
        raise HandMotionError(f"{root}: not a corpus folder (no manifest.json); build one with `handmotion corpus build`")
    key = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    cache = root / "cache" / f"features_{split or 'all'}.npz"
    if cache.exists():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return ClipSet(z["features"], z["offsets"], json.loads(str(z["actions"])), z["ids"])
    feats, lengths, actions, ids = [], [], [], []
    for motion, record in tqdm(read_corpus(root, split), desc=f"features ({split or 'all'})", unit="clip",
                               disable=not log.isEnabledFor(logging.INFO)):
        x, _ = motion_to_features(motion)
        feats.append(x)
        lengths.append(len(x))
        actions.append(list(record["actions"]))
        ids.append(record["id"])
    if not feats:
        raise HandMotionError(f"{root}: no clips in split {split!r}")
    clips = ClipSet(np.concatenate(feats), np.r_[0, np.cumsum(lengths)].astype(np.int64), actions,
                    np.asarray(ids, dtype=np.int64))
    try:
        cache.parent.mkdir(exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, key=key, features=clips.features, offsets=clips.offsets,
                 actions=json.dumps(clips.actions), ids=clips.ids)
        tmp.replace(cache)
    except OSError as exc:  # a read-only corpus still trains, just without the cache
        log.warning("could not cache features in %s: %s", cache.parent, exc)
    return clips


def train_and_val_clips(corpus_dir: str | Path) -> tuple[ClipSet, ClipSet]:
    """The train split and the val split of a corpus; a corpus without a val split validates on its
    training clips (with a warning)."""
    train = load_clips(corpus_dir, "train")
    try:
        return train, load_clips(corpus_dir, "val")
    except HandMotionError:
        log.warning("%s has no val split; validating on training windows", corpus_dir)
        return train, train


class WindowSampler:
    """Random fixed-length windows, clips drawn in proportion to their length.

    Clips shorter than `window` are edge-padded (their last frame held); `sample` returns
    (batch, window, 198) float32 tensors.
    """

    def __init__(self, clips: ClipSet, window: int, seed: int = 0):
        if len(clips) == 0:
            raise HandMotionError("no training clips left (check the split and the excluded actions)")
        self.clips, self.window = clips, window
        lengths = clips.lengths().astype(np.float64)
        self.p = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> torch.Tensor:
        return self.sample_with_index(batch)[0]

    def sample_with_index(self, batch: int) -> tuple[torch.Tensor, np.ndarray]:
        """(batch, window, 198) windows and the (batch,) clip index each came from."""
        out = np.empty((batch, self.window, self.clips.features.shape[1]), dtype=np.float32)
        picked = self.rng.choice(len(self.clips), size=batch, p=self.p)
        for b, i in enumerate(picked):
            x = self.clips.clip(i)
            if len(x) >= self.window:
                s = self.rng.integers(0, len(x) - self.window + 1)
                out[b] = x[s:s + self.window]
            else:
                out[b, :len(x)] = x
                out[b, len(x):] = x[-1]
        return torch.from_numpy(out), picked


def feature_stats(clips: ClipSet, mirror: np.ndarray, floor: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per-hand mean and std (99,) over both hands in right-hand space (left multiplied by `mirror`);
    std is floored so near-constant dimensions are not blown up by normalisation. Accumulated in
    float64 over chunks, so memory stays small for any corpus size."""
    total, sq, n = np.zeros(99), np.zeros(99), 0
    for start in range(0, len(clips.features), 1 << 16):
        x = clips.features[start:start + (1 << 16)].astype(np.float64)
        for hand in (x[:, :99] * mirror, x[:, 99:]):
            total += hand.sum(0)
            sq += (hand**2).sum(0)
            n += len(hand)
    mean = total / max(n, 1)
    std = np.sqrt(np.maximum(sq / max(n, 1) - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


def _records(corpus_dir: str | Path, split: str | None) -> Iterator[dict]:
    """The shard records (JSON lines) of a corpus split, without the motion."""
    root = Path(corpus_dir)
    if not (root / "manifest.json").exists():
        raise HandMotionError(f"{root}: not a corpus folder (no manifest.json); build one with `handmotion corpus build`")
    for shard in sorted(root.glob("shard_*.jsonl")):
        with open(shard) as f:
            for line in f:
                record = json.loads(line)
                if split is None or record["split"] == split:
                    yield record


def load_captions(corpus_dir: str | Path, split: str | None) -> dict[int, dict[str, list[str]]]:
    """{clip id: {caption kind: [captions]}} for a corpus split, read from the shard records only."""
    return {int(r["id"]): r["captions"] for r in _records(corpus_dir, split)}


def load_combinations(corpus_dir: str | Path, split: str | None) -> dict[int, str]:
    """{clip id: its action combination (`corpus.build.combination_key`)}: clips that share one are never
    split between train and test."""
    return {int(r["id"]): combination_key(r["actions"], int(r["id"])) for r in _records(corpus_dir, split)}


CAPTION_KINDS_FOR_TEXT = ("script",)  # what an animator types; one caption per clip keeps the embedding pass short


def caption_embeddings(corpus: str | Path, ids: np.ndarray) -> np.ndarray:
    """(n_clips, len(CAPTION_KINDS_FOR_TEXT), 384) sentence embeddings of each clip's first caption of
    each kind (NaN where missing), cached in `<corpus>/cache/minilm_<hash>.npz`."""
    from ..models.text import sentence_embeddings

    root = Path(corpus)
    key = hashlib.sha256((root / "manifest.json").read_bytes() + ids.tobytes()).hexdigest()[:16]
    cache = root / "cache" / f"minilm_{key}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return z["emb"]
    captions = load_captions(root, None)
    texts, where = [], []
    for i, cid in enumerate(ids):
        for k, kind in enumerate(CAPTION_KINDS_FOR_TEXT):
            got = captions.get(int(cid), {}).get(kind, [])
            if got:
                texts.append(got[0])
                where.append((i, k))
    log.info("embedding %d captions with all-MiniLM-L6-v2 (once; cached in %s)", len(texts), cache.parent)
    emb = np.full((len(ids), len(CAPTION_KINDS_FOR_TEXT), 384), np.nan, dtype=np.float32)
    vec = sentence_embeddings(texts)
    for (i, k), v in zip(where, vec):
        emb[i, k] = v
    try:
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, emb=emb)
    except OSError as exc:
        log.warning("could not cache caption embeddings in %s: %s", cache.parent, exc)
    return emb
