"""Argument types and flag sets the stages' commands share (each stage's `command.py` adds its own)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def json_arg(text: str):
    """A JSON value, or `@file` of JSON: structured parameters on the command line."""
    try:
        return json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)
    except (json.JSONDecodeError, OSError) as err:
        raise argparse.ArgumentTypeError(f"not JSON (or @file of JSON): {err}") from err


def training_args(p: argparse.ArgumentParser, model_help: str, params_help: str) -> None:
    """--model, --params, --size, --seed, --device of a command that trains."""
    p.add_argument("--model", type=json_arg, required=True, help=model_help)
    p.add_argument("--params", type=json_arg, required=True, help=params_help)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def model_args(p: argparse.ArgumentParser) -> None:
    """--weights, --model, --size, --device of a command that runs a trained segmentation model."""
    p.add_argument("--weights", required=True, help="model.pth written by train")
    p.add_argument("--model", type=json_arg, required=True, help="JSON model entry of params")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--device", default="auto")


def actions(p: argparse.ArgumentParser, dest: str = "action") -> argparse._SubParsersAction:
    """Sub-commands of a stage with several actions, each with its own flags."""
    return p.add_subparsers(dest=dest, required=True)
