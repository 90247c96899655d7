"""The engine's `/v1` HTTP API on the standard library only (urllib): no bpy here, so it runs on the
worker thread and in plain Python.

    client = Client("http://127.0.0.1:8765")
    job_id = client.submit({"task": "caption", "rig": rig, "bones": bones})
    status = client.status(job_id, wait=10)     # long poll: returns early when the job finishes
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

FINISHED = ("done", "failed", "cancelled")
START_HINT = ("start it with the Start Engine button (Edit > Preferences > Add-ons > HandMotion) "
              "or `handmotion serve` in a terminal")


class EngineError(Exception):
    """A call to the engine failed; the message says what happened and how to fix it.
    `code` is the engine's error code, or `engine_down` / `unreachable` / `bad_answer` / `bad_url`."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code, self.status = code, status


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine (localhost, 127.0.0.0/8, ::1): no online access needed."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """`url` without a trailing slash, or EngineError when it is not an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError("bad_url", f"engine URL {url!r} is not an http:// address "
                                     "(the default is http://127.0.0.1:8765)")
    try:
        parts.port
    except ValueError:
        raise EngineError("bad_url", f"engine URL {url!r} has an invalid port") from None
    return url.strip().rstrip("/")


def describe(health: dict) -> str:
    """One line for the panel from the engine's /v1/health answer: version, device and the tasks it can run."""
    ready = [t for t, v in health.get("tasks", {}).items() if v.get("available")]
    return f"engine {health.get('version', '?')} on {health.get('device', '?')}: {', '.join(ready) or 'no tasks'}"


class Client:
    """One engine at `url`; every method returns decoded JSON or raises EngineError."""

    def __init__(self, url: str, token: str = "", timeout: float = 30.0):
        self.url, self.token, self.timeout = check_url(url), token.strip(), timeout

    def request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        data = None if body is None else json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except urllib.error.URLError as exc:
            raise self._connection_error(exc.reason) from None
        except (TimeoutError, socket.timeout):
            raise EngineError("unreachable", f"the engine at {self.url} did not answer within "
                                             f"{timeout or self.timeout:g} s; it may be busy or stuck: "
                                             "restart it (Stop Engine, then Start Engine)") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise self._connection_error(exc) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise EngineError("bad_answer", f"{self.url} answered something that is not JSON: is the engine URL "
                                            "right? (the HandMotion engine listens on http://127.0.0.1:8765 "
                                            "by default)") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> EngineError:
        raw = exc.read()
        try:
            err = json.loads(raw)["error"]
            code, message = str(err["code"]), str(err["message"])
        except (ValueError, KeyError, TypeError):
            return EngineError("bad_answer", f"{self.url} answered HTTP {exc.code} without an engine error: is the "
                                             "engine URL right?", exc.code)
        if code == "unauthorized":
            message += " (set the engine's token in the add-on's preferences)"
        return EngineError(code, f"engine: {message}", exc.code)

    def _connection_error(self, reason) -> EngineError:
        if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
            return EngineError("engine_down", f"the HandMotion engine is not running at {self.url}: {START_HINT}")
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return EngineError("unreachable", f"the engine at {self.url} did not answer in time; it may be busy "
                                              "or stuck: restart it (Stop Engine, then Start Engine)")
        return EngineError("unreachable", f"cannot reach the engine at {self.url} ({reason}): check the engine URL "
                                          f"in the add-on's preferences, or {START_HINT}")

    def health(self) -> dict:
        return self.request("GET", "/v1/health", timeout=min(self.timeout, 5.0))

    def submit(self, job: dict) -> str:
        return self.request("POST", "/v1/jobs", job)["job_id"]

    def status(self, job_id: str, wait: float = 0.0) -> dict:
        """The job's state; with `wait` > 0 a long poll of up to `wait` seconds (the engine caps it at 60)."""
        query = f"?wait={wait:g}" if wait > 0 else ""
        return self.request("GET", f"/v1/jobs/{job_id}{query}", timeout=self.timeout + wait)

    def cancel(self, job_id: str) -> dict:
        return self.request("DELETE", f"/v1/jobs/{job_id}")

