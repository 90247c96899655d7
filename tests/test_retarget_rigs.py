"""Test rigs for retargeting, one per rig family, and a Blender-style pose evaluator.

Each rig is built like its family's real armatures: bone names and hierarchy (Rigify's ORG palm
chain following `hand_fk` by constraint, UE5 metacarpals and IK bones, Mixamo's namespaced Y-up
armature under a rotated, scaled object, Auto-Rig Pro's `hand` deform bone following `c_hand_fk`),
Z-up rest poses with the hand turned off the axes, hand proportions and finger directions unlike
MANO's, curled rest fingers on some families, and bone rolls chosen at random. Bone matrices follow
Blender's `vec_roll_to_mat3` (shortest arc from +Y to the bone, then the roll about it).
The tests at the bottom check the evaluator itself against hand-worked cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.examples import finger_pose
from engine.retarget import Rig
from engine.rotations import axis_angle_to_matrix
from engine.skeleton import PARENTS_21, CanonicalHand

ROT_X_90 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # Y-up -> Z-up, written out here
CHAINS = {"index": (1, 2, 3, 17), "middle": (4, 5, 6, 18), "pinky": (7, 8, 9, 20), "ring": (10, 11, 12, 19),
          "thumb": (13, 14, 15, 16)}  # MANO joints then the 21-joint tip
META_ORDER = ("index", "middle", "ring", "pinky")
SIDE_WORDS = {"left": {"side": "left", "Side": "Left", "S": "L", "s": "l", "x": 1.0},
              "right": {"side": "right", "Side": "Right", "S": "R", "s": "r", "x": -1.0}}
FAMILIES = ("rigify", "mixamo", "ue5", "vrm0", "vrm1", "mpfb", "autorigpro", "smplx")


def bone_matrix(head: np.ndarray, tail: np.ndarray, roll: float) -> np.ndarray:
    """Blender's bone matrix: +Y from head to tail (shortest arc from +Y), rolled about it."""
    y = (tail - head) / np.linalg.norm(tail - head)
    axis = np.cross([0.0, 1.0, 0.0], y)
    s, c = np.linalg.norm(axis), y[1]
    base = np.eye(3) if s < 1e-12 and c > 0 else (
        np.diag([-1.0, -1.0, 1.0]) if s < 1e-12 else axis_angle_to_matrix(axis / s * np.arctan2(s, c)))
    m = np.eye(4)
    m[:3, :3] = axis_angle_to_matrix(y * roll) @ base
    m[:3, 3] = head
    return m


def hand_points(side: str, rng: np.random.Generator, curl: float) -> np.ndarray:
    """(21, 3) rest joints + tips of a hand unlike MANO's, MANO world (Y up), wrist at the origin:
    every segment 85-120% of MANO's length, every joint turned by a few degrees, fingers curled."""
    curls = {f: curl * rng.uniform(0.6, 1.4) for f in CHAINS}
    pose = finger_pose(curls, 0.0, side) + rng.normal(0.0, np.radians(5.0), size=(15, 3))
    P = CanonicalHand(side).joints_np(np.zeros(3), pose, np.zeros(3))
    out = np.zeros_like(P)
    for child in range(1, 21):
        parent = PARENTS_21[child]
        out[child] = out[parent] + rng.uniform(0.85, 1.2) * (P[child] - P[parent])
    return out


@dataclass
class SampleRig:
    family: str
    rig: Rig
    bone_map: dict[str, dict[int, str]]  # the map a person would make: side -> MANO joint -> bone
    follow: dict[str, str]  # bone -> bone it follows by constraint (posed rigidly with it)
    deform_map: dict[str, dict[int, str]] | None = None


class _Builder:
    """Collects bones (name, parent, head, tail) in Blender's world, then makes a `Rig`."""

    def __init__(self, rng: np.random.Generator, rolls: bool = True):
        self.rng, self.rolls = rng, rolls
        self.bones: list[tuple[str, str | None, np.ndarray, np.ndarray]] = []
        self.modes: dict[str, str] = {}

    def add(self, name: str, parent: str | None, head, tail, mode: str = "QUATERNION") -> str:
        self.bones.append((name, parent, np.asarray(head, float), np.asarray(tail, float)))
        self.modes[name] = mode
        return name

    def rig(self, world: np.ndarray | None = None) -> Rig:
        names = [b[0] for b in self.bones]
        to_arm = np.eye(4) if world is None else np.linalg.inv(world)
        rest = []
        for _, _, head, tail in self.bones:
            h = to_arm[:3, :3] @ head + to_arm[:3, 3]
            t = to_arm[:3, :3] @ tail + to_arm[:3, 3]
            rest.append(bone_matrix(h, t, self.rng.uniform(-np.pi, np.pi) if self.rolls else 0.0))
        parents = [names.index(p) if p is not None else -1 for _, p, _, _ in self.bones]
        return Rig(names, parents, np.stack(rest), [self.modes[n] for n in names], world)


def _arm(side: str, rng: np.random.Generator, curl: float) -> dict[str, np.ndarray]:
    """Blender-world (Z up, metres, facing -Y) points of one arm: shoulder, elbow, wrist, 21 hand points."""
    x = SIDE_WORDS[side]["x"]
    turn = axis_angle_to_matrix(rng.normal(0.0, 0.4, size=3))  # the hand off the axes
    hand = hand_points(side, rng, curl) @ turn.T @ ROT_X_90.T
    wrist = np.array([0.68 * x, 0.03, 1.42]) + rng.normal(0.0, 0.02, 3)
    along = hand[4] / np.linalg.norm(hand[4])
    elbow = wrist - 0.26 * along + np.array([0.0, 0.04, -0.02])
    return {"shoulder": np.array([0.17 * x, 0.0, 1.45]), "elbow": elbow, "wrist": wrist, "hand": wrist + hand}


def _fingers(b: _Builder, P: np.ndarray, names, parents, mode: str = "QUATERNION") -> dict[int, str]:
    """Add the three segments of every finger; names(finger, k) / parents(finger) give names; -> map."""
    out = {}
    for finger, chain in CHAINS.items():
        parent = parents(finger)
        for k in range(3):
            parent = b.add(names(finger, k), parent, P[chain[k]], P[chain[k + 1]], mode)
            out[chain[k]] = parent
    return out


def _meta_head(P: np.ndarray, finger: str) -> np.ndarray:
    return P[0] + 0.25 * (P[CHAINS[finger][0]] - P[0])


def build(family: str, seed: int = 0) -> SampleRig:
    """A two-handed test rig of one family (see the module docstring)."""
    rng = np.random.default_rng(seed)
    curl = {"rigify": 0.3, "mixamo": 0.15, "ue5": 0.05, "mpfb": 0.35, "autorigpro": 0.25}.get(family, 0.0)
    b = _Builder(rng, rolls=family not in ("vrm0", "vrm1"))
    root = {"rigify": "root", "mixamo": "Hips", "ue5": "root", "mpfb": "root", "autorigpro": "root.x",
            "smplx": "pelvis"}.get(family, "hips")
    b.add(root, None, [0.0, 0.0, 1.0], [0.0, 0.0, 1.1])
    maps, deform, follow, world = {}, {}, {}, None
    for side in ("left", "right"):
        w = SIDE_WORDS[side]
        a = _arm(side, rng, curl)
        P, wrist, elbow = a["hand"], a["wrist"], a["elbow"]
        hand_tail = wrist + 0.9 * (P[4] - wrist)
        m: dict[int, str] = {}
        if family == "rigify":
            S = w["S"]
            b.add(f"ORG-forearm.{S}", root, elbow, wrist)
            b.add(f"forearm_fk.{S}", root, elbow, wrist)
            m[0] = b.add(f"hand_fk.{S}", f"forearm_fk.{S}", wrist, hand_tail)
            b.add(f"hand_ik.{S}", root, wrist, hand_tail)
            b.add(f"ORG-hand.{S}", f"ORG-forearm.{S}", wrist, hand_tail)
            follow[f"ORG-hand.{S}"] = f"hand_fk.{S}"
            b.add(f"DEF-forearm.{S}", root, elbow, wrist)
            d = {0: b.add(f"DEF-hand.{S}", f"DEF-forearm.{S}", wrist, hand_tail)}
            for k, f in enumerate(META_ORDER):
                b.add(f"ORG-palm.0{k + 1}.{S}", f"ORG-hand.{S}", _meta_head(P, f), P[CHAINS[f][0]])
                b.add(f"DEF-palm.0{k + 1}.{S}", f"DEF-hand.{S}", _meta_head(P, f), P[CHAINS[f][0]])
                b.add(f"f_{f}.01_master.{S}", f"ORG-palm.0{k + 1}.{S}", P[CHAINS[f][0]], P[CHAINS[f][3]])

            def seg(f, k, pre="", S=S):
                return f"{pre}{'thumb' if f == 'thumb' else 'f_' + f}.0{k + 1}.{S}"

            def palm(f, pre, S=S):
                return f"{pre}palm.0{META_ORDER.index('index' if f == 'thumb' else f) + 1}.{S}"

            m.update(_fingers(b, P, seg, lambda f: palm(f, "ORG-")))
            d.update(_fingers(b, P, lambda f, k: seg(f, k, "DEF-"), lambda f: palm(f, "DEF-")))
            deform[side] = d
        elif family == "mixamo":
            pre, Side = "mixamorig7:", w["Side"]
            b.add(f"{pre}{Side}Arm", root, a["shoulder"], elbow)
            b.add(f"{pre}{Side}ForeArm", f"{pre}{Side}Arm", elbow, wrist)
            m[0] = b.add(f"{pre}{Side}Hand", f"{pre}{Side}ForeArm", wrist, hand_tail)
            m.update(_fingers(b, P, lambda f, k: f"{pre}{Side}Hand{f.title()}{k + 1}", lambda f: m[0]))
            for f, chain in CHAINS.items():  # Mixamo's end bones at the fingertips
                tip, last = P[chain[3]], P[chain[3]] - P[chain[2]]
                b.add(f"{pre}{Side}Hand{f.title()}4", m[chain[2]], tip, tip + 0.3 * last)
            world = np.eye(4)
            world[:3, :3] = 0.01 * ROT_X_90  # FBX import: Y-up armature data in centimetres
        elif family == "ue5":
            s = w["s"]
            b.add(f"upperarm_{s}", root, a["shoulder"], elbow)
            b.add(f"lowerarm_{s}", f"upperarm_{s}", elbow, wrist)
            m[0] = b.add(f"hand_{s}", f"lowerarm_{s}", wrist, hand_tail)
            b.add(f"weapon_{s}", m[0], wrist + 0.02, hand_tail + 0.02)
            for f in META_ORDER:
                b.add(f"{f}_metacarpal_{s}", m[0], _meta_head(P, f), P[CHAINS[f][0]])
            m.update(_fingers(b, P, lambda f, k, s=s: f"{f}_0{k + 1}_{s}",
                              lambda f, s=s: m[0] if f == "thumb" else f"{f}_metacarpal_{s}"))
            if side == "left":
                b.add("ik_hand_root", root, [0.0, 0.0, 0.0], [0.0, 0.0, 0.1])
                b.add("ik_hand_gun", "ik_hand_root", wrist, hand_tail)
            b.add(f"ik_hand_{s}", "ik_hand_gun", wrist, hand_tail)
        elif family in ("vrm0", "vrm1"):
            sd = w["side"]
            b.add(f"{sd}UpperArm", root, a["shoulder"], elbow)
            b.add(f"{sd}LowerArm", f"{sd}UpperArm", elbow, wrist)
            m[0] = b.add(f"{sd}Hand", f"{sd}LowerArm", wrist, hand_tail)
            segs = ("Proximal", "Intermediate", "Distal")
            thumb = segs if family == "vrm0" else ("Metacarpal", "Proximal", "Distal")
            word = {"index": "Index", "middle": "Middle", "ring": "Ring", "pinky": "Little", "thumb": "Thumb"}
            m.update(_fingers(b, P, lambda f, k, sd=sd: f"{sd}{word[f]}{(thumb if f == 'thumb' else segs)[k]}",
                              lambda f: m[0]))
        elif family == "mpfb":
            S = w["S"]
            b.add(f"upperarm01.{S}", root, a["shoulder"], elbow)
            b.add(f"lowerarm01.{S}", f"upperarm01.{S}", elbow, wrist)
            m[0] = b.add(f"wrist.{S}", f"lowerarm01.{S}", wrist, hand_tail)
            digit = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
            for k, f in enumerate(META_ORDER):
                b.add(f"metacarpal{k + 1}.{S}", m[0], _meta_head(P, f), P[CHAINS[f][0]])
            m.update(_fingers(b, P, lambda f, k, S=S: f"finger{digit[f]}-{k + 1}.{S}",
                              lambda f, S=S: m[0] if f == "thumb" else f"metacarpal{digit[f] - 1}.{S}"))
        elif family == "autorigpro":
            s = w["s"]
            b.add(f"c_arm_fk.{s}", root, a["shoulder"], elbow)
            b.add(f"c_forearm_fk.{s}", f"c_arm_fk.{s}", elbow, wrist)
            m[0] = b.add(f"c_hand_fk.{s}", f"c_forearm_fk.{s}", wrist, hand_tail, "ZXY")
            b.add(f"forearm.{s}", root, elbow, wrist)
            b.add(f"hand.{s}", f"forearm.{s}", wrist, hand_tail)
            follow[f"hand.{s}"] = f"c_hand_fk.{s}"
            for f in CHAINS:
                head = wrist + 0.3 * (P[13] - wrist) if f == "thumb" else _meta_head(P, f)
                b.add(f"c_{f}1_base.{s}", f"hand.{s}", head, P[CHAINS[f][0]], "XYZ")
            m.update(_fingers(b, P, lambda f, k, s=s: f"c_{f}{k + 1}.{s}", lambda f, s=s: f"c_{f}1_base.{s}", "XYZ"))
        elif family == "smplx":
            sd = w["side"]
            b.add(f"{sd}_collar", root, [0.0, 0.0, 1.4], a["shoulder"])
            b.add(f"{sd}_shoulder", f"{sd}_collar", a["shoulder"], elbow)
            b.add(f"{sd}_elbow", f"{sd}_shoulder", elbow, wrist)
            m[0] = b.add(f"{sd}_wrist", f"{sd}_elbow", wrist, hand_tail)
            m.update(_fingers(b, P, lambda f, k, sd=sd: f"{sd}_{f}{k + 1}", lambda f: m[0]))
        else:
            raise ValueError(family)
        maps[side] = m
    return SampleRig(family, b.rig(world), maps, follow, deform or None)


def pose(rig: Rig, basis: dict[str, np.ndarray], follow: dict[str, str] | None = None) -> np.ndarray:
    """Posed armature-space bone matrices (T, N, 4, 4), as Blender evaluates them:
    pose = parent_pose @ inv(parent_rest) @ rest @ basis; a bone following another by constraint is
    carried rigidly with it (pose = leader_pose @ inv(leader_rest) @ rest). basis: bone -> (T, 3, 3)."""
    follow = follow or {}
    T = next(iter(basis.values())).shape[0] if basis else 1
    rest = rig.rest
    out: dict[int, np.ndarray] = {}

    def solve(i: int) -> np.ndarray:
        if i in out:
            return out[i]
        name = rig.names[i]
        if name in follow:
            leader = rig.names.index(follow[name])
            out[i] = solve(leader) @ np.linalg.inv(rest[leader]) @ rest[i]
            return out[i]
        B = np.tile(np.eye(4), (T, 1, 1))
        if name in basis:
            B[:, :3, :3] = basis[name]
        parent = int(rig.parents[i])
        out[i] = (rest[i] @ B) if parent < 0 else solve(parent) @ np.linalg.inv(rest[parent]) @ rest[i] @ B
        return out[i]

    return np.stack([solve(i) for i in range(len(rig.names))], axis=1)


# ------------------------------------------------------------------------- checks of the helpers
def test_bone_matrix_points_y_from_head_to_tail_for_any_roll():
    head, tail = np.array([0.1, 0.2, 0.3]), np.array([0.4, -0.2, 0.5])
    for roll in (0.0, 1.0, -2.5):
        m = bone_matrix(head, tail, roll)
        np.testing.assert_allclose(m[:3, 1], (tail - head) / np.linalg.norm(tail - head), atol=1e-12)
        np.testing.assert_allclose(m[:3, :3].T @ m[:3, :3], np.eye(3), atol=1e-12)
        np.testing.assert_allclose(m[:3, 3], head)
    # roll 0 for a bone along +X: Blender's shortest arc turns +Y onto +X about -Z, so local Z stays +Z
    np.testing.assert_allclose(bone_matrix(np.zeros(3), np.array([1.0, 0, 0]), 0.0)[:3, 2], [0, 0, 1], atol=1e-12)


def test_pose_evaluator_by_hand():
    """Two bones along +Y; turning the parent 90 degrees about Z swings the child's head onto -X."""
    rest = np.stack([bone_matrix(np.zeros(3), np.array([0, 1.0, 0]), 0.0),
                     bone_matrix(np.array([0, 1.0, 0]), np.array([0, 2.0, 0]), 0.0)])
    rig = Rig(["a", "b"], [-1, 0], rest)
    Rz = axis_angle_to_matrix(np.array([0, 0, np.pi / 2]))[None]
    posed = pose(rig, {"a": Rz})
    np.testing.assert_allclose(posed[0, 1, :3, 3], [-1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(posed[0, 1, :3, 1], [-1.0, 0.0, 0.0], atol=1e-12)
    # a follower is carried with its leader whatever its own parent does
    rig3 = Rig(["a", "b", "c"], [-1, 0, -1], np.concatenate([rest, rest[1:]]))
    posed = pose(rig3, {"a": Rz}, follow={"c": "b"})
    np.testing.assert_allclose(posed[0, 2], posed[0, 1], atol=1e-12)


def test_every_family_builds_two_complete_hands():
    for family in FAMILIES:
        t = build(family)
        assert set(t.bone_map) == {"left", "right"}
        assert all(sorted(m) == list(range(16)) for m in t.bone_map.values())
        assert all(n in t.rig for m in t.bone_map.values() for n in m.values())
