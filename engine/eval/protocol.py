"""The evaluation protocol's fixed choices, in one place: caption kinds, which caption of a clip is
"its" text, the retrieval pool size and the seeds; and the corpus split every evaluation reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..features import features_to_motion
from ..motion import HandMotion
from ..train.data import ClipSet, load_captions, load_clips

CAPTION_KINDS = ("script", "semantic", "interaction", "articulation")
PROMPT_KIND = "script"  # what an animator types: the actions, named; the text side of every t2m table
POOL = 32  # R-Precision: 1 true text against 31 others
SEED = 0


def pick_caption(captions: dict[str, list[str]], clip_id: int, kind: str = PROMPT_KIND) -> str:
    """The caption of `kind` that stands for clip `clip_id` in evaluation (seeded by the id, so the same
    clip always gets the same text)."""
    options = captions.get(kind) or []
    if not options:
        raise KeyError(f"clip {clip_id} has no {kind!r} caption")
    return options[int(np.random.default_rng([SEED, clip_id]).integers(len(options)))]


@dataclass
class Split:
    """One corpus split for evaluation: clip features, captions by clip id, and the corpus fps."""

    clips: ClipSet
    captions: dict[int, dict[str, list[str]]]
    fps: float

    def caption_of(self, i: int, kind: str = PROMPT_KIND) -> str:
        cid = int(self.clips.ids[i])
        return pick_caption(self.captions[cid], cid, kind)

    def motion(self, i: int) -> HandMotion:
        return features_to_motion(self.clips.clip(i), self.fps)


def load_split(data: str | Path, split: str | None, limit: int | None = None) -> Split:
    """A corpus split (None: all clips), optionally its first `limit` clips, with a clear error when empty."""
    root = Path(data)
    clips = load_clips(root, split)
    if limit is not None:
        clips = clips.select(np.arange(len(clips)) < limit)
    fps = float(json.loads((root / "manifest.json").read_text()).get("fps", 30.0))
    return Split(clips, load_captions(root, split), fps)
