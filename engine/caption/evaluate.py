"""Recogniser accuracy on corpus clips that show one named static gesture (the confusion table)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field

from tqdm import tqdm

from .features import compute_features
from .gestures import GESTURES, RELAXED, recognise_gestures

log = logging.getLogger(__name__)

NONE = "none"


@dataclass
class RecogniserReport:
    """Accuracy over `n` clips and the confusion counts {(true, predicted): count}."""

    n: int
    correct: int
    confusion: Counter = field(default_factory=Counter)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.n, 1)

    def table(self) -> str:
        labels = list(GESTURES) + [NONE]
        predicted = [p for p in labels if any(self.confusion[(t, p)] for t in labels)]
        width = max(len(x) for x in labels) + 1
        lines = ["true \\ predicted".ljust(width) + " ".join(p[:7].rjust(7) for p in predicted)]
        for t in GESTURES:
            if any(self.confusion[(t, p)] for p in labels):
                lines.append(t.ljust(width) + " ".join(str(self.confusion[(t, p)] or ".").rjust(7) for p in predicted))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"clips": self.n, "correct": self.correct, "accuracy": round(self.accuracy, 4),
                "confusion": {f"{t}->{p}": c for (t, p), c in sorted(self.confusion.items())}}


def predict_gesture(motion, side: str, start: int, end: int) -> str:
    """The gesture held longest by `side` inside frames [start, end), or "none"."""
    segments = [s for s in recognise_gestures(compute_features(motion), side)
                if s.label != RELAXED and s.end > start and s.start < end]
    if not segments:
        return NONE
    best = max(segments, key=lambda s: min(s.end, end) - max(s.start, start))
    return best.label


def evaluate_recogniser(corpus_dir: str | os.PathLike, split: str | None = "test", limit: int | None = None,
                        progress: bool = True) -> RecogniserReport:
    """Score the recogniser on every single-gesture clip of a corpus split."""
    from ..corpus.build import read_corpus

    report = RecogniserReport(0, 0)
    bar = tqdm(desc="recogniser", unit="clip", disable=not progress)
    for motion, record in read_corpus(corpus_dir, split):
        spans = record["spans"]
        if len(spans) != 1 or spans[0]["kind"] != "gesture":
            continue
        span = spans[0]
        predicted = predict_gesture(motion, span["hands"][0], span["start"], span["end"])
        report.n += 1
        report.correct += predicted == span["action"]
        report.confusion[(span["action"], predicted)] += 1
        bar.update(1)
        if limit and report.n >= limit:
            break
    bar.close()
    return report
