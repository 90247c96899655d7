"""The product demo (`make demo`, scripts/blender_demo.py) end to end in its own Blender process, on tiny
weights and a few small frames: the extension installed from the zip, a Rigify rig, the engine started from
the add-on, generate / in-between / caption, the .blend saved and the preview rendered."""

from __future__ import annotations

import os
import subprocess
import sys

import bpy

from tests.addon.conftest import REPO, engine_exe


def test_the_demo_runs_end_to_end_on_tiny_weights(addon_zip, tmp_path):
    exe = engine_exe()
    root = tmp_path / "weights"
    env = dict(os.environ, OMP_NUM_THREADS="1", HANDMOTION_WEIGHTS=str(root))
    env.pop("BLENDER_USER_RESOURCES", None)
    subprocess.run([str(exe.parent / "python"), str(REPO / "tests/addon/make_tiny_weights.py"), str(root)],
                   cwd=REPO, env=env, check=True)
    (root / "ib").rename(root / "inbetween")
    (root / "tokenizer").symlink_to(REPO / "weights" / "tokenizer")
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, str(REPO / "scripts/blender_demo.py"), "--addon", str(addon_zip),
                           "--engine", str(exe), "--out", str(out), "--seconds", "1", "--every", "24",
                           "--size", "48x36"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    said = [line for line in done.stdout.splitlines() if line.startswith("demo:")]
    assert done.returncode == 0, "\n".join(said) + done.stderr[-3000:]
    text = "\n".join(said)
    assert f"Blender {bpy.app.version_string}" in text
    assert "Generated 1 take(s) on 32 bones" in text and "finger/wrist bones with moving curves" in text
    assert "keys are unchanged" in text and "caption of the take: The" in text
    assert (out / "handmotion_demo.blend").stat().st_size > 100_000
    frames = sorted((out / "preview").glob("frame_*.png"))
    assert len(frames) >= 3 and (out / "preview_sheet.png").is_file()
