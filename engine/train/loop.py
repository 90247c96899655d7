"""A generic training loop on Hugging Face Accelerate: one CPU, one GPU or many, same code.

The loop knows nothing about the model: it calls `loss_fn(model, batch) -> (loss, logs)` on batches
from `next_batch()`, and `evaluate(model) -> logs` every `eval_every` steps. It is resumable: every
`save_every` steps the full training state (model, optimiser, scheduler, RNG) goes to
`<out>/checkpoint/` via `Accelerator.save_state`, and a later run with the same `out` continues from
it. Logs go to `<out>/train.log` (one JSON object per line) and a tqdm bar.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from accelerate import Accelerator
from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass
class LoopSettings:
    steps: int
    lr: float
    warmup: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 500
    save_every: int = 500
    cpu: bool = False
    threads: int = 0  # torch intra-op threads on CPU (0: torch's default)


def cosine_schedule(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up to 1, then cosine decay to 0.1 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def to_device(batch, device: torch.device):
    """A tensor, or a dict / tuple / list of tensors (other values left alone), moved to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def run_training(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]],
    next_batch: Callable[[], Any],
    settings: LoopSettings,
    out: Path,
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    progress: bool = True,
) -> torch.nn.Module:
    """Train `model` for `settings.steps` steps (resuming from `<out>/checkpoint` when present) and
    return the unwrapped model."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    accelerator = Accelerator(cpu=settings.cpu)
    out.mkdir(parents=True, exist_ok=True)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_schedule(s, settings.warmup, settings.steps))
    model, opt, sched = accelerator.prepare(model, opt, sched)
    ckpt, state_file = out / "checkpoint", out / "checkpoint" / "step.json"
    step = 0
    if state_file.exists():
        accelerator.load_state(str(ckpt))
        step = json.loads(state_file.read_text())["step"]
        log.info("resuming from step %d (%s)", step, ckpt)
    logf = open(out / "train.log", "a") if accelerator.is_main_process else None
    bar = tqdm(total=settings.steps, initial=step, disable=not (progress and accelerator.is_main_process),
               desc="train", unit="step", dynamic_ncols=True)
    t0, running = time.perf_counter(), {}

    def save() -> None:
        accelerator.wait_for_everyone()
        accelerator.save_state(str(ckpt))
        if accelerator.is_main_process:
            state_file.write_text(json.dumps({"step": step}))

    try:
        while step < settings.steps:
            model.train()
            batch = to_device(next_batch(), accelerator.device)
            loss, logs = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if settings.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), settings.grad_clip)
            opt.step()
            sched.step()
            step += 1
            for k, v in logs.items():
                running[k] = 0.98 * running.get(k, v) + 0.02 * v
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(running.items())[:4]})
            record = None
            if step % 50 == 0 or step == settings.steps:
                record = {"step": step, "lr": sched.get_last_lr()[0], "seconds": round(time.perf_counter() - t0, 1),
                          **{k: round(v, 6) for k, v in running.items()}}
            if evaluate and (step % settings.eval_every == 0 or step == settings.steps):
                model.eval()
                with torch.no_grad():
                    scores = evaluate(accelerator.unwrap_model(model))
                record = {**(record or {"step": step}), **{f"val_{k}": round(v, 6) for k, v in scores.items()}}
                log.info("step %d: %s", step, ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))
            if record and logf:
                logf.write(json.dumps(record) + "\n")
                logf.flush()
            if step % settings.save_every == 0 and step < settings.steps:
                save()
    except KeyboardInterrupt:
        log.warning("interrupted at step %d; saving a checkpoint to resume from", step)
        save()
        raise
    finally:
        bar.close()
        if logf:
            logf.close()
    save()
    return accelerator.unwrap_model(model)
