"""`UDAPairDataset`: every (labelled source image, unlabeled target image) pair as one dataset item, so
mmengine's seeded, resumable InfiniteSampler shuffles the pairs and the Runner needs one dataloader."""

from __future__ import annotations

from mmseg.registry import DATASETS
from torch.utils.data import Dataset


@DATASETS.register_module()
class UDAPairDataset(Dataset):
    """Item i is `{"source": source[i // T], "target": target[i % T]}` over the T target items: each epoch of the
    shuffled indices pairs every source image with every target image once, in random order."""

    def __init__(self, source: dict, target: dict) -> None:
        self.source = DATASETS.build(source)
        self.target = DATASETS.build(target)
        if not len(self.source) or not len(self.target):
            raise ValueError(f"UDA needs source and target images: {len(self.source)} source, {len(self.target)} target")
        self.metainfo = self.source.metainfo

    def __len__(self) -> int:
        return len(self.source) * len(self.target)

    def __getitem__(self, index: int) -> dict:
        s, t = divmod(index, len(self.target))
        return {"source": self.source[s], "target": self.target[t]}
