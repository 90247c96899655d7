"""Retargeting between MANO parameters and an animator's rig (numpy only; no Blender needed).

    rig = Rig(names, parents, rest)                  # bone.matrix_local per bone, armature space
    bone_map = detect_bone_map(rig.names)            # Rigify, Mixamo, UE5, VRM, MPFB, ARP, SMPL-X...
    keys = mano_to_rig(motion, rig, bone_map)        # {bone: (T, 4) rotation_quaternion (w, x, y, z)}
    values = to_rig_modes(keys, rig)                 # Euler / axis-angle bones get their own values
    motion = rig_to_mano(rig, bone_map, keys, fps)   # the animator's keys back as MANO

Modules: `rig` (the armature and its validation), `presets` (bone maps, alias tables, detection),
`calibration` (the MANO pose matching the rig's rest pose), `solve` (the two directions), `modes`
(Blender rotation modes).
"""

from .calibration import Y_UP_TO_Z_UP, HandCalibration, calibrate, rest_pose
from .modes import from_rotation_mode, to_rig_modes, to_rotation_mode
from .presets import PRESET_NAMES, PRESETS, BoneMap, Preset, detect_bone_map, joint_label, preset_bone_map
from .rig import ROTATION_MODES, Rig
from .solve import mano_to_rig, rig_to_mano

__all__ = [
    "BoneMap", "HandCalibration", "PRESETS", "PRESET_NAMES", "Preset", "ROTATION_MODES", "Rig", "Y_UP_TO_Z_UP",
    "calibrate", "detect_bone_map", "from_rotation_mode", "joint_label", "mano_to_rig", "preset_bone_map",
    "rest_pose", "rig_to_mano", "to_rig_modes", "to_rotation_mode",
]
