"""Bone maps and rig input: preset detection on every family's test rig, JSON, editing, and the
errors an animator sees for bad rigs, bad maps and bad rotations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import HandMotionError, MotionFormatError
from engine.motion import HandMotion
from engine.retarget import BoneMap, Rig, detect_bone_map, joint_label, mano_to_rig, rig_to_mano
from tests.helpers import smooth_motion
from tests.test_retarget_rigs import FAMILIES, bone_matrix, build


@pytest.mark.parametrize("family", FAMILIES)
def test_detection_finds_the_family_and_every_joint(family):
    t = build(family)
    found = detect_bone_map(t.rig.names)
    assert found.preset == family
    assert found.sides == ["left", "right"]
    assert all(found.found(side) == tuple(range(16)) for side in ("left", "right"))
    assert found.bones == BoneMap(t.bone_map).bones
    assert found.describe() == f"{family}: left 16/16, right 16/16"


def test_rigify_deform_bones_on_request():
    t = build("rigify")
    assert detect_bone_map(t.rig.names, deform=True).bones == BoneMap(t.deform_map).bones
    # controls by default: the FK finger controls and hand_fk, not DEF/ORG/master/IK bones
    m = detect_bone_map(t.rig.names)
    assert m["left", "index1"] == "f_index.01.L" and m["right", "wrist"] == "hand_fk.R"
    assert m["left", "thumb1"] == "thumb.01.L"


@pytest.mark.parametrize("prefix", ["mixamorig:", "mixamorig1:", "mixamorig12_", "Ch36:", ""])
def test_mixamo_any_namespace(prefix):
    names = [n.replace("mixamorig7:", prefix) for n in build("mixamo").rig.names]
    m = detect_bone_map(names)
    assert m.preset == "mixamo" and m.is_complete("left") and m.is_complete("right")
    assert m["left", "thumb1"] == f"{prefix}LeftHandThumb1" and m["right", "pinky3"] == f"{prefix}RightHandPinky3"
    assert f"{prefix}LeftHandIndex4" not in {n for _, _, n in m.items()}  # end bones are not joints


def test_vrm_thumb_names_differ_between_versions():
    v0 = detect_bone_map(build("vrm0").rig.names)
    v1 = detect_bone_map(build("vrm1").rig.names)
    assert (v0["left", "thumb1"], v0["left", "thumb2"], v0["left", "thumb3"]) == (
        "leftThumbProximal", "leftThumbIntermediate", "leftThumbDistal")
    assert (v1["left", "thumb1"], v1["left", "thumb2"], v1["left", "thumb3"]) == (
        "leftThumbMetacarpal", "leftThumbProximal", "leftThumbDistal")
    assert v0["right", "pinky1"] == "rightLittleProximal"


def test_vroid_names_map_as_vrm():
    """VRoid's J_Bip names: Thumb1 is the thumb metacarpal (VRM 0.x ThumbProximal), Little the pinky."""
    words = {"Proximal": "1", "Intermediate": "2", "Distal": "3"}
    names = []
    for n in build("vrm0").rig.names:
        side = "L" if n.startswith("left") else "R" if n.startswith("right") else None
        if side is None:
            names.append(n)
            continue
        rest = n[4:] if side == "L" else n[5:]
        for w, d in words.items():
            rest = rest.replace(w, d)
        names.append(f"J_Bip_{side}_{rest}")
    m = detect_bone_map(names)
    assert m.preset == "vrm0" and m.is_complete("left") and m.is_complete("right")
    assert m["left", "thumb1"] == "J_Bip_L_Thumb1" and m["right", "pinky3"] == "J_Bip_R_Little3"
    assert m["left", "wrist"] == "J_Bip_L_Hand"


def test_metacarpals_and_helpers_are_not_mapped():
    for family, unmapped in [("ue5", ("index_metacarpal_l", "ik_hand_l", "weapon_l", "ik_hand_gun")),
                             ("mpfb", ("metacarpal1.L",)),
                             ("autorigpro", ("c_index1_base.l", "c_thumb1_base.r", "hand.l")),
                             ("rigify", ("ORG-palm.01.L", "f_index.01_master.L", "hand_ik.L", "ORG-hand.L"))]:
        mapped = {n for _, _, n in detect_bone_map(build(family).rig.names).items()}
        assert not mapped & set(unmapped), family


def test_unknown_naming_falls_back_to_the_name_matcher():
    """Character Creator names are in no alias table; the general matcher still maps them."""
    names = ["CC_Base_BoneRoot", "CC_Base_L_Hand", "CC_Base_R_Hand", "CC_Base_L_Forearm"]
    for side in "LR":
        for finger in ("Thumb", "Index", "Mid", "Ring", "Pinky"):
            names += [f"CC_Base_{side}_{finger}{k}" for k in (1, 2, 3)]
    m = detect_bone_map(names)
    assert m.preset == "generic" and m.is_complete("left") and m.is_complete("right")
    assert m["right", "middle2"] == "CC_Base_R_Mid2" and m["left", "wrist"] == "CC_Base_L_Hand"


def test_forced_preset_and_nothing_found():
    names = build("ue5").rig.names
    assert detect_bone_map(names, preset="ue5").is_complete("left")
    with pytest.raises(MotionFormatError, match="no rigify hand bones"):
        detect_bone_map(names, preset="rigify")
    with pytest.raises(MotionFormatError, match="unknown rig preset 'maya'"):
        detect_bone_map(names, preset="maya")
    with pytest.raises(MotionFormatError, match="no hand bones recognised"):
        detect_bone_map(["root", "spine", "head", "thigh.L"])


def test_missing_fingers_are_reported_and_refused():
    t = build("rigify")
    keep = [i for i, n in enumerate(t.rig.names) if "pinky" not in n]
    names = [t.rig.names[i] for i in keep]
    m = detect_bone_map(names)
    assert m.missing("left") == (7, 8, 9) and not m.is_complete("right")
    assert "missing pinky1 (pinky MCP), pinky2 (pinky PIP), pinky3 (pinky DIP)" in m.describe()
    rig = Rig(names, [keep.index(p) if p >= 0 else -1 for p in t.rig.parents[keep]], t.rig.rest[keep])
    with pytest.raises(MotionFormatError, match=r"the left hand has no bone for pinky1 \(pinky MCP\)"):
        mano_to_rig(smooth_motion(5), rig, m)


def test_unknown_bone_in_map():
    t = build("smplx")
    m = BoneMap(t.bone_map)
    m["left", "thumb2"] = "left_thumb_2"
    with pytest.raises(MotionFormatError, match=r"no bone named 'left_thumb_2' \(left thumb2 \(thumb MCP\)\)"):
        mano_to_rig(smooth_motion(5), t.rig, m)


def test_bone_map_json_round_trip_and_editing():
    m = detect_bone_map(build("ue5").rig.names)
    text = m.to_json()
    data = json.loads(text)
    assert data["preset"] == "ue5" and data["left"]["thumb1"] == "thumb_01_l" and data["right"]["wrist"] == "hand_r"
    back = BoneMap.from_json(text)
    assert back.bones == m.bones and back.preset == "ue5"
    back["left", 13] = "thumb_metacarpal_l"  # an animator's correction, by joint index
    assert back["left", "thumb1"] == "thumb_metacarpal_l"
    back["left", "thumb1"] = None
    assert back.missing("left") == (13,)
    with pytest.raises(MotionFormatError, match="already drives right"):
        back["left", "thumb1"] = "hand_r"
    with pytest.raises(MotionFormatError, match="unknown MANO joint 'thumb4'"):
        BoneMap.from_dict({"left": {"thumb4": "x"}})
    assert BoneMap.from_dict({"preset": "x"}).sides == []
    with pytest.raises(MotionFormatError, match="side must be"):
        BoneMap({"up": {0: "x"}})
    with pytest.raises(MotionFormatError, match="unknown fields up"):
        BoneMap.from_dict({"up": {0: "x"}})
    with pytest.raises(MotionFormatError, match="mapped twice"):
        BoneMap({"left": {0: "hand", 1: "hand"}})
    with pytest.raises(MotionFormatError, match="not valid JSON"):
        BoneMap.from_json("{left: 1")
    assert joint_label(15) == "thumb3 (thumb IP)" and joint_label(0) == "wrist"


# ----------------------------------------------------------------------------------- rig input
def _two_bones(**kw):
    rest = np.stack([bone_matrix(np.zeros(3), np.array([0, 0, 1.0]), 0.3),
                     bone_matrix(np.array([0, 0, 1.0]), np.array([0, 0.2, 1.5]), -1.0)])
    args = dict(names=["a", "b"], parents=[-1, 0], rest=rest)
    args.update(kw)
    return Rig(**args)


def test_rig_validation_messages():
    rest = _two_bones().rest
    bad = rest.copy()
    bad[1, 0, 2] = np.nan
    with pytest.raises(MotionFormatError, match="rest matrix of bone 'b' has a non-finite value"):
        _two_bones(rest=bad)
    with pytest.raises(MotionFormatError, match="cycle: a -> b -> a"):
        _two_bones(parents=[1, 0])
    with pytest.raises(MotionFormatError, match="looks transposed"):
        _two_bones(rest=np.swapaxes(rest, -1, -2))
    scaled = rest.copy()
    scaled[0, :3, :3] *= 2.0
    with pytest.raises(MotionFormatError, match="bone 'a' is not a pure rotation"):
        _two_bones(rest=scaled)
    with pytest.raises(MotionFormatError, match="occurs twice"):
        _two_bones(names=["a", "a"])
    with pytest.raises(MotionFormatError, match="invalid parent index 5"):
        _two_bones(parents=[-1, 5])
    with pytest.raises(MotionFormatError, match="rotation mode 'XYZW'"):
        _two_bones(rotation_modes=["XYZ", "XYZW"])
    with pytest.raises(MotionFormatError, match=r"shape \(2, 4, 4\)"):
        _two_bones(rest=rest[:, :3])
    assert issubclass(MotionFormatError, HandMotionError)


def test_rig_from_dict_with_parent_names():
    rig = _two_bones(rotation_modes=["QUATERNION", "ZXY"])
    data = json.loads(json.dumps(rig.to_dict()))
    assert data["parents"] == [None, "a"]
    back = Rig.from_dict(data)
    assert back.names == rig.names and list(back.parents) == [-1, 0] and back.rotation_modes == ["QUATERNION", "ZXY"]
    np.testing.assert_allclose(back.rest, rig.rest, atol=1e-12)
    with pytest.raises(MotionFormatError, match="parent 'c', which is not among the bones"):
        Rig.from_dict(dict(data, parents=[None, "c"]))
    with pytest.raises(MotionFormatError, match="unknown fields colour"):
        Rig.from_dict(dict(data, colour=1))


def test_bad_rotations_for_rig_to_mano():
    t = build("smplx")
    m = BoneMap(t.bone_map)
    q = np.tile([1.0, 0.0, 0.0, 0.0], (4, 1))
    with pytest.raises(MotionFormatError, match="bones the rig does not have: 'left_index9'"):
        rig_to_mano(t.rig, m, {"left_index9": q}, fps=30)
    with pytest.raises(MotionFormatError, match="'left_index2' have 3 frames, others 4"):
        rig_to_mano(t.rig, m, {"left_index1": q, "left_index2": q[:3]}, fps=30)
    nan = q.copy()
    nan[2, 1] = np.nan
    with pytest.raises(MotionFormatError, match="non-finite"):
        rig_to_mano(t.rig, m, {"left_index1": nan}, fps=30)
    with pytest.raises(MotionFormatError, match="all-zero quaternion"):
        rig_to_mano(t.rig, m, {"left_index1": q * 0}, fps=30)
    with pytest.raises(MotionFormatError, match=r"expected shape \(T, 4\)"):
        rig_to_mano(t.rig, m, {"left_index1": q[:, :3]}, fps=30)
    with pytest.raises(MotionFormatError, match="none of the rotated bones is in the bone map"):
        rig_to_mano(t.rig, m, {"left_elbow": q}, fps=30)


def test_motion_hand_missing_from_the_rig():
    t = build("ue5")
    left_only = BoneMap({"left": t.bone_map["left"]})
    motion = smooth_motion(6)
    keys = mano_to_rig(motion, t.rig, left_only)  # the right hand is skipped with a warning
    assert all(n.endswith("_l") for n in keys) and len(keys) == 16
    with pytest.raises(MotionFormatError, match="no bones mapped for the motion's hands"):
        mano_to_rig(HandMotion(fps=30.0, right=motion.right), t.rig, left_only)
