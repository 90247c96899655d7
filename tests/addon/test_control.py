"""Controlling jobs and the engine from Blender: Cancel, undo of a job's keys, and Start / Stop Engine from
the preferences, against live engines on loopback."""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.request

import bpy
import pytest

from tests.addon.conftest import MODULE, engine_exe, free_port
from tests.addon.rigs import mixamo_rig
from tests.addon.test_live import all_keys, key_fingers, run

FINGERS = [f"mixamorig:RightHand{f}{i}" for f in ("Index", "Middle", "Ring", "Pinky", "Thumb") for i in (1, 2)]


def engine_job(url: str, job_id: str, wait: float = 0.0) -> dict:
    with urllib.request.urlopen(f"{url}/v1/jobs/{job_id}?wait={wait:g}", timeout=wait + 30) as answer:
        return json.load(answer)


def drain_until(addon, condition, timeout: float = 120.0) -> None:
    """Drain the job queue the way Blender's timer does until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert addon.jobs.drain() is not None, "the job finished before the condition held"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_cancel_stops_a_running_inbetween_and_writes_nothing(addon, scene, prefs):
    rig = mixamo_rig()
    last = 1 + 60 * round(scene.render.fps / scene.render.fps_base)  # the engine's longest span: 60 s
    key_fingers(rig, FINGERS, [(1, 0.1), (last, 0.9)])
    before = all_keys(addon, rig)
    state = scene.handmotion
    state.armature, state.steps = rig, 200
    assert not bpy.ops.handmotion.cancel.poll()

    assert bpy.ops.handmotion.inbetween() == {"FINISHED"}
    drain_until(addon, lambda: state.job_id and state.progress > 0.0)  # the engine is denoising
    assert bpy.ops.handmotion.cancel.poll() and not bpy.ops.handmotion.inbetween.poll()
    assert bpy.ops.handmotion.cancel() == {"FINISHED"}
    addon.jobs.wait(timeout=60)

    assert state.status == "In-between: cancelled" and not state.running and state.progress < 1.0
    assert all_keys(addon, rig) == before
    job = engine_job(prefs.engine_url, state.job_id, wait=30)
    assert job["state"] == "cancelled" and job["result"] is None, job
    assert not bpy.ops.handmotion.cancel.poll()

    state.steps = 2  # the engine and the add-on take the next job
    status = run(addon, "inbetween")
    assert status.startswith("In-between: ") and f"between frames 1 and {last}" in status, status
    assert sum(map(len, all_keys(addon, rig).values())) > sum(map(len, before.values()))


def test_cancel_after_the_engine_finished_discards_the_result(addon, scene, prefs):
    rig = mixamo_rig()
    key_fingers(rig, FINGERS, [(1, 0.1), (20, 0.9)])
    state = scene.handmotion
    state.armature = rig
    assert bpy.ops.handmotion.caption() == {"FINISHED"}
    addon.jobs._tasks[0].thread.join(timeout=60)  # the answer is in, not yet applied
    assert bpy.ops.handmotion.cancel() == {"FINISHED"}
    addon.jobs.wait(timeout=10)
    assert state.status == "Caption: cancelled" and state.last_caption == ""


def test_undo_removes_a_jobs_keys_in_one_step(addon, scene, prefs):
    rig = mixamo_rig()
    name = rig.name
    key_fingers(rig, FINGERS, [(1, 0.1), (15, 0.9), (30, 0.3)])
    scene.handmotion.armature, scene.handmotion.steps = rig, 2
    scene.handmotion.status = "ready"
    bpy.ops.ed.undo_push(message="keys")  # what Blender records after the animator keyed the poses
    before = all_keys(addon, rig)
    assert bpy.ops.handmotion.inbetween("EXEC_DEFAULT", True) == {"FINISHED"}  # with undo, as a button runs it
    addon.jobs.wait(timeout=300)
    assert scene.handmotion.status.startswith("In-between:"), scene.handmotion.status
    after = all_keys(addon, rig)
    assert after != before

    assert bpy.ops.ed.undo() == {"FINISHED"}
    state = bpy.context.scene.handmotion  # undo reloads the data: look everything up again
    assert all_keys(addon, bpy.data.objects[name]) == before
    assert not state.running and state.status == "ready"  # no progress bar left without a job
    assert bpy.ops.ed.redo() == {"FINISHED"}
    assert all_keys(addon, bpy.data.objects[name]) == after


@pytest.fixture
def local_prefs(addon):
    """The preferences pointed at a free loopback port; afterwards they are set back, and any engine process
    the add-on started is stopped (and killed if need be)."""
    p = bpy.context.preferences.addons[MODULE].preferences
    saved = {name: getattr(p, name) for name in ("engine_url", "engine_command")}
    p.engine_url = f"http://127.0.0.1:{free_port()}"
    try:
        yield p
    finally:
        for name, value in saved.items():
            setattr(p, name, value)
        addon.jobs.cancel()
        addon.jobs.wait(timeout=30)
        proc = addon.preferences._process
        addon.preferences.stop_engine()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "/v1/health", timeout=5) as answer:
        return json.load(answer)


def test_start_and_stop_engine_from_the_preferences(addon, scene, local_prefs):
    prefs = addon.preferences
    local_prefs.engine_command = f"{shlex.quote(str(engine_exe()))} serve --device cpu --threads 1 --no-preload"
    state = scene.handmotion
    assert not bpy.ops.handmotion.stop_engine.poll()

    assert bpy.ops.handmotion.start_engine() == {"FINISHED"}
    proc = prefs._process
    assert prefs.engine_running() and not bpy.ops.handmotion.start_engine.poll()
    assert addon.jobs.running_in(scene) and not bpy.ops.handmotion.generate.poll()  # the panel shows progress
    addon.jobs.wait(timeout=prefs.START_TIMEOUT_S)
    assert state.status.startswith("Engine ready: engine ") and "on cpu" in state.engine_info, state.status
    assert health(local_prefs.engine_url)["status"] == "ok"
    assert proc.args[-2:] == ["--port", local_prefs.engine_url.rsplit(":", 1)[1]]

    assert bpy.ops.handmotion.stop_engine() == {"FINISHED"}
    assert proc.poll() is not None and not prefs.engine_running()
    assert state.engine_info == prefs.STOPPED
    assert bpy.ops.handmotion.start_engine.poll() and not bpy.ops.handmotion.stop_engine.poll()
    with pytest.raises(urllib.error.URLError):
        health(local_prefs.engine_url)


def test_an_engine_command_that_cannot_run_says_how_to_fix_it(addon, scene, local_prefs):
    local_prefs.engine_command = "/nonexistent/handmotion serve"
    with pytest.raises(RuntimeError, match="cannot run '/nonexistent/handmotion'.*set its full path"):
        bpy.ops.handmotion.start_engine()  # an operator's error report is raised in scripts
    assert scene.handmotion.status.startswith("Error: cannot run") and not addon.preferences.engine_running()

    local_prefs.engine_command = "  "
    with pytest.raises(RuntimeError, match="the engine command is empty"):
        bpy.ops.handmotion.start_engine()


def test_an_engine_that_exits_at_start_is_reported_with_its_log(addon, scene, local_prefs):
    local_prefs.engine_command = f"{shlex.quote(str(engine_exe()))} serve --no-such-option"
    assert bpy.ops.handmotion.start_engine() == {"FINISHED"}
    addon.jobs.wait(timeout=addon.preferences.START_TIMEOUT_S)
    status = scene.handmotion.status
    assert status.startswith("Error: the engine command exited (code 2) before the engine answered: "), status
    assert "unrecognized arguments: --no-such-option" in status and "engine.log" in status, status
    assert not addon.preferences.engine_running() and bpy.ops.handmotion.start_engine.poll()
