"""The search space over render factors, as declared in params `simsearch.space`:

- `[low, high]`: one value for the whole trial's training set (an integer for `jpeg_quality`);
- `{choices: [...]}`: one of a set (e.g. `seam_tint: {choices: [0.0, 0.5]}`, the planted cue off/on);
- `{range: [low, high], randomise: true}`: a domain-randomised factor; the trial picks the centre and
  the width of the interval each image draws its value from.

A trial's raw Optuna parameters map to a *look* `{"factors": {...}, "randomise": {...}}` that the
renderer takes; factors outside the space keep the base domain's values."""

from __future__ import annotations

from realitygap.render.domain import DomainFactors

INTEGER_FACTORS = {"jpeg_quality"}


def check_space(space: dict, builtin: bool = True) -> None:
    """Raise ValueError naming empty ranges, and unknown factors when our own renderer renders (a
    plugin's parameters are its own)."""
    if builtin:
        DomainFactors.from_dict({name: 0 for name in space})
    bad = [name for name, spec in space.items()
           if (isinstance(spec, list) and spec[0] > spec[1]) or ("range" in spec and spec["range"][0] > spec["range"][1])]
    if bad:
        raise ValueError(f"simsearch space: {bad} need [low, high] with low <= high")


def suggest(trial, space: dict) -> dict:
    """Draw a trial's raw parameters from the space (Optuna's define-by-run API)."""
    params = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            suggest_number = trial.suggest_int if name in INTEGER_FACTORS else trial.suggest_float
            params[name] = suggest_number(name, *spec)
        elif "choices" in spec:
            params[name] = trial.suggest_categorical(name, spec["choices"])
        else:
            low, high = spec["range"]
            params[f"{name}.centre"] = trial.suggest_float(f"{name}.centre", low, high)
            params[f"{name}.width"] = trial.suggest_float(f"{name}.width", 0.0, high - low)
    return params


def look_of(params: dict, space: dict, base: dict) -> dict:
    """The render look of raw trial parameters: fixed factors over `base`, and per-image ranges."""
    factors = {k: v for k, v in base.items() if k != "randomise"}
    randomise = dict(base.get("randomise", {}))
    for name, spec in space.items():
        if isinstance(spec, dict) and spec.get("randomise"):
            low, high = spec["range"]
            centre, half = params[f"{name}.centre"], params[f"{name}.width"] / 2
            randomise[name] = [max(low, centre - half), min(high, centre + half)]
            factors.pop(name, None)
        else:
            factors[name] = params[name]
            randomise.pop(name, None)
    return {"factors": factors, "randomise": randomise}


def raw_params(look: dict, space: dict) -> dict:
    """Raw trial parameters of a look given as `{factor: value}` (fixed or a choice) or `{factor: [low, high]}`
    (randomised; clipped to the space), for Optuna's enqueue_trial. Factors it leaves out are sampled."""
    params = {}
    for name, value in look.items():
        spec = space.get(name)
        if spec is None:
            raise ValueError(f"simsearch initial look: {name!r} is not in the search space")
        if isinstance(spec, dict) and spec.get("randomise"):
            if not isinstance(value, list):
                raise ValueError(f"simsearch initial look: {name!r} is randomised; give it as [low, high]")
            low, high = max(value[0], spec["range"][0]), min(value[1], spec["range"][1])
            params[f"{name}.centre"], params[f"{name}.width"] = (low + high) / 2, high - low
        else:
            params[name] = value
    return params


def diagnosed_look(causes: list[str], space: dict, base: dict, target: dict, top: int) -> dict:
    """The look the search tries first after a diagnosis: the first `top` of its ranked causes that the space
    holds and whose values differ between the base and target looks, moved toward the target: a randomised
    factor drawn over [base, target], a fixed one at the target's value (clipped to the space), a choice at it."""
    look = {}
    for name in causes:
        spec = space.get(name)
        if spec is None or (name not in base and name not in target) or base.get(name, 0) == target.get(name, 0):
            continue
        low, high = sorted((base.get(name, 0), target.get(name, 0)))
        if isinstance(spec, dict) and spec.get("randomise"):
            look[name] = [low, high]
        elif isinstance(spec, list):
            look[name] = min(max(target.get(name, 0), spec[0]), spec[1])
        elif target.get(name, 0) in spec["choices"]:
            look[name] = target.get(name, 0)
        if len(look) == top:
            break
    return look
