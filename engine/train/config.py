"""Config dataclasses from JSON files and `key=value` overrides, parsed against the field types."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

from ..errors import HandMotionError
from .loop import LoopSettings

T = TypeVar("T")


def _parse(value: str, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value.lower() in ("none", "null", "") and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise HandMotionError(f"{key}: expected true or false, got {value!r}")
    if origin in (tuple, list):
        items = [v for v in value.split(",") if v.strip()]
        inner = args[0] if args else str
        return tuple(_parse(v.strip(), inner, key) for v in items)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise HandMotionError(f"{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}") from None


def build_config(cls: type[T], config_file: str | None = None, overrides: list[str] | None = None) -> T:
    """`cls` defaults, then the JSON object in `config_file`, then `key=value` strings."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if config_file:
        try:
            loaded = json.loads(Path(config_file).read_text())
        except json.JSONDecodeError as exc:
            raise HandMotionError(f"{config_file}: not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise HandMotionError(f"{config_file}: expected a JSON object")
        for key, value in loaded.items():
            if key not in names:
                raise HandMotionError(f"{config_file}: unknown key {key!r} (known: {', '.join(sorted(names))})")
            values[key] = tuple(value) if isinstance(value, list) else value
    for item in overrides or []:
        key, sep, value = item.lstrip("-").partition("=")
        key = key.replace("-", "_")
        if not sep:
            raise HandMotionError(f"override {item!r}: expected key=value")
        if key not in names:
            raise HandMotionError(f"unknown config key {key!r} (known: {', '.join(sorted(names))})")
        values[key] = _parse(value, hints[key], key)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise HandMotionError(f"bad config: {exc}") from None


def training_meta(cfg: Any) -> dict:
    """What goes under "meta" in config.json: the settings, with the corpus named by its recipe
    (clips, seed) rather than by a path on the training machine."""
    manifest = json.loads((Path(cfg.data) / "manifest.json").read_text())
    corpus = {k: manifest.get(k) for k in ("clips", "seed", "fps", "format_version")}
    return {"train": {**dataclasses.asdict(cfg), "data": Path(cfg.data).name, "out": Path(cfg.out).name}, "corpus": corpus}


@dataclasses.dataclass
class TrainRun(LoopSettings):
    """Settings every `handmotion train` command shares: the loop's schedule (`LoopSettings`), the data,
    the output folder, batch size and seed. Each model's config subclasses it, redeclaring a field only
    to change its default."""

    steps: int = 1000
    lr: float = 3e-4
    data: str = "data/corpus"
    out: str = "runs/model"
    batch: int = 64
    seed: int = 0

    def pick(self, cls: type[T], **extra: Any) -> T:
        """An instance of dataclass `cls` from the fields of this config it has, plus `extra`."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dataclasses.asdict(self).items() if k in names}, **extra)
