"""The add-on's per-scene state: one `Scene.handmotion` group."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .rig import JOINTS, SIDES


def _is_armature(self, obj) -> bool:
    return obj.type == "ARMATURE"


class HANDMOTION_PG_bone(bpy.types.PropertyGroup):
    side: StringProperty(name="Side", description="Which hand this joint belongs to.")
    joint: StringProperty(name="Joint", description="The MANO hand joint (wrist, index1 ... thumb3).")
    bone: StringProperty(name="Bone", description="The armature bone that drives this joint; empty when unmapped.")


class HANDMOTION_PG_scene(bpy.types.PropertyGroup):
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,
                              description="The armature whose hand bones receive the motion.")
    prompt: StringProperty(name="Prompt", default="The right hand waves hello.",
                           description="What the hands should do, in plain words.")
    duration: FloatProperty(name="Duration", default=4.0, min=0.1, max=60.0, unit="TIME_ABSOLUTE",
                            description="Length of the generated take in seconds.")
    seed: IntProperty(name="Seed", default=0, min=0, description="Random seed: the same seed gives the same motion.")
    variations: IntProperty(name="Variations", default=1, min=1, max=8,
                            description="How many takes to generate; each becomes its own NLA track.")
    hands: EnumProperty(name="Hands", default="both", description="Which hands receive motion.",
                        items=(("both", "Both", "Both hands."), ("left", "Left", "The left hand only."),
                               ("right", "Right", "The right hand only.")))
    start_frame: IntProperty(name="Start Frame", default=1, description="Frame the generated take starts on.")
    wrist: BoolProperty(name="Key Wrists", default=True,
                        description="Key the hand bones' rotations too; off keys the fingers only.")
    key_tolerance: FloatProperty(name="Key Tolerance", default=0.002, min=0.0, max=0.1, precision=4,
                                 description="How far reduced keys may stray from the engine's curve "
                                             "(in rotation channel units); 0 keys every frame.")
    inbetween_prompt: StringProperty(name="Guide", default="",
                                     description="Optional words that steer the in-between fill.")
    steps: IntProperty(name="Steps", default=20, min=1, max=200,
                       description="Denoising steps of in-betweening and refining: more is smoother and slower.")
    strength: FloatProperty(name="Strength", default=0.5, min=0.0, max=1.0,
                            description="Refine control strength: 0 lets the model fill freely, 1 keeps "
                                        "close to the detected pose made plausible.")
    auto_strength: BoolProperty(name="Auto Strength", default=False,
                                description="Try strengths 0.1 to 1.0 and keep the lowest that repairs as well.")
    use_selected_keys: BoolProperty(name="Selected Keys", default=True,
                                    description="Use the span of the selected keys; off uses the scene's "
                                                "frame range.")
    bone_map: CollectionProperty(type=HANDMOTION_PG_bone)
    preset: StringProperty(name="Rig Family", description="The rig family the bone map was detected as.")
    show_bone_map: BoolProperty(name="Show Bone Map", default=False, description="Show every joint's bone.")
    running: BoolProperty(name="Running", default=False, description="Whether a job is running.")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                            description="Progress of the running job.")
    status: StringProperty(name="Status", description="What the last job did, or why it failed.")
    engine_info: StringProperty(name="Engine", description="What the engine said when last checked.")
    job_id: StringProperty(name="Job", description="The engine's id of the running job.")
    last_caption: StringProperty(name="Caption", description="The caption of the last captioned range.")
    last_report: StringProperty(name="Refine Report", description="What the last refine found and fixed.")


def bone_map_dict(state) -> dict | None:
    """The bone map as the engine takes it, or None while it is empty (the engine then detects one)."""
    out = {side: {r.joint: r.bone for r in state.bone_map if r.side == side and r.bone} for side in SIDES}
    out = {side: joints for side, joints in out.items() if joints}
    return out or None


def set_bone_map(state, bone_map: dict | None, preset: str | None) -> None:
    """Fill the editable bone map from the engine's (every side x joint gets a row, empty when unmapped)."""
    state.bone_map.clear()
    for side in SIDES:
        joints = (bone_map or {}).get(side) or {}
        for joint in JOINTS:
            row = state.bone_map.add()
            row.side, row.joint, row.bone = side, joint, joints.get(joint, "")
    state.preset = preset or ""


classes = (HANDMOTION_PG_bone, HANDMOTION_PG_scene)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()
    bpy.types.Scene.handmotion = PointerProperty(type=HANDMOTION_PG_scene)


def unregister() -> None:
    del bpy.types.Scene.handmotion
    _unregister()
