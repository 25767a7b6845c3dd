"""realitygap: measure, explain and close the reality gap of segmentation models."""

__version__ = "0.1.0"
