"""The engine as a local HTTP service (`handmotion serve`): DESIGN.md's `/v1` API over `engine.pipeline`.

| module | does |
|---|---|
| `config.py`  | `ServerConfig`, `Limits`, loopback / token rules |
| `schemas.py` | request and response bodies (pydantic; the OpenAPI schema) |
| `tasks.py`   | per task: checks at submission and the engine call in a worker (`TASKS`) |
| `rig.py`     | a job's `rig`: checked at submission, results keyed onto it, bone rotations read as input |
| `jobs.py`    | queue, worker threads, progress, cancellation, results kept for a while |
| `app.py`     | FastAPI routes, the token / body-size guard, JSON errors |
| `serve.py`   | uvicorn in the foreground or on a background thread (`LiveServer`) |
| `client.py`  | a standard-library client (`Client(url).run(job)`) |
| `bench.py`   | throughput and the latency the HTTP layer adds |
"""

from .app import create_app
from .config import Limits, ServerConfig
from .serve import LiveServer, serve

__all__ = ["Limits", "LiveServer", "ServerConfig", "create_app", "serve"]
