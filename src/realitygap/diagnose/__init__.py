"""Compare the models trained on the source (sim) and target (real) domains: where their
explanations differ, which cue regions the source model relies on, how their layers differ (CKA),
and a ranking of the suspected causes of the gap."""

from realitygap.diagnose.cka import layer_features, linear_cka
from realitygap.diagnose.stage import run_diagnose

__all__ = ["linear_cka", "layer_features", "run_diagnose"]
