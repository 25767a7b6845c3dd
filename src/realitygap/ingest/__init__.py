"""Bring your own data: validate and import image + mask folders, COCO instance JSON, or unlabeled
images as a dataset folder the other stages read."""

from realitygap.ingest.stage import ingest_coco, ingest_mask_folders, ingest_unlabeled

__all__ = ["ingest_coco", "ingest_mask_folders", "ingest_unlabeled"]
