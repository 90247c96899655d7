"""Request and response bodies of the HTTP API (pydantic); the OpenAPI schema is generated from them.

Motion on the wire is DESIGN.md's JSON (`engine/io/wire.py`): `{fps, left: {global_orient (T,3),
hand_pose (T,15,3) or (T,45), transl (T,3), betas?, valid?}, right: {...}}`. Results always carry
`hand_pose` as (T,15,3). Every number must be finite: NaN and infinity are refused with the field named
(a rig's matrices excepted: the rig check names the bone whose matrix is not finite).

A rig (`RigWire`) is `engine.retarget.Rig.to_dict()` plus an optional bone map in `BoneMap.to_dict()`
form; bone rotations on the wire are (T, 4) quaternions (w, x, y, z) per bone name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ..pipeline import MAX_SECONDS
from ..repair import DEFAULT_STRENGTH
from ..retarget import PRESET_NAMES, ROTATION_MODES
from ..retarget.rig import MAX_BONES
from ..skeleton import JOINT_NAMES_16

Finite = Annotated[float, Field(allow_inf_nan=False)]
Vec3 = Annotated[list[Finite], Field(min_length=3, max_length=3)]
Pose15 = Annotated[list[Vec3], Field(min_length=15, max_length=15, description="15 finger joints x axis-angle")]
Pose45 = Annotated[list[Finite], Field(min_length=45, max_length=45, description="15 x 3 axis-angles, flattened")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="sampling seed; the same seed gives the same result")]
Quat = Annotated[list[Finite], Field(min_length=4, max_length=4, description="quaternion (w, x, y, z)")]
Row4 = Annotated[list[float], Field(min_length=4, max_length=4)]
Mat4 = Annotated[list[Row4], Field(min_length=4, max_length=4, description="4x4 matrix as rows")]
Side = Literal["left", "right"]
FrameNumber = Annotated[str, Field(pattern=r"^[0-9]{1,7}$")]
TASK_NAMES = ("generate", "inbetween", "caption", "refine", "react")


class Strict(BaseModel):
    """A body part whose unknown fields are refused (a typo is an error, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class HandWire(Strict):
    """One hand over T frames: axis-angle rotations (radians), MANO joint order, translation in metres."""

    global_orient: list[Vec3] = Field(description="(T, 3) wrist orientation, axis-angle", min_length=1)
    # left to right: (T, 15, 3) is tried first and (T, 45) only when it fails; pydantic's default "smart"
    # union validates every alternative, which made this field 8x slower to parse (8 ms for a 4 s clip)
    hand_pose: Annotated[list[Pose15], Field(min_length=1)] | Annotated[list[Pose45], Field(min_length=1)] = Field(
        description="(T, 15, 3) finger joints, axis-angle, flat hand = 0; (T, 45) accepted on input",
        union_mode="left_to_right")
    transl: list[Vec3] = Field(description="(T, 3) wrist translation, metres", min_length=1)
    betas: list[Finite] | None = Field(None, description="MANO shape (10,), optional")
    valid: list[bool] | None = Field(None, description="(T,) frames where the hand was seen; default all")


class MotionWire(Strict):
    """A two-hand clip; at least one hand; both hands the same length."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [side], "properties": {side: {"type": "object"}}} for side in ("left", "right")]})

    fps: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
    left: HandWire | None = None
    right: HandWire | None = None


class KeyHand(Strict):
    """One hand's keyed parts at a frame; every part optional. `hand_pose` may key some joints only:
    {joint name (e.g. "index1", "thumb3") or index "0"-"14": [x, y, z]}."""

    global_orient: Vec3 | None = None
    hand_pose: Pose15 | Pose45 | dict[str, Vec3] | None = None
    transl: Vec3 | None = None


class KeyPose(Strict):
    left: KeyHand | None = None
    right: KeyHand | None = None


class BoneMapWire(Strict):
    """Which rig bone drives which MANO joint, per hand (`engine.retarget.BoneMap` JSON)."""

    preset: str | None = Field(None, description="the rig family it came from; default \"custom\"")
    left: dict[str, str] | None = Field(None, description="MANO joint name -> bone name; joints: "
                                                          + ", ".join(JOINT_NAMES_16) + ' (or "0"-"15")')
    right: dict[str, str] | None = Field(None, description="as `left`")


class RigWire(Strict):
    """An armature to retarget onto (`engine.retarget.Rig` JSON): Blender's conventions, rest matrices
    in armature space. The result then also holds per-bone local rotations ready to key."""

    names: Annotated[list[str], Field(min_length=1, max_length=MAX_BONES)] = Field(description="bone names, unique")
    parents: list[Annotated[int, Field(strict=True, ge=-1, lt=MAX_BONES)] | str | None] = Field(
        description="per bone: the parent's name or index; null, \"\" or -1 for a root bone")
    rest: list[Mat4] = Field(description="per bone: `bone.matrix_local` (4x4 rows, armature space)")
    rotation_modes: list[Literal[ROTATION_MODES]] | None = Field(  # type: ignore[valid-type]
        None, description="per bone: `pose_bone.rotation_mode` (default QUATERNION); reported beside the "
                          "result's quaternions")
    world: Mat4 | None = Field(None, description="the armature object's `matrix_world` (default identity); its "
                                                 "rotation says which way is up")
    bone_map: BoneMapWire | None = Field(None, description="default: detected from the bone names (and returned "
                                                           "in the result)")
    preset: Literal[PRESET_NAMES] | None = Field(  # type: ignore[valid-type]
        None, description="detect the bone map with this rig family's names only (without `bone_map`)")
    wrist: bool = Field(True, description="key the hand bones too; false: fingers only, the hands stay where "
                                          "the animator put them")


class BonesWire(Strict):
    """A rig's pose over time, as input instead of `motion` (needs `rig`): per-bone local rotations
    (`pose_bone.rotation_quaternion`); mapped bones left out are at rest, other bones are ignored."""

    fps: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
    rotations: dict[str, Annotated[list[Quat], Field(min_length=1)]] = Field(
        description="bone name -> (T, 4) quaternions (w, x, y, z), every bone the same T", min_length=1)


RIG_FIELD = Field(None, description="retarget the result onto this rig: the result also holds `bones`, "
                                    "`rotation_modes`, `bone_map` and `preset`")


class JobBase(Strict):
    rig: RigWire | None = RIG_FIELD


class MotionInput(JobBase):
    """A job that reads a clip: `motion`, or `bones` with `rig` (read back through the rig)."""

    motion: MotionWire | None = Field(None, description="the input clip (or send `bones` with `rig`)")
    bones: BonesWire | None = Field(None, description="instead of `motion`: the rig's bone rotations")


class DiffusionFields(JobBase):
    text: Annotated[str, Field(min_length=1)] | None = Field(None, description="what happens, optional")
    seed: Seed = 0
    steps: Annotated[int, Field(ge=1, le=1000)] = Field(20, description="DDIM denoising steps")
    guidance: Annotated[float, Field(ge=0, le=20, allow_inf_nan=False)] = 2.5
    strength: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        1.0, description="how strongly keys are followed: 1 exactly, lower as soft targets")
    mode: Literal["trained", "inpaint"] = "trained"


class GenerateJob(JobBase):
    """Text to two-hand motion (language model + SHIFT tokenizer)."""

    task: Literal["generate"]
    prompt: Annotated[str, Field(min_length=1)] = Field(description='what the hands do, e.g. "The right hand waves."')
    seconds: Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)] = 4.0
    fps: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 30.0
    seed: Seed = 0
    samples: Annotated[int, Field(ge=1, le=32)] = Field(1, description="variations to generate")
    temperature: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = Field(
        1.0, description="0: greedy; lower values are closer to greedy, however small")
    top_k: Annotated[int, Field(ge=0, le=100000)] = Field(0, description="0: no top-k filter")
    top_p: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.95
    guidance: Annotated[float, Field(ge=0, le=20, allow_inf_nan=False)] | None = Field(
        None, description="how strongly the prompt's text steers the motion (classifier-free guidance; 1: none; "
                          "default: the engine's)")
    rerank: Annotated[int, Field(ge=1, le=16)] | None = Field(
        None, description="candidates drawn per motion, the one the model captions most like the prompt kept "
                          "(1: none; default: the engine's)")
    hands: Literal["both", "left", "right"] = Field("both", description="which hands the result keeps")


class KeyBones(Strict):
    """In-between keys as a rig's poses (needs `rig`): each mapped bone's local rotation at each key frame."""

    frames: list[Annotated[int, Field(ge=0)]] = Field(description="key frames, 0-based, ascending", min_length=1)
    rotations: dict[str, Annotated[list[Quat], Field(min_length=1)]] = Field(
        description="bone name -> one quaternion (w, x, y, z) per key frame", min_length=1)


class InbetweenJob(DiffusionFields):
    """Fill a clip around keyed (possibly partial) poses (diffusion in-betweener): `keys` as hand poses, or
    `key_bones` with `rig` (the animator's keyed poses as bone rotations; rotations are keyed, not positions)."""

    task: Literal["inbetween"]
    keys: dict[FrameNumber, KeyPose] | None = Field(
        None, description='{"frame": {"left"|"right": {part: values}}}, frames 0-based (or send `key_bones`)',
        min_length=1, json_schema_extra={"additionalProperties": False})
    key_bones: KeyBones | None = Field(None, description="instead of `keys`: the keyed poses as the rig's bones")
    n_frames: Annotated[int, Field(ge=2)] = Field(description="frames of the result")
    fps: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 30.0
    hands: list[Side] | None = Field(None, description="hands in the result (default: every keyed hand)")


class CaptionJob(MotionInput):
    """Motion to text: "rules" (the rule-based captioner, always available) or "lm" (the language model)."""

    task: Literal["caption"]
    method: Literal["rules", "lm"] = "rules"
    kind: Literal["script", "semantic", "interaction", "articulation"] = Field(
        "script", description="what an lm caption talks about")
    seed: Seed = Field(0, description="wording of rule captions")
    variants: Annotated[int, Field(ge=1, le=10)] = Field(1, description="rule captions per level")


class ReactJob(DiffusionFields, MotionInput):
    """The other hand generated for the `given` hand, which is kept exactly."""

    task: Literal["react"]
    given: Side
    mirror: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description="how strongly the other hand is drawn to the given hand's mirror image (0: the model's "
                          "own reaction; default: the engine's)")


class RefineJob(MotionInput):
    """Find malformed hand poses and re-synthesise only those frames and joints (the in-betweener's weights);
    every other value comes back exactly as sent."""

    task: Literal["refine"]
    strength: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | Literal["auto"] = Field(
        DEFAULT_STRENGTH, description="control strength: 0 the model's own fill, 1 the detected pose made "
                                      "plausible; \"auto\" picks the lowest strength that repairs as well")
    seed: Seed = 0
    steps: Annotated[int, Field(ge=1, le=1000)] = Field(20, description="DDIM denoising steps per repair")
    dilate: Annotated[int, Field(ge=0, le=60)] = Field(
        2, description="frames repaired around each defect that does not start and end with a jump or a gap")


JobRequest = Annotated[Union[GenerateJob, InbetweenJob, CaptionJob, ReactJob, RefineJob], Field(discriminator="task")]


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable, e.g. invalid_request, weights_missing, queue_full")
    message: str = Field(description="one line for people, naming the field at fault")


class ErrorResponse(BaseModel):
    error: ErrorBody


class JobCreated(BaseModel):
    job_id: str
    state: str


class Timings(BaseModel):
    queued_s: float | None = Field(None, description="waiting for a worker")
    run_s: float | None = Field(None, description="in the worker, loading included")
    compute_s: float | None = Field(None, description="inside the engine call")


class RigResult(BaseModel):
    """What a job with `rig` adds to its result."""

    bone_map: dict[str, Any] | None = Field(None, description="the bone map used, as sent or detected (BoneMap "
                                                              "JSON): show it, edit it, send it back as rig.bone_map")
    preset: str | None = Field(None, description="the bone map's rig family: rigify, mixamo, ..., generic, custom")
    rotation_modes: dict[str, str] | None = Field(None, description="the keyed bones' `rotation_mode`s (the "
                                                                    "values in `bones` are quaternions whatever it is)")


BoneKeys = dict[str, list[Quat]]


class GenerateResult(RigResult):
    motions: list[MotionWire]
    bones: list[BoneKeys] | None = Field(None, description="with `rig`: per sample, bone -> (T, 4) (w, x, y, z)")


class MotionResult(RigResult):
    motion: MotionWire
    bones: BoneKeys | None = Field(None, description="with `rig`: bone -> (T, 4) local quaternions (w, x, y, z)")


class RefineResult(MotionResult):
    report: dict[str, Any] = Field(description="strength used, the input's findings, values repaired, findings "
                                               "left, the auto sweep")


class CaptionResult(RigResult):
    method: Literal["rules", "lm"]
    text: str = Field(description="the caption (rules: the first semantic variant)")
    kind: str | None = None
    captions: dict[str, Any] | None = Field(None, description="rules: semantic / interaction / articulation "
                                                              "variants, gestures and events")


class JobStatus(BaseModel):
    job_id: str
    task: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    stage: str = Field(description="queued, loading, generating, checking, denoising, captioning, retargeting, "
                                   "encoding, done, ...")
    created_at: float
    timings: Timings
    result: GenerateResult | RefineResult | MotionResult | CaptionResult | None = None
    error: ErrorBody | None = None


class ModelState(BaseModel):
    available: bool
    loaded: bool
    path: str | None = None
    reason: str | None = None


class TaskState(BaseModel):
    available: bool
    reason: str | None = None
    methods: dict[str, bool] | None = Field(None, description="caption: whether each method can run")


class QueueState(BaseModel):
    queued: int
    running: int
    kept: int = Field(description="finished jobs whose results are still kept")
    max_queued: int
    workers: int
    worker_restarts: int


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    device: str
    auth: bool = Field(description="whether requests need a bearer token")
    models: dict[str, ModelState]
    tasks: dict[str, TaskState]
    limits: dict[str, int | float]
    queue: QueueState
