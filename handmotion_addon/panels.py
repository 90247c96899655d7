"""View3D > Sidebar > Hand Motion: engine status, then one sub-panel per task and the bone map."""

from __future__ import annotations

import bpy

from . import jobs, preferences
from .rig import SIDES


class HandMotionPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Hand Motion"


def _progress(layout, state) -> None:
    if hasattr(layout, "progress"):
        layout.progress(factor=state.progress, type="BAR", text=state.status)
    else:
        layout.label(text=f"{state.status} ({state.progress:.0%})")


class HANDMOTION_PT_main(HandMotionPanel, bpy.types.Panel):
    bl_label = "Hand Motion"

    def draw(self, context):
        layout, state = self.layout, context.scene.handmotion
        layout.prop(state, "armature")
        box = layout.box()
        row = box.row(align=True)
        row.label(text=state.engine_info or "Engine: not checked yet", icon="LINKED")
        row.operator("handmotion.check_engine", text="", icon="FILE_REFRESH")
        row = box.row(align=True)
        row.operator("handmotion.start_engine", icon="PLAY")
        row.operator("handmotion.stop_engine", icon="PAUSE")
        if not preferences.engine_running():
            box.label(text="Or run `handmotion serve` in a terminal.", icon="INFO")
        if jobs.running_in(context.scene):
            row = layout.row(align=True)
            _progress(row, state)
            row.operator("handmotion.cancel", text="", icon="X")
        elif state.status:
            layout.label(text=state.status, icon="ERROR" if state.status.startswith("Error") else "CHECKMARK")


class HANDMOTION_PT_generate(HandMotionPanel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "HANDMOTION_PT_main"

    def draw(self, context):
        layout, state = self.layout, context.scene.handmotion
        layout.prop(state, "prompt", text="")
        col = layout.column(align=True)
        col.prop(state, "duration")
        col.prop(state, "start_frame")
        col.prop(state, "variations")
        col.prop(state, "seed")
        layout.row().prop(state, "hands", expand=True)
        layout.prop(state, "wrist")
        layout.prop(state, "key_tolerance")
        layout.operator("handmotion.generate", icon="PLAY")


class HANDMOTION_PT_inbetween(HandMotionPanel, bpy.types.Panel):
    bl_label = "In-between"
    bl_parent_id = "HANDMOTION_PT_main"

    def draw(self, context):
        layout, state = self.layout, context.scene.handmotion
        layout.prop(state, "inbetween_prompt")
        layout.prop(state, "steps")
        layout.prop(state, "use_selected_keys")
        layout.operator("handmotion.inbetween", icon="IPO_BEZIER")


class HANDMOTION_PT_caption(HandMotionPanel, bpy.types.Panel):
    bl_label = "Caption"
    bl_parent_id = "HANDMOTION_PT_main"

    def draw(self, context):
        layout, state = self.layout, context.scene.handmotion
        layout.prop(state, "use_selected_keys")
        layout.operator("handmotion.caption", icon="TEXT")
        if state.last_caption:
            row = layout.row(align=True)
            row.prop(state, "last_caption", text="")
            row.operator("handmotion.copy_caption", text="", icon="COPYDOWN")


class HANDMOTION_PT_refine(HandMotionPanel, bpy.types.Panel):
    bl_label = "Refine"
    bl_parent_id = "HANDMOTION_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout, state = self.layout, context.scene.handmotion
        layout.prop(state, "auto_strength")
        sub = layout.row()
        sub.active = not state.auto_strength
        sub.prop(state, "strength")
        layout.prop(state, "steps")
        layout.operator("handmotion.refine", icon="MODIFIER")
        if state.last_report:
            for line in state.last_report.split("; "):
                layout.label(text=line)


class HANDMOTION_PT_bone_map(HandMotionPanel, bpy.types.Panel):
    bl_label = "Bone Map"
    bl_parent_id = "HANDMOTION_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout, state = self.layout, context.scene.handmotion
        row = layout.row(align=True)
        row.operator("handmotion.detect_bone_map", icon="VIEWZOOM")
        row.operator("handmotion.clear_bone_map", text="", icon="X")
        if not len(state.bone_map):
            layout.label(text="Detected from the bone names on the next job.")
            return
        mapped = sum(1 for r in state.bone_map if r.bone)
        layout.label(text=f"{state.preset or 'custom'}: {mapped} of {len(state.bone_map)} joints mapped")
        layout.prop(state, "show_bone_map")
        if not state.show_bone_map or state.armature is None:
            return
        for side in SIDES:
            col = layout.column(align=True)
            col.label(text=f"{side.title()} hand")
            for row in state.bone_map:
                if row.side == side:
                    col.prop_search(row, "bone", state.armature.data, "bones", text=row.joint)


classes = (HANDMOTION_PT_main, HANDMOTION_PT_generate, HANDMOTION_PT_inbetween, HANDMOTION_PT_caption,
           HANDMOTION_PT_refine, HANDMOTION_PT_bone_map)
register, unregister = bpy.utils.register_classes_factory(classes)
