"""Generate one corpus clip: plan a chain of 1-4 actions, script them, render both hands.

A clip is fully determined by its seed: `generate(seed)` twice gives identical arrays. The
performer (tempo, amplitude, resting posture, handedness, hand size) is drawn per clip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..motion import HandMotion
from .actions import ACTIONS, Action
from .context import Context
from .timeline import render

log = logging.getLogger(__name__)

FPS = 30.0
MIN_SECONDS, MAX_SECONDS = 2.0, 8.0
KIND_WEIGHTS = {"gesture": 0.32, "single": 0.33, "grasp": 0.15, "bimanual": 0.20}
CHAIN_WEIGHTS = (0.35, 0.30, 0.20, 0.15)  # P(1..4 actions)
LEFT_HANDED = 0.25  # share of performers whose dominant hand is the left
OFF_HAND_SOLO = 0.2  # share of one-hand actions done by the non-dominant hand


@dataclass
class Step:
    """One planned action: its name and, for one-hand actions, the role ("dom" or "off") doing it."""

    action: str
    role: str = "dom"


@dataclass
class Clip:
    """A generated clip: the motion, labelled spans (frames, hands by side) and how it was made."""

    motion: HandMotion
    spans: list[dict]
    seed: int
    dominant: str
    plan: list[Step] = field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.plan]


def _by_kind() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, a in ACTIONS.items():
        out.setdefault(a.kind, []).append(name)
    return out


def plan(rng: np.random.Generator, n_actions: int | None = None, kinds: dict[str, float] | None = None) -> list[Step]:
    """Draw a chain of actions (no immediate repeats)."""
    kinds = kinds or KIND_WEIGHTS
    n = n_actions or int(rng.choice(len(CHAIN_WEIGHTS), p=CHAIN_WEIGHTS)) + 1
    names, weights = list(kinds), np.array(list(kinds.values()))
    table = _by_kind()
    steps: list[Step] = []
    while len(steps) < n:
        kind = names[rng.choice(len(names), p=weights / weights.sum())]
        name = table[kind][rng.integers(len(table[kind]))]
        if steps and steps[-1].action == name:
            continue
        role = "off" if (kind != "bimanual" and rng.random() < OFF_HAND_SOLO) else "dom"
        steps.append(Step(name, role))
    return steps


def perform(ctx: Context, steps: list[Step]) -> None:
    """Script every step into `ctx`, labelling each span."""
    for k, step in enumerate(steps):
        action: Action = ACTIONS[step.action]
        start = ctx.start()
        if action.bimanual:
            action.fn(ctx)
            roles = ("dom", "off")
        else:
            idle = "off" if step.role == "dom" else "dom"
            if ctx.rng.random() < 0.5:
                ctx.rest(idle)  # the free hand settles while the other works
            action.fn(ctx, step.role)
            roles = (step.role,)
        ctx.label(step.action, roles, start)
    if ctx.rng.random() < 0.5:
        ctx.start()
        for role in ("dom", "off"):
            ctx.rest(role)
        ctx.start()


def generate(seed: int, steps: list[Step] | None = None, fps: float = FPS,
             min_seconds: float = MIN_SECONDS, max_seconds: float = MAX_SECONDS) -> Clip:
    """Generate clip number `seed`; `steps` fixes the plan (otherwise drawn). Length in [min, max] seconds."""
    rng = np.random.default_rng(seed)
    dominant = "left" if rng.random() < LEFT_HANDED else "right"
    steps = steps if steps is not None else plan(rng)
    ctx = Context(rng)
    perform(ctx, steps)
    end = ctx.start() + rng.uniform(0.2, 0.6)
    duration = float(np.clip(end, min_seconds, max_seconds))
    n_frames = int(round(duration * fps)) + 1
    side_of = {"dom": dominant, "off": "right" if dominant == "left" else "left"}
    tracks = {}
    betas = np.zeros(10)
    betas[0] = rng.normal(0.0, 1.0)  # hand size (meaningful with MANO models; the canonical hand ignores it)
    for role, script in ctx.scripts.items():
        track = render(script, fps, n_frames, rng, side=side_of[role])
        track.betas = betas.copy()
        tracks[side_of[role]] = track
    spans = []
    for span in ctx.spans:
        start_f, end_f = int(round(span.start * fps)), min(int(round(span.end * fps)), n_frames)
        if start_f >= n_frames - int(0.3 * fps):
            continue  # cut off by the length limit
        spans.append({"action": span.name, "kind": ACTIONS[span.name].kind,
                      "hands": sorted(side_of[r] for r in span.roles), "start": start_f, "end": end_f})
    motion = HandMotion(fps=fps, left=tracks["left"], right=tracks["right"])
    return Clip(motion=motion, spans=spans, seed=seed, dominant=dominant, plan=steps)
