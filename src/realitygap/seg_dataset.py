"""The mmseg dataset class over an explicit list of samples, registered as `RealityGapDataset`."""

from __future__ import annotations

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from realitygap.io import listed


@DATASETS.register_module()
class RealityGapDataset(BaseSegDataset):
    """mmseg dataset over an explicit list of (image, mask) paths (mask None: an unlabeled image); the task's classes and palette come in as
    `metainfo` (`realitygap.runner.dataloader_config` passes the data's class set)."""

    def __init__(self, samples: list[dict] | str, **kwargs) -> None:
        self._samples = listed(samples)
        kwargs.setdefault("data_root", "")
        kwargs.setdefault("lazy_init", False)
        super().__init__(img_suffix=".png", seg_map_suffix=".png", reduce_zero_label=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per sample, in the form mmseg's LoadAnnotations expects."""
        return [dict(img_path=str(s["image"]), seg_map_path=str(s["mask"]) if s.get("mask") else None, label_map=None,
                     reduce_zero_label=False, seg_fields=[], sample_idx=i)
                for i, s in enumerate(self._samples)]
