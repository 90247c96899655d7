"""Evaluation commands: `handmotion eval {recogniser,tokenizer,t2m,m2t,inbetween,refine,all}`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import HandMotionError

DEFAULT_DATA = "data/corpus"
SPLITS = ("train", "val", "test", "all")
TASKS = ("tokenizer", "t2m", "m2t", "inbetween", "refine")
HELP = {
    "tokenizer": "tokenizer reconstruction: MPJPE, acceleration, joint angles, codebook use",
    "t2m": "text to motion: R-Precision, MM-Dist, FID, KID, Diversity, MultiModality, contact F1",
    "m2t": "motion to text: BLEU-1/4, ROUGE-L, CIDEr-D, caption R-Precision, per caption kind",
    "inbetween": "in-betweening from keys every 15 / 30 frames: MPJPE, L2P, L2Q, NPSS, jerk, key error",
    "refine": "repair of the corruption suite: defects removed, MPJPE to clean, untouched frames",
}


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _common(p: argparse.ArgumentParser, data_help: str) -> None:
    p.add_argument("--data", default=DEFAULT_DATA, help=f"{data_help} (default {DEFAULT_DATA})")
    p.add_argument("--split", default="test", choices=SPLITS, help="corpus split (default test)")
    p.add_argument("--limit", type=positive_int, help="only the first N clips")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--json", metavar="OUT", help="also write the report to this JSON file")
    p.add_argument("--md", metavar="OUT", help="also write the tables as Markdown")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure a component on held-out data")
    esub = p.add_subparsers(dest="eval_command", metavar="TASK", required=True)
    r = esub.add_parser("recogniser", help="gesture recogniser accuracy on single-gesture corpus clips")
    r.add_argument("--data", required=True, help="corpus folder (from `handmotion corpus build`)")
    r.add_argument("--split", default="test", choices=SPLITS, help="split (default test)")
    r.add_argument("--limit", type=positive_int, help="stop after this many clips")
    r.add_argument("--json", metavar="OUT", help="also write the numbers to this JSON file")
    r.set_defaults(func=cmd_recogniser)

    t = esub.add_parser("tokenizer", help=HELP["tokenizer"])
    _common(t, "corpus folder, or a folder of motion files (.npz/.bvh/.json, e.g. mocap takes), or one file")
    t.add_argument("--weights", metavar="DIR", help="tokenizer weights folder (default: shipped weights/tokenizer)")
    t.set_defaults(func=cmd_task, tasks=("tokenizer",))
    for task in TASKS[1:]:
        q = esub.add_parser(task, help=HELP[task])
        _common(q, "corpus folder")
        q.add_argument("--evaluator", metavar="DIR", help="evaluator weights folder (default: shipped weights/evaluator)")
        q.add_argument("--methods", help="comma-separated methods (default: every available one)")
        if task in ("t2m", "m2t"):
            q.add_argument("--lm", metavar="DIR", help="language model weights for the lm method (default: shipped)")
        if task == "t2m":
            q.add_argument("--guidance", type=float, help="the lm method's classifier-free guidance (default: the "
                                                          "engine's)")
            q.add_argument("--rerank", type=positive_int, help="the lm method's candidates per motion, the best "
                                                               "captioned kept (default: the engine's)")
        if task == "m2t":
            q.add_argument("--candidates", type=positive_int, help="the lm method's captions per clip, one per nearest "
                                                                   "training clip, consensus kept (default: the "
                                                                   "engine's)")
        if task == "inbetween":
            q.add_argument("--inbetween", metavar="DIR", help="in-betweener weights for the diffusion methods "
                                                              "(default: shipped)")
            q.add_argument("--steps", type=positive_int, default=20, help="denoising steps (default 20)")
        if task == "refine":
            q.add_argument("--inbetween", metavar="DIR", help="in-betweener weights for the refiner methods "
                                                              "(default: shipped)")
            q.add_argument("--sweep", action="store_true", help="also a row per control strength 0.1-1.0")
        q.set_defaults(func=cmd_task, tasks=(task,))
    a = esub.add_parser("all", help="every evaluation above, one JSON report and one set of tables")
    _common(a, "corpus folder")
    a.add_argument("--weights", metavar="DIR", help="tokenizer weights folder (default: shipped)")
    a.add_argument("--evaluator", metavar="DIR", help="evaluator weights folder (default: shipped)")
    a.add_argument("--lm", metavar="DIR", help="language model weights (default: shipped, when present)")
    a.add_argument("--inbetween", metavar="DIR", help="in-betweener weights (default: shipped, when present)")
    a.set_defaults(func=cmd_task, tasks=TASKS, methods=None)


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


def run_task(task: str, args: argparse.Namespace) -> dict:
    """One evaluation's report, with the common arguments."""
    from ..pipeline import pick_device

    split = None if args.split == "all" else args.split
    device = str(pick_device(args.device))
    progress = not args.quiet
    kw = {"split": split, "limit": args.limit, "device": device, "progress": progress}
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip()) if getattr(args, "methods", None) else None
    if methods:
        kw["methods"] = methods
    try:
        if task == "tokenizer":
            from ..eval.tokenizer import evaluate_tokenizer

            return evaluate_tokenizer(args.data, getattr(args, "weights", None), split, args.limit, device, progress)
        if task == "t2m":
            from ..eval.t2m import evaluate_t2m

            return evaluate_t2m(args.data, weights=args.evaluator, lm_weights=getattr(args, "lm", None),
                                lm_guidance=getattr(args, "guidance", None), lm_rerank=getattr(args, "rerank", None),
                                **kw)
        if task == "m2t":
            from ..eval.m2t import evaluate_m2t

            return evaluate_m2t(args.data, weights=args.evaluator, lm_weights=getattr(args, "lm", None),
                                lm_candidates=getattr(args, "candidates", None), **kw)
        if task == "inbetween":
            from ..eval.inbetween import evaluate_inbetween

            return evaluate_inbetween(args.data, weights=getattr(args, "inbetween", None),
                                      steps=getattr(args, "steps", 20), **kw)
        from ..eval.refine import evaluate_refine

        return evaluate_refine(args.data, weights=getattr(args, "inbetween", None),
                               sweep=getattr(args, "sweep", False), **kw)
    except KeyError as exc:
        raise HandMotionError(str(exc).strip("'\"")) from None


def cmd_task(args: argparse.Namespace) -> int:
    from ..eval.report import render

    reports, texts, mds = {}, [], []
    for task in args.tasks:
        t0 = time.perf_counter()
        report = run_task(task, args)
        report["seconds"] = round(time.perf_counter() - t0, 1)
        reports[task] = report
        texts.append(render(task, report))
        mds.append(render(task, report, markdown=True))
    print("\n\n".join(texts))
    out = reports if len(args.tasks) > 1 else reports[args.tasks[0]]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.md:
        Path(args.md).write_text("\n\n".join(mds) + "\n")
    return 0
