"""Every prompt the language model sees, in one place, and their encoding to encoder ids.

Motion in a prompt is written as <motion> ids </motion> (MotionVocab.motion_sequence); the slots of
a hand that is not given are <masked>.
"""

from __future__ import annotations

import numpy as np

from ..errors import HandMotionError
from .lm import MotionVocab

TEMPLATES = {
    "t2m": "Generate {seconds:.1f} seconds of two-hand motion: {text}",
    "m2t": "Describe {focus} in this hand motion:",
    "complete": "Given the {given} hand, generate the {other} hand:",
    "continue": "Continue this hand motion for {seconds:.1f} more seconds:",
}
TASKS = tuple(TEMPLATES)
# with caption exemplars, the m2t prompt also quotes the nearest training clip's caption (lm_exemplars.py)
EXAMPLE = " A similar motion: {example}"
# what each caption kind describes: the m2t prompt names it, so one model writes every kind on request
FOCUS = {"script": "the actions", "semantic": "the movement", "interaction": "how the two hands relate",
         "articulation": "the fingers"}
HAND_SLOTS = {"left": (0, 1), "right": (2, 3)}  # [L-traj, L-pose, R-traj, R-pose]


def prompt_text(task: str, **fields) -> str:
    if task not in TEMPLATES:
        raise HandMotionError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    try:
        return TEMPLATES[task].format(**fields)
    except KeyError as exc:
        raise HandMotionError(f"task {task!r} needs {exc}") from None


def encode_prompt(tokenizer, vocab: MotionVocab, task: str, codes: np.ndarray | None = None,
                  given: str | None = None, max_text_tokens: int = 128, example: str | None = None,
                  **fields) -> np.ndarray:
    """Encoder ids: the task's text (WordPiece, without its end token) and the `example` caption if any,
    then the motion if any (with the hand that is not `given` masked), then the tokenizer's end token."""
    if given is not None:
        if given not in HAND_SLOTS:
            raise HandMotionError(f"given must be 'left' or 'right', not {given!r}")
        fields.setdefault("given", given)
        fields.setdefault("other", "right" if given == "left" else "left")
    text = prompt_text(task, **fields) + (EXAMPLE.format(example=example) if example else "")
    ids = tokenizer(text, truncation=True, max_length=max_text_tokens, add_special_tokens=False)["input_ids"]
    parts = [np.asarray(ids, dtype=np.int64)]
    if codes is not None:
        codes = np.asarray(codes)
        masked = None
        if given is not None:
            masked = np.ones(codes.shape, dtype=bool)
            masked[:, list(HAND_SLOTS[given])] = False
        parts.append(np.r_[vocab.bom, vocab.to_ids(codes, masked), vocab.eom])
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    parts.append(np.asarray([end], dtype=np.int64))
    return np.concatenate(parts)
