"""The extension installs from the built zip, registers everything and unregisters cleanly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import bpy

from tests.addon.conftest import MODULE, REPO

PANELS = ("HANDMOTION_PT_main", "HANDMOTION_PT_generate", "HANDMOTION_PT_inbetween", "HANDMOTION_PT_caption",
          "HANDMOTION_PT_refine", "HANDMOTION_PT_bone_map")
OPERATORS = ("generate", "inbetween", "caption", "refine", "detect_bone_map", "clear_bone_map", "check_engine",
             "cancel", "copy_caption", "start_engine", "stop_engine")


def registered() -> dict[str, bool]:
    return {"scene": hasattr(bpy.types.Scene, "handmotion"),
            **{p: hasattr(bpy.types, p) for p in PANELS},
            **{o: hasattr(bpy.types, f"HANDMOTION_OT_{o}") for o in OPERATORS}}


def test_the_zip_holds_the_manifest_and_the_package_at_its_root(addon_zip):
    names = set(zipfile.ZipFile(addon_zip).namelist())
    want = {"blender_manifest.toml"} | {p.name for p in (REPO / "handmotion_addon").glob("*.py")}
    assert want == names
    version = next(line for line in (REPO / "pyproject.toml").read_text().splitlines() if line.startswith("version"))
    assert version in zipfile.ZipFile(addon_zip).read("blender_manifest.toml").decode()


def test_installs_registers_and_unregisters(addon):
    assert Path(addon.__file__).parent.parent == Path(bpy.context.preferences.extensions.repos["User Default"]
                                                      .directory)
    assert all(registered().values()), registered()
    prefs = bpy.context.preferences.addons[MODULE].preferences
    assert prefs.engine_url == "http://127.0.0.1:8765" and not prefs.auto_start
    assert bpy.context.scene.handmotion.duration == 4.0

    bpy.ops.preferences.addon_disable(module=MODULE)
    assert MODULE not in bpy.context.preferences.addons
    assert not any(registered().values()), registered()

    bpy.ops.preferences.addon_enable(module=MODULE)
    assert MODULE in bpy.context.preferences.addons and all(registered().values())


def test_operators_say_why_they_cannot_run(addon, scene):
    import pytest

    for name in ("generate", "inbetween", "caption", "refine"):
        op = getattr(bpy.ops.handmotion, name)
        assert not op.poll()
        with pytest.raises(RuntimeError, match="Pick the target armature"):
            op()
