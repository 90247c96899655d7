"""The `handmotion` command: bad input gives one clear line and a non-zero exit, never a traceback."""

import subprocess
import sys

import numpy as np
import pytest

from engine.io import save_motion
from tests.helpers import mocap_hand_bvh, run_cli, smooth_motion, write_nan_npz, write_truncated_bvh


def _bad_shape_npz(p):
    np.savez(p, right_hand_pose=np.zeros((5, 15)), right_global_orient=np.zeros((5, 3)), fps=30.0)


def _unknown_names_bvh(p):
    p.write_text(mocap_hand_bvh("right", 3, 30.0).replace("INDEX", "FOO").replace("MIDDLE", "BAR")
                 .replace("RING", "BAZ").replace("PINKY", "QUX").replace("THUMB", "ZIP").replace("WRIST", "ROOTY"))


@pytest.mark.parametrize(
    "name, make, fragment",
    [
        ("cut_right.bvh", write_truncated_bvh, "truncated"),
        ("nan.npz", write_nan_npz, "NaN"),
        ("shape.npz", _bad_shape_npz, "(T, 45)"),
        ("names_right.bvh", _unknown_names_bvh, "no hand joint"),
        ("empty.bvh", lambda p: p.write_text(""), "empty"),
        ("empty.npz", lambda p: p.write_bytes(b""), "empty"),
        ("garbage.json", lambda p: p.write_text("{not json"), "invalid JSON"),
    ],
)
@pytest.mark.parametrize("command", ["info", "convert", "preview"])
def test_bad_input_one_line_error(tmp_path, capsys, name, make, fragment, command):
    path = tmp_path / name
    make(path)
    args = {"info": ["info", str(path)], "convert": ["convert", str(path), str(tmp_path / "out.npz")],
            "preview": ["preview", str(path), "-o", str(tmp_path / "out.gif")]}[command]
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1 and lines[0].startswith("handmotion: error: "), err
    assert fragment.lower() in lines[0].lower()
    assert "Traceback" not in err
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "out.gif").exists()


def test_missing_file_and_bad_flags(tmp_path, capsys):
    code, _, err = run_cli(capsys, "info", str(tmp_path / "nope.npz"))
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, "convert", "--right", str(tmp_path / "nope.bvh"), str(tmp_path / "o.npz"))
    assert code == 2 and "no such file" in err
    save_motion(smooth_motion(5), tmp_path / "a.npz")
    code, _, err = run_cli(capsys, "convert", str(tmp_path / "a.npz"), str(tmp_path / "o.fbx"))
    assert code == 2 and "output format" in err
    code, _, err = run_cli(capsys, "convert", str(tmp_path / "a.npz"), str(tmp_path / "o.npz"), "--fps", "-5")
    assert code == 2 and "fps" in err


def test_info_reports_the_clip(tmp_path, capsys):
    save_motion(smooth_motion(30), tmp_path / "a.npz")
    code, out, _ = run_cli(capsys, "info", str(tmp_path / "a.npz"))
    assert code == 0
    assert "mano, 30 frames at 30 fps" in out and "left" in out and "right" in out


def test_preview_writes_gif(tmp_path, capsys):
    save_motion(smooth_motion(4), tmp_path / "a.npz")
    code, _, _ = run_cli(capsys, "-q", "preview", str(tmp_path / "a.npz"), "-o", str(tmp_path / "p.gif"), "--size", "96")
    assert code == 0 and (tmp_path / "p.gif").stat().st_size > 0


def test_console_script_runs_as_a_process(tmp_path):
    (tmp_path / "empty.bvh").write_text("")
    proc = subprocess.run([sys.executable, "-m", "engine", "info", str(tmp_path / "empty.bvh")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("handmotion: error:") and "Traceback" not in proc.stderr


def test_mean_relative_needs_mano_files(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HANDMOTION_MANO_DIR", raising=False)
    save_motion(smooth_motion(5), tmp_path / "a.npz")
    code, _, err = run_cli(capsys, "convert", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--mean-relative")
    assert code == 2 and "needs the MANO model files" in err
