"""Unsupervised domain adaptation by self-training with a mean teacher (DACS / DAFormer / MIC ingredients) for
any mmseg 1.x segmentor: `MeanTeacher` (an mmengine model registered in mmseg's MODELS), the source/target pair
dataset, and the mixing and augmentation it trains on. Importing the package registers both."""

from realitygap.uda.config import uda_runner_config
from realitygap.uda.mean_teacher import MeanTeacher
from realitygap.uda.pairs import UDAPairDataset

__all__ = ["MeanTeacher", "UDAPairDataset", "uda_runner_config"]
