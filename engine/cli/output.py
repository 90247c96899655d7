"""Writing generated motion from a command: the files, one line each, and the optional preview."""

from __future__ import annotations

import argparse
from pathlib import Path


def write_motions(motions: list, args: argparse.Namespace) -> int:
    """Save `motions` to `args.output` (numbered OUT_0, OUT_1, ... when there are several) and, with
    `args.preview`, a GIF of the first; returns the exit status 0."""
    from ..io import save_motion

    out = Path(args.output)
    paths = [out] if len(motions) == 1 else [out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(len(motions))]
    for motion, path in zip(motions, paths):
        save_motion(motion, path)
        print(f"wrote {path}: {motion.n_frames} frames at {motion.fps:g} fps ({motion.duration:.2f} s)")
    if args.preview:
        from ..preview import render_preview

        render_preview(motions[0], args.preview, mano_dir=args.mano_dir)
        print(f"wrote {args.preview}")
    return 0
