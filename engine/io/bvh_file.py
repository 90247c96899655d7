"""Generic BVH (Biovision Hierarchy) reader and writer.

Conventions:
- A joint's rotation channels, in their `CHANNELS` order, are intrinsic Euler angles in degrees:
  R_local = R_first @ R_second @ R_third (`euler_to_matrix`, upper-case axes). Any subset and
  order is allowed (1- and 2-axis joints too); no rotation channel means identity.
- Position channels give the joint's local position (in the parent's frame) and replace the
  `OFFSET` per axis; axes without one keep the offset. Usual for roots, applied to every joint.
- FK: R_world = R_world_parent @ R_local, p_world = p_world_parent + R_world_parent @ t_local
  (column vectors). Units are whatever the file uses; `Frame Time` is seconds per frame.

Parsing tokenises on whitespace (tabs, CRLF, blank lines are fine) and is strict: every malformed
input raises `MotionFormatError` with a one-line message "<file>: line N: ...".
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass, field, replace

import numpy as np

from engine.errors import MotionFormatError, MotionValueError
from engine.rotations import euler_to_matrix, matrix_to_axis_angle, matrix_to_euler, matrix_to_quat

logger = logging.getLogger(__name__)

_AXES = "XYZ"
CHANNEL_NAMES = tuple(f"{a}{kind}" for kind in ("position", "rotation") for a in _AXES)
_CANONICAL = {c.lower(): c for c in CHANNEL_NAMES}
_STRUCTURAL = {"ROOT", "JOINT", "END", "{", "}", "OFFSET", "CHANNELS", "MOTION", "HIERARCHY"}


@dataclass
class BvhJoint:
    """One joint. `offset`: (3,) rest offset from the parent; `end_site`: (3,) End Site offset or None."""

    name: str
    parent: int  # index into Bvh.joints, -1 for a root
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    end_site: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.offset = np.array(self.offset, dtype=np.float64).reshape(3)  # always an own copy
        self.end_site = None if self.end_site is None else np.array(self.end_site, dtype=np.float64).reshape(3)

    @property
    def rotation_channels(self) -> list[tuple[int, str]]:
        """(index within `channels`, axis letter) of each rotation channel, in listed order."""
        return [(i, c[0]) for i, c in enumerate(self.channels) if c.endswith("rotation")]

    @property
    def position_channels(self) -> list[tuple[int, int]]:
        """(index within `channels`, axis 0..2) of each position channel."""
        return [(i, _AXES.index(c[0])) for i, c in enumerate(self.channels) if c.endswith("position")]


@dataclass
class Bvh:
    """A skeleton plus motion. `joints` in depth-first file order; `motion`: (F, total_channels)."""

    joints: list[BvhJoint]
    frame_time: float
    motion: np.ndarray

    def __post_init__(self) -> None:
        self.motion = np.asarray(self.motion, dtype=np.float64)
        n = sum(len(j.channels) for j in self.joints)
        if not self.joints:
            raise MotionValueError("BVH needs at least one joint")
        if self.motion.ndim != 2 or self.motion.shape[1] != n:
            raise MotionValueError(f"BVH motion has shape {self.motion.shape}, expected (F, {n})")
        if not (np.isfinite(self.frame_time) and self.frame_time > 0):
            raise MotionValueError(f"BVH frame time must be positive, got {self.frame_time}")
        open_path: list[int] = []  # ancestors of the previous joint: depth-first order check
        for j, joint in enumerate(self.joints):
            while open_path and open_path[-1] != joint.parent:
                open_path.pop()
            if joint.parent != -1 and not open_path:
                raise MotionValueError(f"BVH joint {joint.name!r} (index {j}) is not in depth-first order")
            open_path.append(j)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def end_site_joints(self) -> list[int]:
        """Indices of the joints that have an End Site, in file order."""
        return [i for i, j in enumerate(self.joints) if j.end_site is not None]

    def index(self, name: str) -> int:
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        raise MotionFormatError(f"BVH has no joint named {name!r}")

    def _starts(self) -> list[int]:
        return [0] + np.cumsum([len(j.channels) for j in self.joints]).tolist()

    def channel_slice(self, j: int) -> slice:
        """Columns of joint j in `motion`."""
        s = self._starts()
        return slice(s[j], s[j + 1])

    def local_rotations(self) -> np.ndarray:
        """(F, J, 3, 3): product of each joint's rotation channels in listed order (identity if none)."""
        out = np.broadcast_to(np.eye(3), (self.n_frames, len(self.joints), 3, 3)).copy()
        starts = self._starts()
        for j, joint in enumerate(self.joints):
            if rot := joint.rotation_channels:
                angles = self.motion[:, [starts[j] + i for i, _ in rot]]
                out[:, j] = euler_to_matrix("".join(a for _, a in rot), angles, degrees=True)
        return out

    def local_translations(self) -> np.ndarray:
        """(F, J, 3): each joint's offset, replaced per axis by its position channels."""
        out = np.broadcast_to(np.stack([j.offset for j in self.joints]), (self.n_frames, len(self.joints), 3))
        out, starts = out.copy(), self._starts()
        for j, joint in enumerate(self.joints):
            for i, axis in joint.position_channels:
                out[:, j, axis] = self.motion[:, starts[j] + i]
        return out

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: world rotations (F, J, 3, 3) and world positions (F, J, 3)."""
        R, t = self.local_rotations(), self.local_translations()
        Rw, pw = R.copy(), t.copy()
        for j, joint in enumerate(self.joints):
            if (p := joint.parent) >= 0:
                Rw[:, j] = Rw[:, p] @ R[:, j]
                pw[:, j] = pw[:, p] + np.einsum("fab,fb->fa", Rw[:, p], t[:, j])
        return Rw, pw

    def rest_positions(self) -> np.ndarray:
        """(J, 3) world positions at rest: offsets accumulated along the chain, channels ignored."""
        out = np.zeros((len(self.joints), 3))
        for j, joint in enumerate(self.joints):
            out[j] = joint.offset + (out[joint.parent] if joint.parent >= 0 else 0.0)
        return out

    def end_site_positions(self) -> np.ndarray:
        """(F, E, 3) world positions of the End Sites of `end_site_joints`, in that order."""
        Rw, pw = self.global_transforms()
        if not (idx := self.end_site_joints):
            return np.zeros((self.n_frames, 0, 3))
        ends = np.stack([self.joints[j].end_site for j in idx])
        return pw[:, idx] + np.einsum("feab,eb->fea", Rw[:, idx], ends)


# ----------------------------------------------------------------------------- reading

def _float(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


class _Cursor:
    """Whitespace tokens with 1-based line numbers, read lazily line by line."""

    def __init__(self, text: str, label: str) -> None:
        self.lines, self.label = text.splitlines(), label
        self.next_line = self.line = self.pos = 0
        self.toks: list[str] = []

    def error(self, msg: str, line: int | None = None) -> MotionFormatError:
        return MotionFormatError(f"{self.label}: line {max(self.line if line is None else line, 1)}: {msg}")

    def peek(self) -> str | None:
        while self.pos >= len(self.toks):
            if self.next_line >= len(self.lines):
                return None
            self.toks, self.pos = self.lines[self.next_line].split(), 0
            self.next_line += 1
            self.line = self.next_line
        return self.toks[self.pos]

    def take(self, what: str) -> str:
        if (tok := self.peek()) is None:
            raise self.error(f"unexpected end of file, expected {what}", len(self.lines))
        self.pos += 1
        return tok

    def expect(self, keyword: str, context: str) -> None:
        if (tok := self.take(f"'{keyword}' {context}")).upper() != keyword.upper():
            raise self.error(f"expected '{keyword}' {context}, got {tok!r}")

    def number(self, what: str) -> float:
        if (value := _float(tok := self.take(what))) is None:
            raise self.error(f"expected a number for {what}, got {tok!r}")
        if not np.isfinite(value):
            raise self.error(f"non-finite value {tok!r} for {what}")
        return value

    def rest_of_line(self) -> list[str]:
        """Remaining tokens on the current line (consumed)."""
        rest, self.pos = self.toks[self.pos:], len(self.toks)
        return rest


def _parse_joint_header(cur: _Cursor, keyword: str, parent: int, joints: list[BvhJoint]) -> BvhJoint:
    line, name_toks = cur.line, cur.rest_of_line()  # the name is the rest of the line
    if name_toks and name_toks[-1] == "{":  # "JOINT name {" on one line
        name_toks.pop()
        cur.toks, cur.pos = ["{"], 0
    if not (name := " ".join(name_toks)):
        raise cur.error(f"expected a joint name after {keyword}", line)
    if any(j.name == name for j in joints):
        raise cur.error(f"duplicate joint name {name!r}", line)
    cur.expect("{", f"after {keyword} {name}")
    cur.expect("OFFSET", f"in joint {name}")
    offset = np.array([cur.number(f"OFFSET of joint {name}") for _ in range(3)])
    cur.expect("CHANNELS", f"after OFFSET in joint {name}")
    count, line = cur.take(f"channel count of joint {name}"), cur.line
    if not count.isdecimal():
        raise cur.error(f"expected a channel count after CHANNELS in joint {name}, got {count!r}")
    names: list[str] = []
    # Channel names: the rest of the CHANNELS line, plus valid names continuing on later lines.
    while (tok := cur.peek()) is not None and tok.upper() not in _STRUCTURAL and (
            cur.line == line or tok.lower() in _CANONICAL):
        if (canonical := _CANONICAL.get(cur.take("channel").lower())) is None:
            raise cur.error(f"unknown channel name {tok!r} in joint {name} (expected {', '.join(CHANNEL_NAMES)})")
        if canonical in names:
            raise cur.error(f"duplicate channel {canonical} in joint {name}")
        names.append(canonical)
    if len(names) != int(count):
        raise cur.error(f"CHANNELS of joint {name} declares {int(count)} channels but lists {len(names)}", line)
    return BvhJoint(name=name, parent=parent, offset=offset, channels=names)


def _parse_hierarchy(cur: _Cursor) -> list[BvhJoint]:
    joints: list[BvhJoint] = []
    stack: list[int] = []  # indices of the open joints
    while True:
        inside = f"inside joint {joints[stack[-1]].name}" if stack else ""
        if (tok := cur.peek()) is None:
            msg = "missing MOTION section" if joints else "HIERARCHY has no ROOT joint"
            if stack:
                msg = f"unbalanced braces: end of file {inside} (missing '}}')"
            raise cur.error(msg, len(cur.lines))
        kw = cur.take("keyword").upper()
        if kw == "MOTION":
            if stack:
                raise cur.error(f"unbalanced braces: MOTION reached {inside} (missing '}}')")
            if not joints:
                raise cur.error("HIERARCHY has no ROOT joint")
            return joints
        if kw == "ROOT" and stack:
            raise cur.error(f"ROOT {inside} (missing '}}'?)")
        if kw == "JOINT" and not stack:
            raise cur.error("JOINT outside of any ROOT (unbalanced braces?)")
        if kw in ("ROOT", "JOINT"):
            joints.append(_parse_joint_header(cur, kw, stack[-1] if stack else -1, joints))
            stack.append(len(joints) - 1)
        elif kw == "END" and stack:
            owner = joints[stack[-1]]
            cur.expect("Site", "after End")
            if owner.end_site is not None:
                raise cur.error(f"joint {owner.name} has more than one End Site")
            cur.expect("{", f"after End Site of joint {owner.name}")
            cur.expect("OFFSET", f"in End Site of joint {owner.name}")
            owner.end_site = np.array([cur.number(f"End Site OFFSET of joint {owner.name}") for _ in range(3)])
            cur.expect("}", f"after End Site OFFSET of joint {owner.name}")
        elif kw == "}":
            if not stack:
                raise cur.error("unbalanced braces: unexpected '}'")
            stack.pop()
        elif stack:
            raise cur.error(f"unexpected {tok!r} {inside} (expected JOINT, End Site or '}}')")
        else:
            raise cur.error(f"unexpected {tok!r} after the hierarchy (expected ROOT or MOTION)")


def _parse_motion(cur: _Cursor, n_channels: int) -> tuple[float, np.ndarray]:
    cur.expect("Frames:", "after MOTION")
    if not (tok := cur.take("frame count")).isdecimal():
        raise cur.error(f"expected a non-negative integer frame count after 'Frames:', got {tok!r}")
    n_frames = int(tok)
    cur.expect("Frame", "after the frame count")
    cur.expect("Time:", "after 'Frame'")
    if (frame_time := cur.number("Frame Time")) <= 0:
        raise cur.error(f"Frame Time must be positive, got {frame_time}")
    need, got, extra = n_frames * n_channels, 0, 0
    chunks: list[np.ndarray] = []
    later = ((cur.next_line + 1 + k, ln.split()) for k, ln in enumerate(cur.lines[cur.next_line:]))
    for line, toks in itertools.chain([(cur.line, cur.rest_of_line())], later):
        if got >= need or not toks:  # values past the declared frames are only counted
            extra += len(toks)
            continue
        try:
            values = np.array(toks, dtype=np.float64)
        except ValueError:
            bad = next((t for t in toks if _float(t) is None), " ".join(toks)[:40])
            raise cur.error(f"non-numeric motion value {bad!r}", line) from None
        if not np.isfinite(values).all():
            raise cur.error(f"non-finite motion value {toks[int(np.argmin(np.isfinite(values)))]!r}", line)
        keep = min(len(values), need - got)
        chunks.append(values[:keep])
        got, extra = got + len(values), extra + len(values) - keep
    if got < need:
        raise cur.error(f"truncated motion data: 'Frames: {n_frames}' with {n_channels} channels needs {need} "
                        f"values, got {got} ({got // max(n_channels, 1)} complete frames)", len(cur.lines))
    if extra:
        logger.warning("%s: %d motion values beyond the declared %d frames ignored", cur.label, extra, n_frames)
    data = np.concatenate(chunks) if chunks else np.zeros(0)
    return frame_time, data.reshape(n_frames, n_channels)


def read_bvh(source: str | os.PathLike, *, text: str | None = None) -> Bvh:
    """Read a BVH file from a path, or from `text` (then `source` only labels error messages)."""
    label = os.fspath(source)
    if text is None:
        try:
            with open(label, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise MotionFormatError(f"{label}: cannot read file: {e.strerror or e}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    cur = _Cursor(text.lstrip("\ufeff"), label)
    if (first := cur.peek()) is None:
        raise MotionFormatError(f"{label}: empty file")
    if first.upper() != "HIERARCHY":
        raise cur.error(f"not a BVH file: expected 'HIERARCHY', got {first[:40]!r}")
    cur.take("HIERARCHY")
    joints = _parse_hierarchy(cur)
    frame_time, motion = _parse_motion(cur, sum(len(j.channels) for j in joints))
    return Bvh(joints=joints, frame_time=frame_time, motion=motion)


# ----------------------------------------------------------------------------- writing

def bvh_to_text(bvh: Bvh, precision: int = 6) -> str:
    """BVH text in the standard layout: tab indentation, numbers with `precision` decimals."""
    def nums(v: np.ndarray) -> str:
        return " ".join(f"{round(float(x), precision) + 0.0:.{precision}f}" for x in v)  # + 0.0: no "-0.0"

    out, open_path = ["HIERARCHY"], []

    def close() -> None:
        joint, pad = bvh.joints[open_path.pop()], "\t" * len(open_path)
        if joint.end_site is not None:
            out.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {nums(joint.end_site)}", f"{pad}\t}}"])
        out.append(f"{pad}}}")

    for j, joint in enumerate(bvh.joints):
        if not joint.name or joint.name != " ".join(joint.name.split()) or set(joint.name) & set("{}"):
            raise MotionValueError(f"joint name {joint.name!r} cannot be written (empty, braces or odd spaces)")
        while open_path and open_path[-1] != joint.parent:
            close()
        pad = "\t" * len(open_path)
        out.extend([f"{pad}{'ROOT' if joint.parent < 0 else 'JOINT'} {joint.name}", f"{pad}{{",
                    f"{pad}\tOFFSET {nums(joint.offset)}", " ".join([f"{pad}\tCHANNELS {len(joint.channels)}",
                                                                      *joint.channels])])
        open_path.append(j)
    while open_path:
        close()
    frame_time = np.format_float_positional(bvh.frame_time, unique=True, trim="0")  # shortest exact repr
    out += ["MOTION", f"Frames: {bvh.n_frames}", f"Frame Time: {frame_time}"]
    row = " ".join([f"%.{precision}f"] * bvh.motion.shape[1])
    out.extend(row % tuple(r) for r in np.round(bvh.motion, precision) + 0.0)
    return "\n".join(out) + "\n"


def write_bvh(bvh: Bvh, path: str | os.PathLike, precision: int = 6) -> None:
    """Write `bvh` to `path` (UTF-8, '\\n' line endings)."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(bvh_to_text(bvh, precision))


# ----------------------------------------------------------------------------- rotations -> channels

def _fit_angles(conv: str, R: np.ndarray) -> np.ndarray:
    """(F, 3, 3) -> (F, len(conv)) degrees whose intrinsic product is closest to R."""
    if len(conv) == 3:
        return matrix_to_euler(conv, R, degrees=True)
    q = matrix_to_quat(R)  # (F, 4) as (x, y, z, w); trace(R^T R_fit) = 4 <q, q_fit>^2 - 1
    comp = dict(zip(_AXES, q[:, :3].T))
    if len(conv) == 1:  # q_fit = (cos t/2, sin t/2 e_a): maximise |w cos + q_a sin|
        half = np.arctan2(comp[conv], q[:, 3])[:, None]
    else:  # <q, q_a q_b> = u^T K v with u, v the (cos, sin) half-angle pairs: top singular vectors of K
        a, b = conv
        c = next(x for x in _AXES if x not in conv)
        sign = 1.0 if a + b in "XYZX" else -1.0  # e_a e_b = sign * e_c
        K = np.stack([np.stack([q[:, 3], comp[b]], -1), np.stack([comp[a], sign * comp[c]], -1)], -2)
        U, _, Vt = np.linalg.svd(K)
        half = np.arctan2(np.stack([U[:, 1, 0], Vt[:, 0, 1]], -1), np.stack([U[:, 0, 0], Vt[:, 0, 0]], -1))
    return (np.degrees(2.0 * half) + 180.0) % 360.0 - 180.0


def set_local_rotations(bvh: Bvh, rotations: np.ndarray, root_positions: np.ndarray | None = None) -> Bvh:
    """Inverse of `Bvh.local_rotations`: a new Bvh whose rotation channels encode `rotations`.

    rotations: (F, J, 3, 3). Each joint's matrices are decomposed in its own channel order
    (intrinsic Euler, degrees), then unwrapped over time so angles do not jump by 360. Joints with
    three rotation channels are exact. Joints with one or two get the angles whose product is
    globally closest to the rotation (maximum trace(R^T R_fit), i.e. least rotation angle; closed
    form via quaternions), hence exact whenever the rotation is representable. Rotation a joint's
    channels cannot express is dropped with a logged warning.

    root_positions: (F, 3) local positions of joint 0, or (F, J, 3) local positions of every joint
    (e.g. `local_translations()`); they fill the position channels, axes without a channel are
    ignored. When None, position channels keep `bvh.motion` if F == n_frames, else the offsets.
    """
    R = np.asarray(rotations, dtype=np.float64)
    J = len(bvh.joints)
    if R.ndim != 4 or R.shape[1:] != (J, 3, 3):
        raise MotionValueError(f"rotations have shape {R.shape}, expected (F, {J}, 3, 3)")
    if not np.isfinite(R).all():
        raise MotionValueError("rotations contain NaN or inf")
    F = R.shape[0]
    joints = [replace(j, channels=list(j.channels)) for j in bvh.joints]  # __post_init__ copies the arrays
    offsets = np.stack([j.offset for j in joints])
    pos = bvh.local_translations() if F == bvh.n_frames else np.broadcast_to(offsets, (F, J, 3)).copy()
    if root_positions is not None:
        P = np.asarray(root_positions, dtype=np.float64)
        if P.shape not in ((F, 3), (F, J, 3)):
            raise MotionValueError(f"root_positions have shape {P.shape}, expected ({F}, 3) or ({F}, {J}, 3)")
        if not np.isfinite(P).all():
            raise MotionValueError("root_positions contain NaN or inf")
        if P.ndim == 2 and not joints[0].position_channels:
            raise MotionValueError(f"root joint {joints[0].name!r} has no position channels")
        if P.ndim == 3:
            pos = P.copy()
        else:
            pos[:, 0] = P
    motion, starts, lossy = np.zeros((F, bvh.motion.shape[1])), bvh._starts(), []
    for j, joint in enumerate(joints):
        for i, axis in joint.position_channels:
            motion[:, starts[j] + i] = pos[:, j, axis]
        fitted = np.broadcast_to(np.eye(3), (F, 3, 3))
        if rot := joint.rotation_channels:
            conv = "".join(a for _, a in rot)
            angles = np.unwrap(_fit_angles(conv, R[:, j]), period=360.0, axis=0)
            motion[:, [starts[j] + i for i, _ in rot]] = angles
            fitted = euler_to_matrix(conv, angles, degrees=True)
        residual = np.linalg.norm(matrix_to_axis_angle(fitted.transpose(0, 2, 1) @ R[:, j]), axis=-1)
        if (err := np.degrees(residual).max(initial=0.0)) > 1e-3:
            lossy.append(f"{joint.name} ({err:.3g} deg)")
    if lossy:
        logger.warning("rotation not representable by the BVH channels, dropped: %s", ", ".join(lossy))
    return Bvh(joints=joints, frame_time=bvh.frame_time, motion=motion)
