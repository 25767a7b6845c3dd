"""The `realitygap` command: one subcommand per workflow stage. Snakemake rules call these, so every
stage also runs, and is tested, without Snakemake. Structured parameters are passed as JSON.

Each stage's command module says its own flags (`add_arguments`) and runs it (`main`); this file only
registers them. A run imports only the command it runs, so a light job does not pay for the heavy ones."""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
import time
from pathlib import Path

from realitygap import preload
from realitygap.io import InputError, write_json

COMMANDS = {
    "render": "realitygap.render.command", "ingest": "realitygap.ingest.command",
    "split": "realitygap.split.command", "train": "realitygap.train.command",
    "predict": "realitygap.predict.command", "explain": "realitygap.explain.command",
    "diagnose": "realitygap.diagnose.command", "score": "realitygap.score.command",
    "augment": "realitygap.augment.command", "summarize": "realitygap.summarize.command",
    "simsearch": "realitygap.simsearch.command", "experiments": "realitygap.experiments.command",
    "instances": "realitygap.detection.command", "pseudolabel": "realitygap.pseudolabel.command",
    "frontier": "realitygap.frontier.command", "dvc": "realitygap.versioning",
}
UNTIMED = ("summarize", "dvc")      # the report is not a stage of its own timings; dvc is not a stage


def build_parser(stage: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with one subcommand per stage; given `stage`, only that one's flags are read
    (the others are listed by name)."""
    parser = argparse.ArgumentParser(prog="realitygap", description=__doc__)
    parser.add_argument("--timings", default="logs/timings", help="folder for per-job timing records")
    sub = parser.add_subparsers(dest="stage", required=True)
    for name, module in COMMANDS.items():
        if stage is not None and name != stage:
            sub.add_parser(name)
            continue
        command = importlib.import_module(module)
        p = sub.add_parser(name, help=command.HELP, description=command.HELP)
        command.add_arguments(p)
        p.set_defaults(fn=command.main)
    return parser


def _record_timing(args: argparse.Namespace, started: float, seconds: float) -> None:
    key = re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{args.stage}-{args.out}")
    write_json(Path(args.timings) / f"{key}.json", {"stage": args.stage, "out": str(args.out),
                                                    "seconds": round(seconds, 3), "started": round(started, 3)})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `realitygap` command: run by the workflow's job server when there is one
    (`realitygap.preload`), here otherwise."""
    if argv is None:
        argv = sys.argv[1:]
        status = preload.delegate(argv)
        if status is not None:
            return status
        preload.forget_usage(argv)
    args = build_parser(next((a for a in argv if a in COMMANDS), None)).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.time()
    try:
        args.fn(args)
    except (InputError, FileNotFoundError, ValueError) as err:
        print(f"realitygap {args.stage}: error: {err}", file=sys.stderr)
        return 2
    if args.stage not in UNTIMED:
        _record_timing(args, started, time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
