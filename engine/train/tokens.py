"""Corpus clips as SHIFT token grids, for training the language model.

Encoding 20k clips takes a few minutes, so the grids are cached in `<corpus>/cache/tokens_<split>.npz`,
keyed by the corpus manifest and the tokenizer's weights (a new tokenizer re-encodes). Corpus clips
are already in the tokenizer's training frame and rate, so they are encoded without placement.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import HandMotionError
from ..models.tokenizer import HandTokenizer
from .data import load_clips

log = logging.getLogger(__name__)


@dataclass
class TokenSet:
    """Concatenated grids: codes (S, slots) int16, offsets (n + 1,) in steps, clip ids (n,)."""

    codes: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def grid(self, i: int) -> np.ndarray:
        return self.codes[self.offsets[i]:self.offsets[i + 1]].astype(np.int64)


def _weights_key(model: HandTokenizer) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_clips(model: HandTokenizer, clips: list[np.ndarray], progress: bool = False) -> list[np.ndarray]:
    """Token grids (T_i / stride, slots) of (T_i, 198) feature arrays, edge-padded to whole strides."""
    dev = next(model.parameters()).device
    out = []
    for x in tqdm(clips, desc="tokens", unit="clip", disable=not progress):
        pad = (-len(x)) % model.cfg.stride
        if pad:
            x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        out.append(model.encode(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None].to(dev))[0].cpu().numpy())
    return out


def load_tokens(corpus_dir: str | Path, split: str | None, model: HandTokenizer, progress: bool = False) -> TokenSet:
    """Every clip of `split` as a token grid of `model` (cached beside the corpus)."""
    root = Path(corpus_dir)
    clips = load_clips(root, split)
    key = hashlib.sha256((root / "manifest.json").read_bytes()).hexdigest()[:16] + _weights_key(model)
    cache = root / "cache" / f"tokens_{split or 'all'}.npz"
    if cache.exists():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return TokenSet(z["codes"], z["offsets"], z["ids"])
    if model.cfg.codebook_size > np.iinfo(np.int16).max:
        raise HandMotionError("codebooks larger than 32767 codes are not supported by the token cache")
    grids = encode_clips(model, [clips.clip(i) for i in range(len(clips))], progress)
    tokens = TokenSet(np.concatenate(grids).astype(np.int16), np.r_[0, np.cumsum([len(g) for g in grids])].astype(np.int64),
                      clips.ids)
    cache.parent.mkdir(exist_ok=True)
    np.savez(cache, codes=tokens.codes, offsets=tokens.offsets, ids=tokens.ids, key=np.array(key))
    log.info("cached %d token grids in %s", len(tokens), cache)
    return tokens

