"""The HTTP server's rig and refine jobs, live (a server on tiny weights, as in tests/test_server.py):
results retargeted onto test rigs (tests/test_retarget_rigs.py), bad rigs refused, bone rotations read
back as input, and malformed poses repaired with everything else kept bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.eval.corrupt import corrupt
from engine.examples import greeting
from engine.io.wire import WIRE_DECIMALS, motion_from_wire, motion_to_wire
from engine.motion import HandMotion
from engine.repair import DEFAULT_STRENGTH, STRENGTHS, refine
from engine.retarget import BoneMap, detect_bone_map, mano_to_rig, rig_to_mano
from engine.rotations import geodesic_angle
from engine.server import LiveServer
from engine.server.jobs import Job, JobContext
from engine.server.tasks import _attempts_progress, json_ready
from engine.skeleton import JOINT_NAMES_16
from tests.test_retarget_rigs import build
from tests.test_server import _config, as_motion, assert_error, call, submit, tiny_weights, wait, wait_preloaded

WIRE_TOL = 2e-6  # results carry WIRE_DECIMALS places: a rounded quantity computed from rounded inputs


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, str]:
    return tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def live(weights):
    with LiveServer(_config(weights)) as server:
        yield wait_preloaded(server)


def rig_payload(family: str, **extra) -> tuple[dict, object]:
    sample = build(family)
    return {**sample.rig.to_dict(), **extra}, sample


def named_map(sample, preset: str | None = None) -> dict:
    """The test rig's own bone map in the JSON form (joint names)."""
    out = {side: {JOINT_NAMES_16[j]: bone for j, bone in joints.items()} for side, joints in sample.bone_map.items()}
    return {**out, "preset": preset} if preset else out


def corrupted(seed: int = 0) -> HandMotion:
    bad, defects = corrupt(greeting(30.0), np.random.default_rng(seed))
    assert defects
    return bad


def assert_same_rotations(got: np.ndarray, want: np.ndarray, tol: float = 1e-7) -> None:
    assert np.max(geodesic_angle(got, want)) < tol


# --- retargeting --------------------------------------------------------------------------------

def test_generate_onto_a_rigify_rig_keys_every_joint_of_both_hands(live):
    payload, sample = rig_payload("rigify")
    done = wait(live, submit(live, {"task": "generate", "prompt": "The right hand waves.", "seconds": 0.5,
                                    "samples": 2, "seed": 1, "rig": payload}))
    assert done["state"] == "done", done["error"]
    result = done["result"]
    assert result["preset"] == "rigify" and result["bone_map"]["preset"] == "rigify"
    assert BoneMap.from_dict(result["bone_map"]).bones == sample.bone_map  # detected = the map a person would make
    mapped = {bone for joints in sample.bone_map.values() for bone in joints.values()}
    assert len(mapped) == 32 and len(result["bones"]) == len(result["motions"]) == 2
    assert result["rotation_modes"] == {bone: "QUATERNION" for bone in mapped}
    detected = detect_bone_map(sample.rig.names)
    for wire, keys in zip(result["motions"], result["bones"]):
        motion = as_motion(wire)
        assert set(keys) == mapped  # 16 joints per hand: the hand bone and 15 finger bones
        q = np.array([keys[b] for b in sorted(keys)])  # (32, T, 4)
        assert q.shape == (32, motion.n_frames, 4)
        np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=WIRE_TOL)
        want = mano_to_rig(motion, sample.rig, detected)
        for bone, values in keys.items():
            np.testing.assert_allclose(values, want[bone], atol=WIRE_TOL)
        back = rig_to_mano(sample.rig, detected, {b: np.asarray(v) for b, v in keys.items()}, motion.fps)
        for side in ("left", "right"):  # the keys carry the motion's rotations
            assert_same_rotations(back.track(side).hand_pose, motion.track(side).hand_pose, 5 * WIRE_TOL)
            assert_same_rotations(back.track(side).global_orient, motion.track(side).global_orient, 5 * WIRE_TOL)


def test_inbetween_onto_a_rig_with_its_own_bone_map_euler_bones_and_no_wrist(live):
    sample = build("autorigpro")
    payload = {**sample.rig.to_dict(), "bone_map": named_map(sample), "wrist": False}
    keys = {"0": {"right": {"transl": [0.0, 0.0, 0.0]}}, "9": {"right": {"hand_pose": {"index1": [0.0, 0.0, 0.8]}}}}
    done = wait(live, submit(live, {"task": "inbetween", "keys": keys, "n_frames": 10, "steps": 2, "rig": payload}))
    assert done["state"] == "done", done["error"]
    result = done["result"]
    assert result["preset"] == "custom" and as_motion(result["motion"]).sides == ["right"]
    fingers = {bone for j, bone in sample.bone_map["right"].items() if j > 0}
    assert set(result["bones"]) == fingers  # right hand only, no hand bone
    assert {result["rotation_modes"][b] for b in fingers} == {"XYZ"}  # reported; the values stay quaternions
    assert np.shape(result["bones"]["c_index1.r"]) == (10, 4)
    want = mano_to_rig(as_motion(result["motion"]), sample.rig, BoneMap(sample.bone_map), wrist=False)
    np.testing.assert_allclose(result["bones"]["c_index1.r"], want["c_index1.r"], atol=WIRE_TOL)


def test_inbetween_keys_sent_as_a_rigs_bones_are_hit_exactly(live):
    payload, sample = rig_payload("rigify")
    bone_map = detect_bone_map(sample.rig.names)
    clip = greeting(30.0).slice(0, 21)
    keyed = mano_to_rig(clip, sample.rig, bone_map)
    frames = [0, 10, 20]
    key_bones = {"frames": frames, "rotations": {b: q[frames].tolist() for b, q in keyed.items()}}
    job = {"task": "inbetween", "key_bones": key_bones, "n_frames": 21, "steps": 2, "rig": payload}
    done = wait(live, submit(live, job))
    assert done["state"] == "done", done["error"]
    bones = done["result"]["bones"]
    fingers = [bone_map[side, j] for side in ("left", "right") for j in range(1, 16)]
    for b in fingers:  # finger keys come back as keyed (rotations are keyed, positions are not)
        got = np.asarray(bones[b])[frames]
        got = got / np.linalg.norm(got, axis=-1, keepdims=True)  # rounded to WIRE_DECIMALS: unit within 1e-6
        dot = np.abs(np.sum(got * keyed[b][frames], axis=-1))
        assert np.degrees(2 * np.arccos(np.clip(dot, 0.0, 1.0))).max() < 1e-3
    status, body = call(live, "POST", "/v1/jobs", {**job, "keys": {"0": {"right": {"transl": [0, 0, 0]}}}})
    assert_error(status, body, 422, "invalid_request", "`keys` or as `key_bones`")
    status, body = call(live, "POST", "/v1/jobs", {**job, "key_bones": {**key_bones, "frames": [0, 10, 25]}})
    assert_error(status, body, 422, "invalid_keys", "frame 25 is outside the clip")
    status, body = call(live, "POST", "/v1/jobs", {k: v for k, v in job.items() if k != "rig"})
    assert_error(status, body, 422, "invalid_request", "key_bones: needs `rig`")


def test_bad_rigs_are_refused_before_queueing_and_name_the_bone(live):
    payload, sample = rig_payload("rigify")
    motion = motion_to_wire(greeting(30.0))

    def post(body):
        return call(live, "POST", "/v1/jobs", body)

    gen = {"task": "generate", "prompt": "wave", "seconds": 0.5}
    k = payload["names"].index("f_index.02.L")
    nan = json.loads(json.dumps(payload))
    nan["rest"][k][1][2] = float("nan")
    status, body = post({**gen, "rig": nan})
    assert_error(status, body, 422, "invalid_rig", f"rig.rest[{k}]", "'f_index.02.L'", "not finite")
    status, body = post({**gen, "rig": {**payload, "rest": payload["rest"][:-1]}})
    assert_error(status, body, 422, "invalid_rig", f"({len(payload['names'])}, 4, 4)")
    cyclic = {**payload, "parents": list(payload["parents"])}
    cyclic["parents"][0] = payload["names"][1]
    status, body = post({**gen, "rig": cyclic})
    assert_error(status, body, 422, "invalid_rig", "cycle")
    unknown = named_map(sample)
    unknown["left"]["thumb2"] = "thumb.02.L.001"
    status, body = post({**gen, "rig": {**payload, "bone_map": unknown}})
    assert_error(status, body, 422, "invalid_rig", "rig.bone_map", "'thumb.02.L.001'", "left thumb2")
    no_pinky = named_map(sample)
    del no_pinky["right"]["pinky3"]
    status, body = post({**gen, "rig": {**payload, "bone_map": no_pinky}})
    assert_error(status, body, 422, "invalid_rig", "right hand has no bone for pinky3")
    status, body = post({**gen, "hands": "left", "rig": {**payload, "bone_map": no_pinky}})
    assert status == 202, body  # the result's only hand is mapped completely
    status, body = post({**gen, "hands": "left", "rig": {**payload, "bone_map": {"right": named_map(sample)["right"]}}})
    assert_error(status, body, 422, "invalid_rig", "no bones for the left hand")
    status, body = post({**gen, "rig": {**payload, "bone_map": {"left": {"elbow": "hand_fk.L"}}}})
    assert_error(status, body, 422, "invalid_rig", "unknown MANO joint 'elbow'")
    plain = {"names": ["root", "spine"], "parents": [None, "root"], "rest": [np.eye(4).tolist()] * 2}
    status, body = post({**gen, "rig": plain})
    assert_error(status, body, 422, "invalid_rig", "no hand bones", "rig.bone_map")
    status, body = post({**gen, "rig": {**payload, "preset": "mixamo"}})
    assert_error(status, body, 422, "invalid_rig", "no mixamo hand bones")
    status, body = post({**gen, "rig": {**payload, "preset": "rigify", "bone_map": named_map(sample)}})
    assert_error(status, body, 422, "invalid_rig", "rig.preset")
    status, body = post({**gen, "rig": {**payload, "rotation_modes": ["QUATERNION"]}})
    assert_error(status, body, 422, "invalid_rig", "1 rotation modes")
    status, body = post({**gen, "rig": {**payload, "bones": ["hand.R"]}})
    assert_error(status, body, 422, "invalid_request", "rig.bones")
    status, body = post({"task": "caption", "motion": motion, "rig": payload})
    assert_error(status, body, 422, "invalid_request", "rig", "bones")
    status, body = post({"task": "caption", "bones": {"fps": 30, "rotations": {"hand_fk.L": [[1, 0, 0, 0]]}}})
    assert_error(status, body, 422, "invalid_request", "bones: needs `rig`")
    status, body = post({"task": "refine"})
    assert_error(status, body, 422, "invalid_request", "motion")
    bones = {"fps": 30, "rotations": {"hand_fk.L": [[1, 0, 0, 0]] * 3}}
    status, body = post({"task": "refine", "motion": motion, "bones": bones, "rig": payload})
    assert_error(status, body, 422, "invalid_request", "not both")
    status, body = post({"task": "refine", "rig": payload, "bones": {"fps": 30, "rotations": {
        "hand_fk.L": [[1, 0, 0, 0]] * 3, "no_such_bone": [[1, 0, 0, 0]] * 3}}})
    assert_error(status, body, 422, "invalid_motion", "bones:", "'no_such_bone'")
    status, body = post({"task": "refine", "rig": payload, "bones": {"fps": 30, "rotations": {
        "hand_fk.L": [[0, 0, 0, 0]] * 3}}})
    assert_error(status, body, 422, "invalid_motion", "bones:", "all-zero")
    status, body = post({"task": "refine", "rig": payload, "bones": {"fps": 0.02, "rotations": {
        "hand_fk.L": [[1, 0, 0, 0]] * 3}}})
    assert_error(status, body, 422, "limit_exceeded", "bones: 100.00 s long")


def test_a_rigs_bones_as_input_for_refine_caption_and_react(live):
    from engine.caption.describe import describe

    payload, sample = rig_payload("mixamo")
    bone_map = detect_bone_map(sample.rig.names)
    clip = greeting(30.0)
    keys = mano_to_rig(clip, sample.rig, bone_map)
    bones = {"fps": 30.0, "rotations": {b: q.tolist() for b, q in keys.items()}}
    read = rig_to_mano(sample.rig, bone_map, keys, 30.0)
    # a clean clip refined through the rig comes back as the same keys
    done = wait(live, submit(live, {"task": "refine", "bones": bones, "rig": payload}))
    assert done["state"] == "done", done["error"]
    assert done["result"]["report"]["input"]["clean"] is True and done["result"]["preset"] == "mixamo"
    assert set(done["result"]["bones"]) == set(keys)
    for b, q in keys.items():
        np.testing.assert_allclose(done["result"]["bones"][b], q, atol=WIRE_TOL)
    for side in ("left", "right"):
        np.testing.assert_allclose(as_motion(done["result"]["motion"]).track(side).hand_pose,
                                   read.track(side).hand_pose, atol=WIRE_TOL)
    done = wait(live, submit(live, {"task": "caption", "bones": bones, "rig": payload, "seed": 1}))
    assert done["state"] == "done", done["error"]
    assert done["result"]["text"] == describe(read, seed=1).semantic[0] and done["result"]["preset"] == "mixamo"
    left_only = {"fps": 30.0, "rotations": {b: q for b, q in bones["rotations"].items() if "Left" in b}}
    done = wait(live, submit(live, {"task": "react", "bones": left_only, "rig": payload, "given": "left", "steps": 2}))
    assert done["state"] == "done", done["error"]
    out = as_motion(done["result"]["motion"])
    assert out.sides == ["left", "right"] and len(done["result"]["bones"]) == 32
    np.testing.assert_allclose(out.left.hand_pose, read.left.hand_pose, atol=WIRE_TOL)  # the given hand is kept
    status, body = call(live, "POST", "/v1/jobs", {"task": "react", "bones": left_only, "rig": payload,
                                                   "given": "right"})
    assert_error(status, body, 422, "invalid_motion", "bones: has no right hand")


# --- refine -------------------------------------------------------------------------------------

def test_refine_repairs_only_what_was_found_and_matches_the_engine(live, weights):
    wire = motion_to_wire(corrupted(0), WIRE_DECIMALS)  # sent as clients send it, so what is kept comes back as sent
    bad = motion_from_wire(wire)
    done = wait(live, submit(live, {"task": "refine", "motion": wire, "steps": 3, "seed": 2}))
    assert done["state"] == "done" and done["progress"] == 1.0, done["error"]
    out, report = as_motion(done["result"]["motion"]), done["result"]["report"]
    direct = refine(bad, DEFAULT_STRENGTH, seed=2, steps=3, weights=weights["ib"], device="cpu")
    assert report == json.loads(json.dumps(json_ready(direct.report())))
    assert report["strength"] == DEFAULT_STRENGTH and report["input"]["findings"] and not report["input"]["clean"]
    assert report["input"]["counts"]["dropout"] >= 1 and sum(report["repaired_values"].values()) > 0
    for side, track in bad.hands():
        got, mask = out.track(side), direct.masks[side]
        np.testing.assert_allclose(got.hand_pose, direct.motion.track(side).hand_pose, atol=WIRE_TOL)
        keep = ~mask
        assert np.array_equal(got.global_orient[keep[:, 0]], track.global_orient[keep[:, 0]])
        assert np.array_equal(got.transl[keep[:, 16]], track.transl[keep[:, 16]])
        for j in range(15):
            assert np.array_equal(got.hand_pose[keep[:, j + 1], j], track.hand_pose[keep[:, j + 1], j])
        assert got.valid.all()  # the dropped frames were filled
    changed = sum(not np.allclose(out.track(s).hand_pose, t.hand_pose) for s, t in bad.hands())
    assert changed >= 1


def test_refine_with_auto_strength_sweeps_every_strength(live, weights):
    bad = corrupted(1)
    done = wait(live, submit(live, {"task": "refine", "motion": motion_to_wire(bad), "strength": "auto",
                                    "steps": 1, "dilate": 1}))
    assert done["state"] == "done", done["error"]
    report = done["result"]["report"]
    direct = refine(bad, "auto", steps=1, dilate=1, weights=weights["ib"], device="cpu")
    assert report["strength"] == direct.strength and report["strength"] in STRENGTHS
    assert [row["strength"] for row in report["auto_sweep"]] == list(STRENGTHS)
    assert all(row["error"] is None or row["error"] >= 0 for row in report["auto_sweep"])
    for side in bad.sides:
        np.testing.assert_allclose(as_motion(done["result"]["motion"]).track(side).hand_pose,
                                   direct.motion.track(side).hand_pose, atol=WIRE_TOL)
    status, body = call(live, "POST", "/v1/jobs", {"task": "refine", "motion": motion_to_wire(bad), "strength": "most"})
    assert_error(status, body, 422, "invalid_request", "strength", "'auto'")
    status, body = call(live, "POST", "/v1/jobs", {"task": "refine", "motion": motion_to_wire(bad), "dilate": -1})
    assert_error(status, body, 422, "invalid_request", "dilate")


def test_auto_strength_progress_runs_once_over_every_attempt():
    job = Job("j", "refine", None)
    update, seen = _attempts_progress(JobContext(job, "cpu"), 3, 0.1, 0.7), []
    for _ in range(3):
        for step in (1, 2, 3, 4):
            update(step, 4)
            seen.append(job.progress)
    assert job.stage == "denoising" and np.all(np.diff(seen) > 0)
    np.testing.assert_allclose(seen[3::4], [0.3, 0.5, 0.7])


def test_reports_become_plain_json():
    report = {"n": np.int64(3), "ok": np.bool_(True), "e": np.float32(0.5), "bad": float("nan"),
              "rows": (np.arange(2), [np.float64(np.inf)]), 7: "seven"}
    plain = json_ready(report)
    assert plain == {"n": 3, "ok": True, "e": 0.5, "bad": None, "rows": [[0, 1], [None]], "7": "seven"}
    assert type(plain["n"]) is int and type(plain["ok"]) is bool and type(plain["e"]) is float
    json.dumps(plain, allow_nan=False)


def test_a_clean_clip_comes_back_unchanged_without_loading_the_model(weights):
    config = _config(weights, preload=False, weights={"lm": weights["lm"], "inbetween": weights["ib_corrupt"]})
    with LiveServer(config) as server:
        clean = motion_to_wire(greeting(30.0), WIRE_DECIMALS)  # as clients send it
        done = wait(server, submit(server, {"task": "refine", "motion": clean, "strength": "auto"}))
        assert done["state"] == "done", done["error"]
        assert done["result"]["motion"] == json.loads(json.dumps(clean))  # the same numbers, bit for bit
        report = done["result"]["report"]
        assert report["input"]["clean"] and report["input"]["findings"] == [] and report["auto_sweep"] == []
        assert report["repaired_values"] == {"left": 0, "right": 0}
        assert call(server, "GET", "/v1/health")[1]["models"]["inbetween"]["loaded"] is False
        # a clip that needs repair does need the model: these weights do not load
        failed = wait(server, submit(server, {"task": "refine", "motion": motion_to_wire(corrupted(0))}))
        assert failed["state"] == "failed" and failed["error"]["code"] == "weights_invalid"


@pytest.mark.parametrize("temperature", [1e-300, 1e-9])
def test_generate_at_a_tiny_temperature_is_greedy(live, temperature):
    job = {"task": "generate", "prompt": "The left hand waves.", "seconds": 0.5, "samples": 2}
    cold = wait(live, submit(live, {**job, "temperature": temperature}))
    assert cold["state"] == "done", cold["error"]
    greedy = wait(live, submit(live, {**job, "temperature": 0}))
    assert cold["result"] == greedy["result"]
