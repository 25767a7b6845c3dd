"""Search the render parameters that close the gap (Optuna): trials render a `sim` training set,
train on a short budget and score on the target domain's validation split."""
