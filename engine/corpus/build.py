"""`handmotion corpus build`: many clips, sharded, captioned, split, resumable.

Layout of a corpus folder:
- `shard_00000.npz`: the clips of one shard concatenated along time, float32: `fps`, `offsets (N+1,)`
  (clip k is frames offsets[k]:offsets[k+1]), `clip_ids (N,)`, and for both hands
  `{side}_global_orient (F, 3)`, `{side}_hand_pose (F, 45)`, `{side}_transl (F, 3)`, `{side}_betas (N, 10)`.
- `shard_00000.jsonl`: one record per clip: id, shard, index, split, seed, fps, n_frames, dominant,
  actions, spans (frames), captions {script, semantic, interaction, articulation}.
- `manifest.json`: build parameters, shard list, split counts.

A shard is written to a temporary name and renamed, so an interrupted build resumes at the first
missing shard with identical results (every clip's seed derives from the corpus seed and its id).

Splits hold out whole action combinations: a clip chaining several actions is assigned by a stable
hash of its set of actions, so every combination in `test` is absent from `train`; single-action
clips are assigned by clip id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..caption import describe
from ..errors import HandMotionError
from ..motion import HandMotion, HandTrack
from ..skeleton import SIDES
from . import actions_grasp, contact
from .generator import FPS, Clip, generate
from .script_text import script_captions

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
HELD_OUT = {"test": 5, "val": 5}  # percent of combinations (or of single-action clips)
FORMAT_VERSION = 1


def clip_seed(corpus_seed: int, clip_id: int) -> int:
    """The generator seed of clip `clip_id` in a corpus built with `corpus_seed`."""
    return int(np.random.SeedSequence([corpus_seed, clip_id]).generate_state(1, np.uint64)[0] >> 1)


def _bucket(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 100


def combination_key(actions: list[str], clip_id: int) -> str:
    """What a clip's split is drawn by: its set of actions when it has several, its id otherwise. Clips with
    the same key are always in the same split."""
    names = sorted(set(actions))
    return "+".join(names) if len(names) > 1 else f"clip-{clip_id}"


def split_of(actions: list[str], clip_id: int) -> str:
    """The split of a clip: by its set of actions when it has several, by its id otherwise."""
    b = _bucket(combination_key(actions, clip_id))
    return "test" if b < HELD_OUT["test"] else "val" if b < HELD_OUT["test"] + HELD_OUT["val"] else "train"


def clip_record(clip: Clip, n_captions: int = 3) -> dict:
    """What a corpus stores about a clip besides its motion: plan, spans and the four caption lists
    (script captions from the plan, the captioner's three levels from the motion)."""
    caps = describe(clip.motion, seed=clip.seed, n=n_captions)
    script = script_captions(clip.spans, clip.dominant, np.random.default_rng(clip.seed + 1), n_captions)
    return {
        "seed": clip.seed, "fps": clip.motion.fps, "n_frames": clip.motion.n_frames, "dominant": clip.dominant,
        "actions": clip.actions, "spans": clip.spans,
        "captions": {"script": script, "semantic": caps.semantic, "interaction": caps.interaction,
                     "articulation": caps.articulation},
    }


def make_record(clip_id: int, corpus_seed: int, n_captions: int = 3) -> tuple[HandMotion, dict]:
    """Generate and caption clip `clip_id` of a corpus: (motion, jsonl record)."""
    clip = generate(clip_seed(corpus_seed, clip_id))
    record = clip_record(clip, n_captions)
    return clip.motion, {"id": clip_id, "seed": clip.seed, "split": split_of(clip.actions, clip_id), **record}


def _worker_init() -> None:
    torch.set_num_threads(1)


def _make(args: tuple[int, int, int]) -> tuple[HandMotion, dict]:
    return make_record(*args)


def shard_name(k: int) -> str:
    return f"shard_{k:05d}"


def _write_shard(out: Path, k: int, items: list[tuple[HandMotion, dict]]) -> None:
    arrays: dict[str, np.ndarray] = {"fps": np.float32(items[0][0].fps), "format_version": np.int32(FORMAT_VERSION)}
    lengths = [m.n_frames for m, _ in items]
    arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays["clip_ids"] = np.array([r["id"] for _, r in items], dtype=np.int64)
    for side in SIDES:
        tracks = [m.track(side) for m, _ in items]
        arrays[f"{side}_global_orient"] = np.concatenate([t.global_orient for t in tracks]).astype(np.float32)
        arrays[f"{side}_hand_pose"] = np.concatenate([t.hand_pose.reshape(-1, 45) for t in tracks]).astype(np.float32)
        arrays[f"{side}_transl"] = np.concatenate([t.transl for t in tracks]).astype(np.float32)
        arrays[f"{side}_betas"] = np.stack([t.betas for t in tracks]).astype(np.float32)
    name = shard_name(k)
    tmp_npz, tmp_jsonl = out / f".{name}.tmp.npz", out / f".{name}.tmp.jsonl"
    np.savez(tmp_npz, **arrays)
    with open(tmp_jsonl, "w") as f:
        for i, (_, record) in enumerate(items):
            f.write(json.dumps(dict(record, shard=k, index=i)) + "\n")
    os.replace(tmp_jsonl, out / f"{name}.jsonl")
    os.replace(tmp_npz, out / f"{name}.npz")  # the npz is the completion marker


def _shard_done(out: Path, k: int, expected: int) -> bool:
    npz, jsonl = out / f"{shard_name(k)}.npz", out / f"{shard_name(k)}.jsonl"
    if not (npz.exists() and jsonl.exists()):
        return False
    with open(jsonl) as f:
        return sum(1 for _ in f) == expected


@dataclass
class BuildReport:
    clips: int
    shards: int
    reused_shards: int
    splits: dict[str, int]
    seconds: float


def build_corpus(out_dir: str | os.PathLike, n_clips: int, seed: int = 0, shard_size: int = 500,
                 workers: int | None = None, progress: bool = True) -> BuildReport:
    """Build (or resume) a corpus of `n_clips` clips in `out_dir`. Returns counts and the wall time."""
    if n_clips < 1:
        raise HandMotionError(f"--clips must be at least 1, got {n_clips}")
    if shard_size < 1:
        raise HandMotionError(f"--shard-size must be at least 1, got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = {"format_version": FORMAT_VERSION, "clips": n_clips, "seed": seed, "shard_size": shard_size, "fps": FPS}
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if {k: old.get(k) for k in params} != params:
            raise HandMotionError(f"{out} holds a corpus built with other parameters "
                                  f"({ {k: old.get(k) for k in params} }); use another folder")
    manifest_path.write_text(json.dumps(dict(params, complete=False), indent=1))
    t0 = time.perf_counter()
    n_shards = (n_clips + shard_size - 1) // shard_size
    shard_ids = [list(range(k * shard_size, min(n_clips, (k + 1) * shard_size))) for k in range(n_shards)]
    todo = [k for k in range(n_shards) if not _shard_done(out, k, len(shard_ids[k]))]
    reused = n_shards - len(todo)
    if reused:
        log.info("resuming: %d of %d shards already built", reused, n_shards)
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers > 1 and n_clips >= 200:
        # Solve every contact and grip shape once; the forked workers inherit the caches. Small
        # builds solve lazily, only the shapes their clips use (the results are the same).
        log.info("solving contact and grip shapes (once per build)")
        contact.warm()
        actions_grasp.warm()
    bar = tqdm(total=sum(len(shard_ids[k]) for k in todo), unit="clip", disable=not progress, desc="corpus")
    ctx = mp.get_context("fork") if workers > 1 else None
    pool = ctx.Pool(workers, initializer=_worker_init) if ctx else None
    try:
        for k in todo:
            jobs = [(i, seed, 3) for i in shard_ids[k]]
            it = pool.imap(_make, jobs, chunksize=4) if pool else map(_make, jobs)
            items = []
            for item in it:
                items.append(item)
                bar.update(1)
            _write_shard(out, k, items)
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    splits = {s: 0 for s in SPLITS}
    for k in range(n_shards):
        with open(out / f"{shard_name(k)}.jsonl") as f:
            for line in f:
                splits[json.loads(line)["split"]] += 1
    seconds = time.perf_counter() - t0
    manifest_path.write_text(json.dumps(dict(params, complete=True, shards=[shard_name(k) for k in range(n_shards)],
                                             splits=splits), indent=1))
    return BuildReport(n_clips, n_shards, reused, splits, seconds)


def read_corpus(corpus_dir: str | os.PathLike, split: str | None = None):
    """Iterate (motion, record) over a built corpus, optionally one split only."""
    root = Path(corpus_dir)
    manifest = root / "manifest.json"
    if not manifest.exists():
        raise HandMotionError(f"{root}: not a corpus folder (no manifest.json); build one with `handmotion corpus build`")
    for npz in sorted(root.glob("shard_*.npz")):
        with open(npz.with_suffix(".jsonl")) as f:
            records = [json.loads(line) for line in f]
        with np.load(npz) as z:
            data = {k: z[k] for k in z.files}
        off = data["offsets"]
        for i, record in enumerate(records):
            if split is not None and record["split"] != split:
                continue
            a, b = off[i], off[i + 1]
            tracks = {side: HandTrack(global_orient=data[f"{side}_global_orient"][a:b],
                                      hand_pose=data[f"{side}_hand_pose"][a:b].reshape(-1, 15, 3),
                                      transl=data[f"{side}_transl"][a:b], betas=data[f"{side}_betas"][i])
                      for side in SIDES}
            yield HandMotion(fps=float(data["fps"]), **tracks), record
