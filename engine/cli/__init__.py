"""`handmotion` command line. Each command group lives in its own module and registers itself.

Errors an animator can cause (bad files, bad flags) print one line, `handmotion: error: ...`,
and exit with status 2; `-v` adds debug logging.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from .. import __version__
from ..errors import HandMotionError
from . import (
    bench_cmds,
    caption_cmds,
    corpus_cmds,
    eval_cmds,
    inbetween_cmds,
    lm_cmds,
    motion_cmds,
    refine_cmds,
    serve_cmds,
    tokenizer_cmds,
    train_cmds,
    weights_cmds,
)

log = logging.getLogger("engine")

COMMAND_MODULES = (motion_cmds, corpus_cmds, caption_cmds, tokenizer_cmds, lm_cmds, inbetween_cmds, refine_cmds,
                   train_cmds, eval_cmds, bench_cmds, weights_cmds, serve_cmds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handmotion", description="HandMotion engine: two-hand finger and wrist motion."
    )
    parser.add_argument("--version", action="version", version=f"handmotion {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument(
        "--mano-dir", metavar="DIR", default=None,
        help="folder with MANO_RIGHT.pkl / MANO_LEFT.pkl (default: $HANDMOTION_MANO_DIR); "
             "without it the built-in canonical hand skeleton is used",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not hasattr(args, "config_cls"):  # only `train` takes free key=value settings
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HandMotionError as exc:
        print(f"handmotion: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"handmotion: error: {exc.filename or exc}: no such file", file=sys.stderr)
        return 2
    except (PermissionError, IsADirectoryError) as exc:
        print(f"handmotion: error: {exc.filename or exc}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("handmotion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
