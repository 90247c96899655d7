"""Tiny untrained engine weights for the add-on tests (run with the engine's Python, not Blender's):
a 1-layer language model over the shipped tokenizer's codes and a 1-layer in-betweener.

    .venv/bin/python tests/addon/make_tiny_weights.py OUT_DIR   # writes OUT_DIR/lm and OUT_DIR/ib
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from engine.features import track_to_features
from engine.models.inbetween import InbetweenConfig, InbetweenDenoiser, save_inbetweener
from engine.models.lm import LMConfig, build_lm, save_lm
from engine.motion import HandTrack


def main(root: Path) -> None:
    torch.manual_seed(0)
    cfg = LMConfig(d_model=32, layers=1, heads=2, d_ff=64, codes=512)
    save_lm(build_lm(cfg).eval(), cfg, root / "lm")
    ib = InbetweenDenoiser(InbetweenConfig(d_model=32, heads=2, layers=1, d_ff=32)).eval()
    rest = track_to_features(HandTrack.rest(1))[0]  # statistics centred on the flat rest hand, as data would be
    ib.set_stats(rest, np.full_like(rest, 0.5))
    save_inbetweener(ib, root / "ib")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
