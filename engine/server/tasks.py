"""What each job task does: checks at submission (`prepare`, 4xx errors) and the engine call in a worker
(`run`). Adding a task (e.g. the refiner) is one `TASKS` entry.

Wire motion becomes `HandMotion` at submission, so malformed input is refused before it is queued;
results go back through `engine.io.wire.motion_to_wire`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import HandMotionError, MotionFormatError
from ..io.wire import motion_from_wire, motion_to_wire
from ..motion import HandMotion
from .config import COMPONENTS, Limits, ServerConfig
from .jobs import ApiError, Job, JobContext
from .schemas import CaptionJob, GenerateJob, InbetweenJob, MotionWire, ReactJob

log = logging.getLogger(__name__)

HOW_TO_GET = {
    "tokenizer": "train one with `handmotion train tokenizer data=DATA out=runs/tok` and install it with "
                 "`handmotion weights install runs/tok tokenizer`, or start the server with --tokenizer DIR",
    "lm": "train one with `handmotion train lm data=DATA out=runs/lm` and install it with "
          "`handmotion weights install runs/lm lm`, or start the server with --lm DIR",
    "inbetween": "train one with `handmotion train inbetween data=DATA out=runs/ib` and start the server "
                 "with --inbetween runs/ib",
}
MIN_TEMPERATURE = 0.01
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


def _no_rig(req) -> None:
    if req.rig is not None:
        raise ApiError(409, "not_available", "rig: retargeting onto a rig is not in this build yet; send the job "
                                             "without `rig` and retarget the MANO result")


def _wire_motions(motions: list[HandMotion]) -> list[dict]:
    return [motion_to_wire(m) for m in motions]


# --- generate -----------------------------------------------------------------------------------

def _prepare_generate(req: GenerateJob, config: ServerConfig) -> GenerateJob:
    limits = config.limits
    _no_rig(req)
    _check_text(req.prompt, "prompt", limits)
    _limit(req.samples <= limits.max_samples, f"samples: {req.samples}, the limit is {limits.max_samples}")
    if 0 < req.temperature < MIN_TEMPERATURE:  # logits / T overflows; such a temperature is greedy anyway
        raise ApiError(422, "invalid_request", f"temperature: {req.temperature:g} is too small; use 0 for greedy "
                                               f"decoding or at least {MIN_TEMPERATURE:g}")
    _limit(req.seconds <= limits.max_seconds, f"seconds: {req.seconds:g}, the limit is {limits.max_seconds:g}")
    frames = int(round(req.seconds * req.fps)) + 1
    _limit(frames <= limits.max_frames, f"seconds x fps: {frames} frames, the limit is {limits.max_frames}")
    return req


def _run_generate(req: GenerateJob, ctx: JobContext, models: Models) -> dict:
    from ..pipeline import generate

    ctx.report(0.02, "loading")
    models.ensure("lm", ctx.device)
    models.ensure("tokenizer", ctx.device)
    with ctx.compute("generating", 0.1):
        motions = generate(req.prompt.strip(), req.seconds, req.fps, req.seed, req.samples, req.temperature,
                           req.top_k, req.top_p, models.dirs["lm"], models.dirs["tokenizer"], ctx.device)
    if req.hands != "both":
        motions = [HandMotion(m.fps, **{req.hands: m.track(req.hands)}) for m in motions]
    return {"motions": _wire_motions(motions)}


# --- caption ------------------------------------------------------------------------------------

@dataclass
class CaptionInput:
    req: CaptionJob
    motion: HandMotion
    mano_dir: str | None = None


def _prepare_caption(req: CaptionJob, config: ServerConfig) -> CaptionInput:
    _no_rig(req)
    return CaptionInput(req, wire_to_motion(req.motion, config.limits), config.mano_dir)


def _run_caption(job: CaptionInput, ctx: JobContext, models: Models) -> dict:
    req = job.req
    if req.method == "rules":
        from ..caption.describe import describe

        with ctx.compute("captioning", 0.1):
            caps = describe(job.motion, seed=req.seed, n=req.variants, mano_dir=job.mano_dir)
        return {"method": "rules", "text": caps.semantic[0] if caps.semantic else "", "kind": None,
                "captions": caps.to_dict()}
    from ..pipeline import caption_lm

    ctx.report(0.02, "loading")
    models.ensure("lm", ctx.device)
    models.ensure("tokenizer", ctx.device)
    with ctx.compute("captioning", 0.1):
        text = caption_lm(job.motion, req.kind, models.dirs["lm"], models.dirs["tokenizer"], ctx.device)
    return {"method": "lm", "text": text, "kind": req.kind, "captions": None}


# --- inbetween and react (diffusion) ------------------------------------------------------------

def _check_diffusion(req, limits: Limits) -> None:
    _no_rig(req)
    _check_text(req.text, "text", limits)
    _limit(req.steps <= limits.max_steps, f"steps: {req.steps}, the limit is {limits.max_steps}")


def _diffusion(req):
    from ..pipeline import Diffusion

    return Diffusion(req.seed, req.steps, req.guidance, req.strength, req.mode)


@dataclass
class InbetweenInput:
    req: InbetweenJob
    keys: dict


def _prepare_inbetween(req: InbetweenJob, config: ServerConfig) -> InbetweenInput:
    from ..keys import keys_to_features

    limits = config.limits
    _check_diffusion(req, limits)
    _limit(req.n_frames <= limits.max_frames, f"n_frames: {req.n_frames}, the limit is {limits.max_frames}")
    _limit((req.n_frames - 1) / req.fps <= limits.max_seconds + 1e-9,
           f"n_frames / fps: {(req.n_frames - 1) / req.fps:.4g} s, the limit is {limits.max_seconds:g} s")
    keys: dict = {}
    for frame, pose in req.keys.items():  # frames are digit strings (the schema's pattern)
        keys[int(frame)] = {side: _fields(hand) for side, hand in _fields(pose).items()}
    try:
        keys_to_features(keys, req.n_frames)  # every key checked now, not in the worker
    except HandMotionError as exc:
        raise ApiError(422, "invalid_keys", f"keys: {exc}") from None
    return InbetweenInput(req, keys)


def _run_inbetween(job: InbetweenInput, ctx: JobContext, models: Models) -> dict:
    from ..pipeline import inbetween

    req = job.req
    ctx.report(0.02, "loading")
    models.ensure("inbetween", ctx.device)
    if req.text:
        models.ensure_text_encoder()
    with ctx.compute("denoising", 0.1):
        out = inbetween(job.keys, req.n_frames, req.fps, req.text.strip() if req.text else None,
                        diffusion=_diffusion(req), weights=models.dirs["inbetween"], device=ctx.device,
                        hands=tuple(req.hands) if req.hands else None, progress=ctx.steps("denoising", 0.1, 0.95))
    return {"motion": motion_to_wire(out)}


@dataclass
class ReactInput:
    req: ReactJob
    motion: HandMotion


def _prepare_react(req: ReactJob, config: ServerConfig) -> ReactInput:
    _check_diffusion(req, config.limits)
    motion = wire_to_motion(req.motion, config.limits)
    if getattr(motion, req.given) is None:
        raise ApiError(422, "invalid_motion", f"motion: has no {req.given} hand to react to (given: {req.given})")
    if motion.n_frames < 2:
        raise ApiError(422, "invalid_motion", "motion: at least 2 frames are needed")
    return ReactInput(req, motion)


def _run_react(job: ReactInput, ctx: JobContext, models: Models) -> dict:
    from ..pipeline import react

    req = job.req
    ctx.report(0.02, "loading")
    models.ensure("inbetween", ctx.device)
    if req.text:
        models.ensure_text_encoder()
    with ctx.compute("denoising", 0.1):
        out = react(job.motion, req.given, req.text.strip() if req.text else None, diffusion=_diffusion(req),
                    weights=models.dirs["inbetween"], device=ctx.device, progress=ctx.steps("denoising", 0.1, 0.95))
    return {"motion": motion_to_wire(out)}


TASKS: dict[str, Task] = {
    "generate": Task(("lm", "tokenizer"), _prepare_generate, _run_generate),
    "caption": Task((), _prepare_caption, _run_caption, {"rules": (), "lm": ("lm", "tokenizer")}),
    "inbetween": Task(("inbetween",), _prepare_inbetween, _run_inbetween),
    "react": Task(("inbetween",), _prepare_react, _run_react),
}
NOT_IN_BUILD = {"refine": "the refiner is not in this build yet"}


def make_runner(models: Models) -> Callable[[Job, JobContext], dict]:
    """The `JobManager` runner: the job's task run on its prepared payload."""
    def run(job: Job, ctx: JobContext) -> dict:
        return TASKS[job.task].run(job.payload, ctx, models)
    return run
