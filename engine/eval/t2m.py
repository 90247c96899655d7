"""`handmotion eval t2m`: text-to-motion quality in the evaluator's embedding space.

Protocol (T2M / HandX): every clip of the split gives one prompt (its seeded script caption,
`protocol.pick_caption`) and its length; a method returns motion for each. Scores:
R-Precision top-1/2/3 (pools of 32, shuffled with a fixed seed), MM-Dist, FID and KID against the
split's real motion, Diversity (300 pairs), MultiModality (the first `mm_prompts` prompts, `mm_samples`
samples each, when the method can vary), contact F1: which HandX contacts occur in the clip at all,
method against ground truth (timing differs between methods, so contacts are compared per clip), and
the share of frames that break the joint limits by more than LIMIT_TOL_DEG. Methods that take any
prompt (FREE_TEXT) are also judged on the paraphrased prompts (`paraphrase.generation_scores`).

Baselines: "ground_truth" (the real clip), "tokenized" (the real clip through the SHIFT tokenizer and
back: what a perfect token generator would reach), "retrieval" (the training clip whose script
caption best matches the prompt, TF-IDF), and "draft" (the language model's exemplar draft alone: its
retrieval part, decoded without sampling). Methods are registered in `GENERATORS`: a function (context,
prompts, lengths, samples, seed) -> per prompt a list of `samples` feature arrays (T, 198) at the split's fps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..features import features_to_motion
from .contact import contact_prf, motion_contacts
from .distribution import diversity, fid, kid, mm_dist, multimodality, r_precision
from .evaluator import Evaluator, get_evaluator
from .paraphrase import PARAPHRASES, generation_scores, retrieval_scores
from .protocol import CAPTION_KINDS, POOL, PROMPT_KIND, SEED, Split, load_split
from .retrieval import TextIndex

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What methods may use: the split under test, the training split, the evaluator."""

    test: Split
    train: Split
    evaluator: Evaluator
    device: str = "cpu"
    cache: dict = field(default_factory=dict)


NOISE_LEVELS = (0.1, 0.5)
Generator = Callable[[Context, list[str], list[int], int, int], list[list[np.ndarray]]]


def _ground_truth(ctx: Context, prompts: list[str], lengths: list[int], samples: int, seed: int) -> list[list[np.ndarray]]:
    return [[ctx.test.clips.clip(i)] for i in range(len(prompts))]


def _train_copy(ctx: Context, n: int, text: str) -> int:
    """Training row of test clip n when `text` is one of that clip's own captions and the clip is also in
    the training split (tiny sample data), else -1: retrieval may not answer a prompt with its own clip."""
    ids = ctx.test.clips.ids
    if n >= len(ids) or text not in ctx.test.captions[int(ids[n])].get(PROMPT_KIND, []):
        return -1
    rows = np.flatnonzero(ctx.train.clips.ids == ids[n])
    return int(rows[0]) if len(rows) else -1


def _retrieval(ctx: Context, prompts: list[str], lengths: list[int], samples: int, seed: int) -> list[list[np.ndarray]]:
    if "text_index" not in ctx.cache:
        texts, owners = [], []
        for i, cid in enumerate(ctx.train.clips.ids):
            for t in ctx.train.captions[int(cid)].get(PROMPT_KIND, []):
                texts.append(t)
                owners.append(i)
        ctx.cache["text_index"] = TextIndex(texts, owners)
    index: TextIndex = ctx.cache["text_index"]
    exclude = [_train_copy(ctx, n, text) for n, text in enumerate(prompts)]
    hits = index.query(prompts, samples, exclude)
    return [[ctx.train.clips.clip(int(j)) for j in row] for row in hits]


def _tokenized(ctx: Context, prompts: list[str], lengths: list[int], samples: int, seed: int) -> list[list[np.ndarray]]:
    """The real clip through the shipped SHIFT tokenizer and back: the ceiling of any token-based generator."""
    from ..features import motion_to_features
    from ..pipeline import reconstruct

    return [[motion_to_features(reconstruct(ctx.test.motion(i), device=ctx.device))[0]] for i in range(len(prompts))]


def _lm(ctx: Context, prompts: list[str], lengths: list[int], samples: int, seed: int) -> list[list[np.ndarray]]:
    """The language model (ctx.cache["lm_weights"] or the shipped weights/lm), one call per prompt."""
    from ..features import motion_to_features
    from ..pipeline import generate

    weights = ctx.cache.get("lm_weights")
    out = []
    for k, (text, n) in enumerate(tqdm(list(zip(prompts, lengths)), desc="generate", disable=not ctx.cache.get("progress"))):
        motions = generate(text, (n - 1) / ctx.test.fps, ctx.test.fps, seed=seed + k, samples=samples, weights=weights,
                           device=ctx.device, guidance=ctx.cache.get("lm_guidance"),
                           rerank=ctx.cache.get("lm_rerank"))
        out.append([motion_to_features(m)[0] for m in motions])
    return out


def _draft(ctx: Context, prompts: list[str], lengths: list[int], samples: int, seed: int) -> list[list[np.ndarray]]:
    """The language model's exemplar draft alone (`pipeline.exemplar_draft`): what its retrieval gives before
    any code is sampled (one per prompt)."""
    from ..features import motion_to_features
    from ..pipeline import exemplar_draft

    return [[motion_to_features(exemplar_draft(text, (n - 1) / ctx.test.fps, ctx.test.fps,
                                               ctx.cache.get("lm_weights"), device=ctx.device))[0]] * samples
            for text, n in zip(prompts, lengths)]


GENERATORS: dict[str, Generator] = {"ground_truth": _ground_truth, "tokenized": _tokenized, "retrieval": _retrieval,
                                    "lm": _lm, "draft": _draft}
CAN_VARY = {"ground_truth": False, "tokenized": False, "retrieval": True, "lm": True, "draft": False}
FREE_TEXT = {"retrieval", "lm", "draft"}  # methods that take any prompt (the others replay the split's own clips)
PARAPHRASE_SECONDS, PARAPHRASE_SAMPLES = 4.0, 3


def lm_available(weights: str | None = None) -> bool:
    from ..models.weights import default_dir

    return ((Path(weights) if weights else default_dir("lm")) / "config.json").exists()


def clip_contacts(x: np.ndarray, fps: float) -> np.ndarray:
    """(18,) which contact channels occur anywhere in a (T, 198) clip."""
    return motion_contacts(features_to_motion(x, fps)).any(0)


LIMIT_TOL_DEG = 5.0  # a frame breaks the joint limits when some joint angle leaves its range by more than this


def limit_breaks(x: np.ndarray, fps: float) -> np.ndarray:
    """(T,) per frame of a (T, 198) clip: does either hand leave `JOINT_LIMITS` by more than LIMIT_TOL_DEG?"""
    from ..corpus.anatomy import limit_violation

    motion = features_to_motion(x, fps)
    over = [limit_violation(track.hand_pose, side) for side, track in motion.hands()]
    return np.degrees(np.max(over, axis=0)) > LIMIT_TOL_DEG


def real_embeddings(ctx: Context, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(order, embeddings): the split's clips shuffled by `seed` (the R-Precision pools) and their
    evaluator embeddings (n, dim) in that order, computed once per context."""
    key = ("real_emb", seed)
    if key not in ctx.cache:
        order = np.random.default_rng(seed).permutation(len(ctx.test.clips))
        emb = ctx.evaluator.encode_features([ctx.test.clips.clip(i) for i in order]).cpu().numpy()
        ctx.cache[key] = (order, emb)
    return ctx.cache[key]


def score_method(ctx: Context, name: str, mm_prompts: int = 100, mm_samples: int = 10, seed: int = SEED,
                 progress: bool = False) -> dict:
    """All t2m scores of one method on ctx.test."""
    split, ev = ctx.test, ctx.evaluator
    n = len(split.clips)
    prompts = [split.caption_of(i) for i in range(n)]
    lengths = [int(v) for v in split.clips.lengths()]
    gen = GENERATORS[name]
    motions = [s[0] for s in gen(ctx, prompts, lengths, 1, seed)]
    order, real_emb = real_embeddings(ctx, seed)
    text_emb = ev.encode_text([prompts[i] for i in order]).cpu().numpy()
    gen_emb = ev.encode_features([motions[i] for i in order]).cpu().numpy()
    top = r_precision(text_emb, gen_emb, POOL)
    contacts_gen = np.stack([clip_contacts(m, split.fps) for m in tqdm(motions, desc=f"contacts {name}", disable=not progress)])
    if "real_contacts" not in ctx.cache:
        ctx.cache["real_contacts"] = np.stack([clip_contacts(split.clips.clip(i), split.fps) for i in range(n)])
    p, r, f1 = contact_prf(contacts_gen, ctx.cache["real_contacts"])
    out = {"r_precision_top1": top[0], "r_precision_top2": top[1], "r_precision_top3": top[2],
           "mm_dist": mm_dist(text_emb, gen_emb), "fid": fid(gen_emb, real_emb),
           "kid": kid(gen_emb, real_emb, seed=seed)[0], "diversity": diversity(gen_emb, seed=seed),
           "contact_precision": p, "contact_recall": r, "contact_f1": f1,
           "length_error_frames": float(np.mean([abs(len(m) - t) for m, t in zip(motions, lengths)])),
           "limit_frames": float(np.mean(np.concatenate([limit_breaks(m, split.fps) for m in motions])))}
    if CAN_VARY.get(name, True) and mm_prompts > 0 and mm_samples >= 2:
        k = min(mm_prompts, n)
        sets = gen(ctx, prompts[:k], lengths[:k], mm_samples, seed)
        emb = ev.encode_features([m for s in sets for m in s]).cpu().numpy().reshape(k, mm_samples, -1)
        out["multimodality"] = multimodality(emb, seed=seed)
    return {k: float(v) for k, v in out.items()}


def paraphrase_generation(ctx: Context, name: str, seed: int = SEED) -> dict:
    """`paraphrase.generation_scores` of a free-text method: PARAPHRASE_SAMPLES clips of
    PARAPHRASE_SECONDS for each paraphrase prompt, judged by their nearest real clips of the split."""
    texts = [p for p, _ in PARAPHRASES]
    length = int(round(PARAPHRASE_SECONDS * ctx.test.fps)) + 1
    sets = GENERATORS[name](ctx, texts, [length] * len(texts), PARAPHRASE_SAMPLES, seed)
    emb = ctx.evaluator.encode_features([m for s in sets for m in s]).cpu().numpy()
    order, real = real_embeddings(ctx, seed)
    return generation_scores(ctx.test, real[np.argsort(order)], emb.reshape(len(texts), PARAPHRASE_SAMPLES, -1))


def kind_retrieval(ctx: Context, seed: int = SEED) -> dict[str, list[float]]:
    """R-Precision top-1/2/3 of the real clips against one caption of each kind (pools of 32)."""
    split = ctx.test
    order, motion = real_embeddings(ctx, seed)
    out = {}
    for kind in CAPTION_KINDS:
        try:
            texts = [split.caption_of(i, kind) for i in order]
        except KeyError:
            continue
        out[kind] = [float(x) for x in r_precision(ctx.evaluator.encode_text(texts).cpu().numpy(), motion, POOL)]
    return out


def evaluator_checks(ctx: Context, seed: int = SEED) -> dict:
    """Does the feature space separate real motion from broken motion? FID of the split against the
    training split (small), against the split with the finger joints shuffled (large), and with white
    noise of NOISE_LEVELS standard deviations added to every feature."""
    rng = np.random.default_rng(seed)
    n = len(ctx.test.clips)
    _, real = real_embeddings(ctx, seed)
    k = min(len(ctx.train.clips), max(n, 1000))
    train = ctx.evaluator.encode_features([ctx.train.clips.clip(i) for i in rng.choice(len(ctx.train.clips), k, replace=False)])
    shuffled = []
    for i in range(n):
        x = ctx.test.clips.clip(i).copy()
        for h in (0, 99):  # permute the 15 finger joints' 6D rotations of each hand
            pose = x[:, h + 6:h + 96].reshape(len(x), 15, 6)
            x[:, h + 6:h + 96] = pose[:, rng.permutation(15)].reshape(len(x), 90)
        shuffled.append(x)
    enc = lambda xs: ctx.evaluator.encode_features(xs).cpu().numpy()  # noqa: E731
    out = {"fid_train": fid(real, train.cpu().numpy()), "fid_shuffled_joints": fid(real, enc(shuffled)), "clips": n,
           "r_precision_by_kind": kind_retrieval(ctx, seed)}
    for sigma in NOISE_LEVELS:  # white noise on every feature, frame by frame (jitter)
        noisy = [c + rng.normal(0, sigma, c.shape).astype(np.float32) for c in map(ctx.test.clips.clip, range(n))]
        out[f"fid_noise_{sigma}"] = fid(real, enc(noisy))
    return out


def evaluate_t2m(data: str, split: str | None = "test", methods: tuple[str, ...] | None = None,
                 weights: str | None = None, limit: int | None = None, device: str = "cpu", mm_prompts: int = 100,
                 mm_samples: int = 10, progress: bool = True, lm_weights: str | None = None,
                 lm_guidance: float | None = None, lm_rerank: int | None = None) -> dict:
    """The t2m report: {"methods": {name: scores}, "evaluator": checks, ...}. Default methods: the
    baselines, and "lm" when language-model weights exist (`lm_guidance`: its classifier-free guidance,
    `lm_rerank`: its candidates per motion; default the engine's)."""
    if methods is None:
        methods = ("ground_truth", "tokenized", "retrieval") + (("lm",) if lm_available(lm_weights) else ())
    ctx = Context(load_split(data, split, limit), load_split(data, "train"), get_evaluator(weights, device), device)
    ctx.cache.update(progress=progress, lm_weights=lm_weights, lm_guidance=lm_guidance, lm_rerank=lm_rerank)
    report = {"data": str(data), "split": split, "clips": len(ctx.test.clips), "prompt_kind": PROMPT_KIND,
              "pool": min(POOL, len(ctx.test.clips)), "methods": {}}
    for name in methods:
        if name not in GENERATORS:
            raise KeyError(f"unknown t2m method {name!r} (known: {', '.join(GENERATORS)})")
        log.info("t2m: %s", name)
        report["methods"][name] = score_method(ctx, name, mm_prompts, mm_samples, progress=progress)
        if name in FREE_TEXT:
            para = paraphrase_generation(ctx, name)
            report.setdefault("paraphrase_generation", {})[name] = para
            report["methods"][name].update(paraphrase_p10=para.get("precision_at_10", float("nan")),
                                           paraphrase_first_hit=para.get("first_hit_rank", float("nan")))
    report["evaluator"] = evaluator_checks(ctx)
    order, emb = real_embeddings(ctx)
    report["evaluator"]["paraphrases"] = retrieval_scores(ctx.evaluator, ctx.test, motion=emb[np.argsort(order)])
    return report
