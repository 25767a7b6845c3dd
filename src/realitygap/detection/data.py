"""Instance annotations of a training mix or a split (from each domain's COCO `instances.json`), and
the mmdet dataset class over them, registered as `RealityGapInstances`."""

from __future__ import annotations

from pathlib import Path

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from realitygap.data import load_samples
from realitygap.io import InputError, listed, read_json


def instances_by_image(dataset: str | Path) -> dict[Path, dict]:
    """Per image path of `dataset`: its COCO image entry with `annotations`, each naming its `category`."""
    dataset = Path(dataset)
    path = dataset / "instances.json"
    if not path.is_file():
        raise InputError(f"{dataset}: no instances.json; the instance track needs COCO instance annotations "
                         "(rendered domains have them; ingest others with --format coco)")
    coco = read_json(path)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    images = {im["id"]: dict(im, annotations=[]) for im in coco["images"]}
    for ann in coco["annotations"]:
        images[ann["image_id"]]["annotations"].append(dict(ann, category=names[ann["category_id"]]))
    return {dataset / im["file_name"]: im for im in images.values()}


def instance_samples(sources: list[dict], seed: int, split: str = "train") -> list[dict]:
    """The images of `split` of every source `{dataset, split, fraction}`, in order, as dicts with the
    image `path`, its semantic `mask`, `dataset`, COCO `id`, `height`, `width` and `annotations`."""
    out = []
    for src in sources:
        by_image = instances_by_image(src["dataset"])
        for sample in load_samples(src["dataset"], src.get("split"), split, src.get("fraction", 1.0), seed):
            if sample.image not in by_image:
                raise InputError(f"{src['dataset']}/instances.json has no entry for image {sample.image.name}")
            out.append(dict(by_image[sample.image], path=str(sample.image), mask=str(sample.mask),
                            dataset=str(src["dataset"])))
    return out


def category_labels(categories: list[str], annotations: list[dict], where: str) -> list[int]:
    """The label index of each annotation's category in `categories`; an unknown one is refused."""
    unknown = sorted({a["category"] for a in annotations} - set(categories))
    if unknown:
        raise InputError(f"{where}: categories {unknown} are not in instance.categories {categories}")
    return [categories.index(a["category"]) for a in annotations]


@DATASETS.register_module()
class RealityGapInstances(BaseDetDataset):
    """mmdet dataset over `instance_samples` entries, with `categories` as its classes."""

    def __init__(self, samples: list[dict] | str, categories: list[str], **kwargs) -> None:
        self._samples = listed(samples)
        kwargs.setdefault("data_root", "")
        kwargs.setdefault("lazy_init", False)
        super().__init__(metainfo=dict(classes=tuple(categories)), **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per image, in the form mmdet's LoadAnnotations expects (masks as COCO RLE)."""
        classes = list(self.metainfo["classes"])
        data = []
        for index, s in enumerate(self._samples):
            labels = category_labels(classes, s["annotations"], s["path"])
            instances = [dict(bbox=[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]],
                              bbox_label=label, mask=a["segmentation"], ignore_flag=int(a.get("iscrowd", 0)))
                         for a, label in zip(s["annotations"], labels)]
            data.append(dict(img_path=s["path"], img_id=index, height=s["height"], width=s["width"],
                             instances=instances))
        return data
