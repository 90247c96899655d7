"""Retrieved exemplars for text to motion (retrieval augmentation, as in ReMoDiffuse).

With `LMConfig.exemplar`, a text-to-motion prompt is matched against the training clips' script captions
(all-MiniLM-L6-v2 sentence embeddings, cosine) and the best clip's token grid, stretched in time to the
requested length, becomes a *draft*: at each decoder position the draft code due there is embedded,
projected (`model.exemplar_proj`, zero at first) and added to the decoder input. The model learns how
far to follow the draft and where the prompt asks for something else; the draft is a hint, not a copy
(decoding still samples every code, and classifier-free guidance contrasts prompt + draft with neither).

Training draws each t2m example's exemplar the same way from the other training clips, never from a clip
of the same action combination: test prompts name combinations absent from training, so the model must
learn to work from a neighbour, not from the answer.

The index ships inside the language model's weights folder (stats.npz): the training grids, int16, and one
float16 key per clip, a few MB for the 18k-clip corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import HandMotionError

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
