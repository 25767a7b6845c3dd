"""Counterfactual maps: a generator trained against a frozen model to change its answer."""

from realitygap.counterfactual.training import (FrozenModel, Task, fit, generator_options, judge, make_maps, to_pixels,
                                                train_generator)

__all__ = ["FrozenModel", "Task", "fit", "generator_options", "judge", "make_maps", "to_pixels", "train_generator"]
