"""Datasets as lists of samples: resolve a training mix or a split into image/mask paths, and the
mmseg dataset class that reads them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from realitygap import CLASSES
from realitygap.io import InputError, read_json
from realitygap.seeding import derive_seed

PALETTE = [[0, 0, 0], [128, 128, 128], [255, 64, 64]]


@dataclass(frozen=True)
class Sample:
    """One labelled image of a dataset."""

    id: str
    image: Path
    mask: Path
    depth: Path | None = None
    cues: Path | None = None          # bit mask of the renderer's cue regions (rendered data only)


def load_samples(dataset: str | Path, split_file: str | Path | None = None, split: str = "train",
                 fraction: float = 1.0, seed: int = 0) -> list[Sample]:
    """Samples of `dataset` in `split` of `split_file` (all samples when no split file is given).

    With `fraction` < 1 a deterministic subset of whole scenes is taken, chosen by `seed`.
    """
    dataset = Path(dataset)
    manifest = read_json(dataset / "manifest.json")
    by_id = {s["id"]: s for s in manifest["samples"]}
    if split_file is not None:
        entries = read_json(split_file)[split]
        missing = [e["id"] for e in entries if e["id"] not in by_id]
        if missing:
            raise InputError(f"{split_file}: ids {missing[:5]} are not in {dataset / 'manifest.json'}")
        chosen = [by_id[e["id"]] for e in entries]
    else:
        chosen = list(manifest["samples"])
    if fraction < 1.0:
        scenes = sorted({s["scene"] for s in chosen}, key=lambda sc: derive_seed(seed, "fraction", sc))
        keep = set(scenes[:max(1, math.ceil(fraction * len(scenes)))])
        chosen = [s for s in chosen if s["scene"] in keep]
    return [Sample(s["id"], dataset / s["image"], dataset / s["mask"],
                   dataset / s["depth"] if s.get("depth") else None,
                   dataset / s["cues"] if s.get("cues") else None) for s in chosen]


@DATASETS.register_module()
class RealityGapDataset(BaseSegDataset):
    """mmseg dataset over an explicit list of (image, mask) paths."""

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, samples: list[dict], **kwargs) -> None:
        self._samples = samples
        kwargs.setdefault("data_root", "")
        kwargs.setdefault("lazy_init", False)
        super().__init__(img_suffix=".png", seg_map_suffix=".png", reduce_zero_label=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per sample, in the form mmseg's LoadAnnotations expects."""
        return [dict(img_path=str(s["image"]), seg_map_path=str(s["mask"]), label_map=None,
                     reduce_zero_label=False, seg_fields=[], sample_idx=i)
                for i, s in enumerate(self._samples)]
