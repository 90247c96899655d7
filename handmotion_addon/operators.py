"""The panel's buttons. Each operator gathers what the engine needs on the main thread, hands the HTTP part
to `jobs` (a worker thread) and writes the result as keys when `jobs.drain` delivers it. Operators that
start a job push no undo step of their own: `drain` pushes one after writing the result, so a single undo
removes it and never returns to a "job running" state without a job."""

from __future__ import annotations

import bpy

from . import fcurves, jobs, rig
from .client import EngineError, describe
from .preferences import engine
from .properties import bone_map_dict, set_bone_map


def _state(context):
    return context.scene.handmotion


def _armature(context):
    obj = _state(context).armature
    return obj if obj is not None and obj.type == "ARMATURE" else None


def _poll_armature(cls, context, action: bool = False) -> bool:
    if jobs.busy():
        cls.poll_message_set("A HandMotion job is running; wait for it or press Cancel.")
        return False
    obj = _armature(context)
    if obj is None:
        cls.poll_message_set("Pick the target armature in the Hand Motion panel first.")
        return False
    if action and not (obj.animation_data and obj.animation_data.action):
        cls.poll_message_set("The armature has no active action with keys to work on.")
        return False
    return True


def _start(op, context, label: str, work, apply) -> set:
    try:
        url, token = engine(context)
        jobs.start(context.scene, label, url, token, work, apply)
    except EngineError as exc:
        op.report({"ERROR"}, str(exc))
        _state(context).status = f"Error: {exc}"
        return {"CANCELLED"}
    op.report({"INFO"}, f"HandMotion: {label} started")
    return {"FINISHED"}


def _object(name: str):
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise RuntimeError(f"the armature {name!r} is gone")
    return obj


def _remember_map(scene, result: dict) -> None:
    if result.get("bone_map"):
        set_bone_map(scene.handmotion, {s: result["bone_map"].get(s) for s in rig.SIDES}, result.get("preset"))


def _frame_range(context, obj, bones) -> tuple[int, int]:
    """The selected keys' span (when asked and there are two or more), else the scene's frame range."""
    state, scene = _state(context), context.scene
    if state.use_selected_keys:
        frames = rig.key_frames(obj, bones, selected_only=True)
        if len(frames) >= 2:
            return frames[0], frames[-1]
    return scene.frame_start, scene.frame_end


def _source_bones(obj, state) -> list[str]:
    """The bones a clip is read from: the bone map's (when known), else every rotation-keyed bone."""
    known = bone_map_dict(state)
    return [b for b in rig.mapped_bones(known) if b in obj.pose.bones] if known else rig.keyed_bones(obj)


def _clip(op, context):
    """(state, armature, rig, bones payload, first frame, last frame) of the armature's keyed range, or
    None once the operator has reported that the action keys no hand bone."""
    state, obj = _state(context), _armature(context)
    names = _source_bones(obj, state)
    first, last = _frame_range(context, obj, names)
    bones = {"fps": rig.fps(context.scene), "rotations": rig.read_rotations(obj, first, last, names)}
    if not bones["rotations"]:
        op.report({"ERROR"}, "The active action keys no hand bone rotations")
        return None
    return state, obj, rig.gather(obj, bone_map_dict(state), state.wrist), bones, first, last


class HANDMOTION_OT_generate(bpy.types.Operator):
    """Generate hand motion from the prompt as new takes (Actions on NLA tracks) of the target armature"""

    bl_idname = "handmotion.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if not _state(context).prompt.strip():
            cls.poll_message_set("Type a prompt first.")
            return False
        return _poll_armature(cls, context)

    def execute(self, context):
        state, obj = _state(context), _armature(context)
        job = {"task": "generate", "prompt": state.prompt.strip(), "seconds": state.duration,
               "fps": rig.fps(context.scene), "seed": state.seed, "samples": state.variations, "hands": state.hands,
               "rig": rig.gather(obj, bone_map_dict(state), state.wrist)}
        name, start, tol, prompt = obj.name, state.start_frame, state.key_tolerance, state.prompt.strip()

        def apply(scene, result):
            target = _object(name)
            _remember_map(scene, result)
            keys = 0
            for i, bones in enumerate(result["bones"]):
                action, slot = fcurves.new_take(target, f"HM {prompt[:40]} #{i + 1}")
                keys += fcurves.write_bones(action, slot, bones, result["rotation_modes"], start, tol)
                fcurves.push_take(target, action, slot, start, mute=i > 0)
            return (f"Generated {len(result['bones'])} take(s) on {len(result['bones'][0])} bones "
                    f"({keys} keys) as NLA tracks")

        return _start(self, context, "Generate", lambda run: run.run(job), apply)


class HANDMOTION_OT_inbetween(bpy.types.Operator):
    """Fill the frames between the selected keys of the active action; the keys themselves stay exactly
    as they are"""

    bl_idname = "handmotion.inbetween"
    bl_label = "In-between"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll_armature(cls, context, action=True)

    def execute(self, context):
        state, obj, scene = _state(context), _armature(context), context.scene
        names = _source_bones(obj, state)
        frames = rig.key_frames(obj, names, selected_only=state.use_selected_keys)
        if len(frames) < 2:
            self.report({"ERROR"}, "Select keys on at least two frames of the hand bones (or turn off "
                                   "Selected Keys to use every key)")
            return {"CANCELLED"}
        first, last = frames[0], frames[-1]
        the_rig = rig.gather(obj, bone_map_dict(state), state.wrist)
        dense = rig.read_rotations(obj, first, last, names)
        reference = {b: rig.channels_at(obj, b, first) for b in names}
        at = [f - first for f in frames]  # the keyed poses, as the rig's bones: the engine reads them back
        fill = {"task": "inbetween", "n_frames": last - first + 1, "fps": rig.fps(scene), "seed": state.seed,
                "steps": state.steps, "strength": 1.0, "rig": the_rig,
                "key_bones": {"frames": at, "rotations": {b: [q[i] for i in at] for b, q in dense.items()}}}
        if state.inbetween_prompt.strip():
            fill["text"] = state.inbetween_prompt.strip()

        def work(run):
            return run.run(fill)

        name, tol = obj.name, state.key_tolerance

        def apply(scene, result):
            target = _object(name)
            _remember_map(scene, result)
            action, slot = target.animation_data.action, fcurves.assigned_slot(target)
            n = fcurves.write_bones(action, slot, result["bones"], result["rotation_modes"], first, tol,
                                    only_between=(first, last), reference=reference)
            return f"In-between: {n} keys added between frames {first} and {last}"

        return _start(self, context, "In-between", work, apply)


class HANDMOTION_OT_caption(bpy.types.Operator):
    """Describe the hand motion of the selected keys' span (or the scene's frame range) in words"""

    bl_idname = "handmotion.caption"
    bl_label = "Caption"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll_armature(cls, context, action=True)

    def execute(self, context):
        clip = _clip(self, context)
        if clip is None:
            return {"CANCELLED"}
        state, obj, the_rig, bones, first, last = clip
        job = {"task": "caption", "rig": the_rig, "bones": bones, "method": "rules", "seed": state.seed}

        def apply(scene, result):
            _remember_map(scene, result)
            scene.handmotion.last_caption = result["text"]
            return f"Caption of frames {first}-{last}: {result['text']}"

        return _start(self, context, "Caption", lambda run: run.run(job), apply)


class HANDMOTION_OT_refine(bpy.types.Operator):
    """Find malformed hand poses in the frame range and repair only those; the result is a copy of the
    active action (the original is kept)"""

    bl_idname = "handmotion.refine"
    bl_label = "Refine"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll_armature(cls, context, action=True)

    def execute(self, context):
        clip = _clip(self, context)
        if clip is None:
            return {"CANCELLED"}
        state, obj, the_rig, bones, first, last = clip
        job = {"task": "refine", "rig": the_rig, "bones": bones, "seed": state.seed, "steps": state.steps,
               "strength": "auto" if state.auto_strength else state.strength}
        name, sent = obj.name, bones["rotations"]

        def apply(scene, result):
            target = _object(name)
            _remember_map(scene, result)
            report = result["report"]
            changed = {b: q for b, q in result["bones"].items() if b in sent and _differs(q, sent[b])}
            summary = _refine_summary(report)
            scene.handmotion.last_report = summary
            if not changed:
                return f"Refine: nothing to fix in frames {first}-{last}"
            action, slot = fcurves.replace_active(target, f"{target.animation_data.action.name} refined")
            for bone, quats in changed.items():
                pb = target.pose.bones[bone]
                fcurves.set_changed(action, slot, bone, pb.rotation_mode, quats, sent[bone], first)
            return f"Refine: {summary}; {len(changed)} bones changed in '{action.name}'"

        return _start(self, context, "Refine", lambda run: run.run(job), apply)


def _differs(a, b, eps: float = 1e-5) -> bool:
    return any(abs(abs(sum(x * y for x, y in zip(p, q))) - 1.0) > eps for p, q in zip(a, b))


def _refine_summary(report: dict) -> str:
    counts = {k: v for k, v in report["input"]["counts"].items() if v}
    if not counts:
        return "the clip is clean"
    found = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
    fixed = sum(report.get("repaired_values", {}).values())
    left = report.get("remaining", {}).get("flagged_frames", 0)
    return (f"found {found} in {report['input']['flagged_frames']} frames; repaired {fixed} values at strength "
            f"{report['strength']}; {left} frames still flagged")


class HANDMOTION_OT_detect_bone_map(bpy.types.Operator):
    """Ask the engine which bones of the target armature drive which hand joints"""

    bl_idname = "handmotion.detect_bone_map"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll_armature(cls, context)

    def execute(self, context):
        obj = _armature(context)
        rest = {b.name: [[1.0, 0.0, 0.0, 0.0]] * 2 for b in obj.data.bones}
        job = {"task": "caption", "rig": rig.gather(obj), "bones": {"fps": 30.0, "rotations": rest}}

        def apply(scene, result):
            _remember_map(scene, result)
            mapped = sum(1 for r in scene.handmotion.bone_map if r.bone)
            return f"Bone map: {mapped} joints mapped ({result.get('preset') or 'by name'})"

        return _start(self, context, "Detect bone map", lambda run: run.run(job), apply)


class HANDMOTION_OT_clear_bone_map(bpy.types.Operator):
    """Forget the bone map; the engine detects one from the bone names on the next job"""

    bl_idname = "handmotion.clear_bone_map"
    bl_label = "Clear Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not len(_state(context).bone_map):
            cls.poll_message_set("There is no bone map to clear.")
            return False
        return True

    def execute(self, context):
        _state(context).bone_map.clear()
        _state(context).preset = ""
        self.report({"INFO"}, "Bone map cleared")
        return {"FINISHED"}


class HANDMOTION_OT_check_engine(bpy.types.Operator):
    """Ask the engine for its version, device and models"""

    bl_idname = "handmotion.check_engine"
    bl_label = "Check Engine"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if jobs.busy():
            cls.poll_message_set("A HandMotion job is running.")
            return False
        return True

    def execute(self, context):
        def apply(scene, health):
            scene.handmotion.engine_info = describe(health)
            return scene.handmotion.engine_info

        return _start(self, context, "Check engine", lambda run: run.client.health(), apply)


class HANDMOTION_OT_cancel(bpy.types.Operator):
    """Cancel the running HandMotion job"""

    bl_idname = "handmotion.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if not jobs.busy():
            cls.poll_message_set("No HandMotion job is running.")
            return False
        return True

    def execute(self, context):
        jobs.cancel()
        self.report({"INFO"}, "HandMotion: cancelling")
        return {"FINISHED"}


class HANDMOTION_OT_copy_caption(bpy.types.Operator):
    """Copy the last caption to the clipboard"""

    bl_idname = "handmotion.copy_caption"
    bl_label = "Copy Caption"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if not _state(context).last_caption:
            cls.poll_message_set("Caption a frame range first.")
            return False
        return True

    def execute(self, context):
        context.window_manager.clipboard = _state(context).last_caption
        self.report({"INFO"}, "Caption copied")
        return {"FINISHED"}


classes = (HANDMOTION_OT_generate, HANDMOTION_OT_inbetween, HANDMOTION_OT_caption, HANDMOTION_OT_refine,
           HANDMOTION_OT_detect_bone_map, HANDMOTION_OT_clear_bone_map, HANDMOTION_OT_check_engine,
           HANDMOTION_OT_cancel, HANDMOTION_OT_copy_caption)
register, unregister = bpy.utils.register_classes_factory(classes)
