"""realitygap: measure, explain and close the reality gap of segmentation models."""

__version__ = "0.1.0"

CLASSES = ("background", "towel", "seam")
"""Semantic classes of the embedded benchmark, in label order."""
