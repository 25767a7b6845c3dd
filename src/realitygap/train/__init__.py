"""Train mmseg models on a training mix with mmengine's Runner."""

from realitygap.train.stage import run_train

__all__ = ["run_train"]
