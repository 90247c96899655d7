"""Keys written in bulk on this Blender's action API (4.2 legacy, 4.4+ slotted), without the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.addon.rigs import mixamo_rig


def wave_quats(n: int, seed: int = 0, amplitude: float = 0.6) -> np.ndarray:
    """(n, 4) smooth unit quaternions (w, x, y, z), with the sign of every other sample flipped."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 30.0
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = amplitude * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t + rng.uniform(0, 6))
    q = np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * axis], axis=1)
    q[1::2] *= -1
    return q


def curve_values(fcurves, action, slot, bone: str, mode: str, frames) -> np.ndarray:
    path, n = fcurves.bone_path(bone, mode)
    curves = {(fc.data_path, fc.array_index): fc for fc in fcurves.fcurves_of(action, slot)}
    return np.array([[curves[(path, i)].evaluate(f) for i in range(n)] for f in frames])


def keys_of(fc) -> list[tuple[float, float]]:
    return [(k.co.x, k.co.y) for k in fc.keyframe_points]


def test_ten_thousand_keys_are_written_in_bulk_on_every_channel(addon, scene):
    """What `make bench-addon` times (scripts/bench_keys.py): here only that every key lands where it should."""
    fcurves = addon.fcurves
    obj = mixamo_rig()
    bones = [b.name for b in obj.data.bones if "Hand" in b.name][:32]
    assert len(bones) == 32
    n = 79  # 32 bones x 4 channels x 79 frames = 10,112 keys
    data = {b: wave_quats(n, i) for i, b in enumerate(bones)}
    action, slot = fcurves.new_take(obj, "bulk")
    written = fcurves.write_bones(action, slot, data, {b: "QUATERNION" for b in bones}, first_frame=1, tolerance=0.0)
    assert written == 32 * 4 * n == sum(len(fc.keyframe_points) for fc in fcurves.fcurves_of(action, slot))
    for b in bones[::7]:
        got = curve_values(fcurves, action, slot, b, "QUATERNION", range(1, n + 1))
        assert np.allclose(np.abs(got), np.abs(data[b]), atol=1e-6)  # signs are made continuous


def test_quaternions_are_sign_continuous_and_exact(addon, scene):
    fcurves = addon.fcurves
    obj = mixamo_rig()
    q = wave_quats(40, 3)
    action, slot = fcurves.new_take(obj, "signs")
    fcurves.write_bones(action, slot, {"mixamorig:LeftHandIndex1": q}, {}, first_frame=10)
    got = curve_values(fcurves, action, slot, "mixamorig:LeftHandIndex1", "QUATERNION", range(10, 50))
    assert np.all(np.einsum("ij,ij->i", got[1:], got[:-1]) > 0.9)  # no sign flips between frames
    assert np.allclose(np.abs(np.einsum("ij,ij->i", got, q)), 1.0, atol=1e-6)  # same rotations as sent
    assert np.allclose(got[0], q[0] if q[0, 0] * got[0, 0] > 0 else -q[0], atol=1e-6)


def test_euler_and_axis_angle_bones_get_their_own_channels(addon, scene):
    from mathutils import Euler, Quaternion

    fcurves = addon.fcurves
    obj = mixamo_rig()
    q = wave_quats(30, 5, amplitude=2.5)
    action, slot = fcurves.new_take(obj, "modes")
    fcurves.write_bones(action, slot, {"mixamorig:LeftHand": q, "mixamorig:RightHand": q},
                        {"mixamorig:LeftHand": "YXZ", "mixamorig:RightHand": "AXIS_ANGLE"}, first_frame=1)
    eul = curve_values(fcurves, action, slot, "mixamorig:LeftHand", "YXZ", range(1, 31))
    aa = curve_values(fcurves, action, slot, "mixamorig:RightHand", "AXIS_ANGLE", range(1, 31))
    for t in range(30):
        want = Quaternion(q[t])
        assert abs(abs(Euler(eul[t], "YXZ").to_quaternion().dot(want)) - 1) < 1e-5
        assert abs(abs(Quaternion(aa[t, 1:], aa[t, 0]).dot(want)) - 1) < 1e-5
    assert np.abs(np.diff(eul, axis=0)).max() < 1.0  # continuous: no 2 pi jumps


@pytest.mark.parametrize("tolerance", [0.001, 0.01])
def test_reduction_keeps_few_keys_and_stays_close(addon, scene, tolerance):
    fcurves = addon.fcurves
    obj = mixamo_rig()
    q = fcurves.sign_continuous(wave_quats(121, 7))
    action, slot = fcurves.new_take(obj, "reduced")
    written = fcurves.write_bones(action, slot, {"mixamorig:LeftHandMiddle2": q}, {}, first_frame=1,
                                  tolerance=tolerance)
    assert written < 0.5 * 121 * 4
    got = curve_values(fcurves, action, slot, "mixamorig:LeftHandMiddle2", "QUATERNION", range(1, 122))
    err = np.abs(got - q).max()
    print(f"\ntolerance {tolerance}: {written} keys for 484 samples, largest error {err:.5f}")
    assert err <= tolerance + 1e-6  # float32 keys
    idx = fcurves.reduce_keys(q, tolerance)
    assert idx[0] == 0 and idx[-1] == 120


def test_filling_between_keys_leaves_every_existing_key_exactly(addon, scene):
    fcurves = addon.fcurves
    obj = mixamo_rig()
    pb = obj.pose.bones["mixamorig:RightHandIndex1"]
    for frame, angle in ((1, 0.0), (12, 0.7), (30, 0.2)):
        pb.rotation_quaternion = (math.cos(angle / 2), math.sin(angle / 2), 0, 0)
        pb.keyframe_insert("rotation_quaternion", frame=frame)
    action, slot = obj.animation_data.action, fcurves.assigned_slot(obj)
    curves = fcurves.fcurves_of(action, slot)
    before = {(fc.data_path, fc.array_index): keys_of(fc) for fc in curves}
    filled = fcurves.write_bones(action, slot, {pb.name: wave_quats(30, 2)}, {}, first_frame=1, tolerance=0.0,
                                 only_between=(1, 30))
    assert filled == 4 * (30 - 3)  # every frame strictly inside but 12, on 4 channels
    for fc in fcurves.fcurves_of(action, slot):
        kept = [k for k in keys_of(fc) if k[0] in (1.0, 12.0, 30.0)]
        assert kept == before[(fc.data_path, fc.array_index)]
        assert [k[0] for k in keys_of(fc)] == [float(f) for f in range(1, 31)]


def test_a_take_is_a_new_action_on_its_own_nla_track(addon, scene):
    fcurves = addon.fcurves
    obj = mixamo_rig()
    obj.pose.bones["mixamorig:Hips"].keyframe_insert("location", frame=1)
    mine = obj.animation_data.action
    action, slot = fcurves.new_take(obj, "take")
    fcurves.write_bones(action, slot, {"mixamorig:LeftHand": wave_quats(20)}, {}, first_frame=5)
    strip = fcurves.push_take(obj, action, slot, first_frame=5)
    ad = obj.animation_data
    assert ad.action == mine and len(fcurves.fcurves_of(mine, fcurves.assigned_slot(obj))) == 3
    assert [t.name for t in ad.nla_tracks] == ["take"] and strip.action == action
    assert (strip.frame_start, strip.frame_end) == (5.0, 24.0)
    if fcurves.LAYERED:
        assert strip.action_slot == slot
