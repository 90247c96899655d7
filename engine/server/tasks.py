"""What each job task does: checks at submission (`prepare`, 4xx errors) and the engine call in a worker
(`run`). Adding a task is one `TASKS` entry.

Wire motion (or a rig's bone rotations) becomes `HandMotion` at submission, and a job's `rig` is
checked then too (`rig.py`), so malformed input is refused before it is queued; results go back
through `engine.io.wire.motion_to_wire`, with the rig's bone rotations beside them when a rig was sent.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import HandMotionError, MotionFormatError
from ..io.wire import WIRE_DECIMALS, motion_from_wire, motion_to_wire
from ..motion import HandMotion
from .config import COMPONENTS, Limits, ServerConfig
from .jobs import ApiError, Job, JobContext
from .rig import RigInput, bones_to_motion, job_rig, prepare_rig, with_rig
from .schemas import BonesWire, CaptionJob, GenerateJob, InbetweenJob, MotionInput, MotionWire, ReactJob, RefineJob

log = logging.getLogger(__name__)

HOW_TO_GET = {
    "tokenizer": "train one with `handmotion train tokenizer data=DATA out=runs/tok` and install it with "
                 "`handmotion weights install runs/tok tokenizer`, or start the server with --tokenizer DIR",
    "lm": "train one with `handmotion train lm data=DATA out=runs/lm` and install it with "
          "`handmotion weights install runs/lm lm`, or start the server with --lm DIR",
    "inbetween": "train one with `handmotion train inbetween data=DATA out=runs/ib` and start the server "
                 "with --inbetween runs/ib",
}
NAMES = {"tokenizer": "SHIFT tokenizer", "lm": "language model", "inbetween": "in-betweener"}


class Models:
    """The weights folders the server serves, whether each has weights, and loading them once per device
    (under one lock, so two workers never load the same model twice)."""

    def __init__(self, config: ServerConfig):
        self.dirs = {c: config.weights_dir(c) for c in COMPONENTS}
        self.loaded: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def available(self, component: str) -> bool:
        d = self.dirs[component]
        return (d / "config.json").is_file() and (d / "model.safetensors").is_file()

    def missing(self, components: tuple[str, ...]) -> list[str]:
        return [c for c in components if not self.available(c)]

    def require(self, components: tuple[str, ...]) -> None:
        """ApiError 409 `weights_missing` naming the first component without weights and how to get them."""
        for c in self.missing(components):
            raise ApiError(409, "weights_missing", f"the {NAMES[c]} ({c}) has no weights in {self.dirs[c]}: "
                                                   f"{HOW_TO_GET[c]}")

    def is_loaded(self, component: str, device: str) -> bool:
        return (component, device) in self.loaded

    def ensure(self, component: str, device: str) -> None:
        """Load `component` on `device` into the pipeline's cache if it is not there yet."""
        from .. import pipeline

        if (component, device) in self.loaded:
            return
        getter = {"tokenizer": pipeline.get_tokenizer, "lm": pipeline.get_lm,
                  "inbetween": pipeline.get_inbetweener}[component]
        with self._lock:
            if (component, device) not in self.loaded:
                log.info("loading the %s from %s on %s", NAMES[component], self.dirs[component], device)
                try:
                    getter(self.dirs[component], device)
                except HandMotionError as exc:
                    raise ApiError(409, "weights_invalid", f"cannot load the {NAMES[component]}: {exc}") from None
                except Exception as exc:  # a corrupt or foreign file: safetensors, torch or JSON errors
                    log.exception("loading the %s from %s failed", NAMES[component], self.dirs[component])
                    raise ApiError(409, "weights_invalid", f"cannot load the {NAMES[component]} from "
                                   f"{self.dirs[component]}: {type(exc).__name__}: {exc}") from None
                self.loaded.add((component, device))

    def ensure_text_encoder(self) -> None:
        """The MiniLM sentence encoder used for in-betweener text (CPU, loaded once)."""
        from ..models.text import sentence_embeddings

        if ("text", "cpu") in self.loaded:
            return
        with self._lock:
            if ("text", "cpu") not in self.loaded:
                sentence_embeddings(["warm up"])
                self.loaded.add(("text", "cpu"))


@dataclass(frozen=True)
class Task:
    """`components`: the weights it needs; `methods`: more weights per value of the request's `method`
    field; `prepare(request, config)`: the checked payload (raises HandMotionError / ApiError) at
    submission; `run(payload, ctx, models)`: the JSON-ready result, in a worker."""

    components: tuple[str, ...]
    prepare: Callable[[Any, ServerConfig], Any]
    run: Callable[[Any, JobContext, Models], dict]
    methods: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def needs(self, request) -> tuple[str, ...]:
        return self.components + self.methods.get(getattr(request, "method", None), ())


# --- input checks -------------------------------------------------------------------------------

def _fields(model) -> dict[str, Any]:
    """A pydantic model's fields that are set, without copying their values."""
    return {k: getattr(model, k) for k in type(model).model_fields if getattr(model, k) is not None}


def _limit(ok: bool, message: str) -> None:
    if not ok:
        raise ApiError(422, "limit_exceeded", message)


def _check_text(text: str | None, where: str, limits: Limits) -> None:
    if text is None:
        return
    if not text.strip():
        raise ApiError(422, "invalid_request", f"{where}: is blank; leave it out for no text")
    _limit(len(text) <= limits.max_prompt_chars, f"{where}: {len(text)} characters, the limit is "
                                                 f"{limits.max_prompt_chars}")


def wire_to_motion(wire: MotionWire, limits: Limits, where: str = "motion") -> HandMotion:
    """A validated `MotionWire` -> HandMotion (MotionFormatError naming the field), within the limits."""
    obj: dict[str, Any] = {"fps": wire.fps}
    for side in ("left", "right"):
        hand = getattr(wire, side)
        if hand is not None:
            obj[side] = _fields(hand)
    n = max((len(h["global_orient"]) for h in (obj.get("left"), obj.get("right")) if h), default=0)
    _limit(n <= limits.max_frames, f"{where}: {n} frames, the limit is {limits.max_frames}")
    motion = motion_from_wire(obj, where=where)
    if motion.n_frames < 1:
        raise MotionFormatError(f"{where}: has no frames")
    _limit(motion.duration <= limits.max_seconds + 1e-9,
           f"{where}: {motion.duration:.2f} s long, the limit is {limits.max_seconds:g} s")
    return motion


def input_motion(req: MotionInput, limits: Limits, rig: RigInput | None) -> HandMotion:
    """The clip of a job that reads one: `motion`, or `bones` read back through `rig`."""
    if req.motion is not None and req.bones is not None:
        raise ApiError(422, "invalid_request", "motion, bones: send one of them, not both")
    if req.bones is not None:
        if rig is None:
            raise ApiError(422, "invalid_request", "bones: needs `rig`, the armature the rotations belong to")
        return bones_to_motion(rig, req.bones, limits)
    if req.motion is None:
        raise ApiError(422, "invalid_request", "motion: Field required (or send `bones` with `rig`)")
    return wire_to_motion(req.motion, limits)


def json_ready(value: Any) -> Any:
    """numpy scalars and arrays -> Python numbers and lists, recursively; a float that is not finite -> None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _wire(motion: HandMotion) -> dict:
    """A result's motion on the wire (numbers rounded to WIRE_DECIMALS)."""
    return motion_to_wire(motion, WIRE_DECIMALS)


# --- generate -----------------------------------------------------------------------------------

@dataclass
class GenerateInput:
    req: GenerateJob
    rig: RigInput | None


def _prepare_generate(req: GenerateJob, config: ServerConfig) -> GenerateInput:
    limits = config.limits
    _check_text(req.prompt, "prompt", limits)
    _limit(req.samples <= limits.max_samples, f"samples: {req.samples}, the limit is {limits.max_samples}")
    _limit(req.seconds <= limits.max_seconds, f"seconds: {req.seconds:g}, the limit is {limits.max_seconds:g}")
    frames = int(round(req.seconds * req.fps)) + 1
    _limit(frames <= limits.max_frames, f"seconds x fps: {frames} frames, the limit is {limits.max_frames}")
    sides = ("left", "right") if req.hands == "both" else (req.hands,)
    return GenerateInput(req, job_rig(req, sides, f"the result (hands: {req.hands})"))


def _run_generate(job: GenerateInput, ctx: JobContext, models: Models) -> dict:
    from ..pipeline import generate

    req = job.req
    ctx.report(0.02, "loading")
    models.ensure("lm", ctx.device)
    models.ensure("tokenizer", ctx.device)
    with ctx.compute("generating", 0.1):
        motions = generate(req.prompt.strip(), req.seconds, req.fps, req.seed, req.samples, req.temperature,
                           req.top_k, req.top_p, models.dirs["lm"], models.dirs["tokenizer"], ctx.device, req.guidance,
                           req.rerank)
    if req.hands != "both":
        motions = [HandMotion(m.fps, **{req.hands: m.track(req.hands)}) for m in motions]
    return with_rig({"motions": [_wire(m) for m in motions]}, job.rig, motions, ctx, many=True)


# --- caption ------------------------------------------------------------------------------------

@dataclass
class CaptionInput:
    req: CaptionJob
    motion: HandMotion
    rig: RigInput | None = None
    mano_dir: str | None = None


def _prepare_caption(req: CaptionJob, config: ServerConfig) -> CaptionInput:
    if req.rig is not None and req.bones is None:
        raise ApiError(422, "invalid_request", "rig: a caption has no motion to retarget; send `rig` with `bones` "
                                               "to caption a rig's animation")
    rig = job_rig(req, None, "")
    return CaptionInput(req, input_motion(req, config.limits, rig), rig, config.mano_dir)


def _run_caption(job: CaptionInput, ctx: JobContext, models: Models) -> dict:
    req = job.req
    extra = job.rig.fields() if job.rig is not None else {}
    if req.method == "rules":
        from ..caption.describe import describe

        with ctx.compute("captioning", 0.1):
            caps = describe(job.motion, seed=req.seed, n=req.variants, mano_dir=job.mano_dir)
        return {"method": "rules", "text": caps.semantic[0] if caps.semantic else "", "kind": None,
                "captions": caps.to_dict(), **extra}
    from ..pipeline import caption_lm

    ctx.report(0.02, "loading")
    models.ensure("lm", ctx.device)
    models.ensure("tokenizer", ctx.device)
    with ctx.compute("captioning", 0.1):
        text = caption_lm(job.motion, req.kind, models.dirs["lm"], models.dirs["tokenizer"], ctx.device)
    return {"method": "lm", "text": text, "kind": req.kind, "captions": None, **extra}


# --- inbetween and react (diffusion) ------------------------------------------------------------

def _load_inbetweener(req, ctx: JobContext, models: Models) -> None:
    """The in-betweener (and the sentence encoder when the job has text) loaded for a diffusion job."""
    ctx.report(0.02, "loading")
    models.ensure("inbetween", ctx.device)
    if req.text:
        models.ensure_text_encoder()


def _text(req) -> str | None:
    return req.text.strip() if req.text else None


def _check_diffusion(req, limits: Limits) -> None:
    _check_text(req.text, "text", limits)
    _limit(req.steps <= limits.max_steps, f"steps: {req.steps}, the limit is {limits.max_steps}")


def _diffusion(req):
    from ..pipeline import Diffusion

    return Diffusion(req.seed, req.steps, req.guidance, req.strength, req.mode)


@dataclass
class InbetweenInput:
    req: InbetweenJob
    keys: dict
    rig: RigInput | None = None


def _prepare_inbetween(req: InbetweenJob, config: ServerConfig) -> InbetweenInput:
    from ..keys import keyed_hands, keys_to_features

    limits = config.limits
    _check_diffusion(req, limits)
    _limit(req.n_frames <= limits.max_frames, f"n_frames: {req.n_frames}, the limit is {limits.max_frames}")
    _limit((req.n_frames - 1) / req.fps <= limits.max_seconds + 1e-9,
           f"n_frames / fps: {(req.n_frames - 1) / req.fps:.4g} s, the limit is {limits.max_seconds:g} s")
    if (req.keys is None) == (req.key_bones is None):
        raise ApiError(422, "invalid_request", "send the in-between keys as `keys` or as `key_bones` (with `rig`)")
    if req.keys is not None:
        keys: dict = {}
        for frame, pose in req.keys.items():  # frames are digit strings (the schema's pattern)
            keys[int(frame)] = {side: _fields(hand) for side, hand in _fields(pose).items()}
    else:
        keys = _keys_from_bones(req, limits)
    try:
        keys_to_features(keys, req.n_frames)  # every key checked now, not in the worker
    except HandMotionError as exc:
        raise ApiError(422, "invalid_keys", f"keys: {exc}") from None
    sides = req.hands or keyed_hands(keys)
    return InbetweenInput(req, keys, job_rig(req, sides, f"the result (hands: {', '.join(sides)})"))


def _keys_from_bones(req: InbetweenJob, limits: Limits) -> dict:
    """`key_bones` read back through the rig (`rig_to_mano`): whole-hand rotation keys at its frames."""
    kb = req.key_bones
    if req.rig is None:
        raise ApiError(422, "invalid_request", "key_bones: needs `rig` (the armature the bones belong to)")
    frames = list(kb.frames)
    if frames != sorted(set(frames)):
        raise ApiError(422, "invalid_keys", "key_bones.frames: must be ascending without repeats")
    if frames[-1] >= req.n_frames:
        raise ApiError(422, "invalid_keys", f"key_bones.frames: frame {frames[-1]} is outside the clip "
                                            f"(0-{req.n_frames - 1})")
    for bone, quats in kb.rotations.items():
        if len(quats) != len(frames):
            raise ApiError(422, "invalid_keys", f"key_bones.rotations.{bone}: {len(quats)} rotations for "
                                                f"{len(frames)} key frames")
    poses = bones_to_motion(prepare_rig(req.rig), BonesWire(fps=req.fps, rotations=kb.rotations), limits)
    return {f: {side: {"global_orient": track.global_orient[i], "hand_pose": track.hand_pose[i]}
                for side, track in poses.hands()} for i, f in enumerate(frames)}


def _run_inbetween(job: InbetweenInput, ctx: JobContext, models: Models) -> dict:
    from ..pipeline import inbetween

    req = job.req
    _load_inbetweener(req, ctx, models)
    with ctx.compute("denoising", 0.1):
        out = inbetween(job.keys, req.n_frames, req.fps, _text(req),
                        diffusion=_diffusion(req), weights=models.dirs["inbetween"], device=ctx.device,
                        hands=tuple(req.hands) if req.hands else None, progress=ctx.steps("denoising", 0.1, 0.95))
    return with_rig({"motion": _wire(out)}, job.rig, [out], ctx)


@dataclass
class ReactInput:
    req: ReactJob
    motion: HandMotion
    rig: RigInput | None = None


def _prepare_react(req: ReactJob, config: ServerConfig) -> ReactInput:
    _check_diffusion(req, config.limits)
    rig = job_rig(req, None, "")
    motion = input_motion(req, config.limits, rig)
    where = "motion" if req.bones is None else "bones"
    if getattr(motion, req.given) is None:
        raise ApiError(422, "invalid_motion", f"{where}: has no {req.given} hand to react to (given: {req.given})")
    if motion.n_frames < 2:
        raise ApiError(422, "invalid_motion", f"{where}: at least 2 frames are needed")
    if rig is not None:
        rig.require(("left", "right"), "the result (both hands)")
    return ReactInput(req, motion, rig)


def _run_react(job: ReactInput, ctx: JobContext, models: Models) -> dict:
    from ..pipeline import react

    req = job.req
    _load_inbetweener(req, ctx, models)
    with ctx.compute("denoising", 0.1):
        out = react(job.motion, req.given, _text(req), diffusion=_diffusion(req),
                    weights=models.dirs["inbetween"], device=ctx.device, progress=ctx.steps("denoising", 0.1, 0.95),
                    mirror=req.mirror)
    return with_rig({"motion": _wire(out)}, job.rig, [out], ctx)


# --- refine -------------------------------------------------------------------------------------

@dataclass
class RefineInput:
    req: RefineJob
    motion: HandMotion
    rig: RigInput | None = None


def _prepare_refine(req: RefineJob, config: ServerConfig) -> RefineInput:
    _limit(req.steps <= config.limits.max_steps, f"steps: {req.steps}, the limit is {config.limits.max_steps}")
    rig = job_rig(req, None, "")
    motion = input_motion(req, config.limits, rig)
    if rig is not None:
        rig.require(motion.sides, "the motion")
    return RefineInput(req, motion, rig)


def _attempts_progress(ctx: JobContext, attempts: int, start: float, end: float) -> Callable[[int, int], None]:
    """A `progress(step, steps)` callback over `attempts` denoising runs in a row (strength "auto" tries
    every strength of `engine.repair.STRENGTHS`), mapped onto [start, end] under "denoising"."""
    done = 0

    def update(step: int, steps: int) -> None:
        nonlocal done
        ctx.report(start + (end - start) * min((done + step / max(steps, 1)) / attempts, 1.0), "denoising")
        if step >= steps:
            done += 1
    return update


def _run_refine(job: RefineInput, ctx: JobContext, models: Models) -> dict:
    from ..refine import detect
    from ..repair import STRENGTHS, refine

    req = job.req
    if not models.is_loaded("inbetween", ctx.device):
        with ctx.compute("checking", 0.02):  # a clean clip comes back without loading the model
            flagged = not detect(job.motion).clean
        if flagged:
            ctx.report(0.05, "loading")
            models.ensure("inbetween", ctx.device)
    attempts = len(STRENGTHS) if req.strength == "auto" else 1
    with ctx.compute("denoising", 0.1):
        done = refine(job.motion, req.strength, seed=req.seed, steps=req.steps, dilate=req.dilate,
                      weights=models.dirs["inbetween"], device=ctx.device,
                      progress=_attempts_progress(ctx, attempts, 0.1, 0.95))
    result = {"motion": _wire(done.motion), "report": json_ready(done.report())}
    return with_rig(result, job.rig, [done.motion], ctx)


TASKS: dict[str, Task] = {
    "generate": Task(("lm", "tokenizer"), _prepare_generate, _run_generate),
    "caption": Task((), _prepare_caption, _run_caption, {"rules": (), "lm": ("lm", "tokenizer")}),
    "inbetween": Task(("inbetween",), _prepare_inbetween, _run_inbetween),
    "react": Task(("inbetween",), _prepare_react, _run_react),
    "refine": Task(("inbetween",), _prepare_refine, _run_refine),
}


def make_runner(models: Models) -> Callable[[Job, JobContext], dict]:
    """The `JobManager` runner: the job's task run on its prepared payload."""
    def run(job: Job, ctx: JobContext) -> dict:
        return TASKS[job.task].run(job.payload, ctx, models)
    return run
