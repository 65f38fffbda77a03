"""Torch-facing tools: model filtering, whole-model analysis, margins, training and layer-wise L1
training by vertex descent.

This subpackage imports torch; the rest of netsieve does not.
"""

from .analysis import LayerResult, Report, analyze
from .checkpoints import TensorSource, open_weights, save_weights
from .compare import Comparison, compare
from .evolution import Evolution, LayerEvolution, evolution
from .lora import adapter_updates, merge_adapter
from .filtering import MIN_DIM, FilterReport, LayerFilter, filter_checkpoint, filter_model, filter_state_dict
from .gap import GapPredictor
from .gdv_layers import GDVCurve, gdv_curve
from .gap_features import GAP_PREDICTORS, GapFeatures, GapPredictorSpec, PredictorScore, compare_gap_predictors, gap_features
from .l1_descent import Abs, L1DescentResult, l1_layer_descent, load_sequential, sequential_layers
from .margins import LayerMargins, layer_margins, output_margins
from .builtin_data import DATASETS, cache_dir, load_dataset
from .data import DataSplit, from_datasets, from_tensors
from .diagnostics import DEFAULT_DELTAS, delta_accuracy, geometric_complexity, susceptibility_probe, weight_matrices
from .models import MODELS, build_model
from .noise import NOISE_KINDS, LabelNoise, corrupt_labels
from .metrics import DEFAULT_METRICS, METRICS
from .stopping import RULES as STOPPING_RULES, LabelFreeStopping, StoppingRule, choose_epoch
from .sweeps import SweepRecord, SweepResult, sweep
from .train_config import OPTIMIZERS, SCHEDULES, TrainConfig
from .trainer import Trainer, TrainResult, evaluate, train

__all__ = [
    "Abs",
    "L1DescentResult",
    "l1_layer_descent",
    "load_sequential",
    "sequential_layers",
    "LayerResult", "Report", "analyze",
    "Comparison", "compare", "adapter_updates", "merge_adapter", "Evolution", "LayerEvolution", "evolution",
    "TensorSource", "open_weights", "save_weights",
    "MIN_DIM", "FilterReport", "LayerFilter", "filter_checkpoint", "filter_model", "filter_state_dict",
    "DATASETS", "DataSplit", "cache_dir", "from_datasets", "from_tensors", "load_dataset",
    "DEFAULT_DELTAS", "delta_accuracy", "geometric_complexity", "susceptibility_probe", "weight_matrices",
    "GapPredictor", "GAP_PREDICTORS", "GapFeatures", "GapPredictorSpec", "PredictorScore", "compare_gap_predictors",
    "gap_features", "GDVCurve", "gdv_curve", "LayerMargins", "layer_margins", "output_margins",
    "MODELS", "build_model",
    "NOISE_KINDS", "LabelNoise", "corrupt_labels",
    "DEFAULT_METRICS", "METRICS", "OPTIMIZERS", "SCHEDULES", "SweepRecord", "SweepResult", "TrainConfig",
    "Trainer", "TrainResult", "evaluate", "sweep", "train",
    "STOPPING_RULES", "LabelFreeStopping", "StoppingRule", "choose_epoch",
]
