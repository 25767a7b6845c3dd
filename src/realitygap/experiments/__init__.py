"""Ablation experiments: a grid of model variants, worst-group scores and a spurious-correlation probe."""
