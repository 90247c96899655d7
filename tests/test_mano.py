"""MANO backend tests on a small synthetic model written like the official (chumpy) pickles."""

from __future__ import annotations

import copyreg
import importlib.util
import io
import logging
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from engine import mano
from engine.errors import MotionFormatError, MotionValueError
from engine.skeleton import FINGERS, PARENTS_16, HandModel

V, J = 778, 16
TIPS = (744, 320, 443, 554, 671)  # fingertip vertices: thumb, index, middle, ring, pinky (smplx)


# ------------------------------------------------------------------------------ synthetic MANO file


def _skeleton() -> tuple[np.ndarray, np.ndarray]:
    """A plausible right-hand rest skeleton (16, 3) and tips (5, 3), fingers along -X, metres."""
    joints = np.zeros((J, 3))
    joints[0] = [0.095, 0.006, 0.006]
    tips = np.zeros((5, 3))
    for k, (finger, z) in enumerate([("thumb", 0.03), ("index", 0.02), ("middle", 0.0),
                                     ("ring", -0.02), ("pinky", -0.04)]):
        (a, b, c), _ = FINGERS[finger]
        start = joints[0] + ([-0.03, -0.01, z] if finger == "thumb" else [-0.09, 0.0, z])
        step = np.array([-0.03, -0.005, 0.01 if finger == "thumb" else 0.0])
        joints[a], joints[b], joints[c] = start, start + step, start + 2 * step
        tips[k] = start + 3 * step
    return joints, tips


def synthetic_mano(seed: int = 0) -> dict[str, object]:
    """Arrays with the real keys and shapes; each joint is the mean of 8 vertices around it."""
    rng = np.random.default_rng(seed)
    joints, tips = _skeleton()
    v = joints[0] + rng.normal(scale=0.03, size=(V, 3))
    owner = rng.integers(0, J, size=V)  # skinning joint of each vertex
    reg = np.zeros((J, V))
    free = np.setdiff1d(np.arange(V), TIPS)
    for j in range(J):
        ids = free[j * 8:(j + 1) * 8]
        off = rng.normal(scale=0.004, size=(8, 3))
        v[ids] = joints[j] + off - off.mean(0)
        reg[j, ids] = 1 / 8
        owner[ids] = j
    for k, finger in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        (_, _, last), _ = FINGERS[finger]
        v[TIPS[k]] = tips[k]
        owner[TIPS[k]] = last
    weights = np.eye(J)[owner]  # rows sum to 1
    posedirs = rng.normal(scale=1e-4, size=(V, 3, 135))
    posedirs[list(TIPS)] = 0.0
    comps, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return {
        "v_template": v, "shapedirs": rng.normal(scale=1e-2, size=(V, 3, 10)), "posedirs": posedirs,
        "J_regressor": sp.csc_matrix(reg), "J": joints.copy(), "weights": weights,
        "kintree_table": np.array([[4294967295] + list(PARENTS_16[1:]), list(range(J))], dtype=np.int64),
        "f": rng.integers(0, V, size=(1538, 3)).astype(np.uint32), "hands_components": comps,
        "hands_mean": rng.normal(scale=0.1, size=45), "hands_coeffs": rng.normal(size=(12, 45)),
        "bs_style": "lbs", "bs_type": "lrotmin",
    }


class _FakeChumpy:
    """Registers modules chumpy.ch / chumpy.reordering with pickle-compatible stand-in classes."""

    def __enter__(self):
        ch, reo = types.ModuleType("chumpy.ch"), types.ModuleType("chumpy.reordering")

        class Ch:  # chumpy.ch.Ch pickles as NEWOBJ + its __dict__ (value in 'x')
            def __init__(self, x):
                self.x, self.dterms = np.asarray(x), ["x"]

        class Select:
            def __init__(self, a, idxs):
                self.a, self.idxs = a, idxs

        for cls, mod in ((Ch, ch), (Select, reo)):
            cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
            setattr(mod, cls.__name__, cls)
        self.saved = {n: sys.modules.get(n) for n in ("chumpy", "chumpy.ch", "chumpy.reordering")}
        sys.modules.update({"chumpy": types.ModuleType("chumpy"), "chumpy.ch": ch, "chumpy.reordering": reo})
        self.Ch, self.Select = Ch, Select
        return self

    def __exit__(self, *exc):
        for name, mod in self.saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def _py2_array_reduce(a: np.ndarray):
    """ndarray pickled like Python 2 numpy did: dtype code and raw buffer as (latin1) str."""
    a = np.ascontiguousarray(a)
    state = (1, a.shape, a.dtype, False, a.tobytes().decode("latin1"))
    return np.ndarray.__reduce__(a)[0], (np.ndarray, (0,), "b"), state


def write_mano_pkl(path, data: dict, chumpy_keys=("shapedirs", "v_template"), select_key=None,
                   py2: bool = False) -> bytes:
    """Pickle `data` (protocol 2, like the official files) with some values wrapped as chumpy objects.

    py2=True mimics a Python 2 file byte for byte where it matters: array buffers as str (no
    `_codecs.encode`), `numpy.core.multiarray` and `scipy.sparse.csc` module paths.
    """
    with _FakeChumpy() as fake:
        obj = {k: (fake.Ch(v) if k in chumpy_keys else v) for k, v in data.items()}
        if select_key:
            obj[select_key] = fake.Select(fake.Ch(data[select_key]), [0, 1])
        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, protocol=2)
        if py2:
            pickler.dispatch_table = {**copyreg.dispatch_table, np.ndarray: _py2_array_reduce}
        pickler.dump(obj)
    raw = buf.getvalue()
    if py2:
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        raw = raw.replace(b"scipy.sparse._csc", b"scipy.sparse.csc")
        assert b"_codecs" not in raw and b"cnumpy.core.multiarray\n_reconstruct" in raw
    path.write_bytes(raw)
    return raw


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return home


@pytest.fixture
def mano_dir(tmp_path, cache_home):
    d = tmp_path / "mano"
    d.mkdir()
    write_mano_pkl(d / "MANO_RIGHT.pkl", synthetic_mano(0))
    left = synthetic_mano(1)
    left["shapedirs"] = synthetic_mano(0)["shapedirs"].copy()  # the official bug: same x column as right
    write_mano_pkl(d / "MANO_LEFT.pkl", left)
    return d


# ------------------------------------------------------------------------------------------- loader


@pytest.mark.parametrize("py2", [False, True], ids=["py3-protocol2", "py2-style"])
def test_pickle_references_chumpy_and_loads_without_it(tmp_path, py2):
    raw = write_mano_pkl(tmp_path / "MANO_RIGHT.pkl", synthetic_mano(), py2=py2)
    assert b"cchumpy.ch\nCh\n" in raw and b"scipy.sparse" in raw
    assert "chumpy" not in sys.modules and importlib.util.find_spec("chumpy") is None
    data = mano.load_mano_pkl(tmp_path / "MANO_RIGHT.pkl")
    ref = synthetic_mano()
    for key, shape in mano.REQUIRED_SHAPES.items():
        assert data[key].shape == shape
    np.testing.assert_array_equal(data["shapedirs"], ref["shapedirs"])
    np.testing.assert_array_equal(data["J_regressor"], ref["J_regressor"].toarray())
    assert data["f"].dtype == np.int64 and data["kintree_table"].dtype == np.int64
    assert data["kintree_table"][0, 0] == 4294967295 and str(data["bs_style"]) == "lbs"
    assert data["shapedirs"].flags.writeable


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"touch {marker}".encode()
    raw = b"\x80\x02cos\nsystem\nq\x00X" + len(payload).to_bytes(4, "little") + payload + b"\x85R."
    (tmp_path / "evil.pkl").write_bytes(raw)
    with pytest.raises(MotionFormatError, match=r"os\.system"):
        mano.load_mano_pkl(tmp_path / "evil.pkl")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil2.pkl").write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    with pytest.raises(MotionFormatError, match="refusing to unpickle global.*system"):
        mano.load_mano_pkl(tmp_path / "evil2.pkl")
    assert not marker.exists()


def test_missing_key_truncated_and_bad_shape(tmp_path):
    data = synthetic_mano()
    del data["shapedirs"]
    write_mano_pkl(tmp_path / "a.pkl", data, chumpy_keys=())
    with pytest.raises(MotionFormatError, match="missing key.*shapedirs"):
        mano.load_mano_pkl(tmp_path / "a.pkl")
    raw = write_mano_pkl(tmp_path / "b.pkl", synthetic_mano())
    (tmp_path / "b.pkl").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(MotionFormatError, match="truncated or corrupt"):
        mano.load_mano_pkl(tmp_path / "b.pkl")
    data = synthetic_mano()
    data["posedirs"] = data["posedirs"][:, :, :10]
    write_mano_pkl(tmp_path / "c.pkl", data)
    with pytest.raises(MotionFormatError, match=r"posedirs should be .*\(778, 3, 135\)"):
        mano.load_mano_pkl(tmp_path / "c.pkl")


def test_unrecoverable_chumpy_expression(tmp_path, caplog):
    write_mano_pkl(tmp_path / "a.pkl", synthetic_mano(), select_key="weights")
    with pytest.raises(MotionFormatError, match="weights.*chumpy.reordering.Select"):
        mano.load_mano_pkl(tmp_path / "a.pkl")
    write_mano_pkl(tmp_path / "b.pkl", synthetic_mano(), select_key="hands_coeffs")  # optional key
    with caplog.at_level(logging.WARNING, logger="engine.mano"):
        data = mano.load_mano_pkl(tmp_path / "b.pkl")
    assert "hands_coeffs" not in data and "Select" in caplog.text


def test_cache_created_and_reused(tmp_path, cache_home, monkeypatch):
    pkl = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pkl(pkl, synthetic_mano())
    first = mano.load_mano_data(pkl)
    npz = tmp_path / "MANO_RIGHT.npz"
    assert npz.is_file()
    with np.load(npz, allow_pickle=False) as z:  # plain arrays only
        assert set(mano.REQUIRED_SHAPES) <= set(z.files)

    def boom(path):
        raise AssertionError("pickle parsed again")

    monkeypatch.setattr(mano, "load_mano_pkl", boom)
    second = mano.load_mano_data(pkl)
    for key in mano.REQUIRED_SHAPES:
        np.testing.assert_array_equal(first[key], second[key])
    os.utime(pkl, ns=(0, 0))  # source changed -> cache stale -> pickle parsed again
    with pytest.raises(AssertionError, match="parsed again"):
        mano.load_mano_data(pkl)


def test_cache_falls_back_to_user_dir(tmp_path, cache_home, monkeypatch):
    pkl = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pkl(pkl, synthetic_mano())
    real_write = mano._write_npz

    def write(target, data, key):
        if target.parent == tmp_path:
            raise PermissionError("read-only")
        real_write(target, data, key)

    monkeypatch.setattr(mano, "_write_npz", write)
    mano.load_mano_data(pkl)
    assert not (tmp_path / "MANO_RIGHT.npz").exists()
    cached = list((cache_home / ".cache" / "handmotion" / "mano").glob("MANO_RIGHT-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(mano, "load_mano_pkl", lambda p: pytest.fail("pickle parsed again"))
    mano.load_mano_data(pkl)


# -------------------------------------------------------------------------------------------- model


def test_left_shapedirs_fix():
    right = np.random.default_rng(0).normal(size=(V, 3, 10))
    left = right.copy()
    assert mano.fix_left_shapedirs(left, right)
    np.testing.assert_array_equal(left[:, 0], -right[:, 0])
    np.testing.assert_array_equal(left[:, 1:], right[:, 1:])
    assert not mano.fix_left_shapedirs(left, right)  # already fixed: left alone
    np.testing.assert_array_equal(left[:, 0], -right[:, 0])
    lt, rt = torch.tensor(right), torch.tensor(right)
    assert mano.fix_left_shapedirs(lt, rt) and torch.equal(lt[:, 0], -rt[:, 0])


def test_load_mano_hands_dir_resolution(tmp_path, mano_dir, monkeypatch):
    monkeypatch.delenv(mano.ENV_VAR, raising=False)
    assert mano.load_mano_hands() is None
    with pytest.raises(MotionFormatError, match="does not exist"):
        mano.load_mano_hands(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MotionFormatError, match="MANO_RIGHT.pkl and MANO_LEFT.pkl"):
        mano.load_mano_hands(str(tmp_path / "empty"))
    monkeypatch.setenv(mano.ENV_VAR, str(mano_dir))
    hands = mano.load_mano_hands()
    assert set(hands) == {"left", "right"} and hands["left"].side == "left"
    assert isinstance(hands["right"], HandModel)
    right_sd = synthetic_mano(0)["shapedirs"]
    np.testing.assert_allclose(hands["left"].model.shapedirs[:, 0].numpy(), -right_sd[:, 0], rtol=1e-6)
    np.testing.assert_allclose(hands["right"].model.shapedirs[:, 0].numpy(), right_sd[:, 0], rtol=1e-6)
    # converted npz files alone are accepted too
    for side in ("RIGHT", "LEFT"):
        (mano_dir / f"MANO_{side}.pkl").unlink()
    again = mano.load_mano_hands(mano_dir)
    np.testing.assert_allclose(again["left"].model.shapedirs.numpy(), hands["left"].model.shapedirs.numpy())
    np.testing.assert_allclose(again["right"].hands_mean(), synthetic_mano(0)["hands_mean"].reshape(15, 3))


@pytest.fixture
def right_hand(mano_dir):
    return mano.load_mano_hands(str(mano_dir))["right"]


def test_zero_pose_joints_match_regressor_and_tips(right_hand):
    from smplx.vertex_ids import vertex_ids

    assert tuple(vertex_ids["mano"].values()) == TIPS == mano.TIP_VERTEX_IDS
    ref = synthetic_mano(0)
    v, reg = ref["v_template"], ref["J_regressor"].toarray()
    expected = np.concatenate([reg @ v, v[list(TIPS)]])  # 16 joints + thumb, index, middle, ring, pinky
    transl = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.0, 1.0]])
    out = right_hand.joints(torch.zeros(2, 3), torch.zeros(2, 15, 3), transl)
    assert out.shape == (2, 21, 3) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected[None] + transl.numpy()[:, None], atol=1e-6)
    np.testing.assert_allclose(right_hand.rest_joints().numpy(), reg @ v, atol=1e-6)
    np.testing.assert_allclose(right_hand.rest_tips().numpy(), v[list(TIPS)], atol=1e-6)
    np.testing.assert_allclose(out[0, :16].numpy(), ref["J"] + [0.1, -0.2, 0.3], atol=1e-6)
    # betas: joints regress the shaped template
    betas = torch.linspace(-1, 1, 10, dtype=torch.float64)
    shaped = v + ref["shapedirs"] @ betas.numpy()
    got = right_hand.joints(torch.zeros(3), torch.zeros(15, 3), torch.zeros(3), betas)
    assert got.shape == (21, 3)
    np.testing.assert_allclose(got.numpy(), np.concatenate([reg @ shaped, shaped[list(TIPS)]]), atol=1e-5)
    np.testing.assert_allclose(right_hand.rest_joints(betas[None].expand(4, 10)).numpy(),
                               np.broadcast_to(reg @ shaped, (4, 16, 3)), atol=1e-5)


def test_joint_order_and_kinematics(right_hand):
    """Bending one MANO joint moves exactly its descendants in the 21-joint (smplx) order."""
    rest = right_hand.joints(torch.zeros(3), torch.zeros(15, 3), torch.zeros(3))
    for finger, ((a, b, c), tip) in FINGERS.items():
        pose = torch.zeros(15, 3)
        pose[a - 1] = torch.tensor([0.0, 0.0, 0.8])  # hand_pose excludes the wrist
        posed = right_hand.joints(torch.zeros(3), pose, torch.zeros(3))
        moved = set(torch.nonzero((posed - rest).norm(dim=-1) > 1e-6).flatten().tolist())
        assert moved == {b, c, tip}, finger
        for j in (b, c, tip):  # rigid rotation about joint a
            assert torch.isclose((posed[j] - posed[a]).norm(), (rest[j] - rest[a]).norm(), atol=1e-6)
    # global orient rotates everything about the wrist
    rot = torch.tensor([0.3, -0.5, 0.2])
    posed = right_hand.joints(rot, torch.zeros(15, 3), torch.zeros(3))
    R = torch.linalg.matrix_exp(torch.tensor([[0, -0.2, -0.5], [0.2, 0, -0.3], [0.5, 0.3, 0]]))
    np.testing.assert_allclose(posed.numpy(), ((rest - rest[0]) @ R.T + rest[0]).numpy(), atol=1e-5)


def test_joints_broadcasting_dtype_and_errors(right_hand):
    go = torch.zeros(2, 4, 3, dtype=torch.float64)
    out = right_hand.joints(go, torch.zeros(15, 3), torch.zeros(4, 3), torch.zeros(10))
    assert out.shape == (2, 4, 21, 3) and out.dtype == torch.float64
    assert right_hand.joints(torch.zeros(0, 3), torch.zeros(0, 15, 3), torch.zeros(0, 3)).shape == (0, 21, 3)
    assert right_hand.joints_np(np.zeros(3), np.zeros((15, 3)), np.zeros(3)).shape == (21, 3)
    with pytest.raises(MotionValueError):
        right_hand.joints(torch.zeros(3), torch.zeros(45), torch.zeros(3))
    with pytest.raises(MotionValueError):
        right_hand.joints(torch.zeros(2, 3), torch.zeros(3, 15, 3), torch.zeros(3))
    assert right_hand.hands_mean().shape == (15, 3)


def test_cli_uses_mano_dir_for_fk_and_mean_relative_data(tmp_path, mano_dir, capsys):
    """--mano-dir reaches the CLI: mean-relative npz poses get MANO's mean added, info runs FK on MANO."""
    from engine.cli import main
    from engine.io import load_motion

    T = 4
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(T, 45)) * 0.2
    np.savez(tmp_path / "rel.npz", right_hand_pose=pose, right_global_orient=np.zeros((T, 3)), fps=30.0)
    out = tmp_path / "flat.npz"
    assert main(["-q", "--mano-dir", str(mano_dir), "convert", str(tmp_path / "rel.npz"), str(out), "--mean-relative"]) == 0
    mean = mano.load_mano_hands(str(mano_dir))["right"].hands_mean()
    np.testing.assert_allclose(load_motion(out).right.hand_pose, pose.reshape(T, 15, 3) + mean[None])
    assert main(["--mano-dir", str(mano_dir), "info", str(out)]) == 0
    assert "right valid 4/4 frames" in capsys.readouterr().out
