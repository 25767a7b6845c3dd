"""Datasets as lists of samples: resolve a training mix or a split into image/mask paths. (The mmseg
dataset class that reads them is in `realitygap.seg_dataset`, so this module needs no mmseg.)"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from realitygap.io import InputError, read_json
from realitygap.seeding import derive_seed

@dataclass(frozen=True)
class Sample:
    """One image of a dataset and its label mask (None for an unlabeled image)."""

    id: str
    image: Path
    mask: Path | None
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
    return [Sample(s["id"], dataset / s["image"], dataset / s["mask"] if s.get("mask") else None,
                   dataset / s["depth"] if s.get("depth") else None,
                   dataset / s["cues"] if s.get("cues") else None) for s in chosen]


def source_samples(sources: list[dict], seed: int, split: str = "train") -> list[Sample]:
    """The samples of `split` of every source `{dataset, split, fraction}` of a mix, in order."""
    return [s for src in sources for s in load_samples(src["dataset"], src.get("split"), split,
                                                       src.get("fraction", 1.0), seed)]


def samples_of(ids: list[str], domains: list[str], datasets: dict[str, str]) -> list[Sample]:
    """The samples named by the parallel lists `ids` and `domains` (an explain output's), from `datasets`
    ({domain: dataset}): ids are unique within a domain only (two ingested domains may both have `s000`)."""
    by_key = {(domain, s.id): s for domain, dataset in datasets.items() for s in load_samples(dataset)}
    missing = [f"{d}/{i}" for i, d in zip(ids, domains) if (d, i) not in by_key]
    if missing:
        raise InputError(f"explained images {missing[:5]} are not in the datasets {sorted(datasets)}")
    return [by_key[(d, i)] for i, d in zip(ids, domains)]
