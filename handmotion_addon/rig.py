"""Reading an armature for the engine: its bones' rest matrices (the `rig` of a job) and its animation
as per-bone quaternions over time (the `bones` of caption / refine / in-between jobs). The retargeting
math lives in the engine; this module only reads what Blender holds."""

from __future__ import annotations

import bpy
from mathutils import Euler, Quaternion

from . import fcurves

JOINTS = ("wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1", "pinky2", "pinky3",
          "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3")
SIDES = ("left", "right")
WIRE_DECIMALS = 6  # the engine's precision on the wire: 1e-6 in a quaternion component


def rows(matrix) -> list[list[float]]:
    return [[float(x) for x in row] for row in matrix]


def gather(obj: bpy.types.Object, bone_map: dict | None = None, wrist: bool = True) -> dict:
    """The job's `rig`: names, parents, rest matrices (`bone.matrix_local`, armature space), rotation modes
    and `matrix_world` of armature `obj`; with `bone_map` ({side: {joint: bone}}) the map to use, else the
    engine detects one from the bone names."""
    bones = obj.data.bones
    rig = {"names": [b.name for b in bones],
           "parents": [b.parent.name if b.parent else None for b in bones],
           "rest": [rows(b.matrix_local) for b in bones],
           "rotation_modes": [obj.pose.bones[b.name].rotation_mode for b in bones],
           "world": rows(obj.matrix_world),
           "wrist": wrist}
    if bone_map:
        rig["bone_map"] = bone_map
    return rig


def fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def action_curves(obj: bpy.types.Object) -> dict[tuple[str, int], object]:
    """(data_path, index) -> F-curve of the active action's curves for `obj` (empty without one)."""
    ad = obj.animation_data
    if not ad or not ad.action:
        return {}
    return {(fc.data_path, fc.array_index): fc for fc in fcurves.fcurves_of(ad.action, fcurves.assigned_slot(obj))}


def keyed_bones(obj: bpy.types.Object) -> list[str]:
    """Bones whose rotation the active action keys, in armature order."""
    curves = action_curves(obj)
    return [pb.name for pb in obj.pose.bones if (fcurves.bone_path(pb.name, pb.rotation_mode)[0], 0) in curves]


def read_rotations(obj: bpy.types.Object, first: int, last: int, names: list[str] | None = None) -> dict:
    """Per bone, the local rotation at every frame first..last as quaternions (w, x, y, z), evaluated from the
    active action's F-curves (channels without a curve hold the pose bone's current value). `names`: the
    bones to read (default: every bone whose rotation is keyed)."""
    curves = action_curves(obj)
    out = {}
    for name in names if names is not None else keyed_bones(obj):
        pb = obj.pose.bones[name]
        path, n = fcurves.bone_path(name, pb.rotation_mode)
        current = {"QUATERNION": pb.rotation_quaternion, "AXIS_ANGLE": pb.rotation_axis_angle}.get(
            pb.rotation_mode, pb.rotation_euler)
        chans = [curves.get((path, i)) for i in range(n)]
        series = []
        for f in range(first, last + 1):
            v = [fc.evaluate(f) if fc else current[i] for i, fc in enumerate(chans)]
            if pb.rotation_mode == "QUATERNION":
                q = Quaternion(v)
            elif pb.rotation_mode == "AXIS_ANGLE":
                q = Quaternion(v[1:], v[0])
            else:
                q = Euler(v, pb.rotation_mode).to_quaternion()
            q.normalize() if q.magnitude > 1e-9 else q.identity()
            series.append([round(c, WIRE_DECIMALS) for c in (q.w, q.x, q.y, q.z)])
        out[name] = series
    return out


def channels_at(obj: bpy.types.Object, name: str, frame: int) -> list[float]:
    """The rotation channels of bone `name` (in its own rotation mode) at `frame`, as the action holds them."""
    pb = obj.pose.bones[name]
    path, n = fcurves.bone_path(name, pb.rotation_mode)
    curves = action_curves(obj)
    current = {"QUATERNION": pb.rotation_quaternion, "AXIS_ANGLE": pb.rotation_axis_angle}.get(
        pb.rotation_mode, pb.rotation_euler)
    return [curves[(path, i)].evaluate(frame) if (path, i) in curves else current[i] for i in range(n)]


def key_frames(obj: bpy.types.Object, names, selected_only: bool = False) -> list[int]:
    """Whole frames on which the active action keys the rotation of any of `names` (only selected keys with
    `selected_only`), sorted."""
    curves = action_curves(obj)
    frames: set[int] = set()
    for name in names:
        pb = obj.pose.bones.get(name)
        if pb is None:
            continue
        path, n = fcurves.bone_path(name, pb.rotation_mode)
        for i in range(n):
            fc = curves.get((path, i))
            if fc:
                frames.update(int(round(k.co.x)) for k in fc.keyframe_points if k.select_control_point or
                              not selected_only)
    return sorted(frames)


def mapped_bones(bone_map: dict) -> list[str]:
    """Every bone named in a bone map, once."""
    return list(dict.fromkeys(b for side in SIDES for b in (bone_map.get(side) or {}).values() if b))
