"""Adapting a model to a new task: linear probe, k-NN, fine-tuning, training from scratch, and their metrics.

The cheap baselines (probe, k-NN) work on cached features, so a lab compares them in seconds; fine-tuning
trains chosen stages with their own learning rates, checkpoints every epoch atomically and resumes exactly
(same seed, same numbers on CPU), because a dying Colab kernel should not cost a learner an hour.

The parts: :mod:`.metrics` (scores and prediction), :mod:`.probe` (baselines on features), :mod:`.finetune`
(fine-tuning, training from scratch) and :mod:`.checkpoint` (checkpoint files, fingerprint, random states).
"""
from __future__ import annotations

from .checkpoint import CHECKPOINT_FORMAT, data_identity, load_checkpoint
from .finetune import Trainer, TrainResult, fine_tune, make_optimizer, train_from_scratch
from .metrics import Metrics, evaluate_model, evaluate_predictions, predict
from .probe import (ProbeResult, cross_val_probe, cross_validate_feature_sets, fit_linear_probe, knn_accuracy,
                    probe_pipeline)

__all__ = ["CHECKPOINT_FORMAT", "Metrics", "ProbeResult", "TrainResult", "Trainer", "cross_val_probe",
           "data_identity", "evaluate_model", "evaluate_predictions", "fine_tune", "fit_linear_probe",
           "cross_validate_feature_sets", "knn_accuracy", "load_checkpoint", "make_optimizer", "predict", "probe_pipeline", "train_from_scratch"]
