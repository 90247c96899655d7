"""Prompts worded unlike any corpus caption, each naming one action: a check of robustness to how an
animator actually types. None of them occurs in the corpus captions (a test asserts it on the sample).

`retrieval_scores` asks the evaluator, for each prompt, which clips of a split match best: precision
at 10 (share of the 10 nearest clips that contain the named action) and the rank of the first clip
that does. `generation_scores` judges a text-to-motion generator the same way, with the motion it
generates for each prompt as the query: its nearest real clips in the evaluator's motion space should
contain the named action.
"""

from __future__ import annotations

import numpy as np

from .evaluator import Evaluator
from .protocol import Split

PARAPHRASES: tuple[tuple[str, str], ...] = (
    ("Right hand squeezes shut like it is about to throw a punch.", "fist"),
    ("The right index shoots out toward something over there.", "point"),
    ("Give an approving sign with the right thumb aimed at the sky.", "thumbs_up"),
    ("Right hand says bye-bye to a friend across the street.", "wave"),
    ("Applaud enthusiastically.", "clap"),
    ("Click the right middle finger off the thumb to make a sharp sound.", "snap"),
    ("Right hand flashes a victory sign.", "peace"),
    ("Signal that all is fine with a little circle of thumb and forefinger on the right.", "ok"),
    ("Both hands hammer away at a laptop.", "type_two_hands"),
    ("The right hand mixes soup in a saucepan.", "stir"),
    ("Right hand motions for somebody to come closer.", "beckon"),
    ("Palms slide against each other on a cold morning.", "rub_palms"),
    ("The right hand wraps around a ball and holds on.", "grasp_sphere"),
    ("Right fingertips claw lightly at the tabletop.", "scratch"),
    ("Bored, the right fingers patter on the desk.", "finger_drum"),
    ("Something goes from the right palm into the left one.", "pass_object"),
    ("Left hand jots down a note with a pen.", "write"),
    ("Left hand fans its fingers out as far apart as they go.", "spread"),
    ("Both hands weave their fingers together.", "interlace"),
    ("Right hand leafs over to the next page of the book.", "turn_page"),
)


def retrieval_scores(evaluator: Evaluator, split: Split, prompts=PARAPHRASES, k: int = 10,
                     motion: np.ndarray | None = None) -> dict:
    """{"precision_at_10", "first_hit_rank" (mean, 1 = best), "per_prompt": [...]} over the prompts whose
    action occurs in the split: `generation_scores` with each prompt's text embedding as its one query.
    `motion`: the split's clip embeddings (n, dim) in split order, if already computed."""
    if motion is None:
        motion = evaluator.encode_features([split.clips.clip(i) for i in range(len(split.clips))]).cpu().numpy()
    text = evaluator.encode_text([p for p, _ in prompts]).cpu().numpy()
    return generation_scores(split, motion, text[:, None], prompts, k)


def generation_scores(split: Split, motion: np.ndarray, generated: np.ndarray, prompts=PARAPHRASES, k: int = 10) -> dict:
    """Generated clips as queries against the split's real clips. `motion` (n, dim): the split's clip
    embeddings in split order; `generated` (prompts, samples, dim): embeddings of each prompt's generated
    clips. Per prompt, averaged over its samples: precision at `k` (share of the query's k nearest real
    clips that contain the named action) and the rank of the first clip that does; then averaged over
    the prompts whose action occurs in the split."""
    rows = []
    for (prompt, action), queries in zip(prompts, generated):
        has = np.array([action in a for a in split.clips.actions])
        if not has.any():
            continue
        p10, first = [], []
        for q in queries:
            order = np.argsort(((motion - q) ** 2).sum(1), kind="stable")
            p10.append(has[order[:k]].mean())
            first.append(np.flatnonzero(has[order])[0] + 1)
        rows.append({"prompt": prompt, "action": action, "precision_at_10": float(np.mean(p10)),
                     "first_hit_rank": float(np.mean(first)), "chance": float(has.mean())})
    if not rows:
        return {"prompts": 0}
    return {"prompts": len(rows), "precision_at_10": float(np.mean([r["precision_at_10"] for r in rows])),
            "first_hit_rank": float(np.mean([r["first_hit_rank"] for r in rows])),
            "named_in_top10": float(np.mean([r["precision_at_10"] > 0 for r in rows])),
            "chance": float(np.mean([r["chance"] for r in rows])), "per_prompt": rows}
