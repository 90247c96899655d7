"""How long the extension takes to write keys in Blender (`make bench-addon` runs it on each supported Blender).

    .venv-bpy50/bin/python scripts/bench_keys.py --addon build/handmotion-X.zip [--repeat 7]

Writes 32 bones x 4 quaternion channels x 79 frames = 10,112 keys into a new take with the extension's own
`fcurves.write_bones`, as a generated take is written: once with a key on every frame, once thinned to the
panel's default key tolerance (0.002). Prints the best and median of `--repeat` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import blender_demo  # first: it keeps Blender's user folder apart before bpy is imported
import bpy
import numpy as np
from mathutils import Vector

BONES, FRAMES = 32, 79


def armature() -> bpy.types.Object:
    """32 bones in four-bone chains, like two hands' fingers."""
    arm = bpy.data.armatures.new("bench")
    obj = bpy.data.objects.new("bench", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for chain in range(BONES // 4):
        parent = None
        for j in range(4):
            b = arm.edit_bones.new(f"finger{chain}.{j}")
            b.head, b.tail = Vector((chain * 0.02, j * 0.03, 0)), Vector((chain * 0.02, (j + 1) * 0.03, 0))
            b.parent = parent
            parent = b
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def motion(seed: int) -> np.ndarray:
    """(FRAMES, 4) smooth unit quaternions (w, x, y, z) at 30 fps."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = 0.6 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * np.arange(FRAMES) / 30.0 + rng.uniform(0, 6))
    return np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * axis], axis=1)


def time_writes(fcurves, obj, tolerance: float, repeat: int) -> tuple[list[float], int]:
    data = {b.name: motion(i) for i, b in enumerate(obj.data.bones)}
    modes = {name: "QUATERNION" for name in data}
    times, written = [], 0
    for i in range(repeat + 1):
        action, slot = fcurves.new_take(obj, f"bench {tolerance} {i}")
        t0 = time.perf_counter()
        written = fcurves.write_bones(action, slot, data, modes, first_frame=1, tolerance=tolerance)
        if i:  # the first run warms up
            times.append((time.perf_counter() - t0) * 1000.0)
    return times, written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addon", required=True, type=Path, help="the extension zip (`make addon`)")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs of each case (default 7)")
    args = ap.parse_args()
    addon = blender_demo.install(args.addon.resolve())
    bpy.ops.wm.read_homefile(use_empty=True)
    obj = armature()
    api = "slotted" if addon.fcurves.LAYERED else "legacy"
    for tolerance in (0.0, 0.002):
        times, written = time_writes(addon.fcurves, obj, tolerance, args.repeat)
        print(f"bench-addon: Blender {bpy.app.version_string} ({api} actions): {BONES} bones x 4 channels x {FRAMES} frames, "
            f"tolerance {tolerance:g}: {written} keys written in {min(times):.1f} ms best, "
            f"{statistics.median(times):.1f} ms median of {len(times)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
