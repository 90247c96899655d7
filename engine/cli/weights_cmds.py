"""Weights commands: `handmotion weights list`, `handmotion weights install RUN COMPONENT`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list the shipped weights or install trained ones as the default")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    w = wsub.add_parser("list", help="shipped components, file sizes and sha256 check")
    w.set_defaults(func=cmd_list)
    w = wsub.add_parser("install", help="copy a trained weights folder to weights/COMPONENT and record its sha256")
    w.add_argument("source", help="weights folder (a training run's out=)")
    w.add_argument("component", choices=("tokenizer", "evaluator", "lm", "inbetween"), help="which default to replace")
    w.add_argument("--half", action="store_true", help="store float32 tensors as float16 (half the size)")
    w.set_defaults(func=cmd_install)


def cmd_list(args: argparse.Namespace) -> int:
    from ..models.weights import list_weights

    found = list_weights()
    if not found:
        print("no shipped weights")
    for name, info in found.items():
        size = sum(info["files"].values()) / 1e6
        print(f"{name:12s} {size:7.2f} MB  {'sha256 ok' if info['ok'] else 'sha256 MISMATCH or unlisted'}  "
              f"({', '.join(info['files'])})")
    return 0 if all(i["ok"] for i in found.values()) else 1


def cmd_install(args: argparse.Namespace) -> int:
    from ..models.weights import install_weights

    target = install_weights(args.source, args.component, half=args.half)
    print(f"installed {args.source} as {target}{' (float16)' if args.half else ''}")
    return 0
