"""Motion file commands: info, convert, preview, demo."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from ..errors import HandMotionError, MotionFormatError
from ..io import FORMATS, detect_format, load_motion, save_motion
from ..motion import HandMotion
from ..rotations import geodesic_angle
from ..skeleton import SIDES, get_hand_model

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a motion file")
    p.add_argument("file")
    p.add_argument("--side", choices=SIDES, help="hand of a single-hand file whose joint names have no side")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert between motion formats (npz, AMASS npz, BVH, JSON)")
    p.add_argument("input", nargs="?", help="input motion file (optional when --left/--right are given)")
    p.add_argument("output", help="output file; format from the extension (.npz, *_poses.npz for AMASS, .bvh, .json)")
    p.add_argument("--fps", type=float, help="resample the output to this frame rate")
    p.add_argument("--in-fps", type=float, help="frame rate of an input that stores none")
    p.add_argument("--left", metavar="FILE", help="single-hand file to use as the left hand")
    p.add_argument("--right", metavar="FILE", help="single-hand file to use as the right hand")
    p.add_argument("--side", choices=SIDES, help="hand of a single-hand input whose names carry no side")
    p.add_argument("--to", choices=FORMATS, help="output format (default: from the output extension)")
    p.add_argument("--mean-relative", action="store_true",
                   help="npz hand poses are stored relative to MANO's mean pose (SMPL-X fits with "
                        "flat_hand_mean=False); converts them using the MANO files")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("preview", help="render an animated GIF of both hands' skeletons")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output .gif")
    p.add_argument("--fps", type=float, help="GIF frame rate (default: min(clip fps, 30))")
    p.add_argument("--size", type=int, default=480, help="image size in pixels (default 480)")
    p.add_argument("--side", choices=SIDES)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("roundtrip", help="measure what a chain of formats/frame rates loses on a clip")
    p.add_argument("input")
    p.add_argument("--via", default="bvh,json", help="comma-separated formats to pass through (mano, amass, bvh, json)")
    p.add_argument("--fps", type=float, help="resample to this fps first and back to the clip's fps at the end")
    p.add_argument("--side", choices=SIDES)
    p.set_defaults(func=cmd_roundtrip)

    p = sub.add_parser("demo", help="run the end-to-end demo on a built-in example clip")
    p.add_argument("-o", "--output", default="build/demo", help="output folder (default build/demo)")
    p.set_defaults(func=cmd_demo)


def _hand_mean(args: argparse.Namespace) -> dict[str, np.ndarray] | None:
    """MANO's mean hand pose per side when --mean-relative asks for it (needs the MANO files)."""
    if not getattr(args, "mean_relative", False):
        return None
    from ..mano import resolve_mano_dir

    mano_dir = resolve_mano_dir(args.mano_dir)
    if mano_dir is None:
        raise HandMotionError("--mean-relative needs the MANO model files: pass --mano-dir or set HANDMOTION_MANO_DIR")
    return {side: get_hand_model(side, mano_dir).hands_mean() for side in SIDES}


def _load(path: str, args: argparse.Namespace, side: str | None = None) -> HandMotion:
    return load_motion(path, fps=getattr(args, "in_fps", None), side=side or getattr(args, "side", None),
                       hand_mean=_hand_mean(args))


def combine_hands(base: HandMotion | None, left: HandMotion | None, right: HandMotion | None) -> HandMotion:
    """Put single-hand clips into one motion, resampled to a common fps and trimmed to a common length."""
    parts = {s: getattr(base, s) if base is not None else None for s in SIDES}
    fps = base.fps if base is not None else max(m.fps for m in (left, right) if m is not None)
    for side, m in (("left", left), ("right", right)):
        if m is None:
            continue
        track = getattr(m, side)
        if track is None:
            other = "right" if side == "left" else "left"
            raise MotionFormatError(f"--{side} file holds a {other} hand (pass --side or check the file)")
        if abs(m.fps - fps) > 1e-6:
            track = m.resample(fps).track(side)
        parts[side] = track
    lengths = {s: t.n_frames for s, t in parts.items() if t is not None}
    n = min(lengths.values())
    if len(set(lengths.values())) > 1:
        log.warning("hands differ in length (%s); trimming to %d frames",
                    ", ".join(f"{s} {k}" for s, k in lengths.items()), n)
    return HandMotion(fps=fps, **{s: None if t is None else t.slice(0, n) for s, t in parts.items()})


def cmd_info(args: argparse.Namespace) -> int:
    fmt = detect_format(args.file)
    motion = _load(args.file, args)
    print(f"{args.file}: {fmt}, {motion.n_frames} frames at {motion.fps:g} fps ({motion.duration:.2f} s)")
    for side, track in motion.hands():
        joints = get_hand_model(side, args.mano_dir).joints_np(track.global_orient, track.hand_pose, track.transl)
        wrist = joints[:, 0]
        flex = np.degrees(np.linalg.norm(track.hand_pose, axis=-1))
        print(
            f"  {side:5s} valid {int(track.valid.sum())}/{track.n_frames} frames; "
            f"wrist travel {np.linalg.norm(np.diff(wrist, axis=0), axis=-1).sum():.3f} m, "
            f"range x[{wrist[:, 0].min():+.3f},{wrist[:, 0].max():+.3f}] "
            f"y[{wrist[:, 1].min():+.3f},{wrist[:, 1].max():+.3f}] "
            f"z[{wrist[:, 2].min():+.3f},{wrist[:, 2].max():+.3f}] m; "
            f"joint rotation mean {flex.mean():.1f} deg, max {flex.max():.1f} deg"
            + ("" if track.betas is None else "; betas given")
        )
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    if args.input is None and args.left is None and args.right is None:
        raise MotionFormatError("convert needs an input file, or --left/--right single-hand files")
    base = _load(args.input, args) if args.input else None
    left = _load(args.left, args, side="left") if args.left else None
    right = _load(args.right, args, side="right") if args.right else None
    motion = combine_hands(base, left, right) if (left or right) else base
    if args.fps:
        motion = motion.resample(args.fps)
    path = save_motion(motion, args.output, args.to)
    log.info("wrote %s (%d frames at %g fps, hands: %s)", path, motion.n_frames, motion.fps, ", ".join(motion.sides))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from ..preview import render_preview

    motion = _load(args.input, args)
    if args.size < 64 or args.size > 2048:
        raise HandMotionError(f"--size must be between 64 and 2048 pixels, got {args.size}")
    path = render_preview(motion, args.output, fps=args.fps, size=args.size, mano_dir=args.mano_dir)
    log.info("wrote %s", path)
    return 0


def motion_error(a: HandMotion, b: HandMotion) -> dict[str, float]:
    """Per-joint rotation error (degrees) and wrist translation error (mm) between two clips of equal length."""
    rot, trans = [], []
    for side in a.sides:
        ta, tb = a.track(side), b.track(side)
        rot.append(np.degrees(geodesic_angle(
            np.concatenate([ta.global_orient[:, None], ta.hand_pose], 1), np.concatenate([tb.global_orient[:, None], tb.hand_pose], 1))))
        trans.append(np.linalg.norm(ta.transl - tb.transl, axis=-1) * 1000.0)
    rot_all, trans_all = np.concatenate(rot, axis=None), np.concatenate(trans, axis=None)
    return {"max_deg": float(rot_all.max()), "mean_deg": float(rot_all.mean()),
            "max_transl_mm": float(trans_all.max()), "mean_transl_mm": float(trans_all.mean())}


def cmd_roundtrip(args: argparse.Namespace) -> int:
    import tempfile

    original = _load(args.input, args)
    chain = [f.strip() for f in args.via.split(",") if f.strip()]
    unknown = [f for f in chain if f not in FORMATS]
    if unknown:
        raise HandMotionError(f"--via: unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    motion = original.resample(args.fps) if args.fps else original
    steps = [f"{original.fps:g} fps"] + ([f"{args.fps:g} fps"] if args.fps else [])
    ext = {"mano": ".npz", "amass": "_poses.npz", "bvh": ".bvh", "json": ".json"}
    with tempfile.TemporaryDirectory() as tmp:
        for k, fmt in enumerate(chain if chain[-1:] == ["mano"] else chain + ["mano"]):
            path = save_motion(motion, Path(tmp) / f"step{k}{ext[fmt]}", fmt)
            motion = load_motion(path, side=args.side)
            steps.append(fmt)
    if args.fps:
        motion = motion.resample(original.fps)
        steps.append(f"{original.fps:g} fps")
    n = min(motion.n_frames, original.n_frames)
    err = motion_error(original.slice(0, n), motion.slice(0, n))
    print(f"{args.input}: {' -> '.join(steps)} ({n} frames compared)")
    print(f"  joint rotation error: max {err['max_deg']:.2e} deg, mean {err['mean_deg']:.2e} deg")
    print(f"  wrist translation error: max {err['max_transl_mm']:.2e} mm, mean {err['mean_transl_mm']:.2e} mm")
    return 0


def _demo_tokenizer(clip: HandMotion, out: Path) -> None:
    """Encode the example with the shipped SHIFT tokenizer, decode it, and report the error."""
    from ..eval.tokenizer import clip_scores
    from ..pipeline import detokenize, match_timing, tokenize

    tokens = tokenize(clip)
    back = match_timing(detokenize(tokens), clip)
    save_motion(back, out / "greeting_tokenized.bvh")
    scores, _ = clip_scores(back, clip)
    print(f"demo: SHIFT tokenizer: {clip.n_frames} frames at {clip.fps:g} fps -> {tokens.codes.shape[0]} steps x "
          f"{len(tokens.slots)} tokens ({', '.join(tokens.slots)}); decoded finger error "
          f"{scores['finger_mpjpe_mm']:.2f} mm, joint angles {scores['finger_angle_deg']:.2f} deg "
          f"-> greeting_tokenized.bvh")


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the example clip, round-trip it through every format and render a preview."""
    from ..examples import greeting
    from ..preview import render_preview

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    motion = greeting(fps=30.0)
    clip120 = motion.resample(120.0)
    bvh = save_motion(clip120, out / "greeting.bvh")
    log.info("example clip: %s (%d frames at 120 fps)", bvh, clip120.n_frames)
    back = load_motion(bvh).resample(30.0)
    for name in ("greeting.npz", "greeting_poses.npz", "greeting.json"):
        save_motion(back, out / name)
    err = motion_error(motion, back)["max_deg"]
    gif = render_preview(back, out / "greeting.gif", mano_dir=args.mano_dir)
    print(f"demo: BVH 120 fps -> npz 30 fps max joint difference {err:.3f} deg")
    _demo_tokenizer(clip120, out)
    print(f"demo: wrote {', '.join(sorted(p.name for p in out.iterdir()))} in {out}")
    print(f"demo: preview {gif}")
    return 0
