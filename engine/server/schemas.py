"""Request and response bodies of the HTTP API (pydantic); the OpenAPI schema is generated from them.

Motion on the wire is DESIGN.md's JSON (`engine/io/wire.py`): `{fps, left: {global_orient (T,3),
hand_pose (T,15,3) or (T,45), transl (T,3), betas?, valid?}, right: {...}}`. Results always carry
`hand_pose` as (T,15,3). Every number must be finite: NaN and infinity are refused with the field named.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ..pipeline import MAX_SECONDS

Finite = Annotated[float, Field(allow_inf_nan=False)]
Vec3 = Annotated[list[Finite], Field(min_length=3, max_length=3)]
Pose15 = Annotated[list[Vec3], Field(min_length=15, max_length=15, description="15 finger joints x axis-angle")]
Pose45 = Annotated[list[Finite], Field(min_length=45, max_length=45, description="15 x 3 axis-angles, flattened")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="sampling seed; the same seed gives the same result")]
Side = Literal["left", "right"]
FrameNumber = Annotated[str, Field(pattern=r"^[0-9]{1,7}$")]
TASK_NAMES = ("generate", "inbetween", "caption", "refine", "react")


class Strict(BaseModel):
    """A body part whose unknown fields are refused (a typo is an error, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class HandWire(Strict):
    """One hand over T frames: axis-angle rotations (radians), MANO joint order, translation in metres."""

    global_orient: list[Vec3] = Field(description="(T, 3) wrist orientation, axis-angle", min_length=1)
    hand_pose: Annotated[list[Pose15], Field(min_length=1)] | Annotated[list[Pose45], Field(min_length=1)] = Field(
        description="(T, 15, 3) finger joints, axis-angle, flat hand = 0; (T, 45) accepted on input")
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


RIG_FIELD = Field(None, description="reserved: a rig (bone names, parents, rest matrices, bone map) to retarget "
                                    "the result onto; retargeting is not in this build, so a job with a rig is "
                                    "refused with `not_available`")


class JobBase(Strict):
    rig: dict[str, Any] | None = RIG_FIELD


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
        1.0, description="0: greedy; otherwise at least 0.01")
    top_k: Annotated[int, Field(ge=0, le=100000)] = Field(0, description="0: no top-k filter")
    top_p: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.95
    hands: Literal["both", "left", "right"] = Field("both", description="which hands the result keeps")


class InbetweenJob(DiffusionFields):
    """Fill a clip around keyed (possibly partial) poses (diffusion in-betweener)."""

    task: Literal["inbetween"]
    keys: dict[FrameNumber, KeyPose] = Field(description='{"frame": {"left"|"right": {part: values}}}, frames 0-based',
                                             min_length=1, json_schema_extra={"additionalProperties": False})
    n_frames: Annotated[int, Field(ge=2)] = Field(description="frames of the result")
    fps: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 30.0
    hands: list[Side] | None = Field(None, description="hands in the result (default: every keyed hand)")


class CaptionJob(JobBase):
    """Motion to text: "rules" (the rule-based captioner, always available) or "lm" (the language model)."""

    task: Literal["caption"]
    motion: MotionWire
    method: Literal["rules", "lm"] = "rules"
    kind: Literal["script", "semantic", "interaction", "articulation"] = Field(
        "script", description="what an lm caption talks about")
    seed: Seed = Field(0, description="wording of rule captions")
    variants: Annotated[int, Field(ge=1, le=10)] = Field(1, description="rule captions per level")


class ReactJob(DiffusionFields):
    """The other hand generated for the `given` hand, which is kept exactly."""

    task: Literal["react"]
    motion: MotionWire
    given: Side


class RefineJob(JobBase):
    """Find malformed hand poses and re-synthesise only those frames (not in this build)."""

    task: Literal["refine"]
    motion: MotionWire
    strength: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None


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


class GenerateResult(BaseModel):
    motions: list[MotionWire]


class MotionResult(BaseModel):
    motion: MotionWire


class CaptionResult(BaseModel):
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
    stage: str = Field(description="queued, loading, generating, denoising, captioning, encoding, done, ...")
    created_at: float
    timings: Timings
    result: GenerateResult | MotionResult | CaptionResult | None = None
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
