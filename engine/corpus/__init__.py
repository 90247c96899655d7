"""Procedural two-hand motion corpus: anatomy, contacts, actions, clip generation and sharded builds.

`generator.generate(seed)` makes one clip; `build.build_corpus` makes many (see `build.py` for the
folder layout).
"""
