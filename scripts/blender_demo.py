"""The product demo (`make demo`): HandMotion in headless Blender, driven through the extension's own buttons.

    .venv-bpy50/bin/python scripts/blender_demo.py --addon build/handmotion-X.zip \
        --engine .venv/bin/handmotion --out demo

1. installs the extension from its zip (into a throw-away Blender user folder) and enables it;
2. builds a Rigify human rig (the rigify add-on's metarig, generated);
3. starts the engine from the add-on (Start Engine) on a free loopback port, with the shipped weights;
4. generates a 4 s take from a prompt onto the rig's fingers and wrists (a new Action on an NLA track);
5. keys four right-hand poses later in the timeline, in-betweens them and checks the keys are untouched;
6. captions the take and the in-betweened range;
7. saves OUT/handmotion_demo.blend and renders the hands (OUT/preview/frame_####.png and a contact sheet,
   OUT/preview_sheet.png) with Cycles on the CPU, through simple capsule meshes skinned to the rig.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

# Blender reads its user folder when bpy is imported: keep the user's own configuration untouched.
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="handmotion-demo-blender-")

import bpy  # noqa: E402  (bmesh and mathutils exist once bpy is imported)
import numpy as np  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

MODULE = "bl_ext.user_default.handmotion"
PROMPT = "The right hand waves hello while the left hand rests."
FINGERS = ("index", "middle", "ring", "pinky")
# (frame offset from the first key, index-pinky curl per joint in degrees, thumb curl): open, fist, point, open
POSES = ((0, (5, 5, 5, 5), 0), (16, (75, 80, 80, 80), 35), (32, (0, 80, 85, 85), 30), (48, (10, 10, 10, 10), 5))


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def fail(text: str) -> None:
    print(f"demo: error: {text}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_job(addon, op: str, timeout: float = 600.0) -> str:
    """Press the panel's button `op`, let Blender's timer drain the job, return the panel's status line."""
    if getattr(bpy.ops.handmotion, op)() != {"FINISHED"}:
        fail(f"{op}: {bpy.context.scene.handmotion.status}")
    t0 = time.perf_counter()
    addon.jobs.wait(timeout=timeout)
    status = bpy.context.scene.handmotion.status
    if status.startswith("Error") or "cancelled" in status:
        fail(f"{op}: {status}")
    say(f"{status} ({time.perf_counter() - t0:.1f} s)")
    return status


def install(zip_path: Path):
    if bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                enable_on_install=True) != {"FINISHED"}:
        fail(f"could not install {zip_path}")
    return sys.modules[MODULE]


def rigify_rig() -> bpy.types.Object:
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.active_object
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    metarig.hide_set(True)
    metarig.hide_render = True
    return rig


def start_engine(addon, engine: Path) -> str:
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.engine_url = f"http://127.0.0.1:{free_port()}"
    prefs.engine_command = f"{engine} serve"
    run_job(addon, "start_engine", timeout=addon.preferences.START_TIMEOUT_S)
    return prefs.engine_url


def all_keys(addon, obj) -> dict:
    fc = addon.fcurves
    return {(c.data_path, c.array_index): [tuple(k.co) for k in c.keyframe_points]
            for c in fc.fcurves_of(obj.animation_data.action, fc.assigned_slot(obj))}


def moving_bones(addon, action, slot, frames) -> set[str]:
    moving = set()
    for c in addon.fcurves.fcurves_of(action, slot):
        values = [c.evaluate(f) for f in frames]
        if max(values) - min(values) > 1e-4:
            moving.add(c.data_path.split('"')[1])
    return moving


def generate(addon, rig, seconds: float, seed: int) -> tuple[object, object, int]:
    state = bpy.context.scene.handmotion
    state.armature, state.prompt, state.duration, state.seed, state.start_frame = rig, PROMPT, seconds, seed, 1
    run_job(addon, "generate")
    strip = rig.animation_data.nla_tracks[0].strips[0]
    action = strip.action
    slot = strip.action_slot if addon.fcurves.LAYERED else None
    last = int(strip.frame_end)
    moving = moving_bones(addon, action, slot, range(1, last + 1))
    hand = [b for b in moving if any(w in b for w in ("hand", "thumb", "f_"))]
    say(f"the take keys {len(hand)} finger/wrist bones with moving curves over frames 1-{last}")
    if len(hand) < 30:
        fail(f"only {len(hand)} finger/wrist bones move: {sorted(hand)}")
    return action, slot, last


def caption_take(addon, rig, action, slot, last: int) -> str:
    """Caption the take: made the active action for the moment, over its frames."""
    scene, ad = bpy.context.scene, rig.animation_data
    state = scene.handmotion
    ad.action = action
    if slot is not None:
        ad.action_slot = slot
    scene.frame_start, scene.frame_end, state.use_selected_keys = 1, last, False
    run_job(addon, "caption")
    ad.action = None
    state.use_selected_keys = True
    return state.last_caption


def key_poses(rig, first: int) -> list[int]:
    """Key the right hand's fingers in four poses (curls about each bone's X axis), every key selected."""
    frames = []
    for offset, curls, thumb in POSES:
        frame = first + offset
        for finger, curl in zip(FINGERS, curls):
            for j in (1, 2, 3):
                _key(rig, f"f_{finger}.0{j}.R", curl * (0.6 if j == 1 else 1.0), frame)
        for j in (2, 3):
            _key(rig, f"thumb.0{j}.R", thumb, frame)
        frames.append(frame)
    # the animator's action plays only over its own keys, so the take before it shows through the NLA
    rig.animation_data.action_extrapolation = "NOTHING"
    return frames


def _key(rig, bone: str, degrees: float, frame: int) -> None:
    pb = rig.pose.bones[bone]
    pb.rotation_mode = "QUATERNION"
    a = math.radians(degrees)
    pb.rotation_quaternion = (math.cos(a / 2), math.sin(a / 2), 0.0, 0.0)
    pb.keyframe_insert("rotation_quaternion", frame=frame)


def inbetween(addon, rig, frames: list[int]) -> str:
    state = bpy.context.scene.handmotion
    before = all_keys(addon, rig)
    state.inbetween_prompt = "the fingers curl into a fist and the index points"
    run_job(addon, "inbetween")
    after = all_keys(addon, rig)
    for key, keys in before.items():
        if [k for k in after[key] if k[0] in frames] != keys:
            fail(f"in-betweening changed the animator's keys on {key}")
    added = sum(map(len, after.values())) - sum(map(len, before.values()))
    say(f"the animator's {sum(map(len, before.values()))} keys are unchanged; {added} keys added between them")
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = frames[0], frames[-1]
    run_job(addon, "caption")
    return state.last_caption


# --- preview --------------------------------------------------------------------------------------------

SKIN = ("DEF-forearm", "DEF-hand", "DEF-palm", "DEF-f_", "DEF-thumb")


def _radius(name: str) -> float:
    if name.startswith("DEF-forearm"):
        return 0.028
    if name.startswith("DEF-hand"):
        return 0.02
    if name.startswith("DEF-palm"):
        return 0.011
    return 0.0085 if "thumb" in name or ".01" in name else 0.0075


def hand_capsules(rig) -> list[bpy.types.Object]:
    """A tapered capsule on every forearm, hand and finger deform bone, parented to its bone (rigid, so it
    shows exactly the bone's motion)."""
    import bmesh

    mat = bpy.data.materials.new("skin")
    mat.use_nodes = True
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.8, 0.55, 0.45, 1.0)
    to_y = Matrix.Rotation(-math.pi / 2, 4, "X")  # the cone's axis (Z) along the bone (Y)
    made = []
    for bone in rig.data.bones:
        if not bone.name.startswith(SKIN):
            continue
        r, length = _radius(bone.name), bone.length
        bm = bmesh.new()
        bmesh.ops.create_cone(bm, cap_ends=True, segments=12, radius1=r, radius2=r * 0.85, depth=length,
                              matrix=Matrix.Translation((0.0, length / 2, 0.0)) @ to_y)
        bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=r * 0.85,
                                  matrix=Matrix.Translation((0.0, length, 0.0)))
        mesh = bpy.data.meshes.new(bone.name)
        bm.to_mesh(mesh)
        bm.free()
        for poly in mesh.polygons:
            poly.use_smooth = True
        mesh.materials.append(mat)
        obj = bpy.data.objects.new(f"capsule {bone.name}", mesh)
        bpy.context.scene.collection.objects.link(obj)
        obj.parent, obj.parent_type, obj.parent_bone = rig, "BONE", bone.name
        obj.matrix_parent_inverse = Matrix.Identity(4)
        obj.matrix_basis = Matrix.Translation((0.0, -length, 0.0))  # bone parenting starts at the tail
        made.append(obj)
    return made


def _camera(name: str, target: Vector, offset: Vector, scale: float) -> bpy.types.Object:
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    cam.data.type, cam.data.ortho_scale = "ORTHO", scale
    cam.location = target + offset
    cam.rotation_euler = (-offset).to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.collection.objects.link(cam)
    return cam


def _hand_centre(rig, side: str) -> Vector:
    pts = [rig.matrix_world @ b.tail_local for b in rig.data.bones
           if b.name.startswith(("DEF-f_", "DEF-thumb", "DEF-palm")) and b.name.endswith(side)]
    return sum(pts, Vector()) / len(pts)


def render_preview(rig, out: Path, frames: list[int], size: tuple[int, int]) -> Path:
    """Render both hands (the rig's right hand on the left, as seen from the front) at each frame."""
    scene = bpy.context.scene
    hand_capsules(rig)
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (math.radians(40), math.radians(10), math.radians(-30))
    scene.collection.objects.link(sun)
    world = bpy.data.worlds.new("demo")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.18, 0.2, 0.23, 1.0)
    scene.world = world
    view = Vector((0.0, -0.6, 0.12))
    cams = [_camera(f"camera {s}", _hand_centre(rig, s), view, 0.36) for s in (".R", ".L")]
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, False
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    frames_dir = out / "preview"
    frames_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="handmotion-demo-render-"))
    t0 = time.perf_counter()
    tiles = []
    for i, frame in enumerate(frames):
        scene.frame_set(frame)
        views = []
        for cam in cams:
            scene.camera = cam
            scene.render.filepath = str(tmp / f"{cam.name}.png")
            bpy.ops.render.render(write_still=True)
            views.append(_pixels(Path(scene.render.filepath)))
        tile = np.concatenate(views, axis=1)
        _save(tile, frames_dir / f"frame_{frame:04d}.png")
        tiles.append(tile)
        if (i + 1) % 10 == 0 or i + 1 == len(frames):
            say(f"rendered {i + 1}/{len(frames)} frames ({time.perf_counter() - t0:.0f} s)")
    sheet = out / "preview_sheet.png"
    _save(_contact_sheet(tiles), sheet)
    return sheet


def _pixels(path: Path) -> np.ndarray:
    """(H, W, 4) float32 pixels of an image file, top row first."""
    img = bpy.data.images.load(str(path))
    w, h = img.size
    px = np.empty(w * h * 4, dtype=np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1]


def _save(px: np.ndarray, path: Path) -> None:
    h, w = px.shape[:2]
    img = bpy.data.images.new(path.stem, w, h, alpha=True)
    img.pixels.foreach_set(np.ascontiguousarray(px[::-1]).ravel())
    img.filepath_raw, img.file_format = str(path), "PNG"
    img.save()
    bpy.data.images.remove(img)


def _contact_sheet(tiles: list[np.ndarray], columns: int = 4, count: int = 16) -> np.ndarray:
    """Up to `count` tiles spread evenly over the frames, `columns` a row, with a thin gap."""
    pick = [tiles[i] for i in np.linspace(0, len(tiles) - 1, min(count, len(tiles))).round().astype(int)]
    h, w = pick[0].shape[:2]
    rows = math.ceil(len(pick) / columns)
    sheet = np.ones((rows * (h + 4), columns * (w + 4), 4), dtype=np.float32)
    for i, tile in enumerate(pick):
        r, c = divmod(i, columns)
        sheet[r * (h + 4):r * (h + 4) + h, c * (w + 4):c * (w + 4) + w] = tile
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addon", required=True, type=Path, help="the extension zip (`make addon`)")
    ap.add_argument("--engine", required=True, type=Path, help="the engine's `handmotion` command")
    ap.add_argument("--out", default=Path("demo"), type=Path, help="output folder (default demo)")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the generated take (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=3, help="render every Nth frame (default 3)")
    ap.add_argument("--size", default="320x240", help="render size of each hand's view (default 320x240)")
    args = ap.parse_args(argv)
    for path, what in ((args.addon, "run `make addon`"), (args.engine, "run `make install`")):
        if not path.is_file():
            fail(f"{path} is missing: {what}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    addon = install(args.addon.resolve())
    bpy.ops.wm.read_homefile(use_empty=True)
    say(f"Blender {bpy.app.version_string}, extension {addon.__name__} installed from {args.addon}")
    rig = rigify_rig()
    say(f"Rigify rig generated: {len(rig.data.bones)} bones")
    url = start_engine(addon, args.engine.absolute())
    say(f"engine at {url}: {bpy.context.scene.handmotion.engine_info}")
    try:
        action, slot, last = generate(addon, rig, args.seconds, args.seed)
        take_caption = caption_take(addon, rig, action, slot, last)
        keys = key_poses(rig, last + 12)
        fill_caption = inbetween(addon, rig, keys)
    finally:
        if bpy.ops.handmotion.stop_engine.poll():
            bpy.ops.handmotion.stop_engine()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, keys[-1]
    blend = out / "handmotion_demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    say(f"saved {blend}")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    frames = list(range(1, last + 1, args.every)) + list(range(keys[0], keys[-1] + 1, args.every))
    sheet = render_preview(rig, out, frames, size)
    say(f"prompt: {PROMPT!r}")
    say(f"caption of the take: {take_caption}")
    say(f"caption of the in-betweened keys: {fill_caption}")
    say(f"preview: {out / 'preview'} ({len(frames)} frames), contact sheet {sheet}")
    say(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # bpy 4.2 can crash in its own teardown once Rigify has generated a rig
