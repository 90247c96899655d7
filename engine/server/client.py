"""A minimal client of the `/v1` API on the standard library only (urllib, as the Blender add-on does).

    client = Client("http://127.0.0.1:8765")
    status = client.run({"task": "caption", "motion": motion_to_wire(motion, WIRE_DECIMALS, flat_pose=True)})
    status["result"]["text"]
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from ..errors import HandMotionError

FINISHED = ("done", "failed", "cancelled")


class ApiFailure(HandMotionError):
    """The server answered with an error: `status` (HTTP), `code` and the message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code = status, code


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 120.0):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def request(self, method: str, path: str, body: Any = None) -> dict:
        """One call; the decoded JSON answer, or ApiFailure with the server's error code."""
        data = None if body is None else json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        return json.loads(self.request_bytes(method, path, data))

    def request_bytes(self, method: str, path: str, data: bytes | None = None) -> bytes:
        """One call with an already encoded JSON body; the raw answer, or ApiFailure."""
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                err = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                err = {"code": "http_error", "message": raw[:200].decode("utf-8", "replace")}
            raise ApiFailure(exc.code, err.get("code", "http_error"), err.get("message", "")) from None

    def health(self) -> dict:
        return self.request("GET", "/v1/health")

    def submit(self, job: dict) -> str:
        return self.request("POST", "/v1/jobs", job)["job_id"]

    def status(self, job_id: str, wait: float = 0.0) -> dict:
        return self.request("GET", f"/v1/jobs/{job_id}" + (f"?wait={wait:g}" if wait > 0 else ""))

    def cancel(self, job_id: str) -> dict:
        return self.request("DELETE", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 30.0) -> dict:
        """The job's status once it has finished (long polls of up to `poll` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            status = self.status(job_id, wait=max(min(poll, left), 0.0))
            if status["state"] in FINISHED or left <= 0:
                return status

    def run(self, job: dict, timeout: float = 600.0, poll: float = 30.0) -> dict:
        """Submit and wait: the finished job's status (`result` or `error`). A job that finishes within
        the first `poll` seconds comes back with the submission itself (one round trip)."""
        answer = self.request("POST", f"/v1/jobs?wait={min(poll, timeout):g}", job)
        if answer["state"] in FINISHED:
            return answer
        return self.wait(answer["job_id"], timeout, poll)
