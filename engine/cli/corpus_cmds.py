"""Corpus commands: `handmotion corpus build` and `handmotion corpus sample`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..errors import HandMotionError
from ..io import save_motion

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="build the procedural two-hand training corpus")
    csub = p.add_subparsers(dest="corpus_command", metavar="SUBCOMMAND", required=True)

    b = csub.add_parser("build", help="generate, caption and shard N clips (resumable)")
    b.add_argument("--clips", type=int, required=True, help="number of clips")
    b.add_argument("--seed", type=int, default=0, help="corpus seed (default 0): same seed, same files")
    b.add_argument("-o", "--output", required=True, help="output folder (re-run with the same arguments to resume)")
    b.add_argument("--shard-size", type=int, default=500, help="clips per shard (default 500)")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores, at most 8)")
    b.set_defaults(func=cmd_build)

    s = csub.add_parser("sample", help="write single generated clips as motion files with their captions")
    s.add_argument("--seed", type=int, default=0, help="first clip seed (default 0)")
    s.add_argument("--count", type=int, default=1, help="number of clips (default 1)")
    s.add_argument("--action", help="perform this action only (see `handmotion corpus actions`)")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--format", default="npz", choices=("npz", "bvh", "json"), help="motion file format (default npz)")
    s.set_defaults(func=cmd_sample)

    c = csub.add_parser("check", help="verify a built corpus: joint limits, finite values, lengths, splits")
    c.add_argument("--data", required=True, help="corpus folder")
    c.set_defaults(func=cmd_check)

    a = csub.add_parser("actions", help="list the actions the generator knows")
    a.set_defaults(func=cmd_actions)


def cmd_build(args: argparse.Namespace) -> int:
    from ..corpus.build import build_corpus

    report = build_corpus(args.output, args.clips, seed=args.seed, shard_size=args.shard_size, workers=args.workers)
    print(f"{report.clips} clips in {report.shards} shards ({report.reused_shards} reused) "
          f"in {report.seconds:.1f} s -> {args.output}")
    print("splits: " + ", ".join(f"{k} {v}" for k, v in report.splits.items()))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..corpus.actions import ACTIONS
    from ..corpus.build import clip_record
    from ..corpus.generator import Step, generate

    if args.action is not None and args.action not in ACTIONS:
        raise HandMotionError(f"unknown action {args.action!r}; see `handmotion corpus actions`")
    if args.count < 1:
        raise HandMotionError("--count must be at least 1")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seed, args.seed + args.count):
        steps = None if args.action is None else [Step(args.action)]
        clip = generate(seed, steps)
        name = f"clip_{seed:06d}" + (f"_{args.action}" if args.action else "")
        path = out / f"{name}.{args.format}"
        save_motion(clip.motion, path)
        record = {"file": path.name, **clip_record(clip)}
        (out / f"{name}.captions.json").write_text(json.dumps(record, indent=1))
        print(f"{path}: {', '.join(clip.actions)} ({clip.motion.duration:.1f} s)")
    return 0


def cmd_actions(args: argparse.Namespace) -> int:
    from ..corpus.actions import ACTIONS

    for kind in ("gesture", "single", "grasp", "bimanual"):
        names = [n for n, a in ACTIONS.items() if a.kind == kind]
        print(f"{kind} ({len(names)}): {', '.join(names)}")
    print(f"total: {len(ACTIONS)} actions")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when every clip is finite and inside the joint limits (float32 storage tolerance)."""
    import numpy as np
    from tqdm import tqdm

    from ..corpus.anatomy import limit_violation
    from ..corpus.build import read_corpus

    worst, n, frames, bad = 0.0, 0, 0, 0
    durations, splits, combos = [], {}, {}
    for motion, record in tqdm(read_corpus(args.data), desc="check", unit="clip"):
        n += 1
        frames += motion.n_frames
        durations.append(motion.duration)
        splits[record["split"]] = splits.get(record["split"], 0) + 1
        if len(set(record["actions"])) > 1:
            combos.setdefault(record["split"], set()).add("+".join(sorted(set(record["actions"]))))
        for side, track in motion.hands():
            v = float(limit_violation(track.hand_pose, side).max())
            worst = max(worst, v)
            bad += v > 1e-4
    overlap = combos.get("train", set()) & (combos.get("test", set()) | combos.get("val", set()))
    print(f"{n} clips, {frames} frames ({frames / 30 / 3600:.2f} h at 30 fps), "
          f"duration {min(durations):.2f}-{max(durations):.2f} s (mean {np.mean(durations):.2f})")
    print(f"joint limits: worst excess {np.degrees(worst):.2e} deg; hands over 1e-4 rad: {bad}")
    print("splits: " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items()))
          + f"; action combinations shared by train and val/test: {len(overlap)}")
    return 1 if bad or overlap else 0
