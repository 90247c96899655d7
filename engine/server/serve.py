"""Running the app under uvicorn: in the foreground (`handmotion serve`) or on a background thread
(`LiveServer`, used by `handmotion bench-server` and the tests: a real socket, real HTTP)."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time

from ..errors import HandMotionError
from .app import create_app
from .config import ServerConfig

log = logging.getLogger(__name__)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), with a clear error when it is taken."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise HandMotionError(f"cannot resolve --host {host!r} ({exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise HandMotionError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    return sock


def _uvicorn_server(config: ServerConfig, access_log: bool):
    import uvicorn

    app = create_app(config)
    level = logging.getLogger().getEffectiveLevel()
    return uvicorn.Server(uvicorn.Config(app, log_config=None, log_level=level, access_log=access_log,
                                         timeout_keep_alive=30, timeout_graceful_shutdown=5, server_header=False)), app


SWITCH_INTERVAL_S = 0.0005  # how long a busy thread may keep the GIL from one that is waiting for it


def serve(config: ServerConfig, access_log: bool = False) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM stop it cleanly).

    The process hands the GIL between threads every 0.5 ms instead of Python's 5 ms, so a worker woken by a
    new job, or the event loop woken by a finished one, does not wait behind the other thread's
    bookkeeping (about 0.7 ms off each short job's round trip)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server, _ = _uvicorn_server(config, access_log)
    sock = _bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    log.info("HandMotion engine on http://%s:%d (%s)", f"[{host}]" if ":" in host else host, port,
             "token required" if config.token else "loopback only, no token")
    server.run(sockets=[sock])


class LiveServer:
    """The app served by uvicorn on a background thread. `url` once started; `stop()` shuts it down.

        with LiveServer(ServerConfig(port=0)) as live:
            urllib.request.urlopen(live.url + "/v1/health")
    """

    def __init__(self, config: ServerConfig, access_log: bool = False):
        self.config = config
        self.server, self.app = _uvicorn_server(config, access_log)
        self._sock = _bind(config.host, config.port)
        host, self.port = self._sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="uvicorn", daemon=True)

    @property
    def manager(self):
        return self.app.state.manager

    def start(self, timeout: float = 30.0) -> "LiveServer":
        self._thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.time() > deadline:
                raise HandMotionError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
