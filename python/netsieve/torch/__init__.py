"""Torch-facing tools (imports torch)."""

from .margins import GapPredictor, LayerMargins, layer_margins, output_margins

__all__ = ["GapPredictor", "LayerMargins", "layer_margins", "output_margins"]
