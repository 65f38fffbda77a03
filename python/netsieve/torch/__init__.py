"""Torch-facing tools: model filtering, whole-model analysis, margins and training.

This subpackage imports torch; the rest of netsieve does not.
"""

from .checkpoints import TensorSource, open_weights, save_weights

__all__ = ["TensorSource", "open_weights", "save_weights"]
