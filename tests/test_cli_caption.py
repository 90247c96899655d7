"""`handmotion caption` on real files; bad input gives one line and exit status 2."""

from __future__ import annotations

import json
import re

import pytest

from engine.io import save_motion
from tests.helpers import mocap_hand_bvh, run_cli, write_nan_npz, write_truncated_bvh
from tests.test_caption_features import clap_motion

EVENT_LINE = re.compile(r"^  (left|right|both)\s+\w+\s+frames (\d+)-(\d+) "
                        r"\((\d+\.\d\d)-(\d+\.\d\d) s\) (slowly|steadily|quickly)")


def sections(out: str) -> dict[str, list[str]]:
    """Lines under each 'name:' / 'name (k):' header."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines()[1:]:
        if not line.startswith(" "):
            current = line.split(" (")[0].rstrip(":")
            parts[current] = []
        else:
            parts[current].append(line)
    return parts


def test_caption_mocap_bvh(tmp_path, capsys):
    path = tmp_path / "take_right.bvh"
    path.write_text(mocap_hand_bvh("right", 240, 120.0, seed=3))
    code, out, err = run_cli(capsys, "caption", str(path), "--seed", "5", "--n", "2", "--json", str(tmp_path / "c.json"))
    assert code == 0, err
    assert "240 frames at 120 fps" in out.splitlines()[0]
    parts = sections(out)
    assert [len(parts[k]) for k in ("semantic", "interaction", "articulation")] == [2, 2, 2]
    for line in parts["semantic"] + parts["interaction"] + parts["articulation"]:
        assert line.startswith("  - ") and "right hand" in line and "left hand" not in line, line
        assert line.rstrip().endswith("."), line
    assert any("one-hand" in ln or "alone" in ln or "no two-hand" in ln for ln in parts["interaction"])
    assert parts["events"], out
    for line in parts["events"]:  # frames and seconds agree at 120 fps
        m = EVENT_LINE.match(line)
        assert m, line
        assert m.group(1) == "right"
        assert float(m.group(4)) == pytest.approx(int(m.group(2)) / 120.0, abs=0.006)
        assert float(m.group(5)) == pytest.approx(int(m.group(3)) / 120.0, abs=0.006)
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["hands"] == ["right"] and data["fps"] == 120.0 and data["n_frames"] == 240
    assert [ln[4:] for ln in parts["semantic"]] == data["semantic"]
    assert len(data["events"]) == len(parts["events"])
    assert {"kind", "side", "start", "end", "start_s", "end_s", "detail", "speed"} <= set(data["events"][0])
    # the same seed gives the same text; the --side flag names a side-less single-hand file
    code, again, _ = run_cli(capsys, "caption", str(path), "--seed", "5", "--n", "2")
    assert code == 0 and again == out
    left = tmp_path / "take.bvh"
    left.write_text(mocap_hand_bvh("left", 60, 30.0))
    code, out, err = run_cli(capsys, "caption", str(left), "--side", "left")
    assert code == 0, err
    assert "left hand" in out and "right hand" not in out


def test_caption_two_hand_npz_clap(tmp_path, capsys):
    path = save_motion(clap_motion(), tmp_path / "clap.npz")
    code, out, err = run_cli(capsys, "caption", str(path))
    assert code == 0, err
    parts = sections(out)
    assert all("clap" in ln or "palm" in ln for ln in parts["interaction"])
    assert any(EVENT_LINE.match(ln) and " palm_contact " in ln for ln in parts["events"])


@pytest.mark.parametrize(
    "name, make, fragment",
    [
        ("cut_right.bvh", write_truncated_bvh, "truncated"),
        ("nan.npz", write_nan_npz, "NaN"),
        ("garbage.bvh", lambda p: p.write_text("HIERARCHY\nROOT {{{\n"), ""),
        ("empty.json", lambda p: p.write_text(""), "empty"),
        ("garbage.json", lambda p: p.write_text("{not json"), "invalid JSON"),
        ("missing.npz", None, "no such file"),
    ],
)
def test_caption_bad_input_one_line(tmp_path, capsys, name, make, fragment):
    path = tmp_path / name
    if make is not None:
        make(path)
    code, out, err = run_cli(capsys, "caption", str(path), "--json", str(tmp_path / "c.json"))
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1 and lines[0].startswith("handmotion: error: "), err
    assert fragment.lower() in lines[0].lower()
    assert "Traceback" not in err and not (tmp_path / "c.json").exists()


def test_caption_bad_flags(tmp_path, capsys):
    path = tmp_path / "take_right.bvh"
    path.write_text(mocap_hand_bvh("right", 20, 30.0))
    code, _, err = run_cli(capsys, "caption", str(path), "--n", "0")
    assert code == 2 and "--n" in err
    code, _, err = run_cli(capsys, "caption", str(path), "--json", str(tmp_path / "no_dir" / "c.json"))
    assert code == 2 and "cannot write" in err and "Traceback" not in err
