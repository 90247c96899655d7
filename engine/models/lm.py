"""The language model over text and motion tokens, its vocabulary, and constrained generation of
motion token grids. Architectures (`LMConfig.arch`): "t5", a T5 encoder-decoder as in CLUTCH (the
default; the prompt goes to the encoder), or "decoder", a Llama-style decoder-only model (the prompt
is the prefix of one sequence).

Vocabulary (`MotionVocab`): the text tokenizer's ids first (default: the MiniLM WordPiece vocabulary
of engine/models/text.py, or a `--base-model` checkpoint's own), then three specials, then the motion
ids, all by arithmetic (DESIGN.md "Token layout"):
    <motion> = text_size, </motion> = text_size + 1, <masked> = text_size + 2
    motion id = motion_offset + slot * codes + code,   motion_offset = text_size + 3
Slots per latent step are the tokenizer's [L-traj, L-pose, R-traj, R-pose]; a motion sequence is
<motion>, then steps x slots ids row-major, then </motion>.

Decoding (engine/models/lm_decode.py) emits exactly that shape: at each position only the ids of the
slot due there (or one forced id, for known tokens).

Text condition (`LMConfig.text_cond`): with "minilm", the prompt's free text (a t2m caption) is also read
by the frozen all-MiniLM-L6-v2 sentence encoder, and its embedding (384,), projected to the model width,
is added to every decoder input embedding; tasks without free text add the projection of a zero vector.
The decoder then sees the prompt's meaning at every step without first having to learn cross-attention
to a text encoder trained from scratch. The projection (`model.text_cond`) starts at zero, so a model
trained without it can continue with it unchanged.

Exemplar drafts (`LMConfig.exemplar`): a t2m prompt also retrieves the nearest training clip's codes, and
the code due at each decoder position is embedded, projected (`model.exemplar_proj`, zero at first) and
added to that position's input (engine/models/lm_exemplars.py); the index is kept as `model.exemplars`
and saved in the weights folder's stats.npz. With `LMConfig.caption_exemplar` a motion-to-text prompt also
quotes the caption of the training clip nearest the motion (`model.caption_exemplars`, saved there too).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import HandMotionError
from .weights import default_dir, load_weights, save_weights

log = logging.getLogger(__name__)

SPECIALS = ("<motion>", "</motion>", "<masked>")


@dataclass(frozen=True)
class MotionVocab:
    """Id arithmetic between text ids, specials and (step, slot, code) motion tokens."""

    text_size: int
    slots: int = 4
    codes: int = 512

    @property
    def bom(self) -> int:
        return self.text_size

    @property
    def eom(self) -> int:
        return self.text_size + 1

    @property
    def masked(self) -> int:
        return self.text_size + 2

    @property
    def motion_offset(self) -> int:
        return self.text_size + len(SPECIALS)

    @property
    def size(self) -> int:
        return self.motion_offset + self.slots * self.codes

    def slot_range(self, slot: int) -> tuple[int, int]:
        """[lo, hi) of the ids slot `slot` may take."""
        lo = self.motion_offset + slot * self.codes
        return lo, lo + self.codes

    def to_ids(self, codes: np.ndarray, masked: np.ndarray | None = None) -> np.ndarray:
        """(N, slots) codes -> (N * slots,) ids, row-major; where `masked` (N, slots) is true, <masked>."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2 or codes.shape[1] != self.slots:
            raise HandMotionError(f"motion codes must be (steps, {self.slots}), got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codes):
            raise HandMotionError(f"motion codes must lie in [0, {self.codes})")
        ids = self.motion_offset + np.arange(self.slots)[None] * self.codes + codes
        if masked is not None:
            ids = np.where(masked, self.masked, ids)
        return ids.reshape(-1)

    def to_codes(self, ids: np.ndarray) -> np.ndarray:
        """(N * slots,) motion ids (row-major, slot order) -> (N, slots) codes; anything else is an error."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) % self.slots:
            raise HandMotionError(f"{len(ids)} motion ids is not a whole number of {self.slots}-slot steps")
        grid = ids.reshape(-1, self.slots) - self.motion_offset - np.arange(self.slots)[None] * self.codes
        if grid.size and (grid.min() < 0 or grid.max() >= self.codes):
            raise HandMotionError("a motion id is out of its slot's range")
        return grid

    def motion_sequence(self, codes: np.ndarray) -> np.ndarray:
        """<motion> ids </motion> for (N, slots) codes."""
        return np.r_[self.bom, self.to_ids(codes), self.eom].astype(np.int64)


ARCHS = ("t5", "decoder")
TEXT_CONDS = ("none", "minilm")
COND_DIM = 384  # all-MiniLM-L6-v2 sentence embeddings
COND_SCALE = COND_DIM ** 0.5  # unit-norm embeddings -> components of about unit size, like the token vectors'


@dataclass
class LMConfig:
    arch: str = "t5"
    d_model: int = 192
    layers: int = 3  # encoder and decoder each
    heads: int = 4
    d_ff: int = 768
    dropout: float = 0.1
    text_vocab: str = "minilm"  # or the path of a local Hugging Face checkpoint (its tokenizer)
    slots: int = 4
    codes: int = 512
    max_text_tokens: int = 128
    text_cond: str = "none"  # "minilm": the prompt's sentence embedding added to every decoder input
    exemplar: bool = False  # t2m decoding follows a retrieved training clip's codes as a draft (lm_exemplars.py)
    caption_exemplar: bool = False  # m2t prompts quote the caption of the nearest training clip by motion

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise HandMotionError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if self.text_cond not in TEXT_CONDS:
            raise HandMotionError(f"text_cond must be one of {', '.join(TEXT_CONDS)}, not {self.text_cond!r}")
        if self.exemplar and self.arch != "t5":
            raise HandMotionError("exemplar drafts are built for the t5 architecture only")

    @property
    def decoder_only(self) -> bool:
        return self.arch == "decoder"

    def vocab(self) -> MotionVocab:
        return MotionVocab(len(self.tokenizer()), self.slots, self.codes)

    def tokenizer(self):
        from .text import text_tokenizer

        return text_tokenizer(None if self.text_vocab == "minilm" else self.text_vocab)


def _model_classes(arch: str):
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    return (T5Config, T5ForConditionalGeneration) if arch == "t5" else (LlamaConfig, LlamaForCausalLM)


def attach_text_cond(model, cfg: LMConfig) -> None:
    """Give `model` the projection of prompt sentence embeddings, `model.text_cond` (384 -> width), zero at
    first (the model's outputs are unchanged until it is trained); nothing for `text_cond="none"`."""
    if cfg.text_cond == "none" or hasattr(model, "text_cond"):
        return
    width = model.config.d_model if model.config.is_encoder_decoder else model.config.hidden_size
    proj = nn.Linear(COND_DIM, width)
    nn.init.zeros_(proj.weight)
    nn.init.zeros_(proj.bias)
    model.text_cond = proj.to(next(model.parameters()).device)


def attach_exemplar(model, cfg: LMConfig) -> None:
    """Give `model` the projection of exemplar draft codes, `model.exemplar_proj` (width -> width), zero at
    first; nothing without `cfg.exemplar`."""
    if not cfg.exemplar or hasattr(model, "exemplar_proj"):
        return
    width = model.config.d_model
    proj = nn.Linear(width, width)
    nn.init.zeros_(proj.weight)
    nn.init.zeros_(proj.bias)
    model.exemplar_proj = proj.to(next(model.parameters()).device)


def text_condition(model, embeddings: torch.Tensor | None) -> torch.Tensor | None:
    """(B, width) to add to the decoder's input embeddings, from sentence embeddings (B, 384) (zeros where a
    prompt has no free text); None for a model without a text condition."""
    proj = getattr(model, "text_cond", None)
    if proj is None or embeddings is None:
        return None
    return proj(embeddings.to(proj.weight) * COND_SCALE)


def prompt_condition(model, text: str | None) -> torch.Tensor | None:
    """(1, width) text condition of one prompt's free text (None or "": none), or None for a model without one."""
    if getattr(model, "text_cond", None) is None:
        return None
    from .text import prompt_embedding

    emb = prompt_embedding(text) if text else np.zeros((1, COND_DIM), np.float32)
    with torch.no_grad():
        return text_condition(model, torch.from_numpy(emb))


def build_lm(cfg: LMConfig, base_model: str | Path | None = None):
    """The model over `cfg.vocab()`: a small fresh one from `cfg`, or a local checkpoint of the same
    architecture (`base_model`, safetensors) with its embeddings resized for the specials and motion ids."""
    config_cls, model_cls = _model_classes(cfg.arch)
    vocab = cfg.vocab()
    if base_model:
        try:
            model = model_cls.from_pretrained(str(base_model), local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise HandMotionError(f"{base_model}: not a local {cfg.arch} checkpoint with safetensors weights ({exc})"
                                  ) from None
        model.resize_token_embeddings(vocab.size)
        attach_text_cond(model, cfg)
        attach_exemplar(model, cfg)
        return model
    if cfg.decoder_only:
        config = config_cls(vocab_size=vocab.size, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
                            num_hidden_layers=2 * cfg.layers, num_attention_heads=cfg.heads,
                            max_position_embeddings=4096, tie_word_embeddings=True, pad_token_id=0,
                            eos_token_id=vocab.eom, bos_token_id=None, attention_dropout=cfg.dropout)
    else:
        config = config_cls(vocab_size=vocab.size, d_model=cfg.d_model, d_kv=cfg.d_model // cfg.heads, d_ff=cfg.d_ff,
                            num_layers=cfg.layers, num_decoder_layers=cfg.layers, num_heads=cfg.heads,
                            dropout_rate=cfg.dropout, feed_forward_proj="gated-gelu", tie_word_embeddings=True,
                            pad_token_id=0, eos_token_id=vocab.eom, decoder_start_token_id=0)
    model = model_cls(config)
    attach_text_cond(model, cfg)
    attach_exemplar(model, cfg)
    return model


def save_lm(model, cfg: LMConfig, directory: str | Path, meta: dict | None = None) -> None:
    """config.json (LMConfig + the Hugging Face model config under "hf") + model.safetensors, and with
    exemplars their index (`model.exemplars`) in stats.npz."""
    state, seen = {}, set()
    for k, v in model.state_dict().items():  # tied embeddings are one tensor: keep its first name only
        if v.data_ptr() not in seen:
            seen.add(v.data_ptr())
            state[k] = v
    stats = {}
    for flag, name, what in ((cfg.exemplar, "exemplars", "exemplar drafts"),
                             (cfg.caption_exemplar, "caption_exemplars", "caption exemplars")):
        if flag:
            if getattr(model, name, None) is None:
                raise HandMotionError(f"a model with {what} is saved with its index (model.{name})")
            stats.update(getattr(model, name).state())
    save_weights(directory, {"component": "lm", **asdict(cfg), "hf": model.config.to_dict()}, state,
                 stats or None, meta)


def load_lm(directory: str | Path | None = None, device: str | torch.device = "cpu"):
    """(model in eval mode, LMConfig) from a weights folder (default: the shipped `weights/lm`)."""
    directory = Path(directory) if directory else default_dir("lm")
    config, state, stats = load_weights(directory)
    if config.pop("component", None) != "lm":
        raise HandMotionError(f"{directory}: not language-model weights")
    hf = config.pop("hf", None)
    if hf is None:
        raise HandMotionError(f"{directory}/config.json: no \"hf\" model config")
    names = {f.name for f in fields(LMConfig)}
    cfg = LMConfig(**{k: v for k, v in config.items() if k in names})
    config_cls, model_cls = _model_classes(cfg.arch)
    model = model_cls(config_cls.from_dict(hf))
    attach_text_cond(model, cfg)
    attach_exemplar(model, cfg)
    if cfg.exemplar or cfg.caption_exemplar:
        from .lm_exemplars import CaptionIndex, ExemplarIndex

        if cfg.exemplar:
            model.exemplars = ExemplarIndex.from_state(stats)
        if cfg.caption_exemplar:
            model.caption_exemplars = CaptionIndex.from_state(stats)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "model.embed_tokens.weight"}
    if unexpected or [k for k in missing if k not in tied]:
        raise HandMotionError(f"{directory}: weights do not match the model config")
    if model.config.tie_word_embeddings:
        model.tie_weights()
    return model.to(device).eval(), cfg
