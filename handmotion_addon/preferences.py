"""Add-on preferences: where the engine is, its token, and starting / stopping a local engine process.
Start Engine runs the engine command and then waits for the engine to answer as a job (`jobs`), so the panel
shows a progress bar meanwhile and says when it is ready, or why it stopped (with the end of its log)."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import urllib.parse

import bpy
from bpy.props import BoolProperty, StringProperty

from . import jobs
from .client import EngineError, check_url, describe, is_loopback

DEFAULT_URL = "http://127.0.0.1:8765"
START_LABEL = "Start engine"
START_TIMEOUT_S = 300.0  # the first start of an engine loads torch and the models
STOPPED = "Engine: stopped"
_process: subprocess.Popen | None = None
_log: tuple[str, int] = ("", 0)  # the engine log's path and its size when the process started


def prefs(context=None):
    return (context or bpy.context).preferences.addons[__package__].preferences


def engine(context=None) -> tuple[str, str]:
    """(url, token) of the engine, or EngineError when the URL is malformed or is not on this machine
    while Blender may not go online (Preferences > System > Network > Allow Online Access)."""
    p = prefs(context)
    url = check_url(p.engine_url)
    if not is_loopback(url) and not bpy.app.online_access:
        raise EngineError("offline", f"{url} is not on this machine and Blender is not allowed online: enable "
                                     "Allow Online Access (Preferences > System > Network) or use a loopback URL "
                                     f"such as {DEFAULT_URL}")
    return url, p.token


def engine_running() -> bool:
    """Whether this Blender started an engine process that is still alive."""
    return _process is not None and _process.poll() is None


def start_engine(context=None) -> subprocess.Popen:
    """Start the engine command, listening on the preferences' URL port; its log goes to the add-on's user
    folder (engine.log)."""
    global _process, _log
    if engine_running():
        return _process
    p = prefs(context)
    url = check_url(p.engine_url)
    if not is_loopback(url):
        raise EngineError("bad_url", f"Start Engine runs a local engine, but the engine URL is {url}: set it to "
                                     f"{DEFAULT_URL} or start the remote engine there")
    args = shlex.split(p.engine_command)
    if not args:
        raise EngineError("bad_command", "the engine command is empty: set it in the add-on's preferences "
                                         "(e.g. `handmotion serve`)")
    port = urllib.parse.urlsplit(url).port or 80
    if "--port" not in args:
        args += ["--port", str(port)]
    log_path = os.path.join(bpy.utils.extension_path_user(__package__, create=True), "engine.log")
    try:
        with open(log_path, "ab") as log:
            _log = (log_path, log.tell())
            _process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise EngineError("bad_command", f"cannot run {args[0]!r} ({exc.strerror}): install the HandMotion engine "
                                         "and set its full path in the add-on's preferences") from None
    return _process


def _log_tail(limit: int = 300) -> str:
    """The last line this engine process wrote to its log."""
    path, start = _log
    try:
        with open(path, "rb") as log:
            log.seek(start)
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][-limit:] if lines else ""


def wait_until_ready(scene: bpy.types.Scene, proc: subprocess.Popen, context=None) -> jobs.Task:
    """A job that polls the engine's health until it answers (the panel then shows its version), the process
    exits (the status says so, with the end of its log) or START_TIMEOUT_S pass."""
    url, token = engine(context)

    def work(run):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if run.task.cancel.is_set():
                raise jobs.Cancelled
            code = proc.poll()
            if code is not None:
                tail = _log_tail()
                raise EngineError("engine_exited", f"the engine command exited (code {code}) before the engine "
                                                   f"answered{': ' + tail if tail else ''}; check Engine Command "
                                                   f"in the add-on's preferences and the log {_log[0]}")
            try:
                return run.client.health()
            except EngineError as exc:
                if exc.code not in ("engine_down", "unreachable"):
                    raise
            if time.monotonic() > deadline:
                raise EngineError("unreachable", f"the engine started but did not answer at {url} within "
                                                 f"{START_TIMEOUT_S:g} s: see its log {_log[0]}")
            run.post(0.0, "waiting for the engine to answer")
            time.sleep(0.25)

    def apply(scene, health):
        info = describe(health)
        for each in bpy.data.scenes:
            each.handmotion.engine_info = info
        return f"Engine ready: {info}"

    return jobs.start(scene, START_LABEL, url, token, work, apply)


def stop_engine() -> bool:
    """Stop the engine this Blender started (True when there was one); waiting for it to answer ends too."""
    global _process
    if any(task.label == START_LABEL for task in jobs.tasks()):
        jobs.cancel()
    proc, _process = _process, None
    if proc is None or proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return True


class HANDMOTION_OT_start_engine(bpy.types.Operator):
    """Start the local HandMotion engine with the command set in the preferences"""

    bl_idname = "handmotion.start_engine"
    bl_label = "Start Engine"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if engine_running():
            cls.poll_message_set("The engine this Blender started is already running.")
            return False
        if jobs.busy():
            cls.poll_message_set("A HandMotion job is running; wait for it or press Cancel.")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        try:
            proc = start_engine(context)
            if scene is not None:
                wait_until_ready(scene, proc, context)
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            if scene is not None:
                scene.handmotion.status = f"Error: {exc}"
            return {"CANCELLED"}
        self.report({"INFO"}, f"HandMotion engine starting (process {proc.pid}); the panel says when it answers")
        return {"FINISHED"}


class HANDMOTION_OT_stop_engine(bpy.types.Operator):
    """Stop the HandMotion engine that this Blender started"""

    bl_idname = "handmotion.stop_engine"
    bl_label = "Stop Engine"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if not engine_running():
            cls.poll_message_set("This Blender has not started an engine.")
            return False
        return True

    def execute(self, context):
        stop_engine()
        for scene in bpy.data.scenes:
            scene.handmotion.engine_info = STOPPED
        self.report({"INFO"}, "HandMotion engine stopped")
        return {"FINISHED"}


class HANDMOTION_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_url: StringProperty(name="Engine URL", default=DEFAULT_URL,
                               description="Address of the HandMotion engine. Addresses other than this machine "
                                           "need Blender's online access.")
    token: StringProperty(name="Token", subtype="PASSWORD", default="",
                          description="Bearer token of an engine started with --token-file; empty for a local "
                                      "engine.")
    engine_command: StringProperty(name="Engine Command", default="handmotion serve",
                                   description="Command that starts a local engine; the port of the engine URL "
                                               "is added unless the command names one.")
    auto_start: BoolProperty(name="Start Engine With Blender", default=False,
                             description="Start the local engine when the add-on is enabled.")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_url")
        layout.prop(self, "token")
        layout.prop(self, "engine_command")
        layout.prop(self, "auto_start")
        row = layout.row()
        row.operator(HANDMOTION_OT_start_engine.bl_idname, icon="PLAY")
        row.operator(HANDMOTION_OT_stop_engine.bl_idname, icon="PAUSE")


def _auto_start() -> None:
    try:
        if prefs().auto_start and not engine_running():
            proc = start_engine()
            scene = bpy.context.scene
            if scene is not None and not jobs.busy():
                wait_until_ready(scene, proc)
    except (EngineError, KeyError):
        pass  # the panel shows the engine as down, with the fix
    return None


classes = (HANDMOTION_OT_start_engine, HANDMOTION_OT_stop_engine, HANDMOTION_AP_preferences)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()
    bpy.app.timers.register(_auto_start, first_interval=0.5)


def unregister() -> None:
    if bpy.app.timers.is_registered(_auto_start):
        bpy.app.timers.unregister(_auto_start)
    stop_engine()
    _unregister()
