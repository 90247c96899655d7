"""`handmotion train lm`: the text-motion language model on corpus token grids and captions.

Each step draws one task (by `mix`) and `batch` training clips, and builds (encoder ids, target ids):
- t2m: "Generate S seconds of two-hand motion: <caption of a random kind>" -> <motion> grid </motion>
- m2t: "Describe <focus> in this hand motion:" <motion> grid </motion> -> a caption of that kind
- complete: "Given the <side> hand, generate the <other> hand:" <motion> grid with the other hand
  masked </motion> -> the whole grid (at inference the given hand's codes are forced)
- continue: "Continue this hand motion for S more seconds:" <motion> first part </motion> -> the rest
With `text_cond=minilm` each t2m caption's MiniLM sentence embedding also goes in (`text_emb`, zeros for
the other tasks) and is added to every decoder input (see engine/models/lm.py). With `exemplar`, each t2m
example also gets a draft (`draft`, (B, L) ids per decoder position, NONE elsewhere): the codes of the
training clip of another action combination whose script caption is nearest its caption, stretched to
its length (engine/models/lm_exemplars.py); `draft_own_share` of them are the example's own grid, warped
in time, one span of it (up to `draft_splice` of its steps) taken from the neighbour's draft and
`draft_noise` of its codes replaced at random. With `caption_exemplar`, each m2t prompt also quotes a
caption of the same kind from one of the three training clips nearest by motion (`CaptionIndex`) of
another action combination (`quote_own_share` of them another caption of the clip itself instead).
The loss is cross-entropy over the target's own part of the vocabulary (motion targets: specials and
motion ids; text targets: text ids), which is what constrained decoding samples from at inference;
with `w_geo` > 0, plus CLUTCH's geometric refinement on motion targets (`geometric_loss`).

CLUTCH's three phases are three runs chained with `init_from`: motion-only pretraining
(`mix=continue=0.5,complete=0.5`), instruction tuning on every task, then geometric refinement
(`w_geo` > 0).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HandMotionError
from ..eval.protocol import CAPTION_KINDS
from ..features import HAND_DIM
from ..models.kinematics import right_hand_joints
from ..models.lm import (
    COND_DIM,
    SPECIALS,
    LMConfig,
    MotionVocab,
    attach_exemplar,
    attach_text_cond,
    build_lm,
    load_lm,
    save_lm,
    text_condition,
)
from ..models.lm_exemplars import NONE, CaptionIndex, ExemplarIndex, draft_embedding, draft_positions, stretch
from ..models.prompts import FOCUS, TASKS, encode_prompt
from ..models.tokenizer import MIRROR, HandTokenizer, load_tokenizer
from .config import TrainRun, training_meta
from .data import ClipSet, caption_embeddings, load_captions, load_clips, load_combinations
from .loop import run_training
from .tokens import TokenSet, load_tokens

log = logging.getLogger(__name__)


@dataclass
class TrainLMConfig(TrainRun):
    out: str = "runs/lm"
    tokenizer: str = ""  # tokenizer weights folder ("": the shipped weights/tokenizer)
    base_model: str = ""  # a local Hugging Face T5 checkpoint to start from ("": a fresh small T5)
    init_from: str = ""  # an earlier `train lm` output to continue from as a new phase (its model config wins)
    # model (LMConfig fields; slots and codes come from the tokenizer)
    arch: str = "t5"  # "t5" (encoder-decoder, CLUTCH) or "decoder" (decoder-only, 2 x layers deep)
    d_model: int = 192  # sized for two CPU cores: about 1.6 s a step at batch 16, 2000 steps in under an hour
    layers: int = 3
    heads: int = 4
    d_ff: int = 768
    dropout: float = 0.1
    text_vocab: str = "minilm"
    max_text_tokens: int = 128
    text_cond: str = "minilm"  # the caption's sentence embedding added to every decoder input ("none": off)
    exemplar: bool = False  # t2m examples get a retrieved training clip's codes as a draft (lm_exemplars.py)
    draft_own_share: float = 0.0  # t2m drafts made from the example's own grid, warped in time and partly replaced
    draft_noise: float = 0.5  # share of an own draft's codes replaced by random codes
    draft_splice: float = 0.0  # at most this share of an own draft's steps (one span) taken from the neighbour's draft
    quote_own_share: float = 0.0  # m2t prompts quoting another caption of the clip itself instead of a neighbour's
    caption_exemplar: bool = False  # m2t prompts quote a caption of a clip nearest by motion (CaptionIndex)
    # training
    steps: int = 2000
    batch: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    mix: str = "t2m=0.5,m2t=0.2,complete=0.2,continue=0.1"
    w_geo: float = 0.0  # CLUTCH geometric refinement weight (0: off); see `geometric_loss`
    gumbel_tau: float = 1.0
    w_geo_fk: float = 1.0  # inside it: FK joint L1 (cm) next to the 6D rotation L1
    corrupt: float = 0.0  # share of the motion ids the model reads back replaced by random codes of their slot

    def __post_init__(self) -> None:
        self.task_mix()
        for name in ("draft_own_share", "draft_noise", "draft_splice", "quote_own_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise HandMotionError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def task_mix(self) -> dict[str, float]:
        mix = {}
        for part in self.mix.split(","):
            name, _, weight = part.partition("=")
            name = name.strip()
            if name not in TASKS:
                raise HandMotionError(f"mix: unknown task {name!r} (known: {', '.join(TASKS)})")
            try:
                mix[name] = float(weight)
            except ValueError:
                raise HandMotionError(f"mix: {part!r} is not task=weight") from None
        total = sum(mix.values())
        if total <= 0 or min(mix.values()) < 0:
            raise HandMotionError("mix weights must be non-negative and not all zero")
        return {k: v / total for k, v in mix.items()}

    def model_config(self, slots: int, codes: int) -> LMConfig:
        return self.pick(LMConfig, slots=slots, codes=codes)


def _pad(rows: list[np.ndarray], value: int) -> torch.Tensor:
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return torch.from_numpy(out)


class TaskSampler:
    """Batches of one task: {"input_ids", "attention_mask", "decoder_input_ids", "labels", "motion_target"},
    "text_emb" (B, 384) with a text condition: each t2m caption's sentence embedding, zeros otherwise, and
    "draft" (B, L_decoder) with exemplars: t2m drafts from `index`, NONE otherwise. `index` rows are
    `tokens` rows (the index of the training clips themselves; a clip never drafts from its own group).
    `hints` (len(tokens), k) with caption exemplars: rows of `hint_captions` (the training clips' captions)
    that an m2t prompt of each clip may quote (-1: none)."""

    def __init__(self, tokens: TokenSet, captions: dict[int, dict[str, list[str]]], lm_cfg: LMConfig, fps: float,
                 stride: int, mix: dict[str, float], seed: int, index: ExemplarIndex | None = None,
                 own_rows: bool = True, own_share: float = 0.0, hints: np.ndarray | None = None,
                 hint_captions: list[dict[str, list[str]]] | None = None, own_noise: float = 0.5,
                 own_splice: float = 0.0, own_quote: float = 0.0):
        self.tokens, self.cfg, self.vocab = tokens, lm_cfg, lm_cfg.vocab()
        self.index, self.own_rows, self.own_share = index, own_rows, own_share
        self.own_noise, self.own_splice, self.own_quote = own_noise, own_splice, own_quote
        self.hints, self.hint_captions = hints, hint_captions
        self.tokenizer = lm_cfg.tokenizer()
        self.captions = [captions[int(i)] for i in tokens.ids]
        self.step_seconds = stride / fps
        self.tasks, self.weights = list(mix), np.array(list(mix.values()))
        self.rng = np.random.default_rng(seed)
        self.embedded: dict[str, np.ndarray] = {}  # caption -> sentence embedding, computed once

    def embeddings(self, texts: list[str]) -> torch.Tensor:
        """(B, 384) sentence embeddings of `texts` ("" -> zeros)."""
        from ..models.text import sentence_embeddings

        new = sorted({t for t in texts if t and t not in self.embedded})
        if new:
            self.embedded.update(zip(new, sentence_embeddings(new)))
        zero = np.zeros(COND_DIM, np.float32)
        return torch.from_numpy(np.stack([self.embedded[t] if t else zero for t in texts]))

    def caption(self, caps: dict[str, list[str]], kind: str | None = None) -> tuple[str, str]:
        kinds = [k for k in CAPTION_KINDS if caps.get(k)]
        kind = kind if kind in kinds else kinds[self.rng.integers(len(kinds))]
        return kind, caps[kind][self.rng.integers(len(caps[kind]))]

    def example(self, task: str, i: int) -> tuple[np.ndarray, np.ndarray, str]:
        """(encoder ids, target ids, the prompt's free text or "")."""
        grid, v, tok, n = self.tokens.grid(i), self.vocab, self.tokenizer, self.cfg.max_text_tokens
        if task == "t2m":
            _, text = self.caption(self.captions[i])
            enc = encode_prompt(tok, v, "t2m", seconds=len(grid) * self.step_seconds, text=text, max_text_tokens=n)
            return enc, v.motion_sequence(grid), text
        if task == "m2t":
            kind, text = self.caption(self.captions[i])
            enc = encode_prompt(tok, v, "m2t", codes=grid, focus=FOCUS[kind], max_text_tokens=n,
                                example=self.hint(i, kind, text))
            target = tok(text, truncation=True, max_length=n)["input_ids"][1:]  # drop [CLS], keep [SEP]
            return enc, np.asarray(target, dtype=np.int64), ""
        if task == "complete":
            side = ("left", "right")[self.rng.integers(2)]
            enc = encode_prompt(tok, v, "complete", codes=grid, given=side, max_text_tokens=n)
            return enc, v.motion_sequence(grid), ""
        k = int(self.rng.integers(1, len(grid))) if len(grid) > 1 else 1
        rest = grid[k:] if len(grid) > 1 else grid
        enc = encode_prompt(tok, v, "continue", codes=grid[:k], seconds=len(rest) * self.step_seconds, max_text_tokens=n)
        return enc, v.motion_sequence(rest), ""

    def sample(self, batch: int, task: str | None = None) -> dict[str, torch.Tensor]:
        task = task or self.tasks[self.rng.choice(len(self.tasks), p=self.weights)]
        rows = self.rng.choice(len(self.tokens), size=batch)
        examples = [self.example(task, int(i)) for i in rows]
        enc = _pad([e for e, _, _ in examples], 0)
        labels = _pad([t for _, t, _ in examples], -100)
        dec = torch.cat([torch.zeros(len(examples), 1, dtype=torch.long), labels[:, :-1].clamp_min(0)], 1)
        out = {"input_ids": enc, "attention_mask": (enc != 0).long(), "decoder_input_ids": dec, "labels": labels,
               "motion_target": torch.tensor(task != "m2t")}
        emb = self.embeddings([text for _, _, text in examples]) if self.cfg.text_cond != "none" or \
            self.cfg.exemplar else None
        if self.cfg.text_cond != "none":
            out["text_emb"] = emb
        if self.cfg.exemplar:
            out["draft"] = self.drafts(task, rows, examples, dec.shape[1], emb.numpy())
        return out

    def drafts(self, task: str, rows: np.ndarray, examples: list, width: int, queries: np.ndarray) -> torch.Tensor:
        """(B, width) draft ids per decoder position (NONE but for t2m examples with an index); `queries`
        (B, 384) the examples' caption embeddings."""
        out = np.full((len(rows), width), NONE, dtype=np.int64)
        if task != "t2m" or self.index is None:
            return torch.from_numpy(out)
        exclude = [int(i) for i in rows] if self.own_rows else None
        for b, (hit, (_, target, _)) in enumerate(zip(self.index.nearest(queries, exclude), examples)):
            steps = (len(target) - 2) // self.vocab.slots
            neighbour = stretch(self.index.grid(int(hit)), steps) if hit >= 0 else None
            if self.rng.random() < self.own_share:
                grid = self.own_draft(self.tokens.grid(int(rows[b])), neighbour)
            elif neighbour is None:  # every training clip is of this one's combination (tiny corpora): no draft
                continue
            else:
                grid = neighbour
            out[b] = draft_positions(self.vocab.to_ids(grid), width)
        return torch.from_numpy(out)

    def hint(self, i: int, kind: str, target: str = "") -> str | None:
        """A caption of `kind` of one of clip i's caption neighbours (random), or None without them; with
        probability `own_quote`, another of clip i's own captions of `kind` than `target` instead (where it
        has one): a quote that is right, so that copying what the motion confirms pays."""
        if self.hints is None:
            return None
        if self.own_quote > 0:
            own = [c for c in self.captions[i].get(kind) or [] if c != target]
            if own and self.rng.random() < self.own_quote:
                return own[self.rng.integers(len(own))]
        rows = self.hints[i][self.hints[i] >= 0]
        if not len(rows):
            return None
        row = int(rows[self.rng.integers(len(rows))])
        options = self.hint_captions[row].get(kind) or []
        return options[self.rng.integers(len(options))] if options else None

    def own_draft(self, grid: np.ndarray, neighbour: np.ndarray | None = None) -> np.ndarray:
        """A draft like a neighbour's from a clip's own (n, slots) grid: its timing warped (stretched to a
        random 70-130% of its length and back), one span of up to `own_splice` of its steps taken from
        `neighbour` (n, slots) (the draft this clip would otherwise get), and `own_noise` of its codes
        replaced at random."""
        n = len(grid)
        warped = stretch(stretch(grid, max(1, int(round(n * self.rng.uniform(0.7, 1.3))))), n)
        if neighbour is not None and self.own_splice > 0:
            span = int(round(n * self.rng.uniform(0, self.own_splice)))
            start = int(self.rng.integers(0, n - span + 1))
            warped[start:start + span] = neighbour[start:start + span]
        noise = self.rng.integers(0, self.vocab.codes, warped.shape)
        return np.where(self.rng.random(warped.shape) < self.own_noise, noise, warped)


def geometric_loss(tokenizer: HandTokenizer, vocab: MotionVocab, logits: torch.Tensor, labels: torch.Tensor,
                   tau: float, w_fk: float) -> torch.Tensor:
    """CLUTCH geometric refinement on motion targets. logits (B, L, text specials + motion) over the
    sub-vocabulary starting at <motion>; labels (B, L) = <motion> ids </motion>, -100 padded.

    Each body position's slot logits go through a straight-through Gumbel-softmax (hard one-hot forward,
    soft gradient), the one-hot codes through the frozen tokenizer (`decode_soft`), and the decoded
    features are compared with the decoded ground-truth codes: L1 on the 6D rotations plus `w_fk` x L1
    on forward-kinematics joints (cm), over the frames of real steps."""
    S, K = vocab.slots, vocab.codes
    n = (labels.shape[1] - 2) // S
    body = labels[:, 1:1 + n * S]
    slot = torch.arange(n * S, device=labels.device) % S
    lo = vocab.motion_offset + slot * K
    valid = (body >= lo) & (body < lo + K)
    gt = torch.where(valid, body - lo, torch.zeros_like(body))
    motion_logits = logits[:, 1:1 + n * S, len(SPECIALS):].reshape(len(labels), n * S, S, K)
    picked = motion_logits.gather(2, slot.view(1, -1, 1, 1).expand(len(labels), -1, 1, K)).squeeze(2)
    onehot = F.gumbel_softmax(picked.float(), tau=tau, hard=True)
    onehot = torch.where(valid[..., None], onehot, F.one_hot(gt, K).to(onehot))
    pred = tokenizer.decode_soft(onehot.view(len(labels), n, S, K))
    with torch.no_grad():
        target = tokenizer.decode(gt.view(len(labels), n, S))
    step_ok = valid.view(len(labels), n, S).all(-1)
    frames = step_ok.repeat_interleave(tokenizer.cfg.stride, dim=1).to(pred)[..., None]  # (B, T, 1)
    rot = torch.cat([torch.arange(h + 0, h + 96) for h in (0, HAND_DIM)]).to(labels.device)
    denom = frames.sum().clamp_min(1.0)
    rot_l1 = ((pred[..., rot] - target[..., rot]).abs() * frames).sum() / (denom * len(rot))
    if not w_fk:
        return rot_l1
    joints = lambda x: torch.stack([right_hand_joints(x[..., :HAND_DIM] * MIRROR.to(x)),  # noqa: E731
                                    right_hand_joints(x[..., HAND_DIM:])], dim=-3)
    fk = ((joints(pred) - joints(target)).norm(dim=-1) * frames[..., None]).sum() / (denom * 42) * 100.0
    return rot_l1 + w_fk * fk


def corrupt_motion_ids(ids: torch.Tensor, vocab: MotionVocab, p: float, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """T2M-GPT's input corruption: each motion id of `ids` (any shape) replaced, with probability `p`, by a
    random code of the same slot. Text ids and specials are kept. Teacher forcing then cannot lean on
    copying the previous codes alone, and the prompt has to carry the motion."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"corruption probability must be in [0, 1], got {p}")
    if p == 0:
        return ids
    lo, K = vocab.motion_offset, vocab.codes
    is_motion = (ids >= lo) & (ids < lo + vocab.slots * K)
    hit = is_motion & (torch.rand(ids.shape, generator=generator, device=ids.device) < p)
    random = lo + (ids - lo).div(K, rounding_mode="floor") * K + torch.randint(K, ids.shape, generator=generator,
                                                                                 device=ids.device)
    return torch.where(hit, random, ids)


class LMTrainer(nn.Module):
    """Wraps the T5 so one forward returns the loss over the target's part of the vocabulary (plus the
    geometric refinement term on motion targets when a frozen tokenizer and `w_geo` are given)."""

    def __init__(self, lm: nn.Module, vocab: MotionVocab, tokenizer: HandTokenizer | None = None,
                 w_geo: float = 0.0, tau: float = 1.0, w_fk: float = 1.0, corrupt: float = 0.0):
        super().__init__()
        self.lm, self.vocab, self.w_geo, self.tau, self.w_fk, self.corrupt = lm, vocab, w_geo, tau, w_fk, corrupt
        self.tokenizer = [tokenizer] if tokenizer is not None else []  # a list: frozen, not a submodule

    def target_states(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, L_target, d): the hidden state that predicts each target token. In training mode the motion ids
        the model reads back are corrupted with probability `corrupt` (the targets never are)."""
        lm = self.lm
        rate = self.corrupt if self.training else 0.0
        cond = text_condition(lm, batch.get("text_emb"))  # (B, d) or None
        draft = draft_embedding(lm, batch["draft"]) if "draft" in batch else None  # (B, L_decoder, d) or None

        def inputs(ids: torch.Tensor, embed: nn.Module, extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
            ids = corrupt_motion_ids(ids, self.vocab, rate)
            if cond is None and extra is None:
                return {"input_ids": ids}
            x = embed(ids)
            x = x if cond is None else x + cond[:, None]
            return {"inputs_embeds": x if extra is None else x + extra}

        if lm.config.is_encoder_decoder:
            enc = lm.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            decoder = lm.get_decoder()
            dec = decoder(**inputs(batch["decoder_input_ids"], decoder.get_input_embeddings(), draft),
                          encoder_hidden_states=enc, encoder_attention_mask=batch["attention_mask"]).last_hidden_state
            if getattr(lm.config, "scale_decoder_outputs", lm.config.tie_word_embeddings):
                dec = dec * (lm.config.d_model ** -0.5)
            return dec
        # decoder-only: one sequence per row, prompt then target (right-padded); the state at position
        # prompt + j - 1 predicts target token j
        prompt_len = batch["attention_mask"].sum(1)
        labels = batch["labels"]
        target_len = (labels >= 0).sum(1)
        seq = torch.zeros(len(labels), int((prompt_len + target_len).max()), dtype=torch.long, device=labels.device)
        for i in range(len(labels)):
            p, t = int(prompt_len[i]), int(target_len[i])
            seq[i, :p], seq[i, p:p + t] = batch["input_ids"][i, :p], labels[i, :t]
        hidden = lm.model(**inputs(seq, lm.get_input_embeddings()), attention_mask=(seq != 0).long()).last_hidden_state
        idx = (prompt_len[:, None] - 1 + torch.arange(labels.shape[1], device=labels.device)[None]).clamp(
            max=seq.shape[1] - 1)
        return hidden.gather(1, idx[..., None].expand(-1, -1, hidden.shape[-1]))

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lm = self.lm
        dec = self.target_states(batch)
        lo, hi = (self.vocab.text_size, self.vocab.size) if bool(batch["motion_target"]) else (0, self.vocab.text_size)
        logits = dec @ lm.lm_head.weight[lo:hi].T
        labels = batch["labels"]
        target = torch.where(labels >= 0, labels - lo, torch.full_like(labels, -100))
        loss = F.cross_entropy(logits.reshape(-1, hi - lo), target.reshape(-1), ignore_index=-100)
        keep = target >= 0
        acc = (logits.argmax(-1)[keep] == target[keep]).float().mean()
        if self.w_geo and self.tokenizer and lo == self.vocab.text_size:
            tok = self.tokenizer[0].to(logits.device)
            loss = loss + self.w_geo * geometric_loss(tok, self.vocab, logits, labels, self.tau, self.w_fk)
        return loss, acc


def lm_loss(model: LMTrainer, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    loss, acc = model(batch)
    return loss, {"loss": loss.item(), "acc": acc.item()}


@torch.no_grad()
def validation_scores(model: LMTrainer, batches: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
    """Per task: loss and next-token accuracy on fixed validation batches; and `t2m_text_gain`, the t2m loss
    with each prompt moved to another clip of the batch minus the loss with its own prompt (0: the
    model ignores the text)."""
    device = next(model.parameters()).device
    out = {}
    for task, batch in batches.items():
        loss, acc = model({k: v.to(device) for k, v in batch.items()})
        out[f"{task}_loss"], out[f"{task}_acc"] = float(loss), float(acc)
        if task == "t2m":
            moved = {k: v.roll(1, 0) if k in ("input_ids", "attention_mask", "text_emb", "draft") else v
                     for k, v in batch.items()}
            out["t2m_text_gain"] = float(model({k: v.to(device) for k, v in moved.items()})[0]) - float(loss)
    return out


def _initial_model(cfg: TrainLMConfig, slots: int, codes: int):
    """(T5, LMConfig): an earlier run's weights (`init_from`), a local checkpoint, or a fresh model."""
    if not cfg.init_from:
        lm_cfg = cfg.model_config(slots, codes)
        return build_lm(lm_cfg, cfg.base_model or None), lm_cfg
    if cfg.base_model:
        raise HandMotionError("give either init_from or base_model, not both")
    lm, lm_cfg = load_lm(cfg.init_from)
    if (lm_cfg.slots, lm_cfg.codes) != (slots, codes):
        raise HandMotionError(f"{cfg.init_from} speaks another tokenizer's codes")
    if lm_cfg.text_cond == "none" and cfg.text_cond != "none":  # a new phase may add the text condition
        lm_cfg = replace(lm_cfg, text_cond=cfg.text_cond)
        attach_text_cond(lm, lm_cfg)
        log.info("adding the %s text condition to %s", cfg.text_cond, cfg.init_from)
    if cfg.exemplar and not lm_cfg.exemplar:  # ... and exemplar drafts
        lm_cfg = replace(lm_cfg, exemplar=True)
        attach_exemplar(lm, lm_cfg)
        log.info("adding exemplar drafts to %s", cfg.init_from)
    if cfg.caption_exemplar and not lm_cfg.caption_exemplar:  # ... and caption exemplars (no new weights)
        lm_cfg = replace(lm_cfg, caption_exemplar=True)
        log.info("adding caption exemplars to %s", cfg.init_from)
    log.info("continuing from %s", cfg.init_from)
    return lm.train(), lm_cfg


def exemplar_index(corpus: str | Path, train: TokenSet) -> ExemplarIndex:
    """The exemplar index of the training clips: their grids, the sentence embedding of each one's first
    script caption, and their action combinations."""
    keys = caption_embeddings(corpus, train.ids)[:, 0]
    if np.isnan(keys).any():
        raise HandMotionError(f"{corpus}: every training clip needs a script caption for exemplar drafts")
    return ExemplarIndex(train.codes, train.offsets, keys, combination_groups(corpus, train.ids))


def combination_groups(corpus: str | Path, ids: np.ndarray) -> np.ndarray:
    """(n,) int64: the action combination of each training clip in `ids`, numbered."""
    combos = load_combinations(corpus, "train")
    names = {c: k for k, c in enumerate(sorted(set(combos.values())))}
    return np.array([names[combos[int(i)]] for i in ids], dtype=np.int64)


def _clips_in_order(clips: ClipSet, ids: np.ndarray) -> list[np.ndarray]:
    """Views of `clips`' features in the order of `ids` (token grids and features come from one split)."""
    pos = {int(c): k for k, c in enumerate(clips.ids)}
    try:
        return [clips.clip(pos[int(i)]) for i in ids]
    except KeyError as exc:
        raise HandMotionError(f"clip {exc} has token codes but no features; rebuild the token cache") from None


def caption_hints(corpus: str | Path, train: TokenSet, val: TokenSet, captions: dict[int, dict[str, list[str]]],
                  fps: float, k: int = 3) -> tuple[CaptionIndex, np.ndarray, np.ndarray]:
    """The caption index of the training clips (rows = `train` rows) and, for training and validation clips,
    their k nearest training clips by motion (training clips: of other action combinations only)."""
    clips = load_clips(corpus, "train")
    index = CaptionIndex.build(_clips_in_order(clips, train.ids), [captions[int(i)] for i in train.ids], fps,
                               groups=combination_groups(corpus, train.ids), mean=clips.features.mean(0),
                               std=np.maximum(clips.features.std(0), 1e-3))
    train_hints = index.nearest(index.keys, k, exclude=np.arange(len(index)))
    if val is train:
        return index, train_hints, train_hints
    val_clips = _clips_in_order(load_clips(corpus, "val"), val.ids)
    val_hints = index.nearest(np.stack([index.key(x) for x in val_clips]), k)
    return index, train_hints, val_hints


def train_lm(cfg: TrainLMConfig, progress: bool = True) -> LMTrainer:
    """Train and save the language model to `cfg.out` (weights folder layout)."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tokenizer = load_tokenizer(cfg.tokenizer or None).requires_grad_(False)
    tcfg = tokenizer.cfg
    lm, lm_cfg = _initial_model(cfg, len(tcfg.slots), tcfg.codebook_size)
    train = load_tokens(cfg.data, "train", tokenizer, progress)
    try:
        val = load_tokens(cfg.data, "val", tokenizer, progress)
    except HandMotionError:
        log.warning("%s has no val split; validating on training clips", cfg.data)
        val = train
    captions = load_captions(cfg.data, None)
    mix = cfg.task_mix()
    index = None
    if lm_cfg.exemplar:
        index = lm.exemplars = exemplar_index(cfg.data, train)
    hints = {"train": None, "val": None}
    hint_captions = None
    if lm_cfg.caption_exemplar:
        lm.caption_exemplars, hints["train"], hints["val"] = caption_hints(cfg.data, train, val, captions, tcfg.fps)
        hint_captions = [captions[int(i)] for i in train.ids]
    sampler = TaskSampler(train, captions, lm_cfg, tcfg.fps, tcfg.stride, mix, cfg.seed, index,
                          own_share=cfg.draft_own_share, hints=hints["train"], hint_captions=hint_captions,
                          own_noise=cfg.draft_noise, own_splice=cfg.draft_splice, own_quote=cfg.quote_own_share)
    val_sampler = TaskSampler(val, captions, lm_cfg, tcfg.fps, tcfg.stride, mix, 12345, index, own_rows=False,
                              hints=hints["val"], hint_captions=hint_captions)
    val_batches = {task: val_sampler.sample(min(64, 4 * cfg.batch), task) for task in mix}
    model = LMTrainer(lm, lm_cfg.vocab(), tokenizer, cfg.w_geo, cfg.gumbel_tau, cfg.w_geo_fk, cfg.corrupt)
    log.info("language model: %.1fM parameters, vocabulary %d (%d text + specials + %d motion)",
             sum(p.numel() for p in model.parameters()) / 1e6, lm_cfg.vocab().size, lm_cfg.vocab().text_size,
             lm_cfg.slots * lm_cfg.codes)
    model = run_training(model, lm_loss, lambda: sampler.sample(cfg.batch), cfg, Path(cfg.out),
                         evaluate=lambda m: validation_scores(m, val_batches), progress=progress)
    save_lm(model.lm, lm_cfg, cfg.out, meta={**training_meta(cfg), "tokenizer": tcfg.slot_names})
    return model
