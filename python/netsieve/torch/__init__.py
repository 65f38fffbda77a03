"""Torch-facing tools: model filtering, whole-model analysis, margins and training.

This subpackage imports torch; the rest of netsieve does not.
"""

from .checkpoints import TensorSource, open_weights, save_weights
from .filtering import MIN_DIM, FilterReport, LayerFilter, filter_checkpoint, filter_model, filter_state_dict

__all__ = [
    "TensorSource",
    "open_weights",
    "save_weights",
    "MIN_DIM",
    "FilterReport",
    "LayerFilter",
    "filter_checkpoint",
    "filter_model",
    "filter_state_dict",
]
