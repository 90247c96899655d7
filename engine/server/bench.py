"""`handmotion bench-server`: job throughput and the latency the HTTP layer adds, on a live server.

A server is started as a separate process on a free loopback port (`handmotion serve`, as the Blender
add-on would find it) and called with the standard-library client (urllib, one connection per request,
like the add-on). For each case (caption with the rules, generate with the language model):

- latency: `repeat` calls one at a time, the direct pipeline call and the same job over HTTP
  (submit + long-poll) interleaved so both see the same machine load; the HTTP layer's cost is reported
  twice: p50(HTTP) - p50(direct), and per request the client's wall time (encoding the request, submit,
  long-poll, decoding the result) minus the engine time the server measured (`timings.compute_s`),
  which is free of run-to-run noise in the engine call itself;
- throughput: `jobs` jobs from `clients` threads at once, finished jobs per second.

Without language-model weights (none given, none shipped) generate uses a tiny untrained LM built on the
fly: it measures the serving path, not the model.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import HandMotionError
from .client import FINISHED, ApiFailure, Client

log = logging.getLogger(__name__)

PROMPT = "The right hand waves hello."


def tiny_lm(directory: str | Path) -> Path:
    """An untrained 1-layer T5 over the shipped tokenizer's codes, saved to `directory`."""
    import torch

    from ..models.lm import LMConfig, build_lm, save_lm
    from ..pipeline import get_tokenizer

    codes = get_tokenizer(None, "cpu").cfg.codebook_size
    cfg = LMConfig(d_model=32, layers=1, heads=2, d_ff=64, codes=codes)
    torch.manual_seed(0)
    save_lm(build_lm(cfg).eval(), cfg, directory)
    return Path(directory)


class ServerProcess:
    """`handmotion serve` in a child process on a free loopback port; `url` once it answers."""

    def __init__(self, args: list[str], threads: int = 0, timeout: float = 120.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url, self.timeout = f"http://127.0.0.1:{self.port}", timeout
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        self.cmd = [sys.executable, "-m", "engine", "-q", "serve", "--port", str(self.port), *args,
                    *(["--threads", str(threads)] if threads else [])]
        self.proc: subprocess.Popen | None = None
        self.env = env

    def __enter__(self) -> "ServerProcess":
        self.proc = subprocess.Popen(self.cmd, env=self.env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise HandMotionError(f"the server did not start: {self.proc.stderr.read()[-2000:]}")
            try:
                health = Client(self.url, timeout=2).health()
                if all(m["loaded"] for m in health["models"].values() if m["available"]):
                    return self
            except (OSError, ApiFailure):
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise HandMotionError(f"the server did not answer within {self.timeout:g} s")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _ms(values) -> dict[str, float]:
    t = np.asarray(values, dtype=np.float64) * 1000.0
    return {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95)), "n": int(len(t))}


def _http_job(client: Client, make_job: Callable[[], dict]) -> tuple[float, float, float]:
    """One job over HTTP: (wall seconds, seconds the client spent building and encoding the body and decoding
    the answer, engine seconds)."""
    t0 = time.perf_counter()
    data = json.dumps(make_job(), allow_nan=False, separators=(",", ":")).encode()
    t1 = time.perf_counter()
    raw = client.request_bytes("POST", "/v1/jobs?wait=60", data)  # one round trip when it finishes in time
    t2 = time.perf_counter()
    status = json.loads(raw)
    t3 = time.perf_counter()
    if status["state"] not in FINISHED:
        raw = client.request_bytes("GET", f"/v1/jobs/{status['job_id']}?wait=60")
        t2 = time.perf_counter()
        status = json.loads(raw)
        t3 = time.perf_counter()
    if status["state"] != "done":
        raise HandMotionError(f"bench job {status['state']}: {status.get('error')}")
    return t3 - t0, (t1 - t0) + (t3 - t2), status["timings"]["compute_s"]


def _latency(client: Client, make_job: Callable[[], dict], direct: Callable[[], object], warmup: int, repeat: int) -> dict:
    for _ in range(warmup):
        direct()
        _http_job(client, make_job)
    direct_s, http_s, outside_s, json_s, server_s = [], [], [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        direct()
        direct_s.append(time.perf_counter() - t0)
        wall, client_json, engine = _http_job(client, make_job)
        http_s.append(wall)
        outside_s.append(wall - engine)
        json_s.append(client_json)
        server_s.append(wall - client_json - engine)
    d, h = _ms(direct_s), _ms(http_s)
    return {"direct": d, "http": h, "http_minus_direct_p50_ms": h["p50_ms"] - d["p50_ms"],
            "outside_engine": _ms(outside_s),
            "client_json": _ms(json_s), "server_and_wire": _ms(server_s)}


def _throughput(client: Client, make_job: Callable[[], dict], jobs: int, clients: int) -> dict:
    done, failed, lock = [0], [0], threading.Lock()
    share = [jobs // clients + (k < jobs % clients) for k in range(clients)]

    def worker(n: int) -> None:
        for _ in range(n):
            state = client.run(make_job())["state"]
            with lock:
                done[0] += state == "done"
                failed[0] += state != "done"

    threads = [threading.Thread(target=worker, args=(n,)) for n in share if n]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    return {"jobs": jobs, "clients": clients, "done": done[0], "failed": failed[0], "seconds": seconds,
            "jobs_per_s": done[0] / seconds}


def run_server_bench(device: str = "cpu", lm: str | None = None, seconds: float = 4.0, warmup: int = 3,
                     repeat: int = 20, caption_jobs: int = 100, generate_jobs: int = 8, clients: int = 4,
                     only: tuple[str, ...] | None = None, threads: int = 0) -> dict:
    """{"device", "lm", "cases": {"caption": {...}, "generate": {...}}} (times in ms, throughput in jobs/s).
    The server runs `threads` torch threads (0: torch's choice) and one worker."""
    from ..bench import clip_of, device_info
    from ..caption.describe import describe
    from ..io.wire import WIRE_DECIMALS, motion_to_wire
    from ..models.weights import default_dir
    from ..pipeline import generate, pick_device

    with tempfile.TemporaryDirectory() as tmp:
        if lm is None and not (default_dir("lm") / "config.json").exists():
            lm_dir, lm_what = tiny_lm(Path(tmp) / "lm"), "tiny untrained LM (no weights given or shipped)"
        else:
            lm_dir = Path(lm) if lm else default_dir("lm")
            lm_what = str(lm_dir)
        dev = str(pick_device(device))
        args = ["--device", device, "--workers", "1", "--lm", str(lm_dir),
                "--max-queued", str(max(caption_jobs, generate_jobs, clients) + 1)]
        motion = clip_of(seconds)
        cases: dict[str, dict] = {}
        with ServerProcess(args, threads) as server:
            client = Client(server.url)
            if not only or "caption" in only:
                def job():
                    return {"task": "caption", "motion": motion_to_wire(motion, WIRE_DECIMALS, flat_pose=True),
                            "method": "rules"}
                log.info("bench-server caption")
                cases["caption"] = {"what": f"rule captions of a {seconds:g} s two-hand clip",
                                    **_latency(client, job, lambda: describe(motion, n=1), warmup, repeat),
                                    "throughput": _throughput(client, job, caption_jobs, clients)}
            if not only or "generate" in only:
                def job():
                    return {"task": "generate", "prompt": PROMPT, "seconds": seconds, "fps": 30.0, "seed": 0}

                def direct():
                    return generate(PROMPT, seconds, 30.0, 0, weights=lm_dir, device=dev)
                log.info("bench-server generate")
                cases["generate"] = {"what": f"text to a {seconds:g} s two-hand clip",
                                     **_latency(client, job, direct, warmup, max(repeat // 2, 1)),
                                     "throughput": _throughput(client, job, generate_jobs, clients)}
    return {**device_info(dev), "lm": lm_what, "warmup": warmup, "cases": cases}


def server_bench_table(report: dict) -> str:
    lines = [f"device {report['device']}, torch {report['torch']}, {report['threads']} threads, "
             f"{report['cpu_count']} CPUs; lm: {report['lm']}"]
    for name, c in report["cases"].items():
        d, h, o, t = c["direct"], c["http"], c["outside_engine"], c["throughput"]
        j, w = c["client_json"], c["server_and_wire"]
        lines += [f"{name} ({c['what']})",
                  f"  direct call   p50 {d['p50_ms']:8.2f} ms  p95 {d['p95_ms']:8.2f} ms",
                  f"  over HTTP     p50 {h['p50_ms']:8.2f} ms  p95 {h['p95_ms']:8.2f} ms  "
                  f"(p50 difference {c['http_minus_direct_p50_ms']:+.2f} ms)",
                  f"  HTTP layer    p50 {o['p50_ms']:8.2f} ms  p95 {o['p95_ms']:8.2f} ms  "
                  f"(wall - engine time, per job)",
                  f"   client JSON  p50 {j['p50_ms']:8.2f} ms  p95 {j['p95_ms']:8.2f} ms  (encoding the job, decoding "
                  f"the result)",
                  f"   server+wire  p50 {w['p50_ms']:8.2f} ms  p95 {w['p95_ms']:8.2f} ms  (the rest: sockets, parsing, "
                  f"queue, encoding)",
                  f"  throughput    {t['jobs_per_s']:8.2f} jobs/s  ({t['done']}/{t['jobs']} done, "
                  f"{t['clients']} clients, {t['seconds']:.1f} s)"]
    return "\n".join(lines)
