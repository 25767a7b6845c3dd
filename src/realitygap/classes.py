"""The semantic class set of a task: names in label order, report colours and the ignore value.

It is data, never a constant of the code: params' `classes` section sets it, `render` and `ingest` write it
into every dataset's manifest, and each stage reads it from the data it is given (`dataset_classes`).
By convention the first class is the background: what image tags and instances leave out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from realitygap.io import InputError, read_json


@dataclass(frozen=True)
class ClassSet:
    """Class names in label order (mask value i is `names[i]`), an RGB colour each, the ignored value."""

    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = 255

    def __post_init__(self) -> None:
        if len(self.names) < 2 or len(set(self.names)) != len(self.names):
            raise InputError(f"classes: need at least two distinct names, got {list(self.names)}")
        if len(self.palette) != len(self.names):
            raise InputError(f"classes/palette: {len(self.palette)} colours for {len(self.names)} classes")
        if 0 <= self.ignore_index < len(self.names):
            raise InputError(f"classes/ignore_index: {self.ignore_index} is a class value (0..{len(self.names) - 1})")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def background(self) -> str:
        """The first class: what tags and instances leave out."""
        return self.names[0]

    @property
    def foreground(self) -> tuple[str, ...]:
        """Every class but the background, in label order."""
        return self.names[1:]

    def index(self, name: str, where: str = "class") -> int:
        """The label value of `name`; an unknown name is an InputError naming `where`."""
        if name not in self.names:
            raise InputError(f"{where}: unknown class {name!r} (classes: {list(self.names)})")
        return self.names.index(name)

    def to_json(self) -> dict:
        """The manifest / params form: {names, palette, ignore_index}."""
        return {"names": list(self.names), "palette": [list(c) for c in self.palette],
                "ignore_index": self.ignore_index}

    @classmethod
    def from_json(cls, spec: dict) -> "ClassSet":
        """From params' `classes` section or a manifest's `classes` entry."""
        return cls(tuple(spec["names"]), tuple(tuple(int(v) for v in c) for c in spec["palette"]),
                   int(spec.get("ignore_index", 255)))


def dataset_classes(dataset: str | os.PathLike) -> ClassSet:
    """The class set a dataset's `manifest.json` declares."""
    path = Path(dataset) / "manifest.json"
    manifest = read_json(path)
    spec = manifest.get("classes")
    if not isinstance(spec, dict):
        raise InputError(f"{path}: `classes` must be {{names, palette, ignore_index}} (re-create the dataset with "
                         "`render` or `ingest`)")
    return ClassSet.from_json(spec)


def common_classes(datasets: list[str | os.PathLike]) -> ClassSet:
    """The one class set every dataset in `datasets` declares; datasets that disagree are an InputError."""
    sets = {str(d): dataset_classes(d) for d in dict.fromkeys(str(d) for d in datasets)}
    if not sets:
        raise InputError("no dataset given to read the class set from")
    first = next(iter(sets.values()))
    differ = [d for d, s in sets.items() if s != first]
    if differ:
        raise InputError(f"datasets declare different class sets: {differ[0]} has {list(sets[differ[0]].names)}, "
                         f"{next(iter(sets))} has {list(first.names)}")
    return first
