"""Torch-facing tools: model filtering, whole-model analysis, margins and training.

This subpackage imports torch; the rest of netsieve does not.
"""

from .analysis import LayerResult, Report, analyze
from .checkpoints import TensorSource, open_weights, save_weights

__all__ = ["LayerResult", "Report", "TensorSource", "analyze", "open_weights", "save_weights"]
