"""Scores of segmentations and of explanations."""
