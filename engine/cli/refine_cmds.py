"""Refiner commands: `handmotion check` (find malformed hand poses and say where)."""

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
