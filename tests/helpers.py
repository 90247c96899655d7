"""Small motion builders shared by the tests (smooth, deterministic, realistic ranges)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from engine.cli import main
from engine.motion import HandMotion, HandTrack

SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "samples" / "corpus"
TINY_INBETWEENER = ("steps=6", "batch=4", "window=32", "eval_every=6", "d_model=32", "layers=1", "heads=2",
                    "d_ff=64", "val_windows=4", "val_steps=2", "threads=1")


def sample_corpus_copy(root: Path) -> Path:
    """A writable copy of the committed sample corpus under `root` (training caches land beside it)."""
    corpus = root / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    return corpus


def train_tiny_inbetweener(corpus: Path, out: Path, *settings: str) -> Path:
    """A tiny in-betweener trained by the real `handmotion train inbetween` command on `corpus`, with extra
    `key=value` settings (they win over the tiny ones)."""
    assert main(["-q", "train", "inbetween", "--no-progress", f"data={corpus}", f"out={out}", *TINY_INBETWEENER,
                 *settings]) == 0
    return out


def train_tiny_lm(capsys, corpus: Path, out: Path, *settings: str, steps: int = 2) -> tuple[int, str, str]:
    """A tiny language model trained by the real `handmotion train lm` command on `corpus` (batch 2, one
    evaluation at the end) with extra `key=value` settings: (exit code, stdout, stderr)."""
    return run_cli(capsys, "-q", "train", "lm", "--no-progress", f"data={corpus}", f"out={out}", f"steps={steps}",
                   "batch=2", f"eval_every={steps}", "d_model=32", "layers=1", "heads=2", "d_ff=64", "threads=1",
                   *settings)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `handmotion ARGS` in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def smooth_track(n_frames: int, fps: float, seed: int = 0, amplitude: float = 0.5) -> HandTrack:
    """A smooth random hand track: sums of low-frequency sines (<= 1.5 Hz) on every parameter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps

    def wave(dims: tuple[int, ...], amp: float) -> np.ndarray:
        freq = rng.uniform(0.2, 1.5, size=(3,) + dims)
        phase = rng.uniform(0, 2 * np.pi, size=(3,) + dims)
        weight = rng.uniform(0.3, 1.0, size=(3,) + dims)
        out = sum(weight[k] * np.sin(2 * np.pi * freq[k] * t.reshape((-1,) + (1,) * len(dims)) + phase[k]) for k in range(3))
        return amp * out / 3

    return HandTrack(
        global_orient=wave((3,), 0.8) + np.array([0.3, 0.0, 0.2]),
        hand_pose=wave((15, 3), amplitude) + np.array([0.0, 0.0, 0.4]),
        transl=wave((3,), 0.1),
    )


def smooth_motion(n_frames: int = 60, fps: float = 30.0, seed: int = 0) -> HandMotion:
    """Two-hand smooth motion; the left hand is an independent track mirrored into the left convention."""
    return HandMotion(fps=fps, left=smooth_track(n_frames, fps, seed + 1).mirrored(), right=smooth_track(n_frames, fps, seed))


MOCAP_FINGERS = ("INDEX", "MIDDLE", "RING", "PINKY")


def mocap_hand_bvh(side: str, n_frames: int, fps: float, seed: int = 0) -> str:
    """Text of a 17-joint single-hand mocap BVH unlike our skeleton: millimetres, hand pointing up
    (+Y), palm facing -Z (right hand; fingers curl toward -Z, a negative X rotation), thumb CMC split into FE + AA 1-DoF joints, MCPs with
    flexion + abduction channels, PIP/DIP with one flexion channel. Smooth sinusoidal motion."""
    rng = np.random.default_rng(seed)
    sgn = 1.0 if side == "right" else -1.0  # the left hand is the mirror image across x
    t = np.arange(n_frames) / fps

    def wave(lo: float, hi: float) -> np.ndarray:
        f, ph = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)
        return lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * np.pi * f * t + ph))

    lines = ["HIERARCHY", "ROOT WRIST", "{", "OFFSET 0 0 0",
             "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]
    cols = [wave(-40, 40) * sgn, wave(900, 1000), wave(200, 260),
            wave(-20, 20) * sgn, wave(-30, 30), wave(-25, 25) * sgn]
    # Thumb: CMC flexion about Z, abduction about X (zero-length link), MCP 2 DoF, IP flexion.
    thumb = [("THUMB_CMC_FE", (-25 * sgn, 20, 10), "1 Zrotation", [wave(0, 40) * sgn]),
             ("THUMB_CMC_AA", (0, 0, 0), "1 Xrotation", [wave(-10, 25)]),
             ("THUMB_MCP", (-30 * sgn, 30, 12), "2 Zrotation Xrotation", [wave(0, 45) * sgn, wave(-5, 5)]),
             ("THUMB_IP", (-18 * sgn, 22, 6), "1 Zrotation", [wave(0, 60) * sgn])]
    depth = 0
    for name, off, chans, vals in thumb:
        lines += [f"JOINT {name}", "{", "OFFSET %g %g %g" % off, f"CHANNELS {chans}"]
        cols += vals
        depth += 1
    lines += ["End Site", "{", "OFFSET %g 24 5" % (-10 * sgn), "}"] + ["}"] * depth
    base_x = {"INDEX": -22, "MIDDLE": -2, "RING": 16, "PINKY": 32}
    lengths = {"INDEX": (92, 42, 24, 20), "MIDDLE": (90, 46, 28, 22), "RING": (86, 43, 27, 21), "PINKY": (80, 34, 19, 19)}
    for finger in MOCAP_FINGERS:
        meta, prox, mid, dist = lengths[finger]
        x = base_x[finger] * sgn
        lines += [f"JOINT {finger}_MCP", "{", f"OFFSET {x} {meta} 0", "CHANNELS 2 Xrotation Zrotation"]
        cols += [-wave(-10, 70), wave(-12, 12) * sgn]
        lines += [f"JOINT {finger}_PIP_FE", "{", f"OFFSET 0 {prox} 0", "CHANNELS 1 Xrotation"]
        cols += [-wave(0, 90)]
        lines += [f"JOINT {finger}_DIP_FE", "{", f"OFFSET 0 {mid} 0", "CHANNELS 1 Xrotation"]
        cols += [-wave(0, 60)]
        lines += ["End Site", "{", f"OFFSET 0 {dist} 0", "}", "}", "}", "}"]
    lines += ["}", "MOTION", f"Frames: {n_frames}", f"Frame Time: {1.0 / fps!r}"]
    data = np.stack(cols, axis=1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in data]
    return "\n".join(lines) + "\n"


def write_truncated_bvh(path) -> None:
    """A single-hand mocap BVH cut off at 80% of its text (bad-input tests)."""
    text = mocap_hand_bvh("right", 10, 30.0)
    path.write_text(text[: int(len(text) * 0.8)])


def write_nan_npz(path) -> None:
    """A right-hand npz with one NaN in its hand pose (bad-input tests)."""
    m = smooth_motion(5)
    pose = m.right.hand_pose.reshape(5, 45).copy()
    pose[2, 7] = np.nan
    np.savez(path, right_hand_pose=pose, right_global_orient=m.right.global_orient, fps=30.0)
