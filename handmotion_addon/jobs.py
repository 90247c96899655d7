"""Engine jobs off the main thread. A worker thread talks to the engine (submit, long poll, cancel) and
posts what happens to a queue; `drain()`, on the main thread, applies it: progress into the scene's
properties and, when a job finishes, its `apply` callback (which writes keys). Blender runs `drain`
from `bpy.app.timers`; tests call it directly.

    start(scene, "Generate", work, apply)   # work(runner) runs on the thread; apply(scene, result) on main
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable

import bpy

from .client import FINISHED, Client, EngineError

log = logging.getLogger(__name__)
POLL_S = 0.5  # long-poll slice: how often progress reaches the panel while a job runs
DRAIN_S = 0.1


class Cancelled(Exception):
    pass


@dataclass
class Task:
    label: str
    scene_name: str
    apply: Callable
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class Runner:
    """What a task's `work` gets on the worker thread: `run(job)` submits one engine job and returns its
    result, posting progress and honouring Cancel. `share` is the fraction of the task's bar it covers."""

    def __init__(self, client: Client, task: Task, messages: queue.Queue):
        self.client, self.task, self.messages = client, task, messages
        self.base, self.share = 0.0, 1.0

    def post(self, progress: float, stage: str) -> None:
        self.messages.put((self.task, "progress", (self.base + self.share * progress, stage)))

    def run(self, job: dict) -> dict:
        if self.task.cancel.is_set():
            raise Cancelled
        job_id = self.client.submit(job)
        self.messages.put((self.task, "job_id", job_id))
        while True:
            status = self.client.status(job_id, wait=POLL_S)
            self.post(float(status.get("progress") or 0.0), str(status.get("stage") or status["state"]))
            if status["state"] in FINISHED:
                break
            if self.task.cancel.is_set():
                try:
                    self.client.cancel(job_id)
                except EngineError:
                    log.warning("HandMotion could not cancel engine job %s", job_id, exc_info=True)
                raise Cancelled
        if status["state"] == "cancelled":
            raise Cancelled
        if status["state"] == "failed":
            err = status.get("error") or {}
            raise EngineError(err.get("code", "failed"), f"engine: {err.get('message', 'the job failed')}")
        return status["result"]


_messages: queue.Queue = queue.Queue()
_tasks: list[Task] = []


def busy() -> bool:
    return bool(_tasks)


def tasks() -> list[Task]:
    """The running tasks (at most one)."""
    return list(_tasks)


def running_in(scene: bpy.types.Scene) -> bool:
    """Whether a task started from `scene` is running (its saved `running` flag may be stale after undo or
    loading a file)."""
    return any(task.scene_name == scene.name for task in _tasks)


def start(scene: bpy.types.Scene, label: str, url: str, token: str, work: Callable, apply: Callable) -> Task:
    """Run `work(runner)` on a worker thread; its return value goes to `apply(scene, value)` on the main
    thread (through `drain`). One task at a time."""
    if _tasks:
        raise RuntimeError(f"{_tasks[0].label} is still running")
    client = Client(url, token)
    task = Task(label, scene.name, apply)
    runner = Runner(client, task, _messages)
    state = scene.handmotion
    state.running, state.progress, state.status, state.job_id = True, 0.0, f"{label}: starting", ""

    def target() -> None:
        try:
            _messages.put((task, "done", work(runner)))
        except Cancelled:
            _messages.put((task, "cancelled", None))
        except EngineError as exc:
            _messages.put((task, "error", str(exc)))
        except Exception as exc:  # a bug: keep the panel usable and say so
            log.exception("HandMotion task %s failed", label)
            _messages.put((task, "error", f"{label} failed unexpectedly: {exc}"))

    task.thread = threading.Thread(target=target, name=f"handmotion-{label}", daemon=True)
    _tasks.append(task)
    task.thread.start()
    if not bpy.app.timers.is_registered(drain):
        bpy.app.timers.register(drain, first_interval=DRAIN_S)
    return task


def cancel() -> bool:
    """Ask the running task to stop: its engine job is cancelled at the job's next progress step, and an
    answer that arrives after this call is never applied."""
    for task in _tasks:
        task.cancel.set()
    return bool(_tasks)


def drain() -> float | None:
    """Apply everything the worker threads posted. Returns the timer's next interval, None once idle."""
    while True:
        try:
            task, kind, payload = _messages.get_nowait()
        except queue.Empty:
            break
        scene = bpy.data.scenes.get(task.scene_name)
        state = scene.handmotion if scene else None
        if kind == "progress" and state:
            state.progress, state.status = payload[0], f"{task.label}: {payload[1]}"
        elif kind == "job_id" and state:
            state.job_id = payload
        elif kind in ("done", "cancelled", "error"):
            if task.cancel.is_set():
                kind = "cancelled"  # Cancel was pressed before the answer could be applied: it is dropped
            _tasks.remove(task)
            if state:
                state.running = False
                state.progress = 1.0 if kind == "done" else state.progress
                state.status = {"cancelled": f"{task.label}: cancelled", "error": f"Error: {payload}"}.get(kind, "")
            if kind == "done" and scene:
                try:
                    state.status = task.apply(scene, payload) or f"{task.label}: done"
                except Exception as exc:
                    log.exception("HandMotion could not apply %s", task.label)
                    state.status = f"Error: {task.label} could not be applied: {exc}"
                else:
                    _undo_push(f"HandMotion {task.label}")
            _redraw()
    return DRAIN_S if _tasks else None


def wait(timeout: float = 120.0) -> None:
    """Drain until no task is left (for scripts and tests, where timers do not fire)."""
    import time

    deadline = time.monotonic() + timeout
    while drain() is not None:
        if time.monotonic() > deadline:
            cancel()
            raise TimeoutError("the HandMotion task did not finish in time")
        time.sleep(0.02)


def _undo_push(message: str) -> None:
    if bpy.ops.ed.undo_push.poll():
        bpy.ops.ed.undo_push(message=message)


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def unregister() -> None:
    cancel()
    if bpy.app.timers.is_registered(drain):
        bpy.app.timers.unregister(drain)
