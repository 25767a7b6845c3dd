"""`realitygap summarize`: metrics.json (the DVC metrics contract of DESIGN.md section 7), summary.md, a
self-contained report.html and the figures, assembled from the report chapters of every track."""

from __future__ import annotations

import base64
import html
import json
import os
import platform
from pathlib import Path

from realitygap import __version__
from realitygap.chapters import (adaptation, counterfactual, diagnosis, experiments, explanations, frontier, gap, instances,
                                 policies, pseudolabel, simsearch, timings)
from realitygap.chapters.base import Context, Section, table
from realitygap.io import write_json, write_text

CHAPTERS = (gap, explanations, diagnosis, counterfactual, frontier, policies, simsearch, experiments, instances,
            pseudolabel, adaptation, timings)
"""The report's chapters in reading order. Each collects its metrics in this order (the instance track reads
the image quality the policies' chapter collected), then each writes its sections, numbered in turn."""

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px}"
         "img{max-width:100%;display:block;margin:1em 0}pre{background:#f4f4f4;padding:1em;overflow:auto}")
PACKAGES = ("torch", "mmengine", "mmcv", "mmsegmentation", "mmdet", "pycocotools", "albumentations", "optuna",
            "snakemake", "numpy")


def run_summarize(*, out: str | os.PathLike, cfg: dict, params: dict, **inputs: str | None) -> dict:
    """Write metrics.json, summary.md, report.html and figures under `out`; `inputs` are the result files
    and folders of `Context` (matrix_file, explanations, xai_scores, timings_dir, and each track's)."""
    ctx = Context(cfg=cfg, params=params, out=Path(out), **inputs)
    metrics: dict = {}
    for chapter in CHAPTERS:
        chapter.collect(ctx, metrics)
    write_json(ctx.out / "metrics.json", metrics)
    sections = [section for chapter in CHAPTERS for section in chapter.sections(ctx, metrics)]
    write_documents(gap.headline(metrics), sections, params, ctx.out)
    return metrics


def _png_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def write_documents(headline: str, sections: list[Section], params: dict, out: Path) -> None:
    """summary.md and report.html: the headline, the sections numbered in order, then params and versions."""
    md = ["# realitygap report", "", headline, ""]
    body = [f"<h1>realitygap report</h1><p>{html.escape(headline)}</p>"]
    for number, section in enumerate(sections, start=1):
        title = f"{number}. {section.title}"
        md += [f"## {title}", "", section.text, "", section.table[0]]
        body += [f"<h2>{html.escape(title)}</h2><p>{html.escape(section.text)}</p>", section.table[1]]
        for name in section.figures:
            path = name if isinstance(name, Path) else out / name     # our figures by name, others by path
            md += [f"![{path.name}]({os.path.relpath(path, out)})", ""]
            body.append(_png_tag(path, path.name))
    versions = _versions()
    params_text = json.dumps(params, indent=2)
    md += ["## Parameters and software", "", "```json", params_text, "```", "",
           "| package | version |", "|---|---|", *[f"| {k} | {v} |" for k, v in versions.items()], ""]
    body += ["<h2>Parameters and software</h2>", f"<pre>{html.escape(params_text)}</pre>",
             table(["package", "version"], [[k, v] for k, v in versions.items()])[1]]
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>realitygap report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")
    write_text(out / "summary.md", "\n".join(md))
    write_text(out / "report.html", page)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "realitygap": __version__}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
