"""`handmotion bench`: latency p50 / p95 of each engine step on this machine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency (p50/p95 after warm-up) of encode, decode, caption, ... on this device")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls (default 20)")
    p.add_argument("--only", help="comma-separated cases (default: all)")
    p.add_argument("--lm", metavar="DIR", help="language model weights for generate / caption_lm (default: shipped)")
    p.add_argument("--inbetween", metavar="DIR", help="in-betweener weights for inbetween (default: shipped)")
    p.add_argument("--json", metavar="OUT", help="also write the timings to this JSON file")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..bench import bench_table, run_bench
    from ..errors import HandMotionError
    from ..pipeline import pick_device

    if args.repeat < 1 or args.warmup < 0:
        raise HandMotionError("--repeat must be at least 1 and --warmup at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) if args.only else None
    weights = {k: v for k, v in (("lm", args.lm), ("inbetween", args.inbetween)) if v}
    report = run_bench(str(pick_device(args.device)), args.warmup, args.repeat, only, weights)
    print(bench_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0
