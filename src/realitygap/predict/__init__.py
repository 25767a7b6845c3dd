"""Run a trained model over a test split."""

from realitygap.predict.stage import run_predict

__all__ = ["run_predict"]
