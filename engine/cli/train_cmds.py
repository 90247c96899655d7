"""Training commands: `handmotion train {tokenizer,evaluator,lm,inbetween,keyreader} [--config FILE] [key=value ...]`."""

from __future__ import annotations

import argparse
import dataclasses


def _add(tsub: argparse._SubParsersAction, name: str, help_text: str, config_cls: type, func) -> None:
    keys = ", ".join(f.name for f in dataclasses.fields(config_cls))
    p = tsub.add_parser(name, help=help_text,
                        description=f"{help_text}. Settings: defaults, then --config FILE (JSON), then key=value "
                                    f"overrides (also --key=value). Keys: {keys}.")
    p.add_argument("--config", metavar="FILE", help="JSON object of settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    p.set_defaults(func=func, config_cls=config_cls)


def register(sub: argparse._SubParsersAction) -> None:
    from ..train.evaluator import TrainEvaluatorConfig
    from ..train.inbetween import TrainInbetweenConfig
    from ..train.key_reader import TrainKeyReaderConfig
    from ..train.lm import TrainLMConfig
    from ..train.tokenizer import TrainTokenizerConfig

    p = sub.add_parser("train", help="train a model (resumable; Accelerate: CPU, one or many GPUs)")
    tsub = p.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    _add(tsub, "tokenizer", "train the SHIFT motion tokenizer (or a baseline layout)", TrainTokenizerConfig,
         cmd_tokenizer)
    _add(tsub, "evaluator", "train the text-motion evaluator (contrastive retrieval, the metrics' feature space)",
         TrainEvaluatorConfig, cmd_evaluator)
    _add(tsub, "lm", "train the text-motion language model (t2m, m2t, hand completion, continuation)",
         TrainLMConfig, cmd_lm)
    _add(tsub, "inbetween", "train the diffusion in-betweener (keyframes, partial poses, one hand from the other)",
         TrainInbetweenConfig, cmd_inbetween)
    _add(tsub, "keyreader", "add a key reader to in-betweener weights and train it (the frames between keyframes)",
         TrainKeyReaderConfig, cmd_key_reader)


def cmd_tokenizer(args: argparse.Namespace) -> int:
    from ..train.config import build_config
    from ..train.tokenizer import train_tokenizer

    cfg = build_config(args.config_cls, args.config, args.overrides)
    train_tokenizer(cfg, progress=not args.no_progress)
    print(f"tokenizer weights written to {cfg.out}")
    return 0


def cmd_evaluator(args: argparse.Namespace) -> int:
    from ..train.config import build_config
    from ..train.evaluator import train_evaluator

    cfg = build_config(args.config_cls, args.config, args.overrides)
    train_evaluator(cfg, progress=not args.no_progress)
    print(f"evaluator weights written to {cfg.out}")
    return 0


def cmd_lm(args: argparse.Namespace) -> int:
    from ..train.config import build_config
    from ..train.lm import train_lm

    cfg = build_config(args.config_cls, args.config, args.overrides)
    train_lm(cfg, progress=not args.no_progress)
    print(f"language model weights written to {cfg.out}")
    return 0


def cmd_inbetween(args: argparse.Namespace) -> int:
    from ..train.config import build_config
    from ..train.inbetween import train_inbetween

    cfg = build_config(args.config_cls, args.config, args.overrides)
    train_inbetween(cfg, progress=not args.no_progress)
    print(f"in-betweener weights written to {cfg.out}")
    return 0


def cmd_key_reader(args: argparse.Namespace) -> int:
    from ..train.config import build_config
    from ..train.key_reader import train_key_reader

    cfg = build_config(args.config_cls, args.config, args.overrides)
    train_key_reader(cfg, progress=not args.no_progress)
    print(f"in-betweener weights with a key reader written to {cfg.out}")
    return 0
