"""Exact resumption: torch's random state rides along in mmengine's checkpoints.

mmengine's resume restores the weights, optimizer, schedulers and the position in the data (it replays the
data loader up to the saved iteration, which also replays numpy's random flips), but it reseeds torch, so
dropout would draw other masks than an uninterrupted run. This hook saves torch's generator states with
each checkpoint and puts them back at the first iteration after resuming, after the replay.
"""

from __future__ import annotations

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class TorchRngStateHook(Hook):
    """Save torch's CPU and CUDA random states in checkpoints; restore them when training resumes."""

    priority = "VERY_LOW"

    def __init__(self) -> None:
        self._pending: dict | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["torch_rng"] = {"cpu": torch.get_rng_state(),
                                   "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get("torch_rng")

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is None:
            return
        torch.set_rng_state(self._pending["cpu"])
        if self._pending["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._pending["cuda"])
        self._pending = None
