"""Models: the zoo of published facts, loading with verified weights, heads, freezing, per-stage features."""
from .core import head_name, load_model, num_features, replace_head, resolve, weights_status, zoo_table
from .predict import imagenet_labels, top_k
from .stages import (count_parameters, freeze, parameter_table, pooled_features, set_frozen_batchnorm_eval,
                     stage_features, stage_names, unfreeze, unfreeze_last)
from .weights import OFFLINE_WEIGHTS, sha256_file, verify_file
from .zoo import ZOO, ZooEntry, get_entry, list_models

__all__ = [
    "OFFLINE_WEIGHTS", "ZOO", "ZooEntry", "count_parameters", "freeze", "get_entry", "head_name", "imagenet_labels",
    "list_models", "load_model", "num_features", "parameter_table", "pooled_features", "replace_head", "resolve",
    "set_frozen_batchnorm_eval", "sha256_file", "stage_features", "stage_names", "top_k", "unfreeze",
    "unfreeze_last", "verify_file", "weights_status", "zoo_table",
]
