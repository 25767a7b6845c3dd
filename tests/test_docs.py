"""The documentation stays true: the parameter reference is what the schema and params.yaml generate, the
README is a front door that links to every guide, and the links resolve."""

import re

import yaml

from realitygap.params_reference import PARAMS, SCHEMA, comments, reference
from tests.conftest import REPO


def test_parameter_reference_is_generated_from_the_schema_and_params():
    generated = reference(yaml.safe_load(SCHEMA.read_text()), PARAMS.read_text())
    assert (REPO / "docs" / "parameters.md").read_text() == generated, \
        "docs/parameters.md is stale: python -m realitygap.params_reference > docs/parameters.md"


def test_the_reference_lists_every_parameter_of_params_yaml():
    """Each value of params.yaml (profiles aside) has its row, or a row of a mapping holding it, so a new
    parameter cannot be left out."""
    text = (REPO / "docs" / "parameters.md").read_text()
    params = yaml.safe_load(PARAMS.read_text())

    def leaves(node, path):
        if isinstance(node, dict) and node:
            for key, value in node.items():
                yield from leaves(value, [*path, key])
        else:
            yield ".".join(path)

    rows = [re.compile(re.escape(row).replace(re.escape("<name>"), r"[^.]+") + r"(\..+)?$")
            for row in re.findall(r"^\| ([^ |]+) \|", text, re.M)]
    missing = [p for key, value in params.items() if key != "profiles" for p in leaves(value, [key])
               if not any(row.match(p) for row in rows)]
    assert missing == []


def test_comments_follow_the_keys_they_stand_beside():
    text = "a:\n  b: 1   # one\n  c:\n    d: 2  # two\n    # more of two\ne: 3\n"
    assert comments(text) == {"a.b": "one", "a.c.d": "two more of two"}


def test_readme_is_a_front_door_linking_every_guide():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 210
    guides = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert guides and all(f"docs/{name}" in readme for name in guides), guides
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
