"""The server's settings: where it listens, who may call it, which weights it serves and its limits.

Binding to anything but a loopback address requires a bearer token (read from a file, never from the
command line, so it does not show up in `ps`); every request must then carry it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import HandMotionError
from ..pipeline import MAX_SECONDS

log = logging.getLogger(__name__)

COMPONENTS = ("tokenizer", "lm", "inbetween")  # weights the server's tasks load
MIN_TOKEN_CHARS = 16


@dataclass
class Limits:
    """What one request may ask for; anything beyond is a 4xx with the field named."""

    max_body_bytes: int = 32 * 1024 * 1024  # request body, checked before it is parsed (413)
    max_prompt_chars: int = 500  # generate prompt and inbetween / react text
    max_seconds: float = MAX_SECONDS  # generated duration and input motion duration
    max_frames: int = 7201  # frames of an input or output motion (60 s at 120 fps)
    max_samples: int = 8  # variations per generate job
    max_steps: int = 200  # denoising steps per inbetween / react job, per repair of a refine job
    max_queued: int = 32  # jobs waiting for a worker (429 beyond)
    result_ttl_s: float = 600.0  # finished jobs (and their results) are kept this long
    max_wait_s: float = 60.0  # longest long-poll (`GET /v1/jobs/{id}?wait=S`)

    def check(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise HandMotionError(f"server limit {name} must be positive, got {value}")
        if self.max_seconds > MAX_SECONDS:
            raise HandMotionError(f"max_seconds cannot exceed the engine's {MAX_SECONDS:g} s")


@dataclass
class ServerConfig:
    """Everything `create_app` needs. `weights` maps a component ("tokenizer", "lm", "inbetween") to a
    weights folder; missing components use the shipped `weights/<component>`."""

    host: str = "127.0.0.1"
    port: int = 8765
    device: str = "auto"
    workers: int | None = None  # default: one per GPU, 1 on the CPU
    token: str | None = None
    weights: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    mano_dir: str | None = None
    preload: bool = True  # load every available model when the server starts

    def weights_dir(self, component: str) -> Path:
        from ..models.weights import default_dir

        given = self.weights.get(component)
        return (Path(given) if given else default_dir(component)).resolve()

    def check(self) -> None:
        """Refuse settings the server must not start with (clear HandMotionError)."""
        unknown = set(self.weights) - set(COMPONENTS)
        if unknown:
            raise HandMotionError(f"unknown weights component(s) {', '.join(sorted(unknown))} "
                                  f"(known: {', '.join(COMPONENTS)})")
        if self.workers is not None and not 1 <= self.workers <= 64:
            raise HandMotionError(f"--workers must be between 1 and 64, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise HandMotionError(f"--port must be in 0-65535, got {self.port}")
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise HandMotionError(f"the token must be at least {MIN_TOKEN_CHARS} characters")
        if not is_loopback(self.host) and not self.token:
            raise HandMotionError(f"refusing to listen on {self.host}: only loopback addresses (127.0.0.1, ::1, "
                                  "localhost) may be used without a token; pass --token-file FILE")
        self.limits.check()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses (127.0.0.0/8, ::1); everything else, including
    0.0.0.0 and "::", is reachable from other machines."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str | os.PathLike) -> str:
    """The bearer token in `path` (surrounding whitespace stripped); warns when others may read the file."""
    path = Path(path)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise HandMotionError(f"{path}: no such token file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HandMotionError(f"{path}: cannot read the token ({exc})") from None
    if not token or any(c.isspace() for c in token):
        raise HandMotionError(f"{path}: the token must be one word of at least {MIN_TOKEN_CHARS} characters")
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s can be read by other users; chmod 600 it", path)
    return token


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header is `Bearer <token>` (constant-time comparison)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))
