"""Tokenizer commands: `handmotion tokenize FILE`, `handmotion reconstruct IN -o OUT`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenize", help="print the SHIFT token grid of a motion file")
    p.add_argument("file", help="motion file (.npz, AMASS .npz, .bvh, .json)")
    p.add_argument("--weights", metavar="DIR", help="tokenizer weights folder (default: shipped weights/tokenizer)")
    p.add_argument("--json", action="store_true", help="print the grid as JSON instead of a table")
    p.set_defaults(func=cmd_tokenize)

    p = sub.add_parser("reconstruct", help="encode a motion file to tokens and decode it back")
    p.add_argument("input", help="motion file (any supported format, any length and fps)")
    p.add_argument("-o", "--output", required=True, help="output file; format from the extension")
    p.add_argument("--weights", metavar="DIR", help="tokenizer weights folder (default: shipped weights/tokenizer)")
    p.set_defaults(func=cmd_reconstruct)


def cmd_tokenize(args: argparse.Namespace) -> int:
    import json

    from ..io import load_motion
    from ..pipeline import Tokens, tokenize

    motion = load_motion(args.file)
    tokens: Tokens = tokenize(motion, weights=args.weights)
    if args.json:
        print(json.dumps(tokens.to_dict()))
        return 0
    print(f"{args.file}: {motion.n_frames} frames at {motion.fps:g} fps -> {tokens.codes.shape[0]} steps "
          f"x {len(tokens.slots)} slots ({tokens.stride} frames per step at {tokens.fps:g} fps)")
    print("step  " + "  ".join(f"{name:>8}" for name in tokens.slots))
    for i, row in enumerate(tokens.codes):
        print(f"{i:4d}  " + "  ".join(f"{int(c):8d}" for c in row))
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..io import load_motion, save_motion
    from ..pipeline import reconstruct

    motion = load_motion(args.input)
    out = reconstruct(motion, weights=args.weights)
    save_motion(out, args.output)
    print(f"{args.input} -> {args.output}: {out.n_frames} frames at {out.fps:g} fps")
    return 0
