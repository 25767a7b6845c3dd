"""Run a trained model over a test split."""

from realitygap.predict.stage import run_predict, load_batch

__all__ = ["run_predict", "load_batch"]
