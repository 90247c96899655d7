"""The add-on's tests run inside Blender's Python (the `bpy` wheel: `make test-addon`), never in the
engine's venv: there, where `bpy` is missing, nothing in this folder is collected.

Fixtures: the extension installed from the built zip (`HANDMOTION_ADDON_ZIP`, default built by
`make addon`) into a throw-away Blender user folder, and a live engine on a loopback port started from
the engine's venv (`HANDMOTION_ENGINE`, default .venv/bin/handmotion) with tiny untrained weights."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE = "bl_ext.user_default.handmotion"

if importlib.util.find_spec("bpy") is None:
    collect_ignore_glob = ["test_*.py"]  # the engine's venv: these run under `make test-addon`
else:
    # Blender reads its user folder when bpy is imported: keep the developer's own one untouched.
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="handmotion-blender-user-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_exe() -> Path:
    """The engine's `handmotion` command (`HANDMOTION_ENGINE`, default .venv/bin/handmotion), as an absolute path."""
    exe = Path(os.environ.get("HANDMOTION_ENGINE", REPO / ".venv" / "bin" / "handmotion")).absolute()
    if not exe.is_file():
        pytest.fail(f"the engine is not installed at {exe}: run `make install` (or set HANDMOTION_ENGINE)")
    return exe


@pytest.fixture(scope="session")
def addon_zip() -> Path:
    given = os.environ.get("HANDMOTION_ADDON_ZIP")
    if given:
        path = Path(given).resolve()
    else:
        subprocess.run(["make", "-s", "addon"], cwd=REPO, check=True)
        path = max((REPO / "build").glob("handmotion-*.zip"), key=lambda p: p.stat().st_mtime)
    assert path.is_file(), f"{path} is missing: run `make addon`"
    return path


@pytest.fixture(scope="session")
def addon(addon_zip):
    """The extension's package, installed from the zip and enabled the way Blender's UI does it."""
    import bpy

    done = bpy.ops.extensions.package_install_files(filepath=str(addon_zip), repo="user_default",
                                                    enable_on_install=True)
    assert done == {"FINISHED"}
    assert MODULE in bpy.context.preferences.addons
    return sys.modules[MODULE]


@pytest.fixture(scope="session")
def engine_url(tmp_path_factory):
    """http://127.0.0.1:PORT of a live engine with tiny weights (stopped after the session)."""
    exe = engine_exe()
    weights = tmp_path_factory.mktemp("weights")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("BLENDER_USER_RESOURCES", None)
    subprocess.run([str(exe.parent / "python"), str(REPO / "tests/addon/make_tiny_weights.py"), str(weights)],
                   cwd=REPO, env=env, check=True)
    port = free_port()
    log = open(weights / "engine.log", "wb")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--device", "cpu", "--threads", "1",
                             "--lm", str(weights / "lm"), "--inbetween", str(weights / "ib")],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/v1/health", timeout=2) as r:
                health = json.load(r)
            if all(m["loaded"] for m in health["models"].values() if m["available"]):
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("the engine did not start:\n" + (weights / "engine.log").read_text()[-3000:])
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture
def scene(addon):
    """A fresh, empty scene state for each test (the add-on stays installed)."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


@pytest.fixture
def prefs(addon, engine_url):
    """The add-on's preferences pointed at the live engine; set back to what they were afterwards."""
    import bpy

    p = bpy.context.preferences.addons[MODULE].preferences
    saved = {name: getattr(p, name) for name in ("engine_url", "engine_command")}
    p.engine_url = engine_url
    yield p
    for name, value in saved.items():
        setattr(p, name, value)


_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    """bpy 4.2.0 crashes in its own teardown at interpreter exit once Rigify has generated a rig (a plain
    script doing only `rigify_generate` does the same): after the report, leave with pytest's status."""
    import sys

    bpy = sys.modules.get("bpy")
    if bpy is not None and bpy.app.version < (4, 3, 0):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
