"""The add-on against a live engine on loopback: the operators as the panel runs them, their results
drained the way Blender's timer does, keys checked on a generated Rigify rig and a Mixamo-named rig."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from tests.addon.conftest import free_port
from tests.addon.rigs import mixamo_rig, rigify_rig

FINGER_WORDS = ("hand", "thumb", "index", "middle", "ring", "pinky", "f_")


def run(addon, op: str, **kw) -> str:
    """Run operator `op`, drain the job queue until it has finished, return the panel's status line."""
    assert getattr(bpy.ops.handmotion, op)(**kw) == {"FINISHED"}
    assert addon.jobs.busy()
    addon.jobs.wait(timeout=300)
    state = bpy.context.scene.handmotion
    assert not state.running
    return state.status


def all_keys(addon, obj) -> dict:
    fcurves = addon.fcurves
    action = obj.animation_data.action
    return {(fc.data_path, fc.array_index): [(k.co.x, k.co.y) for k in fc.keyframe_points]
            for fc in fcurves.fcurves_of(action, fcurves.assigned_slot(obj))}


def take_curves(addon, obj, track: int = 0) -> dict:
    strip = obj.animation_data.nla_tracks[track].strips[0]
    slot = strip.action_slot if addon.fcurves.LAYERED else None
    return {(fc.data_path, fc.array_index): fc for fc in addon.fcurves.fcurves_of(strip.action, slot)}


def keyed_moving_bones(curves: dict, frames) -> set[str]:
    moving = set()
    for (path, _), fc in curves.items():
        values = [fc.evaluate(f) for f in frames]
        if max(values) - min(values) > 1e-4:
            moving.add(path.split('"')[1])
    return moving


def key_fingers(obj, names, frames_angles) -> None:
    """Key `names` (quaternion bones) curling about X at each (frame, angle), every key selected."""
    for frame, angle in frames_angles:
        for i, name in enumerate(names):
            pb = obj.pose.bones[name]
            pb.rotation_mode = "QUATERNION"
            a = angle * (1 + 0.1 * i)
            pb.rotation_quaternion = (math.cos(a / 2), math.sin(a / 2), 0.0, 0.0)
            pb.keyframe_insert("rotation_quaternion", frame=frame)


def test_generate_keys_the_rigify_rig_as_an_nla_take(addon, scene, prefs):
    rig = rigify_rig()
    rig.pose.bones["torso"].keyframe_insert("location", frame=1)
    before = all_keys(addon, rig)
    state = scene.handmotion
    state.armature, state.prompt, state.duration, state.start_frame = rig, "The right hand waves hello.", 4.0, 1
    status = run(addon, "generate")
    assert status.startswith("Generated 1 take(s) on 32 bones"), status
    assert all_keys(addon, rig) == before  # the animator's action is untouched and still active
    curves = take_curves(addon, rig)
    bones = {path.split('"')[1] for path, _ in curves}
    assert {"hand_fk.L", "hand_fk.R", "f_index.01.L", "thumb.03.R"} <= bones
    fps = scene.render.fps / scene.render.fps_base
    moving = keyed_moving_bones(curves, range(1, int(4 * fps) + 2))
    assert len(moving) >= 30, sorted(moving)
    assert state.preset == "rigify" and sum(1 for r in state.bone_map if r.bone) == 32
    strip = rig.animation_data.nla_tracks[0].strips[0]
    assert strip.frame_start == 1 and strip.frame_end == 1 + round(4 * fps)


def test_generate_variations_on_a_mixamo_rig(addon, scene, prefs):
    rig = mixamo_rig()
    state = scene.handmotion
    state.armature, state.prompt, state.duration, state.variations, state.start_frame = rig, "Both hands clap.", 2.0, 2, 10
    state.hands = "left"
    status = run(addon, "generate")
    assert status.startswith("Generated 2 take(s) on 16 bones"), status
    tracks = rig.animation_data.nla_tracks
    assert [t.mute for t in tracks] == [False, True]
    for i in range(2):
        curves = take_curves(addon, rig, i)
        assert {p.split('"')[1] for p, _ in curves} == {f"mixamorig:LeftHand{f}" for f in
                                                        ("", "Thumb1", "Thumb2", "Thumb3", "Index1", "Index2",
                                                         "Index3", "Middle1", "Middle2", "Middle3", "Ring1",
                                                         "Ring2", "Ring3", "Pinky1", "Pinky2", "Pinky3")}
        assert tracks[i].strips[0].frame_start == 10
    assert state.preset == "mixamo"


def test_inbetween_fills_between_keys_and_keeps_them_exactly(addon, scene, prefs):
    rig = mixamo_rig()
    fingers = [f"mixamorig:RightHand{f}{i}" for f in ("Index", "Middle", "Ring", "Pinky", "Thumb") for i in (1, 2)]
    key_fingers(rig, fingers, [(1, 0.1), (15, 0.9), (40, 0.3)])
    before = all_keys(addon, rig)
    state = scene.handmotion
    state.armature, state.inbetween_prompt, state.steps = rig, "the fingers curl", 4
    status = run(addon, "inbetween")
    assert status.startswith("In-between:") and "between frames 1 and 40" in status, status
    after = all_keys(addon, rig)
    for key, keys in before.items():
        kept = [k for k in after[key] if k[0] in (1.0, 15.0, 40.0)]
        assert kept == keys  # every frame and value exactly as keyed
        assert all(1 < k[0] < 40 for k in after[key] if k not in keys)
    assert sum(len(v) for v in after.values()) > sum(len(v) for v in before.values())
    new_bones = {p.split('"')[1] for p, _ in after} - {p.split('"')[1] for p, _ in before}
    assert new_bones and all(b.startswith("mixamorig:RightHand") for b in new_bones)


def test_caption_of_a_keyed_range_on_the_rigify_rig(addon, scene, prefs):
    rig = rigify_rig()
    fingers = [f"f_{f}.0{i}.L" for f in ("index", "middle", "ring", "pinky") for i in (1, 2, 3)]
    key_fingers(rig, fingers, [(1, 0.0), (12, 1.2), (24, 0.0), (36, 1.2)])
    state = scene.handmotion
    state.armature = rig
    status = run(addon, "caption")
    assert status.startswith("Caption of frames 1-36:"), status
    assert len(state.last_caption.split()) >= 3
    assert bpy.ops.handmotion.copy_caption() == {"FINISHED"}


def test_refine_keeps_the_original_action(addon, scene, prefs):
    rig = mixamo_rig()
    fingers = [f"mixamorig:LeftHand{f}{i}" for f in ("Index", "Middle") for i in (1, 2, 3)]
    key_fingers(rig, fingers, [(1, 0.1), (10, 0.4), (20, 0.2)])
    original = rig.animation_data.action
    before = all_keys(addon, rig)
    scene.handmotion.armature = rig
    status = run(addon, "refine")
    assert status.startswith("Refine:"), status
    assert scene.handmotion.last_report
    if rig.animation_data.action != original:  # something was repaired: a copy holds it
        assert original.use_fake_user and rig.animation_data.action.name.endswith("refined")
    rig.animation_data.action = original
    assert all_keys(addon, rig) == before


def test_engine_down_gives_a_clear_error_with_the_fix(addon, scene):
    client = addon.client.Client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(addon.client.EngineError, match="not running.*Start Engine.*handmotion serve") as err:
        client.health()
    assert err.value.code == "engine_down"

    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.engine_url = client.url
    scene.handmotion.armature = mixamo_rig()
    status = run(addon, "generate")
    assert status.startswith("Error: the HandMotion engine is not running at " + client.url), status
    assert not scene.handmotion.armature.animation_data


def test_a_remote_engine_needs_online_access(addon, scene):
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.engine_url = "http://192.0.2.10:8765"
    assert not bpy.app.online_access
    scene.handmotion.armature = mixamo_rig()
    with pytest.raises(RuntimeError, match="not allowed online: enable Allow Online Access"):
        bpy.ops.handmotion.generate()  # an operator's error report is raised in scripts
    assert "Allow Online Access" in scene.handmotion.status and not addon.jobs.busy()


def test_engine_errors_reach_the_panel(addon, scene, prefs):
    rig = mixamo_rig()
    state = scene.handmotion
    state.armature = rig
    addon.properties.set_bone_map(state, {"left": {"wrist": "no such bone"}}, None)
    status = run(addon, "generate")
    assert status.startswith("Error: engine: ") and "no such bone" in status, status
    assert not rig.animation_data


def test_check_engine_shows_version_and_tasks(addon, scene, prefs):
    status = run(addon, "check_engine")
    assert "on cpu" in status and "generate" in status and "caption" in status, status
    assert np.isclose(scene.handmotion.progress, 1.0)
