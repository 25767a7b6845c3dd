"""What every chapter shares: the report's inputs (`Context`), a section, and a table in both formats."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from realitygap.classes import ClassSet
from realitygap.io import read_json


@dataclass
class Context:
    """The summarize command's inputs: params and the result files of each track (None where not run)."""

    cfg: dict                                   # the summarize slice: primary model, methods, policies, ...
    params: dict                                # the whole params, for the report
    out: Path
    matrix_file: str
    explanations: str
    xai_scores: str
    timings_dir: str
    run_record: str | None = None
    diagnosis_dir: str | None = None
    policies_file: str | None = None
    simsearch_file: str | None = None
    experiments_dir: str | None = None
    instances_dir: str | None = None
    instance_explanations: str | None = None
    instance_augmented: str | None = None
    pseudolabel_dir: str | None = None
    image_quality: str | None = None
    frontier_dir: str | None = None
    benchmarks_dir: str | None = None           # Snakemake's benchmark records, benchmarks/<rule>/...

    @cached_property
    def classes(self) -> ClassSet:
        """The task's class set (params' `classes`): names for tables, palette for label figures."""
        return ClassSet.from_json(self.params["classes"])

    @property
    def focus(self) -> str:
        """The class the report's attribution figures and tables follow (params' `classes/focus`)."""
        return self.params["classes"]["focus"]

    @cached_property
    def matrix(self) -> dict:
        return read_json(self.matrix_file)

    @cached_property
    def study(self) -> dict:
        """The gap-closure study of `score policies` (empty without one)."""
        return read_json(self.policies_file) if self.policies_file else {"policies": {}, "baselines": {}}

    @property
    def primary(self) -> str:
        return self.cfg["primary_model"]

    @cached_property
    def mixes(self) -> list[str]:
        return list(self.matrix[self.primary])

    @cached_property
    def policy_mixes(self) -> list[str]:
        """Mixes explained with the policies' methods: the policies', the pseudo-label and the self-training mixes."""
        return ([f"aug_{p}" for p in self.cfg["policies"]] + self.cfg.get("pseudo_mixes", [])
                + list(self.cfg.get("uda_mixes", {})))

    def methods_of(self, mix: str) -> list[str]:
        """The XAI methods run on a mix's model (none on the render search's: it is scored, not explained)."""
        if mix in self.cfg.get("unexplained_mixes", []):
            return []
        return self.cfg.get("policy_methods", self.cfg["methods"]) if mix in self.policy_mixes else self.cfg["methods"]


@dataclass
class Section:
    """One numbered part of the report: a title, a paragraph, a table (Markdown, HTML) and figures (our own
    by name under the report folder, others by path)."""

    title: str
    text: str
    table: tuple[str, str]
    figures: tuple[str | Path, ...] = ()


def table(header: list[str], rows: list[list]) -> tuple[str, str]:
    """The same table as Markdown and as HTML."""
    fmt = lambda v: "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    md += "".join("| " + " | ".join(fmt(v) for v in row) + " |\n" for row in rows)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return md, f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
