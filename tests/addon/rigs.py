"""Armatures for the add-on tests, built by Blender itself: a Rigify human rig (the rigify add-on's
metarig, generated) and a Mixamo-named T-pose armature."""

from __future__ import annotations

import bpy
from mathutils import Vector

FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")


def rigify_rig() -> bpy.types.Object:
    """A generated Rigify human rig (706 bones on Blender 4.2 and 5.0)."""
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    assert rig.name == "rig" and "f_index.01.L" in rig.pose.bones
    return rig


def mixamo_rig() -> bpy.types.Object:
    """A Mixamo-named armature in T-pose: arms along ±X, palms down, facing -Y, four-bone fingers."""
    arm = bpy.data.armatures.new("mixamo")
    obj = bpy.data.objects.new("Mixamo", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.edit_bones

    def bone(name, head, tail, parent=None):
        b = eb.new("mixamorig:" + name)
        b.head, b.tail = Vector(head), Vector(tail)
        b.roll = 0.0
        if parent:
            b.parent, b.use_connect = eb["mixamorig:" + parent], False
        return b

    bone("Hips", (0, 0, 1.0), (0, 0, 1.1))
    bone("Spine", (0, 0, 1.1), (0, 0, 1.25), "Hips")
    bone("Spine1", (0, 0, 1.25), (0, 0, 1.38), "Spine")
    bone("Spine2", (0, 0, 1.38), (0, 0, 1.45), "Spine1")
    bone("Neck", (0, 0, 1.5), (0, 0, 1.6), "Spine2")
    bone("Head", (0, 0, 1.6), (0, 0, 1.8), "Neck")
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        bone(f"{side}Shoulder", (s * 0.05, 0, 1.45), (s * 0.17, 0, 1.45), "Spine2")
        bone(f"{side}Arm", (s * 0.17, 0, 1.45), (s * 0.45, 0, 1.45), f"{side}Shoulder")
        bone(f"{side}ForeArm", (s * 0.45, 0, 1.45), (s * 0.70, 0, 1.45), f"{side}Arm")
        bone(f"{side}Hand", (s * 0.70, 0, 1.45), (s * 0.78, 0, 1.45), f"{side}ForeArm")
        spread = {"Index": -0.025, "Middle": 0.0, "Ring": 0.02, "Pinky": 0.038}
        lengths = {"Index": (0.04, 0.025, 0.02, 0.018), "Middle": (0.045, 0.028, 0.022, 0.019),
                   "Ring": (0.042, 0.026, 0.021, 0.018), "Pinky": (0.033, 0.02, 0.017, 0.015)}
        for finger, y in spread.items():
            x, parent = s * 0.785, f"{side}Hand"
            for i, length in enumerate(lengths[finger], start=1):
                bone(f"{side}Hand{finger}{i}", (x, y, 1.45), (x + s * length, y, 1.45), parent)
                x, parent = x + s * length, f"{side}Hand{finger}{i}"
        head = Vector((s * 0.72, -0.03, 1.44))
        step = Vector((s * 0.7, -0.7, 0.0)).normalized()
        parent = f"{side}Hand"
        for i, length in enumerate((0.04, 0.032, 0.026, 0.02), start=1):
            bone(f"{side}HandThumb{i}", head, head + step * length, parent)
            head, parent = head + step * length, f"{side}HandThumb{i}"
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj
