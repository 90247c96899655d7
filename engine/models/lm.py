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

`MotionGridConstraint` is a logits processor that makes generation emit exactly that shape: at each
position only the ids of the slot due there (or one forced id, for known tokens), then </motion>.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from transformers import LogitsProcessor

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

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise HandMotionError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")

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
    return model_cls(config)


class MotionGridConstraint(LogitsProcessor):
    """Constrain decoding to <motion>, `steps` x slots motion ids, </motion>.

    `forced` (steps, slots) int: a code to emit at that position, or -1 where the model chooses
    (hand completion fixes the given hand's codes). `prefix` is the sequence length before generation
    (T5: 1, the decoder start token; decoder-only: the prompt's length).
    """

    def __init__(self, vocab: MotionVocab, steps: int, forced: np.ndarray | None = None, prefix: int = 1):
        if steps < 1:
            raise HandMotionError("a motion needs at least one latent step")
        self.vocab, self.steps, self.prefix = vocab, steps, prefix
        self.forced = None if forced is None else np.asarray(forced, dtype=np.int64)
        if self.forced is not None and self.forced.shape != (steps, vocab.slots):
            raise HandMotionError(f"forced codes must be ({steps}, {vocab.slots}), got {self.forced.shape}")

    @property
    def length(self) -> int:
        """Generated tokens including <motion> and </motion>."""
        return self.steps * self.vocab.slots + 2

    def allowed(self, position: int) -> tuple[int, int]:
        """[lo, hi) of the ids allowed at generated position `position` (0 = <motion>)."""
        v = self.vocab
        if position == 0:
            return v.bom, v.bom + 1
        k = position - 1
        if k >= self.steps * v.slots:
            return v.eom, v.eom + 1
        step, slot = divmod(k, v.slots)
        if self.forced is not None and self.forced[step, slot] >= 0:
            code = v.slot_range(slot)[0] + int(self.forced[step, slot])
            return code, code + 1
        return v.slot_range(slot)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        lo, hi = self.allowed(input_ids.shape[1] - self.prefix)
        out = torch.full_like(scores, float("-inf"))
        out[:, lo:hi] = scores[:, lo:hi]
        return out


class TextOnly(LogitsProcessor):
    """Constrain decoding to text ids (captions)."""

    def __init__(self, text_size: int):
        self.text_size = text_size

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[:, self.text_size:] = float("-inf")
        return scores


def save_lm(model, cfg: LMConfig, directory: str | Path, meta: dict | None = None) -> None:
    """config.json (LMConfig + the Hugging Face model config under "hf") + model.safetensors."""
    state, seen = {}, set()
    for k, v in model.state_dict().items():  # tied embeddings are one tensor: keep its first name only
        if v.data_ptr() not in seen:
            seen.add(v.data_ptr())
            state[k] = v
    save_weights(directory, {"component": "lm", **asdict(cfg), "hf": model.config.to_dict()}, state, None, meta)


def load_lm(directory: str | Path | None = None, device: str | torch.device = "cpu"):
    """(model in eval mode, LMConfig) from a weights folder (default: the shipped `weights/lm`)."""
    directory = Path(directory) if directory else default_dir("lm")
    config, state, _ = load_weights(directory)
    if config.pop("component", None) != "lm":
        raise HandMotionError(f"{directory}: not language-model weights")
    hf = config.pop("hf", None)
    if hf is None:
        raise HandMotionError(f"{directory}/config.json: no \"hf\" model config")
    names = {f.name for f in fields(LMConfig)}
    cfg = LMConfig(**{k: v for k, v in config.items() if k in names})
    config_cls, model_cls = _model_classes(cfg.arch)
    model = model_cls(config_cls.from_dict(hf))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "model.embed_tokens.weight"}
    if unexpected or [k for k in missing if k not in tied]:
        raise HandMotionError(f"{directory}: weights do not match the model config")
    if model.config.tie_word_embeddings:
        model.tie_weights()
    return model.to(device).eval(), cfg


@torch.no_grad()
def generate_codes(model, vocab: MotionVocab, prompt: np.ndarray, steps: int, samples: int = 1, seed: int = 0,
                   temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                   forced: np.ndarray | None = None) -> np.ndarray:
    """Sample `samples` motion grids of exactly `steps` latent steps for one encoder prompt (L,) ids.
    temperature 0 decodes greedily (one grid, repeated `samples` times). Returns (samples, steps, slots)."""
    from transformers import LogitsProcessorList

    if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
        raise HandMotionError("temperature must be >= 0, top_p in (0, 1], top_k >= 0")
    prompt = np.asarray(prompt, dtype=np.int64)
    prefix = len(prompt) if not model.config.is_encoder_decoder else 1
    constraint = MotionGridConstraint(vocab, steps, forced, prefix)
    device = next(model.parameters()).device
    ids = torch.as_tensor(prompt[None], device=device)
    torch.manual_seed(seed)
    sample = temperature > 0
    kwargs = {"do_sample": True, "temperature": temperature, "top_k": top_k or None, "top_p": top_p} if sample else \
        {"do_sample": False}
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=constraint.length,
                         num_return_sequences=samples if sample else 1, num_beams=1,
                         logits_processor=LogitsProcessorList([constraint]), pad_token_id=0,
                         eos_token_id=vocab.eom, **kwargs)
    body = out[:, prefix + 1:prefix + 1 + steps * vocab.slots].cpu().numpy()  # after the prefix and <motion>
    grids = np.stack([vocab.to_codes(row) for row in body])
    return grids if sample else np.repeat(grids, samples, axis=0)
