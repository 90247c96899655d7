"""The job queue: worker threads that run engine tasks, progress, cancellation, results kept for a while.

A job goes queued -> running -> done | failed | cancelled. Workers are threads (one per device slot);
the models they use stay loaded in `engine.pipeline`'s cache between jobs. Cancelling a queued job
removes it from the queue; a running job is cancelled at its next progress report (`JobContext.report`).
A supervisor thread replaces a worker thread that died (its job fails with `worker_died`) and drops
finished jobs once their time to live has passed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from pydantic_core import to_json

from ..errors import HandMotionError

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "cancelled")


class ApiError(HandMotionError):
    """A user-facing error with an HTTP status and a machine-readable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


class Cancelled(Exception):
    """Raised inside a running job at a progress report after it was cancelled."""


@dataclass
class Job:
    """One request's life. `payload` is the task's prepared input; `result_json` the serialised result."""

    id: str
    task: str
    payload: Any
    state: str = "queued"
    progress: float = 0.0
    stage: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    compute_s: float = 0.0
    result_json: bytes | None = None
    error: dict[str, str] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    _waiters: list = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        """The job as `JobStatus` without its result (see `status_json`)."""
        t = {"queued_s": None, "run_s": None, "compute_s": None}
        if self.started is not None:
            t["queued_s"] = round(self.started - self.created, 6)
            t["run_s"] = round((self.finished or time.time()) - self.started, 6)
            t["compute_s"] = round(self.compute_s, 6)
        out = {"job_id": self.id, "task": self.task, "state": self.state, "progress": round(self.progress, 4),
               "stage": self.stage, "created_at": self.created, "timings": t, "error": self.error}
        return out

    def status_json(self) -> bytes:
        """`JobStatus` as JSON bytes, the stored result spliced in without re-encoding it."""
        head = json.dumps(self.status(), allow_nan=False, separators=(",", ":")).encode()
        result = self.result_json if self.result_json is not None else b"null"
        return head[:-1] + b',"result":' + result + b"}"


class JobContext:
    """What a task sees while it runs: its device, progress reports (which raise `Cancelled` once the job
    was cancelled) and a timer for the engine call itself."""

    def __init__(self, job: Job, device: str):
        self.job, self.device = job, device

    def report(self, progress: float, stage: str | None = None) -> None:
        if self.job.cancel.is_set():
            raise Cancelled()
        self.job.progress = min(max(float(progress), self.job.progress), 1.0)
        if stage:
            self.job.stage = stage

    def steps(self, stage: str, start: float, end: float) -> Callable[[int, int], None]:
        """A `progress(step, steps)` callback mapping steps onto [start, end] under `stage`."""
        def update(step: int, steps: int) -> None:
            self.report(start + (end - start) * step / max(steps, 1), stage)
        return update

    @contextmanager
    def compute(self, stage: str, progress: float) -> Iterator[None]:
        """Time the engine call inside (added to the job's `compute_s`)."""
        self.report(progress, stage)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.job.compute_s += time.perf_counter() - t0


Runner = Callable[[Job, JobContext], dict]


@dataclass
class _Worker:
    name: str
    device: str
    thread: threading.Thread | None = None
    job: Job | None = None


class JobManager:
    """Queue + workers. `runner(job, ctx)` returns the JSON-ready result of a job; exceptions become the
    job's error: `ApiError` keeps its code, other `HandMotionError`s are `invalid_input`, anything else
    is `internal` (logged with its traceback)."""

    def __init__(self, runner: Runner, devices: list[str], max_queued: int, ttl_s: float, poll_s: float = 0.25):
        self.runner, self.max_queued, self.ttl_s, self.poll_s = runner, max_queued, ttl_s, poll_s
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._workers = [_Worker(f"worker-{i}", d) for i, d in enumerate(devices)]
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        for w in self._workers:
            self._spawn(w)
        self._supervisor = threading.Thread(target=self._supervise, name="job-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking work, cancel what is queued or running, and wait up to `timeout` for workers."""
        self._stop.set()
        with self._cond:
            while self._queue:
                self._finish(self._queue.popleft(), "cancelled", stage="cancelled")
            for job in self._jobs.values():
                job.cancel.set()
            self._cond.notify_all()
        deadline = time.time() + timeout
        for w in self._workers:
            if w.thread is not None:
                w.thread.join(max(deadline - time.time(), 0))

    def _spawn(self, worker: _Worker) -> None:
        worker.job = None
        worker.thread = threading.Thread(target=self._work, args=(worker,), name=worker.name, daemon=True)
        worker.thread.start()

    # --- the API's operations -------------------------------------------------------------------
    def check_room(self) -> None:
        """ApiError 429 `queue_full` when no more jobs may wait (409 while shutting down)."""
        with self._cond:
            if self._stop.is_set():
                raise ApiError(409, "shutting_down", "the server is shutting down")
            if len(self._queue) >= self.max_queued:
                raise ApiError(429, "queue_full", f"{len(self._queue)} jobs are waiting (the limit is "
                                                  f"{self.max_queued}); retry when some have finished")

    def submit(self, task: str, payload: Any) -> Job:
        with self._cond:
            self.check_room()
            job = Job(id=secrets.token_hex(8), task=task, payload=payload)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._cond.notify()
        log.debug("job %s (%s) queued", job.id, task)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id[:80]!r} (unknown, or finished more than "
                                             f"{self.ttl_s:g} s ago and dropped)")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; a finished job is dropped with its result."""
        with self._cond:
            job = self.get(job_id)
            if job.state == "queued":
                self._queue.remove(job)
                self._finish(job, "cancelled", stage="cancelled")
            elif job.state == "running":
                job.cancel.set()
                job.stage = "cancelling"
            else:
                del self._jobs[job_id]
        return job

    def counts(self) -> dict[str, int]:
        with self._cond:
            states = [j.state for j in self._jobs.values()]
        return {"queued": states.count("queued"), "running": states.count("running"),
                "kept": sum(s in FINISHED for s in states), "max_queued": self.max_queued,
                "workers": len(self._workers), "worker_restarts": self.restarts}

    def worker_threads(self) -> list[threading.Thread]:
        """The current worker threads, one per worker slot."""
        return [w.thread for w in self._workers if w.thread is not None]

    async def wait(self, job: Job, timeout: float) -> None:
        """Return when `job` has finished or after `timeout` seconds (for long polls)."""
        if timeout <= 0 or job.state in FINISHED:
            return
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        with self._cond:
            if job.state in FINISHED:
                return
            job._waiters.append((loop, event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._cond:
                if (loop, event) in job._waiters:
                    job._waiters.remove((loop, event))

    # --- workers --------------------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._cond:
            while not self._queue and not self._stop.is_set():
                self._cond.wait(self.poll_s)
            if self._stop.is_set():
                return None
            job = self._queue.popleft()
            job.state, job.stage, job.started = "running", "starting", time.time()
            return job

    def _work(self, worker: _Worker) -> None:
        while not self._stop.is_set():
            job = self._next()
            if job is None:
                return
            worker.job = job
            try:
                self._run(job, worker)
            except BaseException as exc:  # the thread itself is going down: SystemExit, an asynchronous kill
                self._finish(job, "failed", error={"code": "worker_died",
                                                   "message": "the worker running this job stopped; it was "
                                                              "replaced, submit the job again"})
                log.error("%s died (%s) while running job %s", worker.name, type(exc).__name__, job.id)
                return  # the thread ends here; the supervisor starts another
            worker.job = None

    def _run(self, job: Job, worker: _Worker) -> None:
        ctx = JobContext(job, worker.device)
        try:
            ctx.report(0.0, "starting")
            result = self.runner(job, ctx)
            ctx.report(1.0, "encoding")
            # pydantic-core's encoder is ~8x faster than json.dumps on motion; motion results are finite by
            # construction (HandMotion refuses NaN), and any other stray NaN / inf is written as null
            data = to_json(result, inf_nan_mode="null")
        except Cancelled:
            self._finish(job, "cancelled", stage="cancelled")
        except ApiError as exc:
            self._finish(job, "failed", error={"code": exc.code, "message": str(exc)})
        except HandMotionError as exc:
            self._finish(job, "failed", error={"code": "invalid_input", "message": str(exc)})
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.task)
            self._finish(job, "failed", error={"code": "internal",
                                               "message": f"internal error in {job.task}: {type(exc).__name__}"})
        else:
            self._finish(job, "done", result_json=data)

    def _finish(self, job: Job, state: str, stage: str | None = None, error: dict | None = None,
                result_json: bytes | None = None) -> None:
        with self._cond:
            if job.state in FINISHED:
                return
            job.result_json, job.error, job.finished = result_json, error, time.time()
            if state == "done":
                job.progress = 1.0
            job.stage, job.state = stage or state, state  # the state last: readers do not take the lock
            job.payload = None  # inputs are not needed any more
            waiters, job._waiters = job._waiters, []
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that event loop has closed
                pass
        log.info("job %s (%s) %s%s", job.id, job.task, state, f": {error['code']}" if error else "")

    # --- supervision ----------------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stop.wait(self.poll_s):
            for w in self._workers:
                if w.thread is not None and not w.thread.is_alive() and not self._stop.is_set():
                    if w.job is not None:
                        self._finish(w.job, "failed", error={"code": "worker_died",
                                                             "message": "the worker running this job stopped"})
                    log.warning("%s stopped; starting a new one", w.name)
                    self.restarts += 1
                    self._spawn(w)
            self._drop_expired()

    def _drop_expired(self) -> None:
        now = time.time()
        with self._cond:
            old = [k for k, j in self._jobs.items() if j.finished is not None and now - j.finished > self.ttl_s]
            for k in old:
                del self._jobs[k]
        if old:
            log.debug("dropped %d finished jobs", len(old))
