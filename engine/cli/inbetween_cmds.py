"""In-betweener commands: `handmotion inbetween` (fill between keyed frames of a file) and
`handmotion react` (the other hand for a given one), both on the diffusion in-betweener."""

from __future__ import annotations

import argparse

from ..errors import HandMotionError
from .output import write_motions


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output motion file (.npz, .bvh, .json)")
    p.add_argument("--text", help="optional description of the motion, e.g. \"the fingers drum on the table\"")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    p.add_argument("--guidance", type=float, default=2.5, help="text guidance weight (default 2.5)")
    p.add_argument("--strength", type=float, default=1.0,
                   help="how strongly the given poses are followed, 0-1 (default 1: exactly)")
    p.add_argument("--mode", default="trained", choices=("trained", "inpaint"),
                   help="learned conditioning (default) or training-free soft-mask inpainting")
    p.add_argument("--weights", metavar="DIR", help="in-betweener weights (default: shipped weights/inbetween)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--preview", metavar="GIF", help="also write a preview animation")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inbetween", help="fill the frames between keyed poses of a motion file (diffusion)")
    p.add_argument("file", help="motion file; its poses at the key frames are the keys, its length and fps the output's")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--keys", help="comma-separated key frames, e.g. 0,15,40")
    keys.add_argument("--keys-every", type=int, metavar="N", help="a key every N frames (and the last frame)")
    _add_common(p)
    p.set_defaults(func=cmd_inbetween)
    p = sub.add_parser("react", help="generate the other hand for one hand of a motion file (diffusion)")
    p.add_argument("file", help="motion file with the given hand")
    p.add_argument("--given", required=True, choices=("left", "right"), help="the hand to keep")
    p.add_argument("--mirror", type=float, help="pull of the other hand toward the given hand's mirror image, 0-1 "
                                                "(0: the model's own reaction; default: the engine's)")
    _add_common(p)
    p.set_defaults(func=cmd_react)


def _diffusion(args: argparse.Namespace):
    from ..pipeline import Diffusion

    return Diffusion(args.seed, args.steps, args.guidance, args.strength, args.mode)


def _key_frames(args: argparse.Namespace, n_frames: int):
    from ..interpolate import key_frames_every

    if args.keys_every is not None:
        return key_frames_every(n_frames, args.keys_every)
    try:
        frames = sorted({int(k) for k in args.keys.split(",") if k.strip()})
    except ValueError:
        raise HandMotionError(f"--keys: expected comma-separated frame numbers, got {args.keys!r}") from None
    if not frames:
        raise HandMotionError("--keys: no frames given")
    return frames


def _bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="step", leave=False)

    def update(step: int, steps: int) -> None:
        bar.total = steps
        bar.update(step - bar.n)
        if step == steps:
            bar.close()
    return update


def cmd_inbetween(args: argparse.Namespace) -> int:
    from ..io import load_motion
    from ..keys import keys_from_motion
    from ..pipeline import inbetween

    motion = load_motion(args.file)
    keys = keys_from_motion(motion, _key_frames(args, motion.n_frames))
    out = inbetween(keys, motion.n_frames, motion.fps, args.text, diffusion=_diffusion(args), weights=args.weights,
                    device=args.device, progress=_bar("in-between"))
    print(f"keyed frames: {', '.join(str(k) for k in sorted(keys))}")
    return write_motions([out], args)


def cmd_react(args: argparse.Namespace) -> int:
    from ..io import load_motion
    from ..pipeline import react

    motion = load_motion(args.file)
    out = react(motion, args.given, args.text, diffusion=_diffusion(args), weights=args.weights, device=args.device,
                progress=_bar("react"), mirror=args.mirror)
    return write_motions([out], args)
