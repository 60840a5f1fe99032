"""The inference stage (``medunet predict``): a trained model on images of any size."""

from __future__ import annotations

from medunet.inference.predictor import Predictor, predict
from medunet.inference.probs import infer_probs

__all__ = ["Predictor", "infer_probs", "predict"]
