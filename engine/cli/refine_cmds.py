"""Refiner commands: `handmotion check` (find malformed hand poses and say where) and `handmotion refine`
(repair only them)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="find malformed hand poses in a motion file: joint limits, spikes, "
                                     "flips, dropouts, fingers through fingers, hands through hands")
    p.add_argument("file", help="motion file (.npz, .bvh, .json); NaN frames in .npz are read as dropouts")
    p.add_argument("--report", metavar="JSON", help="also write the findings as JSON")
    p.add_argument("--fps", type=float, help="frame rate for files that do not store one")
    p.set_defaults(func=cmd_check)
    register_refine(sub)


def cmd_check(args: argparse.Namespace) -> int:
    """Print a human-readable report; exit status 0 when clean, 1 when something was found."""
    from ..io import load_motion
    from ..refine import detect

    motion = load_motion(args.file, fps=args.fps, gaps=True)
    found = detect(motion)
    print(f"{args.file}: {found.summary()}")
    if args.report:
        Path(args.report).write_text(json.dumps(found.to_dict(), indent=1), encoding="utf-8")
    return 0 if found.clean else 1


def register_refine(sub: argparse._SubParsersAction) -> None:
    from ..repair import DEFAULT_STRENGTH

    p = sub.add_parser("refine", help="repair malformed hand poses: only the flagged frames and joints are "
                                      "re-synthesised by the in-betweener, everything else is kept exactly")
    p.add_argument("file", help="motion file (.npz, .bvh, .json); NaN frames in .npz are read as dropouts")
    p.add_argument("-o", "--output", required=True, help="output motion file (.npz, .bvh, .json)")
    p.add_argument("--strength", default=None,
                   help="control strength 0-1: how closely repaired values follow the detected pose made "
                        f"plausible (default {DEFAULT_STRENGTH:g}), or 'auto' for the lowest strength whose error stays "
                        "within 1.15x of full strength's")
    p.add_argument("--report", metavar="JSON", help="also write what was found, repaired and left as JSON")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    p.add_argument("--dilate", type=int, default=2,
                   help="frames added around each defect that does not start and end with a jump or a gap (default 2)")
    p.add_argument("--fps", type=float, help="frame rate for files that do not store one")
    p.add_argument("--weights", metavar="DIR", help="in-betweener weights (default: shipped weights/inbetween)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=cmd_refine)


def _strength(text: str | None) -> float | str:
    from ..errors import HandMotionError
    from ..repair import DEFAULT_STRENGTH

    if text is None:
        return DEFAULT_STRENGTH
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise HandMotionError(f"--strength: expected a number in [0, 1] or 'auto', got {text!r}") from None


def cmd_refine(args: argparse.Namespace) -> int:
    from ..io import load_motion, save_motion
    from ..repair import refine

    motion = load_motion(args.file, fps=args.fps, gaps=True)
    done = refine(motion, _strength(args.strength), seed=args.seed, steps=args.steps, dilate=args.dilate,
                  weights=args.weights, device=args.device)
    save_motion(done.motion, args.output)
    left = done.remaining.findings if done.remaining is not None else []
    if done.detection.clean:
        print(f"{args.file}: clean, written unchanged to {args.output}")
    else:
        print(f"{args.file}: {len(done.detection.findings)} defect(s) repaired at strength {done.strength:g} "
              f"({sum(int(m.sum()) for m in done.masks.values())} joint values re-synthesised); "
              f"{len(left)} left -> {args.output}")
        for f in left:
            print("  still: " + f.describe(motion.fps))
    if args.report:
        Path(args.report).write_text(json.dumps(done.report(), indent=1), encoding="utf-8")
    return 0
