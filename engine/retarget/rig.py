"""`Rig`: an armature's bones as the add-on gathers them (names, parents, rest matrices, rotation modes).

Conventions are Blender's. A rest matrix is `bone.matrix_local`: 4x4 in armature space, the bone's
local +Y axis points from head to tail, the translation is the head. Rows are sent as Blender's
`Matrix` lists them (`[list(row) for row in bone.matrix_local]`). `world` is the armature object's
`matrix_world`; only its rotation is used, to find which way is up (Blender's world is Z-up, but an
FBX import often leaves the armature's own space Y-up under a rotated object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..errors import MotionFormatError

ROTATION_MODES = ("QUATERNION", "XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX", "AXIS_ANGLE")
MAX_BONES = 10_000
_ORTHO_TOL = 1e-3  # Blender stores float32 matrices; anything further off is scaled or sheared


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    """Project (..., 3, 3) near-rotations onto SO(3) (SVD), removing float32 noise."""
    u, _, vt = np.linalg.svd(m)
    return u @ vt


@dataclass(eq=False)
class Rig:
    """An armature's bones.

    names: N unique bone names; parents: (N,) int, the parent's index or -1 for a root;
    rest: (N, 4, 4) rest matrices in armature space (Blender `bone.matrix_local`); rotation_modes:
    N Blender rotation modes (`pose_bone.rotation_mode`, default all "QUATERNION"); world: (4, 4)
    the armature object's `matrix_world` (default identity: armature space is Blender's Z-up world).
    Invalid input raises MotionFormatError naming the bone.
    """

    names: Sequence[str]
    parents: Sequence[int] | np.ndarray
    rest: np.ndarray
    rotation_modes: Sequence[str] | None = None
    world: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.names = self._check_names(self.names)
        n = len(self.names)
        self.parents = self._check_parents(self.parents, n)
        self.rest = self._check_rest(self.rest, n)
        modes = ["QUATERNION"] * n if self.rotation_modes is None else list(self.rotation_modes)
        if len(modes) != n:
            raise MotionFormatError(f"rig: {len(modes)} rotation modes for {n} bones")
        for name, mode in zip(self.names, modes):
            if mode not in ROTATION_MODES:
                raise MotionFormatError(f"rig: bone {name!r} has rotation mode {mode!r}; "
                                        f"expected one of {', '.join(ROTATION_MODES)}")
        self.rotation_modes = modes
        world = np.eye(4) if self.world is None else np.asarray(self.world, dtype=np.float64)
        if world.shape != (4, 4) or not np.all(np.isfinite(world)):
            raise MotionFormatError("rig: the armature object's matrix must be a finite 4x4 matrix")
        scale = np.linalg.norm(world[:3, :3], axis=0)
        if np.any(scale < 1e-9) or np.linalg.det(world[:3, :3]) <= 0:
            raise MotionFormatError("rig: the armature object's matrix is degenerate or mirrored (negative scale)")
        self.world = world
        self._index = {name: i for i, name in enumerate(self.names)}

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _check_names(names: Sequence[str]) -> list[str]:
        names = list(names)
        if not names:
            raise MotionFormatError("rig: the armature has no bones")
        if len(names) > MAX_BONES:
            raise MotionFormatError(f"rig: {len(names)} bones is more than the limit of {MAX_BONES}")
        seen: set[str] = set()
        for name in names:
            if not isinstance(name, str) or not name:
                raise MotionFormatError(f"rig: bone names must be non-empty strings, got {name!r}")
            if name in seen:
                raise MotionFormatError(f"rig: bone name {name!r} occurs twice")
            seen.add(name)
        return names

    def _check_parents(self, parents: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
        try:
            arr = np.asarray(parents, dtype=np.int64)
        except (TypeError, ValueError):
            raise MotionFormatError("rig: parents must be bone indices (-1 for a root bone)") from None
        if arr.shape != (n,):
            raise MotionFormatError(f"rig: expected {n} parents, got shape {tuple(arr.shape)}")
        for i, p in enumerate(arr):
            if p < -1 or p >= n or p == i:
                raise MotionFormatError(f"rig: bone {self.names[i]!r} has an invalid parent index {int(p)}")
        state = np.zeros(n, dtype=np.int8)  # 0 unseen, 1 on the current path, 2 known to reach a root
        for start in range(n):
            path, i = [], start
            while i >= 0 and state[i] == 0:
                state[i] = 1
                path.append(i)
                i = int(arr[i])
            if i >= 0 and state[i] == 1:
                loop = path[path.index(i):] + [i]
                raise MotionFormatError("rig: bone parents form a cycle: " + " -> ".join(self.names[k] for k in loop))
            state[path] = 2
        return arr

    def _check_rest(self, rest: Any, n: int) -> np.ndarray:
        try:
            arr = np.asarray(rest, dtype=np.float64)
        except (TypeError, ValueError):
            raise MotionFormatError("rig: rest matrices must be numbers") from None
        if arr.shape != (n, 4, 4):
            raise MotionFormatError(f"rig: expected rest matrices of shape ({n}, 4, 4), got {tuple(arr.shape)}")
        for i in range(n):
            m = arr[i]
            if not np.all(np.isfinite(m)):
                raise MotionFormatError(f"rig: the rest matrix of bone {self.names[i]!r} has a non-finite value "
                                        "(NaN or inf)")
            if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-5):
                hint = " (it looks transposed: send rows, as Blender's Matrix lists them)" \
                    if np.allclose(m[:3, 3], 0.0) and np.any(np.abs(m[3, :3]) > 1e-9) else ""
                raise MotionFormatError(f"rig: the rest matrix of bone {self.names[i]!r} is not a bone matrix: "
                                        f"its last row should be 0 0 0 1{hint}")
            r = m[:3, :3]
            if np.abs(r.T @ r - np.eye(3)).max() > _ORTHO_TOL or np.linalg.det(r) <= 0:
                raise MotionFormatError(f"rig: the rest matrix of bone {self.names[i]!r} is not a pure rotation "
                                        "and translation (scaled, sheared or mirrored)")
        arr = arr.copy()
        arr[:, :3, :3] = _nearest_rotation(arr[:, :3, :3])
        return arr

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The index of bone `name`; MotionFormatError if the rig has no such bone."""
        try:
            return self._index[name]
        except (KeyError, TypeError):
            raise MotionFormatError(f"the rig has no bone named {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def rest_rotations(self) -> np.ndarray:
        """(N, 3, 3) rest rotations in armature space (columns: the bone's local X, Y, Z axes)."""
        return self.rest[:, :3, :3]

    @property
    def heads(self) -> np.ndarray:
        """(N, 3) rest head positions in armature space."""
        return self.rest[:, :3, 3]

    @property
    def up_rotation(self) -> np.ndarray:
        """(3, 3) rotation from armature space to Blender's Z-up world (the object's rotation)."""
        return _nearest_rotation(self.world[:3, :3] / np.linalg.norm(self.world[:3, :3], axis=0))

    def ancestors(self, i: int) -> Iterator[int]:
        """Indices of bone i's parent, grandparent, ... up to its root."""
        i = int(self.parents[i])
        while i >= 0:
            yield i
            i = int(self.parents[i])

    def depth(self, i: int) -> int:
        """Number of ancestors of bone i (0 for a root)."""
        return sum(1 for _ in self.ancestors(i))

    # ------------------------------------------------------------------ wire form
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: names, parent names (None for roots), rest rows, rotation modes, world."""
        return {"names": list(self.names),
                "parents": [None if p < 0 else self.names[p] for p in self.parents],
                "rest": self.rest.tolist(), "rotation_modes": list(self.rotation_modes),
                "world": self.world.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Rig":
        """Inverse of `to_dict`. Parents may be names (None or "" for a root) or indices (-1 for a root)."""
        if not isinstance(data, Mapping):
            raise MotionFormatError("rig: expected an object with names, parents and rest")
        unknown = set(data) - {"names", "parents", "rest", "rotation_modes", "world"}
        if unknown:
            raise MotionFormatError(f"rig: unknown fields {', '.join(sorted(map(str, unknown)))}")
        for key in ("names", "parents", "rest"):
            if key not in data:
                raise MotionFormatError(f"rig: missing field {key!r}")
        names, raw_parents = list(data["names"]), list(data["parents"])
        if len(raw_parents) != len(names):
            raise MotionFormatError(f"rig: {len(raw_parents)} parents for {len(names)} bones")
        if not all(isinstance(n, str) for n in names):
            raise MotionFormatError("rig: bone names must be strings")
        index = {n: i for i, n in enumerate(names)}
        parents = []
        for name, p in zip(names, raw_parents):
            if p is None or p == "":
                parents.append(-1)
            elif isinstance(p, str):
                if p not in index:
                    raise MotionFormatError(f"rig: bone {name!r} has parent {p!r}, which is not among the bones")
                parents.append(index[p])
            else:
                parents.append(p)
        return cls(names, parents, data["rest"], data.get("rotation_modes"), data.get("world"))
