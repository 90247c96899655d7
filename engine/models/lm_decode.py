"""Token-by-token decoding for the language model: motion grids and captions, one loop each.

A decoder state (`T5State` or `CachedState`) takes the prompt, then one id per sequence at a time, and
gives logits for the next position over an id range only: the codes of the slot due there, or the text
ids. `T5State` runs a T5 decoder directly on the model's own weights with plain tensor ops and a
preallocated key/value cache; it skips the per-token bookkeeping of `generate`, which on two CPU
threads costs more than the arithmetic of a small model (8 ms against under 1 ms a token).
`CachedState` does the same for any other causal model through its forward pass and
`past_key_values`. Both are checked against the model's full forward pass in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import HandMotionError
from .lm import MotionVocab
from .lm_exemplars import draft_embedding, draft_positions

_MAX_SCALE = float(torch.finfo(torch.float32).max)  # 1 / temperature beyond this overflows float32


@dataclass
class _T5Layer:
    """One T5 decoder block's weights for `T5State`: (out, in) matrices, layer-norm scales."""

    norm_self: torch.Tensor
    qkv: torch.Tensor  # query, key and value stacked: (3 H d_kv, d)
    out_self: torch.Tensor
    norm_cross: torch.Tensor
    q_cross: torch.Tensor
    out_cross: torch.Tensor
    norm_ff: torch.Tensor
    wi: torch.Tensor  # the gated feed-forward's gate and linear inputs stacked: (2 d_ff, d)
    wo: torch.Tensor
    act: Callable[[torch.Tensor], torch.Tensor]

    @classmethod
    def of(cls, block) -> "_T5Layer":
        att, cross, ff = block.layer[0].SelfAttention, block.layer[1].EncDecAttention, block.layer[2].DenseReluDense
        return cls(block.layer[0].layer_norm.weight, torch.cat([att.q.weight, att.k.weight, att.v.weight]),
                   att.o.weight, block.layer[1].layer_norm.weight, cross.q.weight, cross.o.weight,
                   block.layer[2].layer_norm.weight, torch.cat([ff.wi_0.weight, ff.wi_1.weight]), ff.wo.weight, ff.act)


class T5State:
    """Incremental T5 decoding of `batch` sequences for one prompt (encoder ids (L,)), up to `capacity` ids;
    `cond` (1, d) or (batch, d), the text condition, is added to every decoder input embedding, and
    `extra` (1 or batch, P, d) position by position to the first P of them (exemplar drafts)."""

    def __init__(self, model, prompt: torch.Tensor, batch: int, capacity: int, cond: torch.Tensor | None = None,
                 extra: torch.Tensor | None = None):
        cfg = model.config
        self.capacity, self.length = capacity, 0
        self.cond = None if cond is None else cond[:, None]  # (1 or B, 1, d)
        self.extra = extra
        self.heads, self.d_kv = cfg.num_heads, cfg.d_kv
        self.eps = cfg.layer_norm_epsilon
        self.scale = cfg.d_model ** -0.5 if getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings) else 1.0
        self.head = model.get_output_embeddings().weight  # (V, d)
        self.embed = model.get_input_embeddings().weight
        blocks = model.decoder.block
        self.final_norm = model.decoder.final_layer_norm.weight
        # per layer, the weights as plain tensors, projections that read the same input fused into one
        # matrix (query/key/value; the gated feed-forward's two inputs): fewer, larger matmuls a token
        self.layers = [_T5Layer.of(block) for block in blocks]
        enc = model.encoder(input_ids=prompt[None], attention_mask=torch.ones_like(prompt[None])).last_hidden_state
        enc = enc.expand(batch, -1, -1)
        dev, dtype = enc.device, enc.dtype
        self.cross = []  # per layer (k, v), each (B, H, L, d_kv)
        for block in blocks:
            att = block.layer[1].EncDecAttention
            self.cross.append((self._split(F.linear(enc, att.k.weight)), self._split(F.linear(enc, att.v.weight))))
        shape = (len(blocks), batch, self.heads, capacity, self.d_kv)
        self.k_cache = torch.zeros(shape, device=dev, dtype=dtype)
        self.v_cache = torch.zeros(shape, device=dev, dtype=dtype)
        # relative position bias of every (query, key) pair up to capacity; causal positions get -inf
        bias = blocks[0].layer[0].SelfAttention.compute_bias(capacity, capacity, device=dev)[0]
        causal = torch.ones(capacity, capacity, dtype=torch.bool, device=dev).triu(1)
        self.bias = bias.masked_fill(causal, float("-inf")).to(dtype)  # (H, capacity, capacity)
        self.hidden = None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H * d_kv) -> (B, H, T, d_kv)."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.d_kv).transpose(1, 2)

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """T5's layer norm (root mean square, no mean subtraction, no bias)."""
        return F.rms_norm(x, weight.shape, weight.to(x.dtype), self.eps)

    def feed(self, ids: torch.Tensor) -> None:
        """Append one id per sequence (B,)."""
        t = self.length
        if t >= self.capacity:
            raise HandMotionError(f"decoding past the {self.capacity} positions it was sized for")
        x = self.embed[ids][:, None]  # (B, 1, d)
        if self.cond is not None:
            x = x + self.cond.to(x.dtype)
        if self.extra is not None and t < self.extra.shape[1]:
            x = x + self.extra[:, t:t + 1].to(x.dtype)
        width = self.heads * self.d_kv
        for i, layer in enumerate(self.layers):
            h = self._norm(x, layer.norm_self)
            q, k, v = F.linear(h, layer.qkv).split(width, dim=-1)
            q = self._split(q)
            self.k_cache[i, :, :, t] = self._split(k)[:, :, 0]
            self.v_cache[i, :, :, t] = self._split(v)[:, :, 0]
            # T5 does not scale scores by 1/sqrt(d_kv)
            k, v = self.k_cache[i, :, :, :t + 1].to(q.dtype), self.v_cache[i, :, :, :t + 1].to(q.dtype)  # autocast
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias[None, :, t:t + 1, :t + 1].to(q.dtype),
                                               scale=1.0)
            x = x + F.linear(a.transpose(1, 2).reshape(x.shape), layer.out_self)
            h = self._norm(x, layer.norm_cross)
            q = self._split(F.linear(h, layer.q_cross))
            k, v = self.cross[i]
            a = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), scale=1.0)
            x = x + F.linear(a.transpose(1, 2).reshape(x.shape), layer.out_cross)
            h = self._norm(x, layer.norm_ff)
            gate, lin = F.linear(h, layer.wi).chunk(2, dim=-1)
            x = x + F.linear(layer.act(gate) * lin, layer.wo)
        self.hidden = self._norm(x[:, 0], self.final_norm) * self.scale
        self.length = t + 1

    def logits(self, lo: int, hi: int) -> torch.Tensor:
        """(B, hi - lo) logits of ids [lo, hi) at the next position."""
        return self.hidden @ self.head[lo:hi].T


class CachedState:
    """Incremental decoding through a model's own forward pass and key/value cache (any architecture).
    Encoder-decoder models get the prompt in the encoder; decoder-only models get it as the prefix."""

    def __init__(self, model, prompt: torch.Tensor, batch: int, capacity: int, cond: torch.Tensor | None = None,
                 extra: torch.Tensor | None = None):
        self.model, self.capacity, self.length = model, capacity, 0
        self.past, self.last = None, None
        self.encoder_out = None
        self.cond = None if cond is None else cond[:, None]  # (1 or B, 1, d), added to every decoder input
        self.extra = extra  # (1 or B, P, d), added to the first P decoder inputs (encoder-decoder models)
        prompt = prompt[None].expand(batch, -1)
        if model.config.is_encoder_decoder:
            self.encoder_out = model.get_encoder()(input_ids=prompt, attention_mask=torch.ones_like(prompt))
        else:
            self._run(prompt)

    def _run(self, ids: torch.Tensor) -> None:
        plain = self.cond is None and self.extra is None
        if self.encoder_out is None:
            kwargs = {"input_ids": ids} if self.cond is None else {"inputs_embeds": self._embed(ids)}
        else:
            kwargs = {"encoder_outputs": self.encoder_out}
            kwargs.update({"decoder_input_ids": ids} if plain else {"decoder_inputs_embeds": self._embed(ids)})
        out = self.model(**kwargs, past_key_values=self.past, use_cache=True)
        self.past, self.last = out.past_key_values, out.logits[:, -1]

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> their decoder input embeddings plus the text condition (and, for the decoder of an
        encoder-decoder model, the extra of their positions)."""
        x = self.model.get_decoder().get_input_embeddings()(ids)
        if self.cond is not None:
            x = x + self.cond.to(x.dtype)
        if self.extra is not None and self.encoder_out is not None:
            extra = self.extra[:, self.length:self.length + ids.shape[1]]
            if extra.shape[1] == ids.shape[1]:
                x = x + extra.to(x.dtype)
        return x

    def feed(self, ids: torch.Tensor) -> None:
        if self.length >= self.capacity:
            raise HandMotionError(f"decoding past the {self.capacity} positions it was sized for")
        self._run(ids[:, None])
        self.length += 1

    def logits(self, lo: int, hi: int) -> torch.Tensor:
        return self.last[:, lo:hi]


def decoder_state(model, prompt: np.ndarray, batch: int, capacity: int, cond: torch.Tensor | None = None,
                  extra: torch.Tensor | None = None):
    """The fastest decoder state for `model` (T5State for T5 models) holding the prompt (L,) ids, its
    text condition `cond` (1, d) (see `engine.models.lm.text_condition`) and per-position additions `extra`
    (1 or batch, P, d), counted from the start id; a T5 decoder has already been fed its start id."""
    device = next(model.parameters()).device
    ids = torch.as_tensor(np.asarray(prompt, dtype=np.int64), device=device)
    if getattr(model.config, "model_type", "") == "t5" and model.config.is_gated_act:
        state = T5State(model, ids, batch, capacity + 1, cond, extra)
    else:
        state = CachedState(model, ids, batch, capacity + 1, cond, extra)
    if model.config.is_encoder_decoder:
        state.feed(torch.full((batch,), model.config.decoder_start_token_id, device=device))
    return state


def sample(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
           generator: torch.Generator | None) -> torch.Tensor:
    """(B,) indices into the last axis of logits (B, V): greedy at temperature 0, otherwise sampled
    after temperature, top-k (0: off) and nucleus top-p (1: off).

    Any positive temperature is safe, however small: the logits are shifted so the best is 0 before
    they are scaled by 1 / temperature (capped at float32's largest value), so every other logit only
    goes towards -inf and the softmax never meets inf - inf. As the temperature approaches 0 this
    becomes greedy decoding, with exact ties drawn at random.
    """
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float()
    logits = (logits - logits.max(-1, keepdim=True).values) * min(1.0 / temperature, _MAX_SCALE)  # (B, V) <= 0
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest head whose mass reaches top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


def check_sampling(temperature: float, top_k: int, top_p: float, guidance: float = 1.0) -> None:
    if not math.isfinite(temperature) or temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
        raise HandMotionError("temperature must be >= 0, top_p in (0, 1], top_k >= 0")
    if not math.isfinite(guidance) or guidance < 0:
        raise HandMotionError(f"guidance must be a finite number >= 0, got {guidance}")


@torch.no_grad()
def decode_motion(model, vocab: MotionVocab, prompt: np.ndarray, steps: int, samples: int = 1, seed: int = 0,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  forced: np.ndarray | None = None, cond: torch.Tensor | None = None,
                  guidance: float = 1.0, uncond: torch.Tensor | None = None,
                  draft: np.ndarray | None = None) -> np.ndarray:
    """`samples` motion grids of exactly `steps` latent steps: <motion>, then each position sampled
    from its own slot's codes only (or the forced code, where `forced` (steps, slots) is >= 0); `cond`
    (1, d) is the prompt's text condition, if the model has one, and `draft` (steps, slots) an exemplar's
    codes, if the model takes them (engine/models/lm_exemplars.py). Returns (samples, steps, slots) codes.

    Classifier-free guidance: with `guidance` g != 1 and both conditions given, every sequence is decoded
    twice, with `cond` (and the draft) and with `uncond` (1, d) (the condition of no text, no draft), and
    sampled from uncond_logits + g * (cond_logits - uncond_logits); g = 1 is plain decoding."""
    check_sampling(temperature, top_k, top_p, guidance)
    if steps < 1:
        raise HandMotionError("a motion needs at least one latent step")
    if forced is not None and np.shape(forced) != (steps, vocab.slots):
        raise HandMotionError(f"forced codes must be ({steps}, {vocab.slots}), got {np.shape(forced)}")
    if draft is not None and np.shape(draft) != (steps, vocab.slots):
        raise HandMotionError(f"a draft must be ({steps}, {vocab.slots}) codes, got {np.shape(draft)}")
    batch = samples if temperature > 0 else 1
    guided = guidance != 1.0 and cond is not None and uncond is not None
    if guided:  # rows [0, batch) see the prompt, rows [batch, 2 batch) the condition of no text
        cond = torch.cat([cond.expand(batch, -1), uncond.to(cond).expand(batch, -1)])
    n = steps * vocab.slots
    device = next(model.parameters()).device
    extra = None
    if draft is not None:
        ids = torch.from_numpy(draft_positions(vocab.to_ids(draft), n + 2)).to(device)
        extra = draft_embedding(model, ids[None])  # (1, n + 2, d) or None for a model without drafts
        if extra is not None and guided:
            extra = torch.cat([extra.expand(batch, -1, -1), torch.zeros_like(extra).expand(batch, -1, -1)])
    state = decoder_state(model, prompt, 2 * batch if guided else batch, n + 2, cond, extra)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    codes = torch.zeros(batch, n, dtype=torch.long, device=device)
    ids = torch.full((batch,), vocab.bom, device=device)
    for k in range(n):
        state.feed(torch.cat([ids, ids]) if guided else ids)
        step, slot = divmod(k, vocab.slots)
        lo, hi = vocab.slot_range(slot)
        if forced is not None and forced[step, slot] >= 0:
            codes[:, k] = int(forced[step, slot])
        else:
            logits = state.logits(lo, hi)
            if guided:
                with_text, without = logits[:batch].float(), logits[batch:].float()
                logits = without + guidance * (with_text - without)
            codes[:, k] = sample(logits, temperature, top_k, top_p, generator)
        ids = codes[:, k] + lo
    grids = codes.view(batch, steps, vocab.slots).cpu().numpy()
    return grids if batch == samples else np.repeat(grids, samples, axis=0)


@torch.no_grad()
def decode_text(model, prompt: np.ndarray, text_size: int, end_id: int, max_tokens: int = 96,
                no_repeat_ngram: int = 3, repetition_penalty: float = 1.2, cond: torch.Tensor | None = None
                ) -> list[int]:
    """Greedy text ids (without the end id) over the text vocabulary [0, text_size). A repeated
    `no_repeat_ngram`-gram is never emitted and ids already written are penalised (CTRL-style), so a
    small model does not loop on one phrase."""
    state = decoder_state(model, prompt, 1, max_tokens + 1, cond)
    out: list[int] = []
    for _ in range(max_tokens):
        logits = state.logits(0, text_size)[0].clone()
        if out and repetition_penalty != 1:
            seen = torch.as_tensor(sorted(set(out)), device=logits.device)
            vals = logits[seen]
            logits[seen] = torch.where(vals > 0, vals / repetition_penalty, vals * repetition_penalty)
        n = no_repeat_ngram
        if n > 0 and len(out) >= n - 1:
            tail = tuple(out[len(out) - n + 1:])
            banned = [out[i + n - 1] for i in range(len(out) - n + 1) if tuple(out[i:i + n - 1]) == tail]
            if banned:
                logits[banned] = float("-inf")
        nxt = int(logits.argmax())
        if nxt == end_id:
            break
        out.append(nxt)
        state.feed(torch.tensor([nxt], device=logits.device))
    return out


def consensus(texts: list[str]) -> int:
    """Minimum-Bayes-risk pick: the index of the text with the highest mean sentence BLEU (sacrebleu,
    add-one smoothed) against the others (the first on ties; 0 for one text)."""
    from sacrebleu.metrics import BLEU

    if not texts:
        raise HandMotionError("consensus of no texts")
    metric = BLEU(lowercase=True, smooth_method="add-k", effective_order=True)
    scores = [sum(metric.sentence_score(t, [o]).score for j, o in enumerate(texts) if j != i)
              for i, t in enumerate(texts)]
    return int(np.argmax(scores))


@torch.no_grad()
def text_log_likelihood(model, prompts: list[np.ndarray], target: np.ndarray, text_size: int,
                        cond: torch.Tensor | None = None) -> np.ndarray:
    """(N,) mean log-probability per token of the text ids `target` (L,), end id last, written after each of
    the N encoder prompts (teacher forced, one batch; prompts padded with id 0 as in training), over the text
    ids [0, text_size) as the training loss sees them; `cond` (1, d) the text condition. Encoder-decoder
    models only."""
    if not model.config.is_encoder_decoder:
        raise HandMotionError("scoring a caption needs an encoder-decoder model")
    device = next(model.parameters()).device
    enc = torch.zeros(len(prompts), max(len(p) for p in prompts), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        enc[i, :len(p)] = torch.as_tensor(np.asarray(p, dtype=np.int64), device=device)
    tgt = torch.as_tensor(np.asarray(target, dtype=np.int64), device=device)[None].expand(len(prompts), -1)
    start = torch.full((len(prompts), 1), model.config.decoder_start_token_id, dtype=torch.long, device=device)
    x = model.get_decoder().get_input_embeddings()(torch.cat([start, tgt[:, :-1]], 1))
    if cond is not None:
        x = x + cond[:, None]
    logits = model(input_ids=enc, attention_mask=(enc != 0).long(), decoder_inputs_embeds=x).logits[..., :text_size]
    return logits.float().log_softmax(-1).gather(-1, tgt[..., None])[..., 0].mean(1).cpu().numpy()
