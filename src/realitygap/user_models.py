"""A user's own model: an mmseg 1.x (or, in the instance track, mmdet 3.x) config file (its `custom_imports`
registering the user's modules, found beside the config too) and a checkpoint, named by a params model entry
`{config, checkpoint, frozen_mix, trust_checkpoint}`.

The config's `model` is built as it is, with every pretrained-weights reference removed (weights come from
the checkpoint the user points at; nothing is downloaded), after checking that its heads have as many
classes as the task. Checkpoints load with `torch.load(weights_only=True)`: a plain state dict or an
mmengine checkpoint's weights-only form; a checkpoint holding training state (optimizer, message hub) needs
`trust_checkpoint: true`, since loading it can run code from the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from realitygap.io import InputError


def is_user_model(model: dict) -> bool:
    """Whether a model entry names a user's config file rather than one of our archs."""
    return "config" in model


def _without_pretrained(node):
    """`node` (a config dict / list) without `pretrained` keys and `init_cfg`s of type Pretrained."""
    if isinstance(node, dict):
        return {k: _without_pretrained(v) for k, v in node.items()
                if k != "pretrained" and not (k == "init_cfg" and _is_pretrained(v))}
    if isinstance(node, (list, tuple)):
        return type(node)(_without_pretrained(v) for v in node)
    return node


def _is_pretrained(init_cfg) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, dict) and i.get("type") == "Pretrained" for i in items)


def _head_classes(node, path: str = "model") -> list[tuple[str, int]]:
    """(path, num_classes) of every head in a model config: a segmentor's decode and auxiliary heads, a detector's
    RoI box and mask heads (not its RPN head, which has one class by definition)."""
    found = []
    if isinstance(node, dict):
        if "num_classes" in node and path != "model":
            found.append((path, node["num_classes"]))
        for key, value in node.items():
            if key.endswith("head") and key != "rpn_head":
                found += _head_classes(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += _head_classes(value, f"{path}[{i}]")
    return found


def user_model_config(model: dict, num_classes: int | None = None, classes_from: str = "params' classes/names") -> dict:
    """The `model` dict of the entry's config file, its heads checked against `num_classes` (default
    `model["num_classes"]`; `classes_from` names where the count comes from), without pretrained-weights
    references. A missing or broken file, or heads of another class count, is an InputError naming the file."""
    from mmengine.config import Config

    path = Path(model["config"])
    if not path.is_file():
        raise InputError(f"{path}: model config file not found")
    sys.path.insert(0, str(path.resolve().parent))     # the user's modules may sit beside the config
    try:
        cfg = Config.fromfile(str(path))       # imports the config's custom_imports (the user's own modules)
    except Exception as err:                   # a config is Python: any error in it is the file's
        raise InputError(f"{path}: cannot read the model config ({type(err).__name__}: {err})") from err
    finally:
        sys.path.remove(str(path.resolve().parent))
    if "model" not in cfg:
        raise InputError(f"{path}: the config defines no `model`")
    config = _without_pretrained(cfg.to_dict()["model"])
    expected = model["num_classes"] if num_classes is None else num_classes
    for head, count in _head_classes(config):
        if count != expected:
            raise InputError(f"{path}: {head} has num_classes={count}, the task has {expected} classes ({classes_from})")
    return config


def read_state_dict(path: str | os.PathLike, trust: bool = False) -> dict:
    """The weights in the checkpoint at `path` (a state dict, or an mmengine checkpoint's `state_dict`), loaded
    weights-only unless `trust`; a missing, corrupt or unsafe file is an InputError naming it and the remedy."""
    import pickle
    import re

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)|GLOBAL ([\w.]+) was not an allowed global", str(err))
        if unsafe is None:
            raise InputError(f"{path}: not a readable checkpoint (UnpicklingError: "
                             f"{str(err).strip().splitlines()[-1][:200]})") from err
        raise InputError(f"{path}: holds more than weights (training state: {unsafe.group(1) or unsafe.group(2)}); if "
                         "you trust the file, set trust_checkpoint: true in its model entry") from err
    except Exception as err:
        raise InputError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: no state dict of tensors in the checkpoint")
    return state
