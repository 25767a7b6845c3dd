"""Refinement of class scores by the fully connected CRF of Krähenbühl and Koltun (NeurIPS 2011), through
`pydensecrf2`: a Gaussian smoothness kernel and a bilateral appearance kernel over all pixel pairs, mean
field inference with Potts compatibility."""

from __future__ import annotations

import numpy as np


def dense_crf(image: np.ndarray, scores: np.ndarray, iterations: int = 10, gaussian: dict | None = None,
              bilateral: dict | None = None) -> np.ndarray:
    """CRF marginals (K, H, W) of one uint8 RGB image (H, W, 3) and non-negative class scores (K, H, W),
    which are normalised per pixel into the unary probabilities. Kernel widths `sxy` (pixels), `srgb`
    (intensity) and weights `compat` come from `gaussian` and `bilateral`."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    gaussian = {"sxy": 3, "compat": 3} | (gaussian or {})
    bilateral = {"sxy": 20, "srgb": 10, "compat": 6} | (bilateral or {})
    k, h, w = scores.shape
    probs = np.clip(scores.astype(np.float32), 1e-5, None)
    probs /= probs.sum(0, keepdims=True)
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    crf.addPairwiseGaussian(sxy=gaussian["sxy"], compat=gaussian["compat"])
    crf.addPairwiseBilateral(sxy=bilateral["sxy"], srgb=bilateral["srgb"], rgbim=np.ascontiguousarray(image),
                             compat=bilateral["compat"])
    return np.asarray(crf.inference(iterations), np.float32).reshape(k, h, w)
