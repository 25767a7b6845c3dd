"""Progress of long loops: a tqdm bar on a terminal, plain log lines (about every 10%) elsewhere,
so the `logs/` files of Snakemake jobs show how far a stage got."""

from __future__ import annotations

import logging
import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("realitygap.progress")


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate over `items`, reporting progress as a bar (terminal) or as log lines (files)."""
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=desc, mininterval=1)
        return
    step = max(1, (total or 10) // 10)
    for done, item in enumerate(items, start=1):
        yield item
        if total and (done % step == 0 or done == total):
            log.info("%s: %d/%d", desc, done, total)
