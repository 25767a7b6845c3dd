"""The instance track: mmdet Mask R-CNN models built from params."""

from realitygap.detectors import build_detector, detect, maskrcnn_config

__all__ = ["build_detector", "detect", "maskrcnn_config"]
