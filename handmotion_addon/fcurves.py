"""Writing bone rotations as F-curves, in bulk, on Blender 4.2 (legacy `action.fcurves`) and 4.4+ / 5.x
(slotted, layered actions: F-curves live in a channelbag per slot).

    action, slot = new_take(armature, "HM wave #1")
    write_bones(action, slot, bones, rotation_modes, first_frame=1, tolerance=1e-3)
    push_take(armature, action, slot, first_frame=1)

Keys are written with `keyframe_points.add` + `foreach_set`; quaternions are made sign-continuous first,
then each bone's curve is reduced to sparse, editable keys within `tolerance`. Nothing here changes a
key that was already there: in-between keys are only added at frames a curve has no key on.
"""

from __future__ import annotations

from array import array

import bpy
import numpy as np
from mathutils import Euler, Quaternion

LAYERED = hasattr(bpy.types, "ActionSlot")  # Blender 4.4+: slotted actions
ROTATION_PATHS = {"QUATERNION": ("rotation_quaternion", 4), "AXIS_ANGLE": ("rotation_axis_angle", 4)}


def bone_path(bone: str, mode: str) -> tuple[str, int]:
    """The pose bone's rotation data path for `mode` and its number of channels."""
    prop, n = ROTATION_PATHS.get(mode, ("rotation_euler", 3))
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}', n


# --- actions, slots and channelbags -----------------------------------------------------------------

def new_take(obj: bpy.types.Object, name: str):
    """A new, empty Action for `obj`, and its slot (None before Blender 4.4)."""
    action = bpy.data.actions.new(name)
    if not LAYERED:
        action.id_root = "OBJECT"
        return action, None
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    layer = action.layers.new("Layer")
    layer.strips.new(type="KEYFRAME")
    return action, slot


def assigned_slot(obj: bpy.types.Object):
    """The slot `obj` is animated by (None before Blender 4.4 or without an action)."""
    ad = obj.animation_data
    return ad.action_slot if LAYERED and ad and ad.action else None


def _channelbag(action, slot, ensure: bool):
    if not action.layers:
        if not ensure:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if not layer.strips:
        if not ensure:
            return None
        layer.strips.new(type="KEYFRAME")
    return layer.strips[0].channelbag(slot, ensure=ensure)


def fcurves_of(action, slot):
    """The F-curves of `action` that animate `slot` (an empty list when there are none)."""
    if not LAYERED:
        return list(action.fcurves)
    if slot is None:
        return []
    bag = _channelbag(action, slot, ensure=False)
    return list(bag.fcurves) if bag else []


def ensure_fcurve(action, slot, data_path: str, index: int, group: str):
    """The F-curve for (data_path, index), created in `group` when missing."""
    if LAYERED:
        if slot is None:
            raise ValueError(f"action {action.name!r} has no slot for this object")
        curves = _channelbag(action, slot, ensure=True).fcurves
        fc = curves.find(data_path, index=index)
        return fc or curves.new(data_path, index=index, group_name=group)
    fc = action.fcurves.find(data_path, index=index)
    return fc or action.fcurves.new(data_path, index=index, action_group=group)


# --- keys -----------------------------------------------------------------------------------------

def add_keys(fc, frames, values) -> None:
    """Append keys at `frames` with `values` in one bulk call. Existing keys keep their frame, value,
    handles and selection exactly; new keys are Bezier (auto-clamped), unselected."""
    n = len(frames)
    if n == 0:
        return
    points = fc.keyframe_points
    old = len(points)
    co = array("f", bytes(8 * old))
    sel = array("b", bytes(old))
    if old:
        points.foreach_get("co", co)
        points.foreach_get("select_control_point", sel)
    new = np.empty((n, 2), dtype=np.float32)
    new[:, 0], new[:, 1] = frames, values
    points.add(n)
    co.extend(array("f", new.ravel().tobytes()))
    points.foreach_set("co", co)
    sel.extend(bytes(n))
    points.foreach_set("select_control_point", sel)
    fc.update()  # sorts by frame and recomputes auto handles


def key_frames(fc) -> np.ndarray:
    """The frames of `fc`'s keys, (n,) float32."""
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co[0::2]


def sign_continuous(quats: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions with each one's sign flipped to lie nearest the previous (q and -q are the same
    rotation; F-curves interpolate the numbers, so a sign flip would spin the bone)."""
    q = np.array(quats, dtype=np.float64)
    dots = np.einsum("ij,ij->i", q[1:], q[:-1])
    flips = np.concatenate([[False], dots < 0])
    sign = np.where(np.logical_xor.accumulate(flips), -1.0, 1.0)
    return q * sign[:, None]


def to_mode(quats: np.ndarray, mode: str, start=None) -> np.ndarray:
    """(T, 4) unit quaternions (w, x, y, z) as the channels of rotation `mode`: quaternions (sign-continuous),
    axis-angle (angle, x, y, z) or Euler angles (continuous, as Blender's own keying does). `start`: the
    channel values the series continues from (the sign of a quaternion, the branch of Euler angles)."""
    q = sign_continuous(quats)
    if start is not None and mode == "QUATERNION" and np.dot(q[0], start) < 0:
        q = -q
    if mode == "QUATERNION":
        return q
    if mode == "AXIS_ANGLE":
        out = np.empty((len(q), 4))
        for t, v in enumerate(q):
            axis, angle = Quaternion(v).to_axis_angle()
            out[t] = (angle, *axis)
        return out
    out, prev = np.empty((len(q), 3)), (Euler(start, mode) if start is not None else None)
    for t, v in enumerate(q):
        e = Quaternion(v).to_euler(mode, prev) if prev is not None else Quaternion(v).to_euler(mode)
        out[t], prev = e, e
    return out


def reduce_keys(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the samples to key so that linear interpolation between them stays within `tolerance`
    of every sample on every channel (Ramer-Douglas-Peucker on (T, C) values). Always keeps both ends."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n <= 2 or tolerance <= 0:
        return np.arange(n)
    keep = np.zeros(n, dtype=bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        w = (np.arange(a + 1, b) - a) / (b - a)
        line = v[a] + w[:, None] * (v[b] - v[a])
        err = np.abs(v[a + 1:b] - line).max(axis=1)
        i = int(err.argmax())
        if err[i] > tolerance:
            m = a + 1 + i
            keep[m] = True
            stack += [(a, m), (m, b)]
    return np.flatnonzero(keep)


def write_bones(action, slot, bones: dict, rotation_modes: dict, first_frame: float, tolerance: float = 0.0,
                only_between: tuple[float, float] | None = None, reference: dict | None = None) -> int:
    """Key every bone's rotations (bone -> (T, 4) quaternions (w, x, y, z)) from `first_frame` on, one frame
    per sample, in the bone's rotation mode; reduced to sparse keys whose curves pass within `tolerance` of
    every sample (0: a key on every frame).

    `only_between` (a, b): keys go only at frames strictly inside (a, b) that have no key yet; the keys
    already there are anchors the fill is fitted around and stay exactly as they are.
    `reference`: bone -> channel values the series continues from (the animator's pose at `first_frame`: a
    quaternion's sign, an Euler branch). The number of keys written."""
    written = 0
    for bone, quats in bones.items():
        mode = rotation_modes.get(bone, "QUATERNION")
        values = to_mode(np.asarray(quats, dtype=np.float64), mode, (reference or {}).get(bone))
        frames = first_frame + np.arange(len(values), dtype=np.float64)
        path, channels = bone_path(bone, mode)
        curves = [ensure_fcurve(action, slot, path, i, bone) for i in range(channels)]
        if only_between is None:
            free = np.ones(len(frames), dtype=bool)
            anchor = np.zeros(len(frames), dtype=bool)
        else:
            taken = set().union(*(np.round(key_frames(fc), 3).tolist() for fc in curves))
            anchor = np.isin(np.round(frames, 3), sorted(taken))
            free = (frames > only_between[0]) & (frames < only_between[1]) & ~anchor
        written += channels * _fit(curves, frames, values, tolerance, anchor, free)
    return written


def _fit(curves, frames: np.ndarray, values: np.ndarray, tolerance: float, anchor: np.ndarray,
         free: np.ndarray, rounds: int = 12) -> int:
    """Key the `free` samples the curves need to pass within `tolerance` of `values` at every free sample:
    a coarse Ramer-Douglas-Peucker pick first, then, while some sample is off, the worst sample of each
    stretch between keys is keyed (Blender's own curve evaluation, so Bezier handles are accounted for).
    Returns how many frames were keyed."""
    if not free.any():
        return 0
    if tolerance <= 0:
        chosen = np.flatnonzero(free)
    else:
        ends = anchor | ~free
        chosen = [j for j in _reduce_with_anchors(values, 4 * tolerance, ends) if free[j]]
        if not ends.any():
            chosen = sorted(set(chosen) | {0, len(frames) - 1})
    chosen = np.asarray(chosen, dtype=int)
    for i, fc in enumerate(curves):
        add_keys(fc, frames[chosen], values[chosen, i])
    total = len(chosen)
    if tolerance <= 0:
        return total
    keyed = np.zeros(len(frames), dtype=bool)
    keyed[chosen] = True
    keyed |= anchor
    for _ in range(rounds):
        check = np.flatnonzero(free & ~keyed)
        if len(check) == 0:
            break
        got = np.array([[fc.evaluate(frames[j]) for fc in curves] for j in check])
        err = np.abs(got - values[check]).max(axis=1)
        if err.max() <= tolerance:
            break
        stretch = np.searchsorted(np.flatnonzero(keyed), check)  # which gap between keys each sample is in
        new = [check[m][err[m].argmax()] for m in (stretch == s for s in np.unique(stretch[err > tolerance]))]
        new = np.array(sorted(new), dtype=int)
        for i, fc in enumerate(curves):
            add_keys(fc, frames[new], values[new, i])
        keyed[new] = True
        total += len(new)
    return total


def set_changed(action, slot, bone: str, mode: str, quats, before, first_frame: float, eps: float = 1e-5) -> int:
    """Key `bone` at the frames where `quats` differ from `before` (both (T, 4)), inserting or replacing a key
    there; keys at other frames stay as they are. The number of frames keyed."""
    q, b = np.asarray(quats, dtype=np.float64), np.asarray(before, dtype=np.float64)
    differs = np.flatnonzero(np.abs(np.abs(np.einsum("ij,ij->i", q, b)) - 1.0) > eps)
    if len(differs) == 0:
        return 0
    values = to_mode(q, mode, to_mode(b[:1], mode)[0])
    path, channels = bone_path(bone, mode)
    for i in range(channels):
        fc = ensure_fcurve(action, slot, path, i, bone)
        for t in differs:
            fc.keyframe_points.insert(first_frame + t, values[t, i], options={"FAST"})
        fc.update()
    return len(differs)


def _reduce_with_anchors(values: np.ndarray, tolerance: float, anchor: np.ndarray) -> np.ndarray:
    """reduce_keys, run separately between consecutive anchored samples (which are always kept)."""
    cuts = np.flatnonzero(anchor)
    if len(cuts) == 0:
        return reduce_keys(values, tolerance)
    keep = set(cuts.tolist())
    bounds = ([0] if cuts[0] > 0 else []) + cuts.tolist() + ([len(values) - 1] if cuts[-1] < len(values) - 1 else [])
    for a, b in zip(bounds[:-1], bounds[1:]):
        keep.update((a + reduce_keys(values[a:b + 1], tolerance)).tolist())
    return np.array(sorted(keep))


# --- takes in the NLA ---------------------------------------------------------------------------------

def push_take(obj: bpy.types.Object, action, slot, first_frame: float, mute: bool = False):
    """`action` as a strip on a new NLA track of `obj`, starting at `first_frame`; the active action and
    every other track stay as they are. The strip."""
    ad = obj.animation_data or obj.animation_data_create()
    track = ad.nla_tracks.new()
    track.name = action.name
    strip = track.strips.new(action.name, int(round(first_frame)), action)
    if slot is not None:
        strip.action_slot = slot
    strip.frame_start = first_frame  # strips.new takes whole frames only
    track.mute = mute
    return strip


def replace_active(obj: bpy.types.Object, action):
    """Make a copy of the active action active (the original kept with a fake user) and return the copy and
    its slot: edits on the copy leave the original exactly as it was."""
    ad = obj.animation_data
    old, slot = ad.action, assigned_slot(obj)
    old.use_fake_user = True
    new = old.copy()
    new.name = action
    ad.action = new
    if slot is not None:
        ad.action_slot = new.slots[slot.identifier]
    return new, assigned_slot(obj)
