"""Expand params `experiments` into named model variants: the base model, each listed change, and every
combination of the `grid` attributes. Each variant is a model entry like `train/models`' (its own `loss`
included), trained, scored and explained like every other model."""

from __future__ import annotations

import itertools

from realitygap.io import InputError

BASE = "base"


def grid_name(combo: dict) -> str:
    """`attr-value` pairs joined by `__` (values made path-safe)."""
    def safe(v) -> str:
        return "".join(c if c.isalnum() else "_" for c in str(v).lower())
    return "__".join(f"{k}-{safe(v)}" for k, v in combo.items())


def expand_variants(experiments: dict) -> dict[str, dict]:
    """name -> model entry of every variant, `base` first. Two variants with one name raise InputError
    naming them."""
    base = dict(experiments["base"])
    named: list[tuple[str, dict]] = [(BASE, base)]
    for change in experiments.get("changes", []):
        attrs = {k: v for k, v in change.items() if k != "name"}
        named.append((change["name"], base | attrs))
    grid = experiments.get("grid") or {}
    for values in itertools.product(*grid.values()) if grid else ():
        combo = dict(zip(grid, values))
        named.append((grid_name(combo), base | combo))
    seen: dict[str, int] = {}
    for name, _ in named:
        seen[name] = seen.get(name, 0) + 1
    duplicates = sorted(n for n, k in seen.items() if k > 1)
    if duplicates:
        raise InputError(f"experiments: variant names used more than once: {duplicates} "
                         f"(`{BASE}` is the base model's; grid variants are named attr-value__attr-value)")
    return dict(named)


def check_variants(experiments: dict, size: int, schema: dict, num_classes: int) -> list[str]:
    """Problems of the expanded variants, each naming its variant: a variant the schema's `model`
    definition rejects, or one that cannot be built at `size` pixels with `num_classes` outputs. Raises on
    duplicate names."""
    from jsonschema import Draft202012Validator

    from realitygap.model_configs import model_config

    validator = Draft202012Validator({"$ref": "#/$defs/our_model", "$defs": schema["$defs"]})
    problems = []
    for name, model in expand_variants(experiments).items():
        errors = [e.message for e in validator.iter_errors(model)]
        if not errors:
            try:
                model_config(model | {"num_classes": num_classes}, size)
            except ValueError as err:
                errors = [str(err)]
        problems += [f"experiments: variant {name!r}: {e}" for e in errors]
    return problems
