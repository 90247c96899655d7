"""Procedural two-hand motion corpus: anatomy, contacts, actions, clip generation and sharded builds.

`generate(seed)` makes one clip; `build_corpus` makes many (see `build.py` for the folder layout).
"""

from .generator import Clip, Step, generate

__all__ = ["Clip", "Step", "generate"]
