"""Language-model commands: `handmotion generate` (text -> two-hand motion), `handmotion complete` (the
other hand for a given one) and `handmotion continue` (more of a motion)."""

from __future__ import annotations

import argparse
import logging

from ..errors import HandMotionError
from .output import write_motions

log = logging.getLogger(__name__)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output motion file (.npz, .bvh, .json); with --samples K "
                                                         "the files are numbered OUT_0, OUT_1, ...")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--samples", type=int, default=1, help="variations to write (default 1, at most 32)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 for greedy decoding (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest codes (0: all)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    p.add_argument("--weights", metavar="DIR", help="language model weights (default: shipped weights/lm)")
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer weights (default: shipped weights/tokenizer)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--preview", metavar="GIF", help="also write a preview animation of the first sample")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="two-hand motion from a text prompt (language model + SHIFT tokenizer)")
    p.add_argument("prompt", help='what the hands do, e.g. "The right hand waves hello."')
    p.add_argument("--seconds", type=float, default=4.0, help="duration (default 4, at most 60)")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    p.add_argument("--guidance", type=float, help="how strongly the prompt's text steers the motion "
                                                  "(classifier-free guidance; 1: none; default: the engine's)")
    p.add_argument("--rerank", type=int, help="candidates drawn per motion, the one the model captions most like the "
                                              "prompt kept (1: none; default: the engine's)")
    _add_common(p)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("complete", help="generate the other hand for one hand of a motion file")
    p.add_argument("file", help="motion file with the given hand")
    p.add_argument("--given", required=True, choices=("left", "right"), help="the hand to keep")
    _add_common(p)
    p.set_defaults(func=cmd_complete)
    p = sub.add_parser("continue", help="extend a two-hand motion file by generated motion")
    p.add_argument("file", help="motion file to continue (both hands)")
    p.add_argument("--seconds", type=float, default=2.0, help="seconds to add (default 2, at most 60)")
    _add_common(p)
    p.set_defaults(func=cmd_continue)


def _sampling(args: argparse.Namespace):
    from ..pipeline import Sampling

    if not 1 <= args.samples <= 32:
        raise HandMotionError(f"--samples must be between 1 and 32, got {args.samples}")
    return Sampling(args.seed, args.samples, args.temperature, args.top_k, args.top_p)


def cmd_generate(args: argparse.Namespace) -> int:
    from ..pipeline import generate

    s = _sampling(args)
    return write_motions(generate(args.prompt, args.seconds, args.fps, s.seed, s.samples, s.temperature, s.top_k, s.top_p,
                                  args.weights, args.tokenizer, args.device, args.guidance, args.rerank), args)


def cmd_complete(args: argparse.Namespace) -> int:
    from ..io import load_motion
    from ..pipeline import complete_hand

    motion = load_motion(args.file)
    return write_motions(complete_hand(motion, args.given, _sampling(args), args.weights, args.tokenizer, args.device), args)


def cmd_continue(args: argparse.Namespace) -> int:
    from ..io import load_motion
    from ..pipeline import continue_motion

    motion = load_motion(args.file)
    return write_motions(continue_motion(motion, args.seconds, _sampling(args), args.weights, args.tokenizer, args.device),
                  args)
