"""Training step time of the default UNet on the CPU: PyTorch's default (contiguous NCHW) weights
against channels-last weights, the layout `realitygap train` uses. The batch is a contiguous NCHW
tensor, as mmseg's data preprocessor hands it to the model. Same model, batch and thread count,
measured side by side in one run, alternating, median of repeats.

Run: .venv/bin/python bench/train_step.py
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from common import save
from realitygap.models import build_model

MODEL = {"arch": "unet", "base_channels": 16, "num_stages": 4, "num_classes": 3}
SIZE, BATCH, STEPS, REPEATS = 96, 8, 10, 5


def step_time(channels_last: bool) -> float:
    torch.manual_seed(0)
    net = build_model(MODEL, SIZE).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.randn(BATCH, 3, SIZE, SIZE)                      # contiguous NCHW, like mmseg's preprocessor
    y = torch.randint(0, 3, (BATCH, SIZE, SIZE))

    def step() -> None:
        loss = F.cross_entropy(net.decode_head(net.extract_feat(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(STEPS):
        step()
    return (time.perf_counter() - start) / STEPS


def main() -> None:
    figures = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = {False: [], True: []}
        for _ in range(REPEATS):
            for layout in (False, True):
                times[layout].append(step_time(layout))
        base, ours = statistics.median(times[False]), statistics.median(times[True])
        figures[f"{threads}_threads"] = {"step_s_contiguous": round(base, 4), "step_s_channels_last": round(ours, 4),
                                         "speedup_vs_contiguous": round(base / ours, 2)}
    path = save("train_step", "python bench/train_step.py", figures, peer="PyTorch default memory format",
                note=f"UNet {MODEL}, batch {BATCH} at {SIZE}x{SIZE}, forward + backward + AdamW step, "
                     f"median of {REPEATS} runs of {STEPS} steps")
    print(path.read_text())


if __name__ == "__main__":
    main()
