"""`handmotion generate`: two-hand motion from a text prompt through the language model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import HandMotionError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="two-hand motion from a text prompt (language model + SHIFT tokenizer)")
    p.add_argument("prompt", help='what the hands do, e.g. "The right hand waves hello."')
    p.add_argument("-o", "--output", required=True, help="output motion file (.npz, .bvh, .json); with --samples K "
                                                         "the files are numbered OUT_0, OUT_1, ...")
    p.add_argument("--seconds", type=float, default=4.0, help="duration (default 4, at most 60)")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--samples", type=int, default=1, help="variations to write (default 1)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 for greedy decoding (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest codes (0: all)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    p.add_argument("--weights", metavar="DIR", help="language model weights (default: shipped weights/lm)")
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer weights (default: shipped weights/tokenizer)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--preview", metavar="GIF", help="also write a preview animation of the first sample")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from ..io import save_motion
    from ..pipeline import generate

    if not 1 <= args.samples <= 32:
        raise HandMotionError(f"--samples must be between 1 and 32, got {args.samples}")
    motions = generate(args.prompt, args.seconds, args.fps, args.seed, args.samples, args.temperature, args.top_k,
                       args.top_p, args.weights, args.tokenizer, args.device)
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
