"""Evaluation commands: `handmotion eval recogniser`, `handmotion eval tokenizer`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import HandMotionError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure a component on held-out data")
    esub = p.add_subparsers(dest="eval_command", metavar="COMPONENT", required=True)
    r = esub.add_parser("recogniser", help="gesture recogniser accuracy on single-gesture corpus clips")
    r.add_argument("--data", required=True, help="corpus folder (from `handmotion corpus build`)")
    r.add_argument("--split", default="test", choices=("train", "val", "test", "all"), help="split (default test)")
    r.add_argument("--limit", type=int, help="stop after this many clips")
    r.add_argument("--json", metavar="OUT", help="also write the numbers to this JSON file")
    r.set_defaults(func=cmd_recogniser)

    t = esub.add_parser("tokenizer", help="tokenizer reconstruction: MPJPE, acceleration, joint angles, codebook use")
    t.add_argument("--data", required=True,
                   help="corpus folder, or a folder of motion files (.npz/.bvh/.json, e.g. mocap takes), or one file")
    t.add_argument("--split", default="test", choices=("train", "val", "test", "all"), help="corpus split (default test)")
    t.add_argument("--weights", metavar="DIR", help="tokenizer weights folder (default: shipped weights/tokenizer)")
    t.add_argument("--limit", type=int, help="stop after this many clips")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    t.add_argument("--json", metavar="OUT", help="also write the report to this JSON file")
    t.set_defaults(func=cmd_tokenizer)


def cmd_recogniser(args: argparse.Namespace) -> int:
    from ..caption.evaluate import evaluate_recogniser

    report = evaluate_recogniser(args.data, None if args.split == "all" else args.split, args.limit)
    if report.n == 0:
        raise HandMotionError(f"{args.data}: no single-gesture clips in split {args.split!r}")
    print(report.table())
    print(f"accuracy {report.accuracy:.3f} on {report.n} clips ({args.split} split)")
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1))
    return 0


def cmd_tokenizer(args: argparse.Namespace) -> int:
    from ..eval.tokenizer import evaluate_tokenizer, report_table

    report = evaluate_tokenizer(args.data, args.weights, None if args.split == "all" else args.split, args.limit,
                                args.device, progress=not args.quiet)
    print(report_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0
