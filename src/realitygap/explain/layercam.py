"""Layer-CAM (Jiang et al., TIP 2021): every position keeps its own weight, ReLU of the gradient
there, so the map is sum_k ReLU(dy/dA^k_ij) A^k_ij."""

from __future__ import annotations

import torch

from realitygap.explain.base import CAMExplainer


class LayerCAM(CAMExplainer):
    name = "layercam"

    def channel_weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return torch.relu(grads)
