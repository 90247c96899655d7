"""Weights on disk: `<dir>/config.json` + `model.safetensors` (+ `stats.npz` for normalisation).

Safetensors only, never pickle. Saving into the repository's `weights/` folder also records each
file's sha256 in `weights/MANIFEST.json`; loading checks the hashes listed there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import HandMotionError

log = logging.getLogger(__name__)

WEIGHTS_ROOT = Path(__file__).resolve().parents[2] / "weights"


def _root() -> Path:
    """The shipped weights folder ($HANDMOTION_WEIGHTS overrides it)."""
    return Path(os.environ.get("HANDMOTION_WEIGHTS", WEIGHTS_ROOT))


def default_dir(component: str) -> Path:
    """Where a component's shipped weights live."""
    return _root() / component


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest_for(directory: Path) -> tuple[Path, str] | None:
    manifest = directory.parent / "MANIFEST.json"
    if directory.parent.resolve() == _root().resolve():
        return manifest, directory.name
    return None


WEIGHT_FILES = ("config.json", "model.safetensors", "stats.npz")


def _record(directory: Path) -> None:
    """Refresh `directory`'s entry in weights/MANIFEST.json when it is a shipped component."""
    target = _manifest_for(directory)
    if not target:
        return
    manifest_path, component = target
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[component] = {name: _sha256(directory / name) for name in WEIGHT_FILES if (directory / name).exists()}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def install_weights(source: str | Path, component: str, half: bool = False) -> Path:
    """Copy a trained weights folder (e.g. a training run's `out`) to the shipped `weights/<component>`.
    `half` stores float32 tensors as float16 (half the bytes; models load them into float32 parameters)."""
    source, target = Path(source), default_dir(component)
    _, state, _ = load_weights(source)  # refuses anything that is not a loadable weights folder
    target.mkdir(parents=True, exist_ok=True)
    for name in WEIGHT_FILES:
        if half and name == "model.safetensors":
            save_file({k: v.half() if v.dtype == torch.float32 else v for k, v in state.items()},
                      str(target / name))
        elif (source / name).exists():
            shutil.copyfile(source / name, target / name)
        elif (target / name).exists():
            (target / name).unlink()
    _record(target)
    return target


def list_weights() -> dict[str, dict]:
    """Shipped components: {component: {"files": {name: bytes}, "ok": sha256 matches the manifest}}."""
    root = _root()
    manifest = json.loads((root / "MANIFEST.json").read_text()) if (root / "MANIFEST.json").exists() else {}
    out = {}
    for d in sorted(p for p in root.glob("*") if p.is_dir()):
        files = {name: (d / name).stat().st_size for name in WEIGHT_FILES if (d / name).exists()}
        expected = manifest.get(d.name, {})
        ok = bool(expected) and all((d / n).exists() and _sha256(d / n) == h for n, h in expected.items())
        out[d.name] = {"files": files, "ok": ok}
    return out


def save_weights(directory: str | Path, config: dict, state: dict[str, torch.Tensor],
                 stats: dict[str, np.ndarray] | None = None, extra: dict | None = None) -> None:
    """Write config.json (config + `extra` under "meta"), model.safetensors and stats.npz."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    save_file(tensors, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({**config, **({"meta": extra} if extra else {})}, indent=1))
    if stats is not None:
        np.savez_compressed(directory / "stats.npz", **stats)  # exemplar captions and codes shrink 2-10x
    if stats is None and (directory / "stats.npz").exists():
        (directory / "stats.npz").unlink()
    _record(directory)
    log.info("saved weights to %s", directory)


def load_weights(directory: str | Path) -> tuple[dict, dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """(config without "meta", state dict, stats) from a weights folder, with clear errors."""
    directory = Path(directory)
    cfg_path, model_path = directory / "config.json", directory / "model.safetensors"
    if not cfg_path.exists() or not model_path.exists():
        raise HandMotionError(f"{directory}: no weights here (needs config.json and model.safetensors)")
    target = _manifest_for(directory)
    if target and target[0].exists():
        expected = json.loads(target[0].read_text()).get(target[1], {})
        for name, digest in expected.items():
            if (directory / name).exists() and _sha256(directory / name) != digest:
                raise HandMotionError(f"{directory / name}: sha256 does not match weights/MANIFEST.json")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise HandMotionError(f"{cfg_path}: not valid JSON ({exc})") from None
    config.pop("meta", None)
    state = load_file(str(model_path))
    stats = {}
    if (directory / "stats.npz").exists():
        with np.load(directory / "stats.npz", allow_pickle=False) as z:
            stats = {k: z[k] for k in z.files}
    return config, state, stats
