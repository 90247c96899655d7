"""Server commands: `handmotion serve` (the `/v1` HTTP API) and `handmotion bench-server` (its throughput
and the latency the HTTP layer adds)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer weights (default: shipped weights/tokenizer)")
    p.add_argument("--lm", metavar="DIR", help="language model weights (default: shipped weights/lm)")
    p.add_argument("--inbetween", metavar="DIR", help="in-betweener weights (default: shipped weights/inbetween)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the engine over HTTP (generate, inbetween, caption, react jobs)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything but loopback needs --token-file)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--token-file", metavar="FILE",
                   help="file holding the bearer token every request must then carry (Authorization: Bearer ...)")
    p.add_argument("--workers", type=int, help="jobs run at once (default: one per GPU, 1 on the CPU)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    _add_weights(p)
    p.add_argument("--max-queued", type=int, default=32, help="jobs waiting for a worker before 429 (default 32)")
    p.add_argument("--ttl", type=float, default=600.0, help="seconds finished jobs and results are kept (default 600)")
    p.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body in MiB (default 32)")
    p.add_argument("--no-preload", dest="preload", action="store_false",
                   help="load models on their first job instead of at start")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench-server", help="job throughput and HTTP overhead of the server on this machine")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--lm", metavar="DIR",
                   help="language model for generate (default: shipped, else a tiny untrained one)")
    p.add_argument("--only", help="comma-separated cases: caption, generate (default: both)")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length of each job (default 4)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls one at a time (default 20; generate half)")
    p.add_argument("--caption-jobs", type=int, default=100, help="caption jobs for throughput (default 100)")
    p.add_argument("--generate-jobs", type=int, default=8, help="generate jobs for throughput (default 8)")
    p.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    p.add_argument("--json", metavar="OUT", help="also write the report to this JSON file")
    p.set_defaults(func=cmd_bench_server)


def _threads(n: int) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import HandMotionError
    from ..server import Limits, ServerConfig, serve
    from ..server.config import read_token

    _threads(args.threads)
    if args.max_body_mb <= 0:
        raise HandMotionError("--max-body-mb must be positive")
    weights = {k: v for k, v in (("tokenizer", args.tokenizer), ("lm", args.lm), ("inbetween", args.inbetween)) if v}
    limits = Limits(max_queued=args.max_queued, result_ttl_s=args.ttl, max_body_bytes=int(args.max_body_mb * 2**20))
    config = ServerConfig(host=args.host, port=args.port, device=args.device, workers=args.workers,
                          token=read_token(args.token_file) if args.token_file else None, weights=weights,
                          limits=limits, mano_dir=args.mano_dir, preload=args.preload)
    config.check()
    serve(config, access_log=args.access_log)
    return 0


def cmd_bench_server(args: argparse.Namespace) -> int:
    from ..errors import HandMotionError
    from ..server.bench import run_server_bench, server_bench_table

    if args.repeat < 1 or args.warmup < 0 or args.clients < 1 or args.caption_jobs < 1 or args.generate_jobs < 1:
        raise HandMotionError("--repeat, --clients and the job counts must be at least 1, --warmup at least 0")
    _threads(args.threads)  # the direct calls here; the server process gets the same
    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) if args.only else None
    for name in only or ():
        if name not in ("caption", "generate"):
            raise HandMotionError(f"unknown bench-server case {name!r} (known: caption, generate)")
    report = run_server_bench(args.device, args.lm, args.seconds, args.warmup, args.repeat, args.caption_jobs,
                              args.generate_jobs, args.clients, only, args.threads)
    print(server_bench_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0
