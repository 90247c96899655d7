"""Tests for engine.preview: tiny clips (a few frames at 160 px) so they run in about a second."""

from __future__ import annotations

import logging

import imageio.v3 as iio
import numpy as np
import pytest

from engine.errors import HandMotionError
from engine.motion import HandMotion, HandTrack
from engine.preview import MAX_GIF_FRAMES, _output_frames, render_frame, render_preview

SIZE = 160


def _track(n: int, curl: float = 0.0, side: str = "right", x: float = 0.0) -> HandTrack:
    """n frames of a hand flexed by `curl` rad at every finger joint (0 = flat hand, ~1.2 = fist).

    Flexion is about +Z for the right hand; the left-hand mirror convention negates y and z."""
    hand_pose = np.zeros((n, 15, 3))
    hand_pose[..., 2] = curl if side == "right" else -curl
    transl = np.tile([x, 0.0, 0.0], (n, 1))
    return HandTrack(global_orient=np.zeros((n, 3)), hand_pose=hand_pose, transl=transl)


def _two_hands(n: int = 6, fps: float = 30.0, curl: float = 0.0) -> HandMotion:
    return HandMotion(fps, left=_track(n, curl, "left", x=0.15), right=_track(n, curl, "right", x=-0.15))


def test_gif_frame_count_and_size(tmp_path):
    out = render_preview(_two_hands(6), tmp_path / "clip.gif", size=SIZE, progress=False, title="t")
    assert out == tmp_path / "clip.gif" and out.is_file()
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (SIZE, SIZE)
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file is gone


def test_default_fps_subsamples_to_30(tmp_path):
    # 12 frames at 60 fps -> every other frame at 30 fps
    out = render_preview(_two_hands(12, fps=60.0), tmp_path / "a.gif", size=SIZE, progress=False)
    assert iio.imread(out, index=None).shape[0] == 6
    assert iio.immeta(out, index=0)["duration"] == pytest.approx(1000 / 30, abs=10)


def test_output_frames_never_interpolates_and_caps(caplog):
    idx, fps = _output_frames(10, 10.0, fps=50.0)  # asking above the source rate keeps every frame
    assert fps == 10.0 and idx.tolist() == list(range(10))
    idx, fps = _output_frames(7, 30.0, fps=10.0)
    assert idx.tolist() == [0, 3, 6] and fps == 10.0
    with caplog.at_level(logging.WARNING, logger="engine.preview"):
        idx, fps = _output_frames(30 * 60 * 10, 30.0, fps=None)  # 10 minutes
    assert len(idx) == MAX_GIF_FRAMES and idx[0] == 0 and np.all(np.diff(idx) > 0)
    assert "lowering" in caplog.text


def test_one_hand_motion(tmp_path):
    motion = HandMotion(30.0, left=_track(4, side="left"))
    frames = iio.imread(render_preview(motion, tmp_path / "left.gif", size=SIZE, progress=False), index=None)
    assert frames.shape == (4, SIZE, SIZE, 3)


def test_render_frame_shape_and_flat_differs_from_fist():
    flat = render_frame(_two_hands(2, curl=0.0), 0, size=SIZE)
    fist = render_frame(_two_hands(2, curl=1.2), 0, size=SIZE)
    assert flat.shape == (SIZE, SIZE, 3) and flat.dtype == np.uint8
    assert (flat < 200).any()  # something was drawn on the white background
    assert np.abs(flat.astype(int) - fist.astype(int)).sum() > 0


def test_invalid_frames_render(tmp_path):
    motion = _two_hands(6)
    motion.left.valid[2:4] = False
    motion.right.valid[:] = False  # a hand never seen still renders (grey, dashed)
    frames = iio.imread(render_preview(motion, tmp_path / "inv.gif", size=SIZE, progress=False), index=None)
    assert frames.shape[0] == 6
    lost = render_frame(motion, 2, size=SIZE)
    seen = render_frame(motion, 0, size=SIZE)
    assert np.abs(lost.astype(int) - seen.astype(int)).sum() > 0


def test_missing_parent_is_created(tmp_path):
    out = render_preview(_two_hands(2), tmp_path / "a" / "b" / "c.gif", size=SIZE, progress=False)
    assert out.is_file()


def test_unwritable_paths_raise_handmotion_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HandMotionError) as err:
        render_preview(_two_hands(2), blocker / "c.gif", size=SIZE, progress=False)
    assert "\n" not in str(err.value)
    (tmp_path / "d.gif").mkdir()
    with pytest.raises(HandMotionError):
        render_preview(_two_hands(2), tmp_path / "d.gif", size=SIZE, progress=False)
    with pytest.raises(HandMotionError, match=r"\.gif"):
        render_preview(_two_hands(2), tmp_path / "clip.mp4", size=SIZE, progress=False)


def test_bad_frame_and_size():
    with pytest.raises(HandMotionError):
        render_frame(_two_hands(3), 3, size=SIZE)
    assert render_frame(_two_hands(3), -1, size=SIZE).shape == (SIZE, SIZE, 3)
    with pytest.raises(HandMotionError):
        render_frame(_two_hands(3), 0, size=8)
