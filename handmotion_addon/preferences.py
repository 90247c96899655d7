"""Add-on preferences: where the engine is, its token, and starting / stopping a local engine process."""

from __future__ import annotations

import os
import shlex
import subprocess
import urllib.parse

import bpy
from bpy.props import BoolProperty, StringProperty

from .client import EngineError, check_url, is_loopback

DEFAULT_URL = "http://127.0.0.1:8765"
_process: subprocess.Popen | None = None


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
    global _process
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
            _process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise EngineError("bad_command", f"cannot run {args[0]!r} ({exc.strerror}): install the HandMotion engine "
                                         "and set its full path in the add-on's preferences") from None
    return _process


def stop_engine() -> bool:
    """Stop the engine this Blender started (True when there was one)."""
    global _process
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
        return True

    def execute(self, context):
        try:
            proc = start_engine(context)
        except EngineError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"HandMotion engine starting (process {proc.pid}); it is ready when the panel "
                              "shows its version")
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
        if prefs().auto_start:
            start_engine()
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
