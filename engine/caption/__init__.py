"""Weight-free motion captioner: HandX-style kinematic features and rule-based text.

`compute_features` turns any HandMotion into per-frame kinematic features (finger curl, spacing,
thumb contacts, palm frame, wrist velocity, two-hand contacts) and thresholded `Event`s;
`recognise_gestures` finds held named hand shapes (`GESTURES`); `describe` writes seeded caption
variants at three levels (semantic, interaction, articulation) as `Captions`.
"""

from .describe import Captions, describe
from .features import Event, HandFeatures, MotionFeatures, compute_features
from .gestures import GESTURES, Segment, classify_frame, recognise_gestures

__all__ = ["Captions", "describe", "Event", "HandFeatures", "MotionFeatures", "compute_features",
           "GESTURES", "Segment", "classify_frame", "recognise_gestures"]
