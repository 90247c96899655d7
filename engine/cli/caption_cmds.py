"""`handmotion caption`: rule-based captions and kinematic events of a motion file."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..errors import HandMotionError
from ..io import load_motion
from ..skeleton import SIDES

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="describe a clip in words (gestures, hand interaction, finger articulation)")
    p.add_argument("file", help="motion file (.npz, AMASS .npz, .bvh, .json)")
    p.add_argument("--seed", type=int, default=0, help="wording seed; the same seed gives the same text (default 0)")
    p.add_argument("--n", type=int, default=3, help="caption variants per level (default 3)")
    p.add_argument("--side", choices=SIDES, help="hand of a single-hand file whose joint names have no side")
    p.add_argument("--fps", type=float, help="frame rate of a file that stores none")
    p.add_argument("--json", metavar="OUT", help="also write captions, gestures and events to this JSON file")
    p.add_argument("--model", choices=("rules", "lm"), default="rules",
                   help="rules: the weight-free captioner (default); lm: the language model")
    p.add_argument("--kind", default="script", help="with --model lm: script (the actions, default), semantic, "
                                                     "interaction or articulation")
    p.add_argument("--weights", metavar="DIR", help="with --model lm: language model weights (default: shipped)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=cmd_caption)


def cmd_caption(args: argparse.Namespace) -> int:
    from ..caption import compute_features, describe

    if not 1 <= args.n <= 20:
        raise HandMotionError(f"--n must be between 1 and 20, got {args.n}")
    motion = load_motion(args.file, fps=args.fps, side=args.side)
    if args.model == "lm":
        from ..pipeline import caption_lm

        text = caption_lm(motion, args.kind, args.weights, device=args.device)
        print(text)
        if args.json:
            Path(args.json).write_text(json.dumps({"file": str(args.file), "kind": args.kind, "caption": text}) + "\n")
        return 0
    features = compute_features(motion, mano_dir=args.mano_dir, seed=args.seed)
    caps = describe(features, seed=args.seed, n=args.n)
    fps = motion.fps
    print(f"{args.file}: {motion.n_frames} frames at {fps:g} fps ({motion.duration:.2f} s), "
          f"hands: {', '.join(motion.sides)}")
    for level in ("semantic", "interaction", "articulation"):
        print(f"{level}:")
        for text in getattr(caps, level):
            print(f"  - {text}")
    print(f"gestures ({len(caps.gestures)}):")
    for g in caps.gestures:
        print(f"  {g.side:5s} {g.label:10s} frames {g.start}-{g.end} ({g.start / fps:.2f}-{g.end / fps:.2f} s) "
              f"score {g.score:.2f}")
    print(f"events ({len(caps.events)}):")
    for e in caps.events:
        detail = ", ".join(f"{k}={'+'.join(v) if isinstance(v, list) else v}" for k, v in e.detail.items())
        print(f"  {e.side:5s} {e.kind:13s} frames {e.start}-{e.end} ({e.start / fps:.2f}-{e.end / fps:.2f} s) "
              f"{e.speed}{'; ' + detail if detail else ''}")
    if args.json:
        out = Path(args.json)
        data = {"file": str(args.file), "fps": fps, "n_frames": motion.n_frames, "hands": motion.sides, **caps.to_dict()}
        try:
            out.write_text(json.dumps(data, indent=2) + "\n")
        except OSError as exc:
            raise HandMotionError(f"{out}: cannot write ({exc.strerror or exc})") from None
        log.info("wrote %s", out)
    return 0
