"""Retrieved exemplars for text to motion (retrieval augmentation, as in ReMoDiffuse).

With `LMConfig.exemplar`, a text-to-motion prompt is matched against the training clips' script captions
(all-MiniLM-L6-v2 sentence embeddings, cosine) and the best clip's token grid, stretched in time to the
requested length, becomes a *draft*: at each decoder position the draft code due there is embedded,
projected (`model.exemplar_proj`, zero at first) and added to the decoder input. The model learns how
far to follow the draft and where the prompt asks for something else; decoding still samples every code,
and classifier-free guidance contrasts prompt + draft with neither (at the engine's default guidance the
shipped model follows its draft closely: docs/benchmarks.md).

Training draws each t2m example's exemplar the same way from the other training clips, never from a clip
of the same action combination: test prompts name combinations absent from training, so the model must
learn to work from a neighbour, not from the answer.

The index ships inside the language model's weights folder (stats.npz): the training grids, int16, and one
float16 key per clip, about 15 MB compressed for the 18k-clip corpus.

Motion to text has its own exemplars (`LMConfig.caption_exemplar`, `CaptionIndex`): the motion is matched
against the training clips by a summary of its features (`features.clip_summary` on the first principal
axes of the training summaries) and the nearest clip's caption of the requested kind goes into the m2t
prompt as a hint (`prompts.EXAMPLE`). Training draws the hint from one of the three nearest clips of
another action combination, so that the model would keep what the motion confirms and mend the rest (at
CPU training scale it has not learnt to yet: docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import HandMotionError
from ..features import clip_summary
from .prompts import FOCUS

NONE = -1  # a decoder position without a draft code


@dataclass
class ExemplarIndex:
    """Token grids of the training clips and their caption keys. codes (S, slots) int16 concatenated,
    offsets (n + 1,) in steps, keys (n, 384) unit sentence embeddings; `groups` (n,) the clips' action
    combinations (training only: a query never gets a clip of its own combination)."""

    codes: np.ndarray
    offsets: np.ndarray
    keys: np.ndarray
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.offsets) - 1
        if n < 1 or self.keys.ndim != 2 or len(self.keys) != n or self.offsets[-1] != len(self.codes):
            raise HandMotionError("exemplar index: codes, offsets and keys do not agree")
        self._keys = torch.from_numpy(np.ascontiguousarray(self.keys, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def grid(self, row: int) -> np.ndarray:
        """(steps, slots) codes of clip `row`."""
        return self.codes[self.offsets[row]:self.offsets[row + 1]].astype(np.int64)

    def nearest(self, queries: np.ndarray, exclude: list[int] | None = None) -> np.ndarray:
        """(B,) row of the best-matching clip for each query embedding (B, 384). `exclude[b]` >= 0 leaves out
        every clip of query b's group (the query clip's own row; needs `groups`); -1 where nothing is left."""
        sims = torch.from_numpy(np.asarray(queries, dtype=np.float32)) @ self._keys.T  # (B, n)
        if exclude is not None and any(e >= 0 for e in exclude):
            if self.groups is None:
                raise HandMotionError("this exemplar index has no groups to exclude by")
            for b, row in enumerate(exclude):
                if row >= 0:
                    sims[b, torch.from_numpy(self.groups == self.groups[row])] = float("-inf")
        best, rows = sims.max(1)
        return torch.where(torch.isfinite(best), rows, -1).numpy()

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to store beside the weights (stats.npz); groups are training-only and not kept."""
        return {"exemplar_codes": self.codes.astype(np.int16), "exemplar_offsets": self.offsets.astype(np.int64),
                "exemplar_keys": self.keys.astype(np.float16)}

    @classmethod
    def from_state(cls, stats: dict[str, np.ndarray]) -> "ExemplarIndex":
        try:
            return cls(stats["exemplar_codes"], stats["exemplar_offsets"], stats["exemplar_keys"])
        except KeyError as exc:
            raise HandMotionError(f"language model weights ask for exemplars but stats.npz has no {exc}") from None


def stretch(grid: np.ndarray, steps: int) -> np.ndarray:
    """(n, slots) codes -> (steps, slots): the grid resampled in time to `steps` latent steps (nearest step)."""
    if steps < 1 or len(grid) < 1:
        raise HandMotionError("an exemplar and its stretch need at least one latent step")
    idx = np.minimum(((np.arange(steps) + 0.5) * len(grid) / steps).astype(np.int64), len(grid) - 1)
    return grid[idx]


def draft_positions(draft_ids: np.ndarray, length: int) -> np.ndarray:
    """(length,) draft ids per decoder position for a motion target <motion> m_0 .. m_{N-1} </motion>
    (length N + 2 after the start id): position p, which predicts m_{p-1}, gets the draft's id p - 1;
    the others get NONE. `draft_ids` (N,) are vocabulary ids (`MotionVocab.to_ids`)."""
    out = np.full(length, NONE, dtype=np.int64)
    n = min(len(draft_ids), length - 1)
    out[1:1 + n] = draft_ids[:n]
    return out


def draft_embedding(model, ids: torch.Tensor) -> torch.Tensor | None:
    """(..., d) additions to the decoder inputs for draft ids (...) (NONE: zero); None without exemplars."""
    proj = getattr(model, "exemplar_proj", None)
    if proj is None:
        return None
    embed = model.get_decoder().get_input_embeddings() if model.config.is_encoder_decoder else \
        model.get_input_embeddings()
    has = (ids >= 0)[..., None]
    return proj(embed(ids.clamp_min(0))) * has.to(proj.weight.dtype)


def prompt_draft(model, text: str | None, steps: int) -> np.ndarray | None:
    """(steps, slots) codes of the training clip whose caption best matches `text`, stretched to `steps`;
    None for a model without exemplars or a prompt without free text."""
    index: ExemplarIndex | None = getattr(model, "exemplars", None)
    if index is None or not text:
        return None
    from .text import prompt_embedding

    row = int(index.nearest(prompt_embedding(text))[0])
    return stretch(index.grid(row), steps)


class CaptionIndex:
    """Motion to text exemplars: a key per training clip and its first caption of each kind.

    keys (n, r) float16: each clip's `clip_summary` (features normalised by `mean`, `std` (198,) at `fps`),
    centred by `center` (397,) and projected on `basis` (397, r); captions[row][kind] ("" where missing);
    `groups` (n,) the clips' action combinations (training only)."""

    KINDS = tuple(FOCUS)  # the caption kinds, in the order they are stored

    def __init__(self, keys: np.ndarray, mean: np.ndarray, std: np.ndarray, center: np.ndarray, basis: np.ndarray,
                 captions: list[dict[str, str]], fps: float, groups: np.ndarray | None = None):
        if keys.ndim != 2 or len(keys) != len(captions) or basis.shape != (len(center), keys.shape[1]) or \
                mean.shape != std.shape or len(center) != 2 * len(mean) + 1:
            raise HandMotionError("caption index: keys, captions and projection do not agree")
        self.keys, self.mean, self.std, self.center, self.basis = keys, mean, std, center, basis
        self.captions, self.fps, self.groups = captions, float(fps), groups
        self._keys = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.float32))
        self._norms = (self._keys ** 2).sum(1)

    def __len__(self) -> int:
        return len(self.captions)

    @classmethod
    def build(cls, clips: list[np.ndarray], captions: list[dict[str, list[str]]], fps: float, rank: int = 64,
              groups: np.ndarray | None = None, mean: np.ndarray | None = None,
              std: np.ndarray | None = None) -> "CaptionIndex":
        """From training clips (T_i, 198) and their captions by kind; `rank` principal axes of the summaries.
        `mean`, `std` (198,): the features' normalisation (default: over `clips`)."""
        if not clips or len(captions) != len(clips):
            raise HandMotionError("a caption index needs at least one clip and a caption set per clip")
        if mean is None or std is None:
            feats = np.concatenate(clips)
            mean, std = feats.mean(0), np.maximum(feats.std(0), 1e-3)
        summaries = np.stack([clip_summary(x, mean, std, fps) for x in clips])
        center = summaries.mean(0)
        basis = np.linalg.svd(summaries - center, full_matrices=False)[2][:rank].T  # (397, r)
        keys = ((summaries - center) @ basis).astype(np.float16)
        first = [{k: (c.get(k) or [""])[0] for k in cls.KINDS} for c in captions]
        return cls(keys, mean.astype(np.float32), std.astype(np.float32), center.astype(np.float32),
                   basis.astype(np.float32), first, fps, groups)

    def key(self, x: np.ndarray) -> np.ndarray:
        """(r,) key of a (T, 198) clip at this index's fps."""
        return (clip_summary(x, self.mean, self.std, self.fps) - self.center) @ self.basis

    def nearest(self, queries: np.ndarray, k: int = 1, exclude: np.ndarray | None = None,
                chunk: int = 1024) -> np.ndarray:
        """(B, k) rows of the k nearest clips (Euclidean on keys) to each query key (B, r), nearest first.
        `exclude[b]` >= 0 leaves out every clip of that row's group (needs `groups`); -1 where nothing is left."""
        if exclude is not None and self.groups is None:
            raise HandMotionError("this caption index has no groups to exclude by")
        q = torch.from_numpy(np.asarray(queries, dtype=np.float32))
        out = []
        for lo in range(0, len(q), chunk):
            qc = q[lo:lo + chunk]
            d = (qc ** 2).sum(1, keepdim=True) + self._norms[None] - 2 * qc @ self._keys.T  # (b, n)
            if exclude is not None:
                rows = np.asarray(exclude[lo:lo + chunk])
                same = self.groups[None] == self.groups[np.maximum(rows, 0)][:, None]
                d[torch.from_numpy(same & (rows >= 0)[:, None])] = float("inf")
            best, idx = d.topk(min(k, d.shape[1]), dim=1, largest=False)
            out.append(torch.where(torch.isfinite(best), idx, -1))
        return torch.cat(out).numpy()

    def caption(self, row: int, kind: str) -> str:
        return self.captions[row].get(kind, "")

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to store beside the weights (stats.npz): captions as UTF-8 bytes with offsets."""
        parts = [self.captions[r][k].encode("utf-8") for r in range(len(self)) for k in self.KINDS]
        offsets = np.r_[0, np.cumsum([len(b) for b in parts])].astype(np.int64)
        return {"caption_keys": self.keys.astype(np.float16), "caption_mean": self.mean, "caption_std": self.std,
                "caption_center": self.center, "caption_basis": self.basis, "caption_fps": np.float32(self.fps),
                "caption_text": np.frombuffer(b"".join(parts), dtype=np.uint8), "caption_text_offsets": offsets}

    @classmethod
    def from_state(cls, stats: dict[str, np.ndarray]) -> "CaptionIndex":
        try:
            raw, offsets, keys = bytes(stats["caption_text"]), stats["caption_text_offsets"], stats["caption_keys"]
            texts = [raw[offsets[j]:offsets[j + 1]].decode("utf-8") for j in range(len(offsets) - 1)]
            n = len(cls.KINDS)
            if len(texts) != n * len(keys):
                raise HandMotionError("caption index: captions and keys do not agree")
            captions = [dict(zip(cls.KINDS, texts[r * n:(r + 1) * n])) for r in range(len(keys))]
            return cls(keys, stats["caption_mean"], stats["caption_std"], stats["caption_center"],
                       stats["caption_basis"], captions, float(stats["caption_fps"]))
        except KeyError as exc:
            raise HandMotionError(f"language model weights ask for caption exemplars but stats.npz has no {exc}"
                                  ) from None


def motion_examples(model, features: np.ndarray, kind: str, k: int = 1) -> list[str]:
    """Captions of `kind` of the (up to) k training clips nearest a (T, 198) clip at the index's fps, nearest
    first, without repeats or empty ones; [] for a model without caption exemplars."""
    index: CaptionIndex | None = getattr(model, "caption_exemplars", None)
    if index is None:
        return []
    out: list[str] = []
    for row in index.nearest(index.key(features)[None], k)[0]:
        text = index.caption(int(row), kind)
        if text and text not in out:
            out.append(text)
    return out
