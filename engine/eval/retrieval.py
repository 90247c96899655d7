"""Nearest-neighbour retrieval from the training split: the baselines any generator or captioner must beat.

- `TextIndex`: TF-IDF cosine over the training captions (one kind), independent of the evaluator, so a
  retrieved motion is not favoured by the space it is measured in. text -> training clips.
- `MotionIndex`: Euclidean distance between per-clip summaries (per-dimension mean and standard
  deviation over time of the normalised features, and the duration). motion -> training clip.
Both skip clips whose id is given in `exclude` (so a split can be evaluated against itself).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ..features import clip_summary
from ..train.data import ClipSet

_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class TextIndex:
    """TF-IDF (log idf, L2-normalised rows) over captions; each caption row belongs to one clip."""

    def __init__(self, texts: list[str], owners: list[int]):
        self.owners = np.asarray(owners, dtype=np.int64)
        df = Counter(w for t in texts for w in set(words(t)))
        self.vocab = {w: i for i, w in enumerate(sorted(df))}
        self.idf = np.log(len(texts) / np.array([df[w] for w in sorted(df)], dtype=np.float64)) + 1.0
        self.matrix = self.vectors(texts)

    def vectors(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for r, t in enumerate(texts):
            for w, c in Counter(words(t)).items():
                if w in self.vocab:
                    out[r, self.vocab[w]] = c
        out *= self.idf[None].astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def query(self, texts: list[str], k: int = 1, exclude: list[int] | None = None) -> np.ndarray:
        """(N, k) owner indices of the k best-matching distinct clips per text (ties: lowest row first)."""
        sims = self.vectors(texts) @ self.matrix.T  # (N, rows)
        out = np.zeros((len(texts), k), dtype=np.int64)
        for n, row in enumerate(sims):
            picked: list[int] = []
            for r in np.argsort(-row, kind="stable"):
                owner = int(self.owners[r])
                if owner in picked or (exclude is not None and owner == exclude[n]):
                    continue
                picked.append(owner)
                if len(picked) == k:
                    break
            out[n, :len(picked)] = picked
            out[n, len(picked):] = picked[-1] if picked else 0
        return out


class MotionIndex:
    """Nearest training clip by `clip_summary` distance."""

    def __init__(self, clips: ClipSet, fps: float):
        self.fps = fps
        self.mean, self.std = clips.features.mean(0), np.maximum(clips.features.std(0), 1e-3)
        self.matrix = np.stack([self.summary(clips.clip(i)) for i in range(len(clips))])
        self.ids = clips.ids

    def summary(self, x: np.ndarray) -> np.ndarray:
        return clip_summary(x, self.mean, self.std, self.fps)

    def query(self, clips: list[np.ndarray], exclude: list[int] | None = None) -> np.ndarray:
        """(N,) index of the nearest training clip to each (T, 198) clip."""
        q = np.stack([self.summary(x) for x in clips])
        d = (q**2).sum(1)[:, None] + (self.matrix**2).sum(1)[None] - 2 * q @ self.matrix.T
        if exclude is not None:
            d[np.asarray(exclude)[:, None] == self.ids[None]] = np.inf
        return d.argmin(1)
