"""The pseudo-label random walk (64 steps of T = D^-1 W^beta over a 96 x 96 image, radius 4, 3 classes):
SciPy's CSR sparse-dense product, which `realitygap.pseudolabel.affinity.random_walk` uses, against
torch's sparse COO product on the same transition matrix. Same matrix and scores, one thread, side by
side in one run, alternating, median of repeats; the results agree to 1e-9.

Run: .venv/bin/python bench/random_walk.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from common import save
from realitygap.pseudolabel.affinity import random_walk, transition_matrix

SIZE, RADIUS, BETA, STEPS, CLASSES, REPEATS = 96, 4, 8.0, 64, 3, 5


def torch_walk(transition: torch.Tensor, scores: np.ndarray) -> np.ndarray:
    m = torch.from_numpy(scores.reshape(CLASSES, -1).T.copy())
    for _ in range(STEPS):
        m = torch.sparse.mm(transition, m)
    return m.T.reshape(scores.shape).numpy()


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    transition = transition_matrix(torch.rand(32, SIZE, SIZE), RADIUS, BETA)
    coo = transition.tocoo()
    peer = torch.sparse_coo_tensor(np.stack([coo.row, coo.col]), coo.data, coo.shape).coalesce()
    scores = np.random.default_rng(0).random((CLASSES, SIZE, SIZE))
    times = {"scipy": [], "torch": []}
    for _ in range(REPEATS):
        start = time.perf_counter()
        ours = random_walk(transition, scores, STEPS)
        times["scipy"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = torch_walk(peer, scores)
        times["torch"].append(time.perf_counter() - start)
    assert np.abs(ours - theirs).max() < 1e-5
    base, fast = statistics.median(times["torch"]), statistics.median(times["scipy"])
    figures = {"walk_s_torch_sparse": round(base, 4), "walk_s_scipy_csr": round(fast, 4),
               "speedup_vs_torch_sparse": round(base / fast, 2), "nonzeros": int(transition.nnz)}
    path = save("random_walk", "python bench/random_walk.py", figures, peer=f"torch.sparse.mm {torch.__version__}",
                note=f"{STEPS} steps, {SIZE}x{SIZE} image, radius {RADIUS}, {CLASSES} classes, 1 thread, median of "
                     f"{REPEATS}")
    print(path.read_text())


if __name__ == "__main__":
    main()
