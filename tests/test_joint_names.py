"""Tests for engine.joint_names: bone-name matching across rigging conventions."""

from __future__ import annotations

import logging

import pytest

from engine.errors import MotionFormatError
from engine.joint_names import (
    FAMILIES,
    JointMatch,
    detect_family,
    map_skeleton,
    match_joint,
    side_from_text,
)
from engine.skeleton import JOINT_NAMES_16, TIP_NAMES

L, R, N = "left", "right", None

# (name, side, joint, part, preset)
CASES = [
    # MANO / SMPL-H / SMPL-X
    ("wrist", N, "wrist", 0, "mano"),
    ("left_wrist", L, "wrist", 0, "mano"),
    ("right_index1", R, "index1", 0, "mano"),
    ("l_index1", L, "index1", 0, "mano"),
    ("index_1", N, "index1", 0, "mano"),
    ("lindex1", L, "index1", 0, "mano"),
    ("rring3", R, "ring3", 0, "mano"),
    ("right_thumb3", R, "thumb3", 0, "mano"),
    ("left_index", L, "index_tip", 0, "mano"),
    ("left_middle", L, "middle_tip", 0, "mano"),
    ("right_index_tip", R, "index_tip", 0, "mano"),
    ("R_Wrist", R, "wrist", 0, "smplh"),
    ("L_Index1", L, "index1", 0, "smplh"),
    ("L_Pinky3", L, "pinky3", 0, "smplh"),
    # Mixamo
    ("LeftHand", L, "wrist", 0, "mixamo"),
    ("mixamorig:RightHand", R, "wrist", 0, "mixamo"),
    ("mixamorig:LeftHandIndex1", L, "index1", 0, "mixamo"),
    ("mixamorig1:LeftHandIndex3", L, "index3", 0, "mixamo"),
    ("mixamorig12:LeftHandIndex4", L, "index_tip", 0, "mixamo"),
    ("mixamorig12:RightHandThumb1", R, "thumb1", 0, "mixamo"),
    ("RightHandThumb4", R, "thumb_tip", 0, "mixamo"),
    ("LeftHandPinky1", L, "pinky1", 0, "mixamo"),
    ("LeftHandRing2", L, "ring2", 0, "mixamo"),
    ("LeftHandMiddle1", L, "middle1", 0, "mixamo"),
    ("mixamorig_RightHandMiddle2", R, "middle2", 0, "mixamo"),
    # UE5 Manny/Quinn
    ("hand_l", L, "wrist", 0, "ue5"),
    ("hand_r", R, "wrist", 0, "ue5"),
    ("index_metacarpal_l", L, "index_meta", 0, "ue5"),
    ("pinky_metacarpal_r", R, "pinky_meta", 0, "ue5"),
    ("index_01_l", L, "index1", 0, "ue5"),
    ("index_02_l", L, "index2", 0, "ue5"),
    ("index_03_l", L, "index3", 0, "ue5"),
    ("thumb_01_l", L, "thumb1", 0, "ue5"),
    ("thumb_03_r", R, "thumb3", 0, "ue5"),
    ("pinky_02_r", R, "pinky2", 0, "ue5"),
    ("ik_hand_l", L, "wrist", 0, "ue5"),
    # Rigify
    ("hand_fk.L", L, "wrist", 0, "rigify"),
    ("hand_ik.R", R, "wrist", 0, "rigify"),
    ("f_index.01.L", L, "index1", 0, "rigify"),
    ("f_index.03.L", L, "index3", 0, "rigify"),
    ("f_middle.01.L", L, "middle1", 0, "rigify"),
    ("f_ring.02.R", R, "ring2", 0, "rigify"),
    ("f_pinky.01.L", L, "pinky1", 0, "rigify"),
    ("thumb.01.L", L, "thumb1", 0, "rigify"),
    ("thumb.03.R", R, "thumb3", 0, "rigify"),
    ("palm.01.L", L, "index_meta", 0, "rigify"),
    ("palm.04.L", L, "pinky_meta", 0, "rigify"),
    ("DEF-hand.L", L, "wrist", 0, "rigify"),
    ("DEF-f_index.01.L", L, "index1", 0, "rigify"),
    ("DEF-thumb.01.L", L, "thumb1", 0, "rigify"),
    ("ORG-f_index.01.L", L, "index1", 0, "rigify"),
    ("hand.L", L, "wrist", 0, "rigify"),
    ("f_index.01.L.001", L, "index1", 0, "rigify"),
    # VRM 0.x / 1.0 / VRoid
    ("leftHand", L, "wrist", 0, "vrm0"),
    ("leftIndexProximal", L, "index1", 0, "vrm0"),
    ("leftIndexIntermediate", L, "index2", 0, "vrm0"),
    ("rightIndexDistal", R, "index3", 0, "vrm0"),
    ("leftMiddleProximal", L, "middle1", 0, "vrm0"),
    ("leftLittleProximal", L, "pinky1", 0, "vrm0"),
    ("leftThumbProximal", L, "thumb1", 0, "vrm0"),
    ("leftThumbIntermediate", L, "thumb2", 0, "vrm0"),
    ("rightThumbDistal", R, "thumb3", 0, "vrm0"),
    ("leftThumbMetacarpal", L, "thumb1", 0, "vrm1"),
    ("J_Bip_L_Hand", L, "wrist", 0, "vrm0"),
    ("J_Bip_L_Index1", L, "index1", 0, "vrm0"),
    ("J_Bip_R_Thumb1", R, "thumb1", 0, "vrm0"),
    ("J_Bip_L_Little3", L, "pinky3", 0, "vrm0"),
    # MPFB / MakeHuman
    ("wrist.L", L, "wrist", 0, "mpfb"),
    ("finger1-1.L", L, "thumb1", 0, "mpfb"),
    ("finger1-3.R", R, "thumb3", 0, "mpfb"),
    ("finger2-1.L", L, "index1", 0, "mpfb"),
    ("finger3-2.L", L, "middle2", 0, "mpfb"),
    ("finger5-3.R", R, "pinky3", 0, "mpfb"),
    ("metacarpal1.L", L, "index_meta", 0, "mpfb"),
    ("metacarpal4.R", R, "pinky_meta", 0, "mpfb"),
    # Auto-Rig Pro
    ("c_hand_fk.l", L, "wrist", 0, "autorigpro"),
    ("hand.l", L, "wrist", 0, "autorigpro"),
    ("c_index1.l", L, "index1", 0, "autorigpro"),
    ("c_index3.r", R, "index3", 0, "autorigpro"),
    ("c_thumb1.l", L, "thumb1", 0, "autorigpro"),
    ("c_thumb3.l", L, "thumb3", 0, "autorigpro"),
    ("c_index1_base.l", L, "index_meta", 0, "autorigpro"),
    ("c_pinky1.l", L, "pinky1", 0, "autorigpro"),
    ("c_middle1.r", R, "middle1", 0, "autorigpro"),
    ("c_ring1.l", L, "ring1", 0, "autorigpro"),
    # Mocap hand skeletons
    ("WRIST", N, "wrist", 0, "mocap"),
    ("HAND", N, "wrist", 0, "mocap"),
    ("Hand", N, "wrist", 0, "mocap"),
    ("THUMB_CMC_FE", N, "thumb1", 0, "mocap"),
    ("THUMB_CMC_AA", N, "thumb1", 1, "mocap"),
    ("THUMB_MCP", N, "thumb2", 0, "mocap"),
    ("THUMB_MCP_AA", N, "thumb2", 1, "mocap"),
    ("THUMB_IP", N, "thumb3", 0, "mocap"),
    ("INDEX_MCP", N, "index1", 0, "mocap"),
    ("INDEX_MCP_FE", N, "index1", 0, "mocap"),
    ("INDEX_MCP_AA", N, "index1", 1, "mocap"),
    ("INDEX_PIP_FE", N, "index2", 0, "mocap"),
    ("INDEX_DIP", N, "index3", 0, "mocap"),
    ("MIDDLE_PIP", N, "middle2", 0, "mocap"),
    ("RING_DIP_FE", N, "ring3", 0, "mocap"),
    ("PINKY_MCP", N, "pinky1", 0, "mocap"),
    ("LITTLE_DIP", N, "pinky3", 0, "mocap"),
    ("INDEX_TIP", N, "index_tip", 0, "mocap"),
    ("THUMB_TIP", N, "thumb_tip", 0, "mocap"),
    # Other families and generic fallback
    ("Bip01 L Hand", L, "wrist", 0, "biped"),
    ("Bip01 L Finger0", L, "thumb1", 0, "biped"),
    ("Bip01 L Finger01", L, "thumb2", 0, "biped"),
    ("Bip01 R Finger42", R, "pinky3", 0, "biped"),
    ("Bip01 L Finger1Nub", L, "index_tip", 0, "biped"),
    ("CC_Base_L_Hand", L, "wrist", 0, "generic"),
    ("CC_Base_L_Mid1", L, "middle1", 0, "generic"),
    ("CC_Base_R_Pinky3", R, "pinky3", 0, "generic"),
    ("lHand", L, "wrist", 0, "generic"),
    ("lCarpal1", L, "index_meta", 0, "generic"),
    ("Hand_Thumb0", N, "thumb_meta", 0, "generic"),
    ("Hand_Thumb1", N, "thumb1", 0, "generic"),
    ("Hand_IndexTip", N, "index_tip", 0, "generic"),
    ("Hand_WristRoot", N, "wrist", 0, "generic"),
    ("RightPointerProximal", R, "index1", 0, "generic"),
    ("L_Pinkie_Distal", L, "pinky3", 0, "generic"),
    ("left_little_finger_tip", L, "pinky_tip", 0, "generic"),
    ("Thumb_CMC_R", R, "thumb1", 0, "generic"),
    ("thumb_metacarpal_l", L, "thumb1", 0, "ue5"),  # UE-shaped; thumb metacarpal = CMC = thumb1
    ("L_Thumb_Metacarpal", L, "thumb1", 0, "generic"),
    ("R_forefinger_2", R, "index2", 0, "generic"),
    ("RightHandRingFinger1", R, "ring1", 0, "generic"),
    ("ns:Rig|LeftHandIndex3_end", L, "index_tip", 0, "generic"),
    ("ring_MCP_flex_l", L, "ring1", 0, "generic"),
    ("middle_distal_r", R, "middle3", 0, "generic"),
    ("pinky_l_02", L, "pinky2", 0, "generic"),
]

NON_HAND = [
    "Hips", "Spine", "Spine2", "Head", "Neck", "LeftArm", "RightForeArm", "LeftShoulder",
    "mixamorig:LeftForeArm", "forearm.L", "upper_arm_fk.L", "lowerarm_l", "lowerarm_twist_01_l",
    "upperarm_r", "elbow_l", "LeftHandIK target", "hand_ik_pole", "hand_ik_pole.L", "ik_hand_root",
    "ik_hand_gun", "Hand_ForearmStub", "f_index.01_master.L", "thumb.01_master.R", "palm.L",
    "LeftUpLeg", "LeftFoot", "LeftToeBase", "ball_l", "middle", "thumb", "index_middle_1",
    "Bip01 L Forearm", "J_Bip_L_LowerArm", "c_arm_ik.l", "thumb_bend_all.l", "", "   ", ":::",
    "\x00", "é", "_" * 500,
]


@pytest.mark.parametrize(("name", "side", "joint", "part", "preset"), CASES)
def test_match_joint_table(name, side, joint, part, preset):
    assert match_joint(name) == JointMatch(side, joint, part, preset)


def test_table_is_large_and_joints_are_valid():
    assert len(CASES) >= 80
    valid = set(JOINT_NAMES_16) | set(TIP_NAMES) | {f + "_meta" for f in ("thumb", "index", "middle", "ring", "pinky")}
    assert {c[2] for c in CASES} <= valid
    assert {c[4] for c in CASES} <= set(FAMILIES)
    assert set(FAMILIES) - {c[4] for c in CASES} == set()  # every family exercised


@pytest.mark.parametrize("name", NON_HAND)
def test_non_hand_names_do_not_match(name):
    assert match_joint(name) is None


@pytest.mark.parametrize("odd", [None, 3, 4.5, b"LeftHand", ["LeftHand"], object()])
def test_odd_input_never_raises(odd):
    assert match_joint(odd) is None
    assert side_from_text(odd) is None


def test_vrm_family_hint_for_thumb():
    assert match_joint("leftThumbProximal").joint == "thumb1"  # ambiguous -> VRM 0.x
    assert match_joint("leftThumbProximal", family="vrm0").joint == "thumb1"
    m = match_joint("leftThumbProximal", family="vrm1")
    assert (m.joint, m.preset) == ("thumb2", "vrm1")
    assert match_joint("leftThumbDistal", family="vrm1").joint == "thumb3"
    assert match_joint("leftIndexProximal", family="vrm1").joint == "index1"  # fingers unaffected


def test_unknown_family_is_a_clear_error():
    with pytest.raises(MotionFormatError, match="unknown naming family"):
        match_joint("LeftHand", family="maya")


def test_family_hint_labels_ambiguous_names():
    assert match_joint("LeftHand", family="mixamo").preset == "mixamo"
    assert match_joint("LeftHand", family="rigify").preset == "mixamo"  # hint only when it matches


@pytest.mark.parametrize(("text", "side"), [
    ("LeftHand", L), ("hand.L", L), ("hand_l", L), ("l_wrist", L), ("left_index1", L),
    ("mixamorig:RightHandThumb2", R), ("/data/subject1_lh.bvh", L), ("take01_right.bvh", R),
    ("R_hand", R), ("Hand_R", R), ("pinky_l", L), ("wrist.R", R), ("J_Bip_L_Hand", L),
    ("C:\\mocap\\session2\\rh_take3.bvh", R), ("/data/left/take01.bvh", L),
    ("/data/left/take01_right.bvh", R), ("recordings/LeftHand_001.fbx", L), ("subject_RH.bvh", R),
    ("middle", N), ("little", N), ("pinky", N), ("THUMB_CMC_FE", N), ("take01.bvh", N),
    ("left_right.bvh", N), ("/data/hands/take.bvh", N), ("", N), ("lindex1", L),
])
def test_side_from_text(text, side):
    assert side_from_text(text) == side


MIXAMO_HAND = ["mixamorig:LeftForeArm", "mixamorig:LeftHand"] + [
    f"mixamorig:LeftHand{f}{k}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in range(1, 5)
]


def test_map_skeleton_mixamo_hand():
    out = map_skeleton(MIXAMO_HAND)
    assert list(out) == ["left"]
    left = out["left"]
    assert set(left) == set(JOINT_NAMES_16) | set(TIP_NAMES)
    assert left["wrist"] == [1]
    assert MIXAMO_HAND[left["thumb1"][0]] == "mixamorig:LeftHandThumb1"
    assert MIXAMO_HAND[left["index_tip"][0]] == "mixamorig:LeftHandIndex4"
    assert list(left)[:4] == ["wrist", "index1", "index2", "index3"]  # JOINT_NAMES_21 order
    assert detect_family(MIXAMO_HAND) == "mixamo"


MOCAP_17 = ["WRIST", "THUMB_CMC_FE", "THUMB_CMC_AA", "THUMB_MCP", "THUMB_IP"] + [
    f"{f}_{j}" for f in ("INDEX", "MIDDLE", "RING", "PINKY") for j in ("MCP", "PIP", "DIP")
]


def test_map_skeleton_mocap_17_with_side():
    assert len(MOCAP_17) == 17
    out = map_skeleton(MOCAP_17, side="right")
    assert list(out) == ["right"]
    right = out["right"]
    assert set(right) == set(JOINT_NAMES_16)
    assert right["thumb1"] == [1, 2]  # FE then AA
    assert right["thumb2"] == [3] and right["thumb3"] == [4]
    assert right["pinky3"] == [16]
    assert detect_family(MOCAP_17) == "mocap"


def test_map_skeleton_parts_sorted_by_part_not_file_order():
    out = map_skeleton(["HAND", "INDEX_MCP_AA", "INDEX_MCP_FE"], side="l")
    assert out["left"]["index1"] == [2, 1]


def test_map_skeleton_sideless_needs_side():
    with pytest.raises(MotionFormatError, match=r"cannot tell which hand.*--side left\|right"):
        map_skeleton(MOCAP_17)


def test_map_skeleton_no_hand_joints():
    names = ["Hips", "Spine", "Neck", "Head", "LeftArm", "LeftForeArm"]
    with pytest.raises(MotionFormatError, match="no hand joint recognised") as info:
        map_skeleton(names)
    assert "'LeftForeArm'" in str(info.value)
    with pytest.raises(MotionFormatError, match="no hand joint"):
        map_skeleton([])


def test_map_skeleton_bad_side():
    with pytest.raises(MotionFormatError, match="side"):
        map_skeleton(MOCAP_17, side="up")


def _ue5_skeleton() -> list[str]:
    names = ["root", "pelvis", "spine_01", "spine_05", "neck_01", "head", "ik_hand_root", "ik_hand_gun"]
    for s in ("l", "r"):
        names += [f"clavicle_{s}", f"upperarm_{s}", f"lowerarm_{s}", f"lowerarm_twist_01_{s}", f"hand_{s}"]
        for f in ("index", "middle", "pinky", "ring"):
            names += [f"{f}_metacarpal_{s}", f"{f}_01_{s}", f"{f}_02_{s}", f"{f}_03_{s}"]
        names += [f"thumb_01_{s}", f"thumb_02_{s}", f"thumb_03_{s}", f"ik_hand_{s}", f"thigh_{s}", f"ball_{s}"]
    return names


def test_map_skeleton_ue5_two_hands(caplog):
    names = _ue5_skeleton()
    with caplog.at_level(logging.WARNING, logger="engine.joint_names"):
        out = map_skeleton(names)
    assert not caplog.records  # ik_hand_* ranks below hand_*, no tie warnings
    assert list(out) == ["left", "right"]
    for s, c in (("left", "l"), ("right", "r")):
        hand = out[s]
        assert set(JOINT_NAMES_16) <= set(hand)
        assert {"index_meta", "middle_meta", "ring_meta", "pinky_meta"} <= set(hand)
        assert names[hand["wrist"][0]] == f"hand_{c}"
        assert names[hand["thumb1"][0]] == f"thumb_01_{c}"
        assert names[hand["ring3"][0]] == f"ring_03_{c}"
    assert detect_family(names) == "ue5"


def test_map_skeleton_vrm1_switches_thumb_convention():
    base = ["leftHand", "leftIndexProximal", "leftIndexIntermediate", "leftIndexDistal"]
    vrm0 = base + ["leftThumbProximal", "leftThumbIntermediate", "leftThumbDistal"]
    vrm1 = base + ["leftThumbMetacarpal", "leftThumbProximal", "leftThumbDistal"]
    out0 = map_skeleton(vrm0)["left"]
    out1 = map_skeleton(vrm1)["left"]
    assert [vrm0[out0[j][0]] for j in ("thumb1", "thumb2", "thumb3")] == vrm0[4:]
    assert [vrm1[out1[j][0]] for j in ("thumb1", "thumb2", "thumb3")] == vrm1[4:]
    assert out0["index1"] == out1["index1"] == [1]
    assert detect_family(vrm0) == "vrm0"
    assert detect_family(vrm1) == "vrm1"


def test_map_skeleton_rigify_priorities(caplog):
    names = [
        "ORG-hand.L", "MCH-hand_fk.L", "hand_ik.L", "DEF-hand.L", "hand_fk.L", "hand_tweak.L",
        "f_index.01_master.L", "ORG-f_index.01.L", "DEF-f_index.01.L", "f_index.01.L.001",
        "f_index.01.L", "MCH-f_index.01_drv.L", "palm.01.L", "ORG-palm.01.L", "thumb.01.L",
        "DEF-thumb.01.L", "thumb.01_master.L",
    ]
    with caplog.at_level(logging.WARNING, logger="engine.joint_names"):
        left = map_skeleton(names)["left"]
    assert not caplog.records
    assert names[left["wrist"][0]] == "hand_fk.L"
    assert names[left["index1"][0]] == "f_index.01.L"
    assert names[left["index_meta"][0]] == "palm.01.L"
    assert names[left["thumb1"][0]] == "thumb.01.L"
    assert detect_family(names) == "rigify"
    # Without controls the deform bone wins over ORG/ik, ik over ORG.
    deform = ["ORG-hand.L", "hand_ik.L", "DEF-hand.L"]
    assert map_skeleton(deform)["left"]["wrist"] == [2]
    assert map_skeleton(["ORG-hand.L", "hand_ik.L"])["left"]["wrist"] == [1]


def test_map_skeleton_wrist_beats_hand():
    # SMPL has both L_Wrist and L_Hand: the wrist is the clearer wrist.
    names = ["L_Elbow", "L_Hand", "L_Wrist", "L_Index1"]
    assert map_skeleton(names)["left"]["wrist"] == [2]


def test_map_skeleton_autorigpro_prefers_controls():
    names = ["hand.l", "c_hand_fk.l", "c_hand_ik.l", "thumb1.l", "c_thumb1_base.l", "c_thumb1.l",
             "c_thumb2.l", "index1_base.l", "c_index1_base.l", "c_index1.l"]
    left = map_skeleton(names)["left"]
    assert names[left["wrist"][0]] == "c_hand_fk.l"
    assert names[left["thumb1"][0]] == "c_thumb1.l"
    assert names[left["index_meta"][0]] == "c_index1_base.l"
    assert detect_family(names) == "autorigpro"


def test_map_skeleton_tie_keeps_first_and_warns(caplog):
    names = ["LeftHandIndex1", "left_index1", "LeftHand"]
    with caplog.at_level(logging.WARNING, logger="engine.joint_names"):
        out = map_skeleton(names)
    assert out["left"]["index1"] == [0]
    assert any("LeftHandIndex1" in r.getMessage() for r in caplog.records)


def test_map_skeleton_side_param_only_fills_sideless():
    out = map_skeleton(["RightHand", "RightHandIndex1"], side="left")
    assert list(out) == ["right"]


def test_map_skeleton_mixed_sideless_dropped_with_warning(caplog):
    names = ["LeftHand", "LeftHandIndex1", "Hand_Thumb0"]
    with caplog.at_level(logging.WARNING, logger="engine.joint_names"):
        out = map_skeleton(names)
    assert set(out) == {"left"} and "thumb_meta" not in out["left"]
    assert any("without a side" in r.getMessage() for r in caplog.records)


def test_detect_family():
    assert detect_family(["hand.L", "f_index.01.L", "thumb.01.L", "palm.01.L"]) == "rigify"
    assert detect_family(["wrist.L", "finger1-1.L", "finger2-1.L", "metacarpal1.L"]) == "mpfb"
    assert detect_family(["Hips", "Spine"]) is None
    assert detect_family([]) is None
