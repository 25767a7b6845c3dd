"""Procedural towel-on-table renderer with named domain factors (the embedded benchmark)."""

from realitygap.render.scene import Scene, Towel, sample_scene
from realitygap.render.raster import rasterize
from realitygap.render.domain import DomainFactors, render_image

__all__ = ["Scene", "Towel", "sample_scene", "rasterize", "DomainFactors", "render_image"]
