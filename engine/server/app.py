"""The HTTP API (FastAPI): routes, the request guard (token, body size) and JSON errors.

    GET    /v1/health              version, device, models, tasks, limits, queue
    POST   /v1/jobs                {"task": "generate" | "inbetween" | "caption" | "refine" | "react", ...}
                                   -> 202 {"job_id", "state"}
    GET    /v1/jobs/{id}[?wait=S]  {"state", "progress", "stage", "result" | "error", ...}; `wait` long-polls
    DELETE /v1/jobs/{id}           cancel (queued: removed; running: stopped at its next progress step)

Every error is `{"error": {"code", "message"}}`: 4xx for anything a client can cause, a logged JSON 500
(`internal`) for bugs, never a traceback. (No `from __future__ import annotations` here: FastAPI reads
the route signatures, which refer to this module's locals.)
"""

import copy
import json
import logging
import threading
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import HandMotionError, MotionFormatError, MotionValueError
from .config import ServerConfig, token_matches
from .jobs import FINISHED, ApiError, JobManager
from .schemas import TASK_NAMES, ErrorResponse, Health, JobCreated, JobRequest, JobStatus
from .tasks import TASKS, Models, make_runner

log = logging.getLogger(__name__)

INLINE_PARSE_BYTES = 256 * 1024  # job bodies up to this size (a ~4 s clip) are parsed on the event loop itself
ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 415, 422, 429)}
# The job body is parsed and validated by pydantic straight from the bytes (several times faster than
# json.loads + validation for long clips); its schema goes into the OpenAPI document by hand.
JOB_REQUEST = TypeAdapter(JobRequest)
JOB_SCHEMA = JOB_REQUEST.json_schema(ref_template="#/components/schemas/{model}")
JOB_DEFS = JOB_SCHEMA.pop("$defs", {})
DRAIN_FACTOR = 2  # a body up to twice the limit is read to its end before the 413, larger ones are cut off
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                406: "not_acceptable", 413: "body_too_large", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _job_response(job) -> Response:
    return Response(job.status_json(), media_type="application/json")


# --- the guard: token and body size, before anything is parsed ----------------------------------

class RequestGuard:
    """ASGI middleware: 401 without the bearer token (when one is set); 415 for a body that is not JSON;
    413 when the body is larger than `max_body` bytes, from Content-Length or while it streams in,
    before any parsing."""

    def __init__(self, app, token: str | None, max_body: int):
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.token is not None:
            auth = headers.get(b"authorization", b"").decode("latin-1")
            if not token_matches(auth, self.token):
                await _send(send, 401, "unauthorized", "this server needs `Authorization: Bearer <token>`",
                            [(b"www-authenticate", b"Bearer")])
                return
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json" and not kind.endswith(b"+json"):
                await _send(send, 415, "unsupported_media_type",
                            "send the body as JSON with `Content-Type: application/json`")
                return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send(send, 400, "bad_request", "Content-Length is not a number")
                return
            if size > self.max_body:
                if size <= DRAIN_FACTOR * self.max_body:  # read and drop it, so the client hears the answer
                    await _drain(receive, DRAIN_FACTOR * self.max_body)
                await _send(send, 413, "body_too_large", f"the body is {size} bytes, the limit is {self.max_body}")
                return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                if more:
                    await _drain(receive, DRAIN_FACTOR * self.max_body - len(body))
                await _send(send, 413, "body_too_large", f"the body is over the limit of {self.max_body} bytes")
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _drain(receive, budget: int) -> None:
    """Read and discard the rest of a request body, at most `budget` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send(send, status: int, code: str, message: str, extra: list | None = None) -> None:
    data = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
               (b"connection", b"close")] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


# --- errors -------------------------------------------------------------------------------------

UNION_LABELS = {"str", "int", "float", "bool", "none", "dict", "list"}


def _union_label(part: str) -> bool:
    """Whether a location part names a union member ("list[...]", "constrained-float", "str"), not a field."""
    return "[" in part or part.startswith(("function-", "constrained-")) or part in UNION_LABELS


def _where(loc) -> str:
    """("body", "generate", "motion", "left", "transl", 3, 1) -> "motion.left.transl[3][1]"."""
    parts = list(loc)
    if parts[:1] == ["body"]:
        parts = parts[1:]
    if parts and parts[0] in TASK_NAMES:  # the discriminated union's branch
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p == "[key]":  # a dict key itself is at fault
            out += " (the key)"
        elif not _union_label(str(p)):
            out += ("." if out else "") + str(p)
    return out or "body"


def _validation_message(errors: list[dict]) -> tuple[int, str, str]:
    for e in errors:
        if e.get("type") == "json_invalid":
            return 400, "invalid_json", f"the body is not valid JSON ({e.get('msg', '')})"
        if e.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            got = e.get("input", {}).get("task") if isinstance(e.get("input"), dict) else None
            return 422, "invalid_request", (f"task: must be one of {', '.join(TASK_NAMES)}"
                                            + (f", got {got!r}" if got is not None else ""))
    seen, lines = set(), []
    for e in errors:
        line = f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
    return 422, "invalid_request", "; ".join(lines[:3]) + more


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _validation_message(list(exc.errors()))
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code >= 500:
            log.error("HTTP %d on %s: %s", exc.status_code, request.url.path, message)
        return error_response(exc.status_code, STATUS_CODES.get(exc.status_code, "http_error"), message,
                              getattr(exc, "headers", None))

    @app.exception_handler(HandMotionError)
    async def on_engine_error(request: Request, exc: HandMotionError) -> JSONResponse:
        if isinstance(exc, ApiError):
            return error_response(exc.status, exc.code, str(exc), {"Retry-After": "1"} if exc.status == 429 else None)
        code = "invalid_motion" if isinstance(exc, (MotionFormatError, MotionValueError)) else "invalid_input"
        return error_response(422, code, str(exc))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", f"internal error ({type(exc).__name__}); see the server log")


# --- the app ------------------------------------------------------------------------------------

def job_schemas(limits) -> dict[str, dict]:
    """The job bodies' JSON schemas with this server's limits written in (longest prompt, most samples,
    steps and frames), so the OpenAPI document says what the server accepts."""
    defs = copy.deepcopy(JOB_DEFS)
    caps = {("GenerateJob", "prompt", "maxLength"): limits.max_prompt_chars,
            ("GenerateJob", "seconds", "maximum"): limits.max_seconds,
            ("GenerateJob", "samples", "maximum"): limits.max_samples,
            ("InbetweenJob", "n_frames", "maximum"): limits.max_frames,
            ("InbetweenJob", "steps", "maximum"): limits.max_steps,
            ("ReactJob", "steps", "maximum"): limits.max_steps,
            ("RefineJob", "steps", "maximum"): limits.max_steps}
    for (model, name, key), value in caps.items():
        prop = defs[model]["properties"][name]
        prop[key] = min(prop.get(key, value), value)
    for model in ("InbetweenJob", "ReactJob"):
        text = defs[model]["properties"]["text"]
        for option in text.get("anyOf", [text]):
            if option.get("type") == "string":
                option["maxLength"] = limits.max_prompt_chars
    return defs


def worker_devices(config: ServerConfig) -> list[str]:
    """One device per worker: `config.workers` of them (default one per GPU, 1 on the CPU)."""
    import torch

    from ..pipeline import pick_device

    dev = pick_device(config.device)
    gpus = torch.cuda.device_count() if dev.type == "cuda" else 0
    n = config.workers or max(gpus, 1)
    if dev.type == "cuda" and dev.index is None and gpus > 1:
        return [f"cuda:{i % gpus}" for i in range(n)]
    return [str(dev)] * n


def _preload(models: Models, devices: list[str]) -> None:
    """Load every model that has weights on every worker device, so the first job does not wait."""
    for device in dict.fromkeys(devices):
        for component in ("tokenizer", "lm", "inbetween"):
            if models.available(component):
                try:
                    models.ensure(component, device)
                except HandMotionError as exc:  # reported again by every job that needs it
                    log.error("%s", exc)
    if models.available("inbetween"):
        try:
            models.ensure_text_encoder()
        except Exception:  # the jobs that need it report the error
            log.exception("cannot load the sentence encoder for in-betweening text")
    log.info("models loaded: %s", ", ".join(sorted(f"{c} ({d})" for c, d in models.loaded)) or "none")


def create_app(config: ServerConfig) -> FastAPI:
    """The FastAPI app for `config` (checked here: a non-loopback host without a token is refused)."""
    config.check()
    models = Models(config)
    devices = worker_devices(config)
    manager = JobManager(make_runner(models), devices, config.limits.max_queued, config.limits.result_ttl_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        manager.start()
        if config.preload:
            threading.Thread(target=_preload, args=(models, devices), name="preload", daemon=True).start()
        log.info("%d worker(s) on %s", len(devices), ", ".join(dict.fromkeys(devices)))
        yield
        manager.stop()

    app = FastAPI(title="HandMotion engine", version=__version__, lifespan=lifespan, redoc_url=None,
                  description="Two-hand finger and wrist motion: generate, in-between, caption, react, refine; "
                              "results retargeted onto a rig on request. "
                              "See docs/api.md.")
    app.state.config, app.state.models, app.state.manager = config, models, manager
    install_error_handlers(app)
    app.add_middleware(RequestGuard, token=config.token, max_body=config.limits.max_body_bytes)

    @app.get("/v1/health", response_model=Health, responses=ERRORS)
    def health() -> dict:
        models_state = {c: {"available": models.available(c), "loaded": any(k[0] == c for k in models.loaded),
                            "path": str(models.dirs[c])} for c in models.dirs}
        tasks = {}
        for name in TASK_NAMES:
            task = TASKS[name]
            missing = models.missing(task.components)
            tasks[name] = {"available": not missing,
                           "reason": f"no weights for: {', '.join(missing)}" if missing else None,
                           "methods": {m: not models.missing(task.components + extra)
                                       for m, extra in task.methods.items()} or None}
        return {"status": "ok", "version": __version__, "device": ", ".join(dict.fromkeys(devices)),
                "auth": config.token is not None, "models": models_state, "tasks": tasks,
                "limits": vars(config.limits), "queue": manager.counts()}

    def submit_body(body: bytes):
        if not body.strip():
            raise ApiError(400, "invalid_json", "the body is empty; send a job as a JSON object")
        try:
            request = JOB_REQUEST.validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        task = TASKS[request.task]
        models.require(task.needs(request))
        manager.check_room()
        return manager.submit(request.task, task.prepare(request, config))

    @app.post("/v1/jobs", status_code=202, response_model=JobCreated,
              responses={200: {"model": JobStatus, "description": "with `wait`: the job finished in time"},
                         **ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": JOB_SCHEMA}}}})
    async def submit(request: Request, wait: Annotated[float, Query(
            ge=0, le=config.limits.max_wait_s, allow_inf_nan=False,
            description="seconds to wait for the job to finish: when it does, the answer is its status "
                        "with the result (200), one round trip for short jobs; otherwise 202")] = 0.0) -> Response:
        """Submit a job; the body is one of the task schemas, chosen by its `task` field."""
        body = await request.body()  # the guard has already bounded its size
        if len(body) <= INLINE_PARSE_BYTES:
            job = submit_body(body)  # a short clip parses in ~2 ms: cheaper than a hop to the thread pool
        else:
            job = await run_in_threadpool(submit_body, body)  # parsing a long clip stays off the event loop
        if wait > 0:
            await manager.wait(job, wait)
            if job.state in FINISHED:
                return _job_response(job)
        return JSONResponse({"job_id": job.id, "state": job.state}, status_code=202,
                            headers={"Location": f"/v1/jobs/{job.id}"})

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, responses=ERRORS)
    async def status(job_id: str, wait: Annotated[float, Query(ge=0, le=config.limits.max_wait_s, allow_inf_nan=False,
                                                                description="seconds to wait for the job to finish "
                                                                            "(long poll)")] = 0.0) -> Response:
        job = manager.get(job_id)
        await manager.wait(job, wait)
        return _job_response(job)

    @app.delete("/v1/jobs/{job_id}", response_model=JobStatus, responses=ERRORS)
    def cancel(job_id: str) -> Response:
        return _job_response(manager.cancel(job_id))

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(job_schemas(config.limits))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
