"""Caption metrics: BLEU-1/4 (sacrebleu), ROUGE-L (rouge-score) and CIDEr-D (written out here, as in
the COCO caption evaluation code). Hypotheses are strings; each has a list of reference strings.
Text is lower-cased; BLEU and CIDEr use sacrebleu's 13a tokenisation, so every score is reproducible.
"""

from __future__ import annotations

import math
from collections import Counter

from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

_TOKENIZE = Tokenizer13a()


def _ref_streams(refs: list[list[str]]) -> list[list[str]]:
    """sacrebleu's layout: one stream per reference slot; a hypothesis with fewer references repeats its
    first one (repeating a reference changes neither clipped counts nor the closest length)."""
    if any(not r for r in refs):
        raise ValueError("every hypothesis needs at least one reference")
    width = max(len(r) for r in refs)
    return [[r[k] if k < len(r) else r[0] for r in refs] for k in range(width)]


def bleu(hyps: list[str], refs: list[list[str]], order: int = 4) -> float:
    """Corpus BLEU-`order` (0-100) with brevity penalty, uniform n-gram weights, no smoothing."""
    metric = BLEU(max_ngram_order=order, lowercase=True, smooth_method="none", effective_order=False)
    return float(metric.corpus_score(list(hyps), _ref_streams(refs)).score)


def rouge_l(hyps: list[str], refs: list[list[str]]) -> float:
    """Mean ROUGE-L F-measure (0-100), best reference per hypothesis."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    scores = [scorer.score_multi(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)]
    return 100.0 * sum(scores) / max(len(scores), 1)


def _ngrams(text: str, n_max: int = 4) -> tuple[list[Counter], int]:
    words = _TOKENIZE(text.lower()).split()
    return [Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1)) for n in range(1, n_max + 1)], len(words)


def cider_d(hyps: list[str], refs: list[list[str]], sigma: float = 6.0, n_max: int = 4) -> float:
    """CIDEr-D (x10 scale, as reported): per n <= 4, tf-idf n-gram vectors (document frequency over the
    reference sets of the corpus), clipped cosine between hypothesis and each reference, times a Gaussian
    penalty exp(-(len_h - len_r)^2 / (2 sigma^2)); averaged over n and references, then over hypotheses."""
    ref_grams = [[_ngrams(r, n_max) for r in rs] for rs in refs]
    df: Counter = Counter()
    for rs in ref_grams:
        df.update({g for grams, _ in rs for counts in grams for g in counts})
    log_n = math.log(float(len(refs)))

    def vector(grams: list[Counter]) -> tuple[list[dict], list[float]]:
        vec = [{g: tf * (log_n - math.log(max(1.0, df[g]))) for g, tf in counts.items()} for counts in grams]
        return vec, [math.sqrt(sum(v * v for v in d.values())) for d in vec]

    total = 0.0
    for h, rs in zip(hyps, ref_grams):
        hg, h_len = _ngrams(h, n_max)
        hv, hn = vector(hg)
        score = [0.0] * n_max
        for rg, r_len in rs:
            rv, rn = vector(rg)
            penalty = math.exp(-((h_len - r_len) ** 2) / (2 * sigma**2))
            for n in range(n_max):
                val = sum(min(v, rv[n][g]) * rv[n][g] for g, v in hv[n].items() if g in rv[n])
                if hn[n] and rn[n]:
                    val /= hn[n] * rn[n]
                score[n] += val * penalty
        total += 10.0 * sum(score) / n_max / len(rs)
    return total / max(len(hyps), 1)
