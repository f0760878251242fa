"""Scores of predictions, and predicting with a network: Metrics, evaluate_predictions, predict, evaluate_model.

The batch helpers (:func:`prepare_inputs`, :func:`labels_and_logits`, :func:`classes_for`) are shared with
fine-tuning, which evaluates on the validation set after every epoch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .. import accel
from ..errors import CourseLibError


@dataclass(frozen=True)
class Metrics:
    """Scores of one set of predictions. Balanced accuracy is the mean recall over classes present in y_true."""

    accuracy: float
    balanced_accuracy: float
    per_class_recall: dict[str, float]
    confusion: list[list[int]]  # rows: true class, columns: predicted class, in the order of `classes`
    classes: list[str]
    n: int

    def to_dict(self) -> dict:
        """Plain Python types only, so a lab can write it to JSON."""
        return asdict(self)


def evaluate_predictions(y_true, y_pred, classes: Sequence[str]) -> Metrics:
    """Metrics for integer labels; every class in `classes` appears, even one absent from both arrays."""
    from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    classes = [str(c) for c in classes]
    if len(y_true) == 0 or len(y_true) != len(y_pred):
        raise CourseLibError(f"need as many predictions as labels, and at least one: got {len(y_true)} labels "
                             f"and {len(y_pred)} predictions.")
    labels = list(range(len(classes)))
    outside = sorted(set(np.unique(np.concatenate([y_true, y_pred])).tolist()) - set(labels))
    if outside:
        raise CourseLibError(f"labels {outside} are outside 0..{len(classes) - 1}: pass one class name per label.")
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, y_true)
    return Metrics(accuracy=float(accuracy_score(y_true, y_pred)),
                   balanced_accuracy=float(recall[present].mean()),  # = sklearn's balanced_accuracy_score
                   per_class_recall={c: float(r) for c, r in zip(classes, recall)},
                   confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
                   classes=classes, n=int(len(y_true)))


# ----------------------------------------------------------------------------- prediction
def _loader(data, batch_size: int, device) -> DataLoader:
    return data if isinstance(data, DataLoader) else accel.loader(data, batch_size, device)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def prepare_inputs(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch of inputs moved to `device` (``accel.to_device``), in channels_last memory format when asked and it
    is a batch of images."""
    fmt = torch.channels_last if channels_last and x.ndim == 4 else torch.contiguous_format
    return accel.to_device(x, device, fmt)


def labels_and_logits(model: nn.Module, data, batch_size: int, device, channels_last: bool = False):
    """(labels, logits) over `data`, in eval mode; the model's train/eval mode is restored afterwards.

    Loading and precision follow ``accel.policy(device)``; the logits come back as float32 on the CPU."""
    was_training = model.training
    model.eval()
    ys, outs = [], []
    try:
        with torch.inference_mode():
            for x, y in _loader(data, batch_size, device):
                with accel.autocast(device):
                    logits = model(prepare_inputs(x, device, channels_last))
                outs.append(logits.float().cpu())
                ys.append(torch.as_tensor(y).cpu())
    finally:
        model.train(was_training)
    if not outs:
        raise CourseLibError("nothing to predict: the data set is empty.")
    return torch.cat(ys).long(), torch.cat(outs)


def predict(model: nn.Module, data, batch_size: int = 64, device=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y_true, y_pred, probabilities) for a Dataset or DataLoader of (image, label); runs where the model is."""
    device = torch.device(device) if device else _model_device(model)
    model.to(device)
    y, logits = labels_and_logits(model, data, batch_size, device)
    probs = logits.softmax(dim=1)
    return y.numpy(), probs.argmax(dim=1).numpy(), probs.numpy()


def classes_for(data, classes, n_outputs: int) -> list[str]:
    """Class names for a model with `n_outputs`: `classes`, else the data set's own, else "0", "1", ..."""
    for source in (data, getattr(data, "table", None), getattr(data, "dataset", None)):
        if classes is None:
            classes = getattr(source, "classes", None)
    classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n_outputs)]
    if len(classes) != n_outputs:
        raise CourseLibError(f"the model has {n_outputs} outputs but there are {len(classes)} classes: give it a "
                             f"matching head with models.replace_head(model, {len(classes)}).")
    return classes


def evaluate_model(model: nn.Module, data, classes: Sequence[str] | None = None, batch_size: int = 64) -> Metrics:
    """Metrics of `model` on `data` (classes default to the data set's, else "0", "1", ...)."""
    y, _, probs = predict(model, data, batch_size=batch_size)
    return evaluate_predictions(y, probs.argmax(1), classes_for(data, classes, probs.shape[1]))
