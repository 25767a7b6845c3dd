"""The parameter reference (docs/parameters.md), generated so that it cannot drift: every parameter's path,
type and bounds from workflow/schemas/params.schema.yaml, its default from params.yaml and its meaning from
the schema's description or, where it has none, the comment beside the parameter in params.yaml.

Run: python -m realitygap.params_reference > docs/parameters.md (tests/test_docs.py checks the file)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "params.schema.yaml"
PARAMS = ROOT / "params.yaml"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_+.-]+):(?P<rest>.*)$")


def comments(text: str) -> dict[str, str]:
    """Dotted path -> the comment on its line (and on the comment-only lines right under it, which continue
    it), for the mapping keys of a YAML file written in block style."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    last = None
    for line in text.splitlines():
        if line.strip().startswith("#"):
            if last is not None:
                found[last] = (found.get(last, "") + " " + line.strip().lstrip("#").strip()).strip()
            continue
        match = KEY.match(line)
        if not match:
            last = None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        last = ".".join(key for _, key in stack)
        rest = match["rest"]
        found[last] = rest.split(" #", 1)[1].strip() if " #" in rest else ""
    return {k: v for k, v in found.items() if v}


def resolve(node: dict, defs: dict) -> dict:
    """A schema node with its `$ref` (into `$defs`) followed, its own keys kept beside the target's."""
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def type_of(node: dict) -> str:
    """The node's type and bounds in a few words."""
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    bounds = [f"{word} {node[key]}" for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                       ("maximum", "<="), ("multipleOf", "multiple of"))
              if key in node]
    if kind == "array" and isinstance(node.get("items"), dict):
        kind = f"list of {node['items'].get('type', 'values')}"
    return ", ".join([kind, *bounds])


def alternatives(node: dict, defs: dict) -> str:
    """The keys of each mapping a `oneOf` node accepts, e.g. `{depth, standard}` or `{config, checkpoint}`."""
    shapes = [resolve(alt, defs).get("properties") for alt in node.get("oneOf", [])]
    if not shapes or not all(shapes):
        return ""
    return "mapping " + " or ".join("{" + ", ".join(shape) + "}" for shape in shapes)


def note(notes: dict[str, str], path: list[str]) -> str:
    """The params.yaml comment of `path`; for a path through a named entry (`<name>`), the first entry's
    that has one."""
    dotted = ".".join(path)
    if "<name>" not in path:
        return notes.get(dotted, "")
    pattern = re.compile("^" + re.escape(dotted).replace(re.escape("<name>"), r"[^.]+") + "$")
    return next((text for key, text in notes.items() if pattern.match(key)), "")


def value_at(params: dict, path: list[str]):
    for key in path:
        if not isinstance(params, dict) or key not in params:
            return None
        params = params[key]
    return params


def rows(node: dict, path: list[str], defs: dict, params: dict, notes: dict[str, str]) -> list[list[str]]:
    """One row per leaf parameter under `node`: path, type, default, meaning."""
    node = resolve(node, defs)
    dotted = ".".join(path)
    meaning = node.get("description", "") or note(notes, path)
    children = node.get("properties")
    if children:
        out = [[dotted, "mapping", "", meaning]] if meaning and len(path) > 1 else []
        for key, child in children.items():
            out += rows(child, [*path, key], defs, params, notes)
        return out
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and resolve(extra, defs).get("properties"):
        out = [[dotted, "mapping of names", "", meaning]]
        return out + rows(extra, [*path, "<name>"], defs, params, notes)
    default = value_at(params, path)
    shown = "" if default is None else json.dumps(default, separators=(", ", ": "))
    return [[dotted, alternatives(node, defs) or type_of(node), f"`{shown}`" if len(shown) <= 40 and shown else ("..." if shown else ""),
             meaning]]


def reference(schema: dict, params_text: str) -> str:
    """The Markdown reference: a table per top-level section of params.yaml."""
    params, notes, defs = yaml.safe_load(params_text), comments(params_text), schema.get("$defs", {})
    lines = ["# Parameter reference", "",
             "Generated by `python -m realitygap.params_reference > docs/parameters.md` from "
             "`workflow/schemas/params.schema.yaml` (paths, types, bounds) and `params.yaml` (defaults, the "
             "comments beside them); `tests/test_docs.py` fails when this file differs. A profile "
             "(`profiles.<name>`) overrides any of these for one scale; `profile` picks it.", ""]
    for section, node in schema["properties"].items():
        table = rows(node, [section], defs, params, notes)
        lines += [f"## `{section}`", ""]
        top = resolve(node, defs)
        if top.get("description") or notes.get(section):
            lines += [top.get("description") or notes[section], ""]
        lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ").strip() for cell in row) + " |"
                  for row in table]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(reference(yaml.safe_load(SCHEMA.read_text()), PARAMS.read_text()))


if __name__ == "__main__":
    main()
