"""Tables of evaluation reports, as aligned text for the terminal and as Markdown for docs."""

from __future__ import annotations

from .tokenizer import METRICS as TOKENIZER_METRICS

T2M_COLS = ("r_precision_top1", "r_precision_top2", "r_precision_top3", "mm_dist", "fid", "kid", "diversity",
            "multimodality", "contact_f1", "limit_frames", "paraphrase_p10", "paraphrase_first_hit")
M2T_COLS = ("bleu1", "bleu4", "rouge_l", "cider_d", "r_precision_top1", "r_precision_top3")
INBETWEEN_COLS = ("mpjpe_mm", "l2p", "l2q", "npss", "jerk_ratio", "keyframe_error_rad")
REACT_COLS = ("seeds", "contact_precision", "contact_recall", "contact_f1", "contact_f1_min", "contact_f1_max",
              "other_hand_mpjpe_mm")
REFINE_COLS = ("defects_removed", "removed_limit", "removed_spike", "removed_flip", "removed_dropout",
               "removed_interpenetration", "defects_gone", "mpjpe_mm", "mpjpe_ratio", "far_frames_identical",
               "clean_unchanged",
               "control_mm", "validity")
SHORT = {"r_precision_top1": "R@1", "r_precision_top2": "R@2", "r_precision_top3": "R@3", "mm_dist": "MM-Dist",
         "fid": "FID", "kid": "KID", "diversity": "Div", "multimodality": "MModality", "contact_f1": "contact F1",
         "paraphrase_p10": "para P@10", "limit_frames": "limit breaks", "paraphrase_first_hit": "para rank",
         "bleu1": "BLEU-1", "bleu4": "BLEU-4", "rouge_l": "ROUGE-L", "cider_d": "CIDEr-D", "mpjpe_mm": "MPJPE mm",
         "l2p": "L2P", "l2q": "L2Q", "npss": "NPSS", "jerk_ratio": "jerk / GT", "keyframe_error_rad": "key err rad",
         "defects_removed": "removed", "removed_limit": "limit", "removed_spike": "spike", "removed_flip": "flip",
         "removed_dropout": "dropout", "removed_interpenetration": "interpen.", "defects_gone": "gone", "mpjpe_ratio": "MPJPE / input",
         "far_frames_identical": "untouched same", "clean_unchanged": "clean same",
         "contact_f1_min": "F1 lowest seed", "contact_f1_max": "F1 highest seed",
         "finger_mpjpe_mm": "finger mm", "global_mpjpe_mm": "global mm", "accel_error_mm": "accel",
         "rootrel_mpjpe_mm": "root-rel mm", "precision_at_10": "P@10",
         "first_hit_rank": "first hit", "finger_angle_deg": "finger deg", "wrist_angle_deg": "wrist deg"}


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def table(rows: dict[str, dict], cols: tuple[str, ...], markdown: bool = False, first: str = "method") -> str:
    """One row per entry of `rows` ({name: {metric: value}}), the given columns (missing ones as "-")."""
    cols = tuple(c for c in cols if any(c in r for r in rows.values()))
    head = [first] + [SHORT.get(c, c) for c in cols]
    body = [[name] + [_fmt(r.get(c)) for c in cols] for name, r in rows.items()]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[k]) for x in [head] + body) for k in range(len(head))]
    return "\n".join("  ".join(x[k].ljust(widths[k]) if k == 0 else x[k].rjust(widths[k]) for k in range(len(head)))
                     for x in [head] + body)


def render(task: str, report: dict, markdown: bool = False) -> str:
    """All tables of one task's report."""
    h = (lambda s: f"### {s}\n") if markdown else (lambda s: f"{s}\n")
    if task == "tokenizer":
        return h(f"tokenizer ({report['data']}, {report['split'] or 'all'} split)") + table(report["groups"], ("clips",) + TOKENIZER_METRICS, markdown, "group")
    if task == "t2m":
        out = h(f"text to motion ({report['clips']} clips, {report['prompt_kind']} prompts, pools of {report['pool']})")
        out += table(report["methods"], T2M_COLS, markdown)
        ev = report["evaluator"]
        row = {"train split": ev["fid_train"], "shuffled finger joints": ev["fid_shuffled_joints"],
               **{f"noise {k[10:]}": v for k, v in ev.items() if k.startswith("fid_noise_")}}
        out += "\n\n" + h("evaluator feature space: FID of the split against") + table({"FID": row}, tuple(row), markdown, "")
        kinds = ev.get("r_precision_by_kind", {})
        if kinds:
            out += "\n\n" + h("evaluator retrieval of real clips, by caption kind") + table(
                {k: {"r_precision_top1": v[0], "r_precision_top2": v[1], "r_precision_top3": v[2]} for k, v in kinds.items()},
                ("r_precision_top1", "r_precision_top2", "r_precision_top3"), markdown, "caption kind")
        para = ev.get("paraphrases", {})
        if para.get("prompts"):
            out += (f"\n\nparaphrased prompts ({para['prompts']}): precision at 10 {para['precision_at_10']:.3f} "
                    f"(chance {para['chance']:.3f}), first matching clip at rank {para['first_hit_rank']:.1f}")
        for name, g in report.get("paraphrase_generation", {}).items():
            if g.get("prompts"):
                out += "\n\n" + h(f"paraphrased prompts, {name}: the named action among the generated clips' 10 nearest "
                                   f"real clips") + table({r["prompt"]: r for r in g["per_prompt"]},
                                                          ("action", "precision_at_10", "first_hit_rank"), markdown,
                                                          "prompt")
        return out
    if task == "m2t":
        return "\n\n".join(h(f"motion to text: {kind} captions ({next(iter(t.values()))['clips']} clips)") + table(t, M2T_COLS, markdown)
                           for kind, t in report["kinds"].items())
    if task == "inbetween":
        out = "\n\n".join(h(f"in-betweening, keys every {sp} frames ({report['clips']} clips; ground-truth jerk "
                            f"{report['ground_truth_jerk']:.1f} m/s^3)") + table(t, INBETWEEN_COLS, markdown)
                          for sp, t in report["spacings"].items())
        react = report.get("react") or {}
        if react:
            n = next(iter(react.values()))["clips"]
            out += "\n\n" + h(f"hand reaction: each hand of {n} bimanual clips given, the other generated") + table(
                react, REACT_COLS, markdown)
        return out
    if task == "refine":
        out = h(f"refinement on the corruption suite ({report['clips']} clips)") + table(report["methods"], REFINE_COLS, markdown)
        if "detection" in report:
            out += "\n\n" + h("detection (share of injected defects flagged; clean clips with anything flagged)")
            out += table({"detect": report["detection"]}, tuple(report["detection"]), markdown, first="")
        return out
    raise KeyError(task)
