"""MANO backend: a chumpy-free loader for the official model files and an smplx-backed hand model.

The MANO files (MANO_RIGHT.pkl / MANO_LEFT.pkl, licence-gated, never shipped) are Python 2 pickles
holding numpy arrays, a scipy sparse `J_regressor` and chumpy `Ch` objects. chumpy does not install
on modern numpy, so `load_mano_pkl` unpickles them with a whitelist: chumpy and scipy.sparse classes
become inert stand-ins whose state we read back as arrays; every other global is refused. A plain
`.npz` copy is cached after the first load. `ManoHand` wraps `smplx.MANO` behind the project's
`HandModel` interface (21 joints: the 16 MANO joints + fingertip vertices, see `engine.skeleton`).
"""

from __future__ import annotations

import codecs
import copyreg
import functools
import hashlib
import logging
import math
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import torch

from .errors import MotionFormatError, MotionValueError
from .skeleton import SIDES, HandModel

log = logging.getLogger(__name__)

ENV_VAR = "HANDMOTION_MANO_DIR"
TIP_VERTEX_IDS = (744, 320, 443, 554, 671)  # thumb, index, middle, ring, pinky (smplx VERTEX_IDS["mano"])
REQUIRED_SHAPES: dict[str, tuple[int, ...]] = {
    "v_template": (778, 3), "shapedirs": (778, 3, 10), "posedirs": (778, 3, 135),
    "J_regressor": (16, 778), "weights": (778, 16), "kintree_table": (2, 16), "f": (1538, 3),
    "hands_components": (45, 45), "hands_mean": (45,),
}
OPTIONAL_SHAPES: dict[str, tuple[int, ...]] = {"J": (16, 3)}
INT_KEYS = ("f", "kintree_table")
_CACHE_FORMAT = "handmotion-mano-v1"
_KEY_FIELD = "_source_key"
_MAX_DENSE = 10_000_000  # elements; a sparse matrix larger than this is not a MANO regressor


class _Stub:
    """Inert stand-in for a chumpy or scipy.sparse class: records the pickled state, runs nothing."""

    kind = origin = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.state = {}
        return obj  # no __init__: object.__init__ ignores the args when __new__ is overridden

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = {**state[0], **(state[1] or {})}  # (dict, slots) form
        self.state = state if isinstance(state, dict) else {}


@functools.lru_cache(maxsize=None)
def _stub_class(kind: str, origin: str) -> type:
    return type(origin.rsplit(".", 1)[-1], (_Stub,), {"kind": kind, "origin": origin})


@functools.lru_cache(maxsize=1)
def _safe_globals() -> dict[tuple[str, str], object]:
    """The non-class globals a MANO pickle may name: numpy array/scalar reconstruction helpers."""
    try:
        from numpy._core import multiarray as ma  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as ma
    table: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode,
        ("__builtin__", "object"): object, ("builtins", "object"): object}
    for mod in ("copy_reg", "copyreg"):  # protocol 0/1 pickles of plain objects
        table[(mod, "_reconstructor")] = copyreg._reconstructor
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table.update({(mod, "_reconstruct"): ma._reconstruct, (mod, "scalar"): ma.scalar})
    return table


_SPARSE_NAMES = {f"{fmt}_{kind}" for fmt in ("csc", "csr", "coo") for kind in ("matrix", "array")}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy helpers; chumpy.* and scipy.sparse csc/csr/coo become `_Stub`s."""

    def find_class(self, module: str, name: str):
        full = f"{module}.{name}"
        if module == "chumpy" or module.startswith("chumpy."):
            return _stub_class("chumpy", full)
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_NAMES:
            return _stub_class("sparse", full)
        if (module, name) not in _safe_globals():
            raise MotionFormatError(f"refusing to unpickle global {full!r}: a MANO file may only contain "
                                    "numpy arrays, scipy sparse matrices and chumpy arrays")
        return _safe_globals()[(module, name)]


def _sparse_to_dense(stub: _Stub) -> np.ndarray:
    """Densify a pickled csc/csr/coo matrix from its state dict (without scipy)."""
    st = stub.state
    fmt = stub.origin.rsplit(".", 1)[-1][:3]
    shape = tuple(int(s) for s in st.get("_shape", st.get("shape", ())))
    if len(shape) != 2 or math.prod(shape) > _MAX_DENSE:
        raise MotionFormatError(f"sparse matrix {stub.origin} has an unusable shape {shape}")
    data = np.asarray(st["data"], dtype=np.float64)
    if fmt == "coo":
        rows, cols = st["coords"] if "coords" in st else (st["row"], st["col"])
    else:
        indptr, indices = np.asarray(st["indptr"], np.int64), np.asarray(st["indices"], np.int64)
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        rows, cols = (indices, major) if fmt == "csc" else (major, indices)
    dense = np.zeros(shape)
    np.add.at(dense, (np.asarray(rows, np.int64), np.asarray(cols, np.int64)), data)  # duplicates sum
    return dense


def _to_numpy(value: object) -> np.ndarray:
    """Plain (writable, non-object) numpy array for one unpickled value."""
    if isinstance(value, _Stub) and value.kind == "chumpy":
        if value.origin == "chumpy.ch.Ch" and "x" in value.state:  # a Ch pickles its value as 'x'
            return _to_numpy(value.state["x"])
        raise MotionFormatError(f"chumpy object {value.origin} is a lazy expression whose value cannot be "
                                "recovered without chumpy; re-save the model with plain arrays")
    if isinstance(value, _Stub):
        try:
            return _sparse_to_dense(value)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise MotionFormatError(f"malformed sparse matrix {value.origin}: {e}") from e
    arr = np.array(value.decode("latin1") if isinstance(value, bytes) else value)
    if arr.dtype == object:
        raise MotionFormatError(f"value of type {type(value).__name__} is not a plain array")
    return arr


def validate_mano_data(data: dict[str, np.ndarray], source: object = "MANO data") -> dict[str, np.ndarray]:
    """Check required keys and shapes, cast float arrays to float64 and `f`/`kintree_table` to int64."""
    missing = [k for k in REQUIRED_SHAPES if k not in data]
    if missing:
        raise MotionFormatError(f"{source}: not a MANO model, missing key(s) {', '.join(missing)}")
    for key, shape in {**REQUIRED_SHAPES, **OPTIONAL_SHAPES}.items():
        if key not in data:
            continue
        arr = data[key]
        if arr.shape != shape or not np.issubdtype(arr.dtype, np.number):
            raise MotionFormatError(f"{source}: {key} should be a numeric array of shape {shape}, "
                                    f"got {arr.dtype} {arr.shape}")
        if not np.all(np.isfinite(arr)) or (key in INT_KEYS and np.any(arr != np.round(arr))):
            raise MotionFormatError(f"{source}: {key} contains NaN/inf or non-integer indices")
        data[key] = arr.astype(np.int64 if key in INT_KEYS else np.float64)
    if data["f"].min() < 0 or data["f"].max() >= 778:
        raise MotionFormatError(f"{source}: face indices out of range [0, 778)")
    return data


def load_mano_pkl(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an official MANO .pkl without chumpy: {key: plain numpy array}, validated.

    v_template (778,3), shapedirs (778,3,10), posedirs (778,3,135), J_regressor (16,778) dense,
    weights (778,16), kintree_table (2,16) int64, f (1538,3) int64, hands_components (45,45),
    hands_mean (45,), plus whatever optional keys convert cleanly (J, hands_coeffs, bs_style, ...).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = _RestrictedUnpickler(fh, encoding="latin1").load()
    except MotionFormatError as e:
        raise MotionFormatError(f"{path}: {e}") from None
    except OSError as e:
        raise MotionFormatError(f"cannot read MANO file {path}: {e}") from e
    except Exception as e:  # truncated/corrupt pickles raise all sorts of things
        raise MotionFormatError(f"{path} is not a readable MANO pickle (truncated or corrupt?): "
                                f"{type(e).__name__}: {e}") from e
    if not isinstance(raw, dict):
        raise MotionFormatError(f"{path}: expected a dict of model arrays, got {type(raw).__name__}")
    data: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        try:
            data[str(key)] = _to_numpy(value)
        except MotionFormatError as e:
            if key in REQUIRED_SHAPES or key in OPTIONAL_SHAPES:
                raise MotionFormatError(f"{path}: key {key!r}: {e}") from None
            log.warning("%s: ignoring key %r: %s", path, key, e)
    return validate_mano_data(data, path)


def user_cache_dir() -> Path:
    """Fallback cache directory: $XDG_CACHE_HOME/handmotion/mano or ~/.cache/handmotion/mano."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handmotion" / "mano"


def cache_candidates(pkl: Path) -> list[Path]:
    """Where the npz cache of `pkl` may live, in order: next to it, then the user cache dir."""
    tag = hashlib.sha256(str(pkl.resolve()).encode()).hexdigest()[:12]
    return [pkl.with_suffix(".npz"), user_cache_dir() / f"{pkl.stem}-{tag}.npz"]


def read_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], str | None]:
    """A converted MANO .npz (plain arrays, loaded without pickle), validated, and the source key
    stored in it when it is one of our caches (None otherwise)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:
        raise MotionFormatError(f"{path}: not a plain-array MANO .npz ({type(e).__name__}: {e})") from e
    key = data.pop(_KEY_FIELD, None)
    return validate_mano_data(data, path), None if key is None else str(key)


def _write_npz(target: Path, data: dict[str, np.ndarray], key: str) -> None:
    """Atomically write `data` + `key` to `target` (raises OSError when not writable)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **data, **{_KEY_FIELD: np.array(key)})
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_mano_data(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Model arrays of one MANO file: a .npz as is, a .pkl through an npz cache keyed by size+mtime.

    The cache goes next to the .pkl, or to `user_cache_dir()` when that is read-only; a foreign .npz
    (one without our key) is never overwritten.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return read_npz(path)[0]
    try:
        st = path.stat()
    except OSError as e:
        raise MotionFormatError(f"cannot read MANO file {path}: {e}") from e
    key, foreign = f"{_CACHE_FORMAT}:{st.st_size}:{st.st_mtime_ns}", set()
    for cand in cache_candidates(path):
        if cand.exists():
            try:
                data, stored = read_npz(cand)
            except MotionFormatError as e:
                data, stored = None, None
                log.warning("ignoring unreadable MANO cache %s: %s", cand, e)
            if stored == key:
                log.info("MANO %s: loaded cached arrays from %s", path.name, cand)
                return data
            if stored is None:
                foreign.add(cand)
    data = load_mano_pkl(path)
    log.info("MANO %s: converted the pickle to plain arrays", path)
    for cand in cache_candidates(path):
        try:
            if cand not in foreign:
                _write_npz(cand, data, key)
                log.info("MANO %s: wrote cache %s", path.name, cand)
                return data
        except OSError as e:
            log.info("cannot write MANO cache %s: %s", cand, e)
    log.warning("MANO %s: no writable cache location; the pickle will be parsed again next time", path)
    return data


def fix_left_shapedirs(left_shapedirs: np.ndarray | torch.Tensor,
                       right_shapedirs: np.ndarray | torch.Tensor) -> bool:
    """The well-known MANO_LEFT fix: its shapedirs x-column equals the right hand's, but must be negated.

    Both (778, 3, K). When sum |left[:, 0, :] - right[:, 0, :]| < 1, negates left[:, 0, :] IN PLACE
    and returns True; otherwise (already fixed / different model) leaves it and returns False.
    """
    if float(abs(left_shapedirs[:, 0, :] - right_shapedirs[:, 0, :]).sum()) < 1:
        left_shapedirs[:, 0, :] *= -1
        return True
    return False


@functools.lru_cache(maxsize=1)
def _smplx_mano_class() -> type:
    import smplx

    class _Mano(smplx.MANO):
        SHAPE_SPACE_DIM = 10  # MANO has 10 betas; silences smplx's "only 10 shape coefficients" print

    return _Mano


class ManoHand(HandModel):
    """One MANO hand (smplx), with the `engine.skeleton.HandModel` interface. Metres, MANO frame (Y up)."""

    def __init__(self, data: dict[str, np.ndarray], side: str, *, dtype: torch.dtype = torch.float32,
                 source: str = "") -> None:
        from smplx.utils import Struct

        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        self.side = side
        self._hands_mean = np.asarray(data["hands_mean"], np.float64).reshape(15, 3).copy()
        self.model = _smplx_mano_class()(
            model_path=source, is_rhand=side == "right", data_struct=Struct(**data), use_pca=False,
            num_pca_comps=45, flat_hand_mean=True, create_global_orient=False, create_hand_pose=False,
            create_betas=False, create_transl=False, batch_size=1, dtype=dtype)
        self._tip_ids = torch.tensor(TIP_VERTEX_IDS, dtype=torch.long)

    def hands_mean(self) -> np.ndarray:
        """MANO mean hand pose (15, 3) axis-angle; add it to mean-relative poses to get flat-hand ones."""
        return self._hands_mean.copy()

    def _shaped_vertices(self, betas: torch.Tensor | None) -> torch.Tensor:
        """Rest vertices (778, 3), or (..., 778, 3) for betas (..., 10)."""
        from smplx.lbs import blend_shapes

        m = self.model
        if betas is None:
            return m.v_template
        b = betas.to(m.v_template)
        verts = m.v_template + blend_shapes(b.reshape(-1, b.shape[-1]), m.shapedirs)
        return verts.reshape(*b.shape[:-1], *m.v_template.shape)

    def _out_dtype(self, t: torch.Tensor | None) -> torch.dtype:
        return t.dtype if t is not None and t.is_floating_point() else self.model.v_template.dtype

    def rest_joints(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Rest joints (16, 3), or (..., 16, 3) for betas (..., 10): J_regressor @ shaped template."""
        v = self._shaped_vertices(betas)
        return torch.einsum("jv,...vc->...jc", self.model.J_regressor, v).to(self._out_dtype(betas))

    def rest_tips(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Rest fingertip vertices (5, 3) or (..., 5, 3): thumb, index, middle, ring, pinky."""
        return self._shaped_vertices(betas)[..., self._tip_ids, :].to(self._out_dtype(betas))

    def joints(self, global_orient: torch.Tensor, hand_pose: torch.Tensor, transl: torch.Tensor,
               betas: torch.Tensor | None = None) -> torch.Tensor:
        """MANO skinning -> (..., 21, 3) metres: 16 joints + 5 tip vertices, `engine.skeleton` order.

        global_orient (..., 3), hand_pose (..., 15, 3) axis-angle (flat-hand zero), transl (..., 3),
        betas (10,) / (..., 10) / None; leading dims broadcast. Returned in global_orient's dtype.
        """
        shapes = [tuple(t.shape) for t in (global_orient, hand_pose, transl, betas) if t is not None]
        if (global_orient.shape[-1:] != (3,) or hand_pose.shape[-2:] != (15, 3) or transl.shape[-1:] != (3,)
                or (betas is not None and betas.shape[-1:] != (10,))):
            raise MotionValueError(f"MANO joints: expected global_orient (...,3), hand_pose (...,15,3), "
                                   f"transl (...,3) [, betas (...,10)]; got {shapes}")
        try:
            batch = torch.broadcast_shapes(global_orient.shape[:-1], hand_pose.shape[:-2], transl.shape[:-1],
                                           () if betas is None else betas.shape[:-1])
        except RuntimeError as e:
            raise MotionValueError(f"MANO joints: batch shapes do not broadcast: {e}") from e
        m, out_dtype = self.model, self._out_dtype(global_orient)
        n = math.prod(batch)
        if n == 0:
            return torch.zeros(*batch, 21, 3, dtype=out_dtype)

        def flat(t: torch.Tensor, tail: tuple[int, ...]) -> torch.Tensor:
            return t.to(m.v_template).expand(*batch, *tail).reshape(n, -1)

        out = m(betas=flat(betas, (10,)) if betas is not None else m.v_template.new_zeros(n, 10),
                global_orient=flat(global_orient, (3,)), hand_pose=flat(hand_pose, (15, 3)),
                transl=flat(transl, (3,)))
        joints = out.joints
        if joints.shape[1] == 16:  # smplx 0.1.28 leaves the fingertip selector commented out
            joints = m.vertex_joint_selector(out.vertices, joints)
        return joints.reshape(*batch, 21, 3).to(out_dtype)


def resolve_mano_dir(mano_dir: str | os.PathLike | None = None) -> str | None:
    """`mano_dir`, else $HANDMOTION_MANO_DIR, else None (no MANO files configured)."""
    return os.fspath(mano_dir) if mano_dir else os.environ.get(ENV_VAR) or None


def load_mano_hands(mano_dir: str | os.PathLike | None = None) -> dict[str, ManoHand] | None:
    """{"left": ManoHand, "right": ManoHand} from `mano_dir` or $HANDMOTION_MANO_DIR; None if neither is set.

    The directory must hold MANO_RIGHT and MANO_LEFT as .pkl (official) or converted .npz files.
    """
    mano_dir = resolve_mano_dir(mano_dir)
    if mano_dir is None:
        return None
    root = Path(mano_dir).expanduser()
    hint = ("download the MANO models (licence required) from https://mano.is.tue.mpg.de and point "
            f"--mano-dir or ${ENV_VAR} at the folder holding MANO_RIGHT.pkl and MANO_LEFT.pkl")
    if not root.is_dir():
        raise MotionFormatError(f"MANO directory {root} does not exist; {hint}")
    files = {s: next((p for p in (root / f"MANO_{s.upper()}.pkl", root / f"MANO_{s.upper()}.npz")
                      if p.is_file()), None) for s in ("right", "left")}
    missing = [f"MANO_{s.upper()}.pkl" for s, p in files.items() if p is None]
    if missing:
        raise MotionFormatError(f"MANO directory {root} lacks {' and '.join(missing)}; {hint}")
    data = {side: load_mano_data(path) for side, path in files.items()}
    if fix_left_shapedirs(data["left"]["shapedirs"], data["right"]["shapedirs"]):
        log.info("MANO: applied the left-hand shapedirs x-sign fix")
    return {side: ManoHand(data[side], side, source=str(files[side])) for side in ("left", "right")}
