"""One run of one strategy (:func:`run_strategy`) and its parts: the probe, the head copied from it, BatchNorm
freezing and recalibration, the training schedule, and the on-disk cache of finished runs."""
from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import data, env, features, models, train
from .._atomic import atomic_write
from ..errors import CourseLibError
from .names import ALL, STRATEGIES
from .task import Task


def schedule_epochs(n_train: int, epochs: int, batch_size: int = 32, min_steps: int = 0) -> int:
    """`epochs`, raised so that training takes at least `min_steps` optimiser steps.

    Five images per class fill one small batch: three epochs would be three steps, too few to learn anything.
    """
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return max(int(epochs), math.ceil(min_steps / steps_per_epoch))


def optimiser_steps_per_epoch(n_train: int, batch_size: int = 32) -> int:
    """Optimiser steps in one epoch of ``train.fine_tune``: one per batch, a last batch of one image dropped."""
    full, rest = divmod(int(n_train), int(batch_size))
    return full + (1 if rest > 1 or (rest == 1 and n_train == 1) else 0)


def probe_parameters(num_features: int, num_classes: int) -> int:
    """Parameters a linear probe learns: one weight per feature and class, one bias per class (2 classes: one row)."""
    rows = 1 if num_classes == 2 else num_classes
    return rows * (num_features + 1)


def weight_change(model: nn.Module, reference: nn.Module) -> float:
    """How far the backbone moved: ||w - w0|| / ||w0|| over every backbone parameter (the head is left out)."""
    head = models.head_name(model)
    ref = dict(reference.named_parameters())
    diff = base = 0.0
    for name, p in model.named_parameters():
        if name.startswith(head + ".") or name not in ref or ref[name].shape != p.shape:
            continue
        w0 = ref[name].detach().float().cpu()
        diff += float((p.detach().float().cpu() - w0).pow(2).sum())
        base += float(w0.pow(2).sum())
    return math.sqrt(diff / base) if base > 0 else float("nan")


def head_from_probe(probe_pipeline, head: nn.Linear) -> nn.Linear:
    """Copy a fitted linear probe (LogisticRegression, optionally after a StandardScaler) into `head`, so the network
    predicts exactly as the probe does.

    A scaler folds into the weights: w·(x - mu)/sigma + b = (w/sigma)·x + (b - (w/sigma)·mu). A binary logistic
    regression has one row z; logits (-z/2, z/2) give the same softmax as its sigmoid.
    """
    steps = list(getattr(probe_pipeline, "steps", [(None, probe_pipeline)]))
    clf = steps[-1][1]
    w = np.asarray(clf.coef_, dtype=np.float64)
    b = np.asarray(clf.intercept_, dtype=np.float64)
    for _, step in steps[:-1]:
        if not (hasattr(step, "scale_") and hasattr(step, "mean_")):
            raise CourseLibError(f"cannot fold a {type(step).__name__} into a linear head; only StandardScaler.")
        w = w / np.asarray(step.scale_, dtype=np.float64)
        b = b - w @ np.asarray(step.mean_, dtype=np.float64)
    if w.shape[0] == 1:
        w, b = np.vstack([-w / 2, w / 2]), np.concatenate([-b / 2, b / 2])
    if tuple(head.weight.shape) != w.shape:
        raise CourseLibError(f"the probe has {w.shape[0]} outputs of {w.shape[1]} features but the head is "
                             f"{tuple(head.weight.shape)}: replace the head with one output per class first.")
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(w))
        if head.bias is not None:
            head.bias.copy_(torch.from_numpy(b))
    return head


def fit_probe(task: Task, indices: np.ndarray, seed: int = 0, C: float = 1.0, standardize: bool = False,
              max_iter: int = 3000) -> train.ProbeResult:
    """A linear probe on the cached features of the training rows `indices`, scored on the whole val set.

    Logistic regression (L2, `C`) on the raw pooled features. ``train.fit_linear_probe`` standardises each feature
    first (``standardize=True`` here does the same); with 5 images per class that divides by standard deviations
    estimated from 10 values and amplifies noise features: measured 72% vs 84% on hymenoptera and 64% vs 69% on
    eurosat at 5 per class, the same within 2 points with all images. BLAS runs on one thread: on a busy 2-core
    machine OpenBLAS's two threads wait for each other (a 10-class probe on 50 images: 48 s instead of 0.8 s).
    """
    from threadpoolctl import threadpool_limits

    y = task.train.labels[indices]
    if len(np.unique(y)) < 2:
        raise CourseLibError("the training rows hold a single class; a probe needs at least two.")
    pipe = train.probe_pipeline(C, max_iter, seed, standardize=standardize)
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        pipe.fit(task.train_X[indices], y)
        metrics = train.evaluate_predictions(task.val.labels, pipe.predict(task.val_X), task.classes)
    return train.ProbeResult(metrics, pipe, time.perf_counter() - start)


def _score(model: nn.Module, task: Task) -> tuple[train.Metrics, list[int]]:
    """Metrics of `model` on the task's whole val set, and per validation image 1 (right) or 0 (wrong)."""
    y, pred, _ = train.predict(model, task.val_set, batch_size=64)
    return train.evaluate_predictions(y, pred, task.classes), (pred == y).astype(int).tolist()


def train_accuracy(trained, task: Task, indices: np.ndarray) -> float:
    """Accuracy of a trained network (or a fitted probe) on the training rows `indices` it learned from, seen as at
    validation: the eval transform, no augmentation. Its distance to the validation accuracy is the overfitting."""
    if isinstance(trained, nn.Module):
        y, pred, _ = train.predict(trained, task.train_set(indices, task.eval_transform), batch_size=64)
    else:
        with env.one_blas_thread():
            y, pred = task.train.labels[indices], trained.predict(task.train_X[indices])
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Freeze every BatchNorm layer of a pretrained network: its scale and shift, and its running statistics
    (``train.fine_tune`` keeps frozen BatchNorm layers in eval mode).

    With batches of 10 augmented images, train-mode BatchNorm replaces the ImageNet statistics by noisy ones within
    a few steps, and the features every later layer (and a probe-initialised head) relies on shift. Measured on
    hymenoptera at 112 px, 2 seeds: LP-FT from a probe at 88% fell to 72% after 10 steps at lr 1e-4 with BatchNorm
    training, and rose to 89% with it frozen; full fine-tuning (head 1e-2, backbone 1e-4) scored 74/78/85% at
    5/20/all images per class with BatchNorm training and 81/82/89% with it frozen. Frozen BatchNorm also makes
    the backbone rate matter more: at 1e-3 the same full fine-tuning fell to 48% at 20 per class.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.requires_grad_(False)
            m.eval()
    return model


def recalibrate_batchnorm(model: nn.Module, dataset, batch_size: int = 64) -> nn.Module:
    """Re-estimate the running statistics of every trainable BatchNorm layer on `dataset` ("precise BN").

    A network trained from scratch for a few dozen steps keeps running statistics that are still close to their
    initial values (mean 0, variance 1), so in eval mode it scores near chance whatever it learned. One forward
    pass in train mode, with a cumulative average instead of momentum, gives the statistics of the data.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and any(p.requires_grad for p in m.parameters(recurse=False))]
    if not bns:
        return model
    momenta = [m.momentum for m in bns]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over every batch of the pass
        model.train()
        models.set_frozen_batchnorm_eval(model)
        with torch.no_grad():
            for x, _ in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
                model(x.to(device, memory_format=torch.channels_last))
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        model.train(was_training)
    return model


@functools.lru_cache(maxsize=1)
def _training_code_digest() -> str:
    """A hash of the kit's training code (every file of this package, train, features, models/stages for freezing
    and unfreezing, models/core for the new head): read once per process."""
    import sys

    from .._digest import source_digest
    from ..models import core as models_core, stages as models_stages

    return source_digest(train, features, models_stages, models_core, sys.modules[__package__])


def _source_digest(fn) -> str:
    """A hash of a function's source (its bytecode when the source cannot be read)."""
    import inspect

    try:
        text = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        text = getattr(getattr(fn, "__code__", None), "co_code", repr(fn).encode())
    return hashlib.sha256(text).hexdigest()[:16]


def _run_cache_path(name: str, task: Task, n_per_class, seed: int, epochs: int, settings: dict):
    """Where one finished run's row is kept: its key covers everything the run depends on (strategy, data, model
    weights (their content), transforms, settings, the training images ``data.subsample_per_class`` picks and its
    source, library versions and this kit's training code), so a changed input means a new run, never a stale
    number."""
    from .._digest import TRAINING_LIBRARIES, library_versions, weights_digest

    key = {"strategy": name, "dataset": task.name, "model": task.model_name, "input_size": task.input_size,
           "weights": getattr(task.model, "course_weights", None), "weights_digest": weights_digest(task.model),
           "subsample": [_source_digest(data.subsample_per_class), task.subset(n_per_class, seed).tolist()],
           "train": [[str(p) for p in task.train.paths], [int(y) for y in task.train.labels]],
           "val": [[str(p) for p in task.val.paths], [int(y) for y in task.val.labels]],
           "transforms": [repr(task.train_transform), repr(task.eval_transform)],
           "n_per_class": n_per_class, "seed": int(seed), "epochs": int(epochs), **settings,
           "versions": library_versions(TRAINING_LIBRARIES), "code": _training_code_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return env.cache_dir() / "runs" / f"{task.name}-{name}-{digest}.json"


@dataclass
class _Trained:
    """What one run leaves for its row: the scores on the val set, each validation image's right (1) or wrong (0),
    the trainable parameters, the per-epoch history (empty for the probe) and the model (a probe or a network)."""

    metrics: train.Metrics
    correct: list
    trainable: int
    history: list
    model: object


def _check_strategy(name: str) -> None:
    """Raise unless `name` is a strategy :func:`run_strategy` knows."""
    known = (*STRATEGIES, "head", "lp_ft")
    if name not in known:
        raise CourseLibError(f"unknown strategy {name!r}; choose one of {list(known)}.")


def _new_row(name: str, task: Task, n_per_class, idx: np.ndarray, seed: int) -> dict:
    """A run's row before it trains: what was asked for and on how many images; training fills in the rest."""
    size = ALL if n_per_class in (None, ALL) else int(n_per_class)
    return {"dataset": task.name, "strategy": name, "size": str(size), "n_per_class": len(idx) / task.num_classes,
            "n_train": int(len(idx)), "seed": int(seed), "k": None, "epochs": None, "steps": None,
            "seconds_per_epoch": None, "lr_head": None, "lr_backbone": None, "weight_change": None,
            "accuracy_before": None}


def _run_probe(task: Task, idx: np.ndarray, seed: int) -> _Trained:
    """``probe``: a logistic regression on the cached features of the training rows `idx` (:func:`fit_probe`)."""
    result = fit_probe(task, idx, seed)
    trainable = probe_parameters(task.train_X.shape[1], task.num_classes)
    with env.one_blas_thread():
        correct = (result.model.predict(task.val_X) == task.val.labels).astype(int).tolist()
    return _Trained(result.metrics, correct, trainable, [], result.model)


def _train_scratch(task: Task, idx: np.ndarray, seed: int, lr_scratch: float, train_set, val_set, common: dict,
                   row: dict):
    """``scratch``: random weights, every layer at `lr_scratch`, BatchNorm statistics re-estimated on the training
    images before scoring. Returns (model, training result, metrics, correct) and sets the row's learning rates."""
    model, result = train.train_from_scratch(task.model_name, train_set, val_set, task.num_classes,
                                             lr=lr_scratch, seed=seed, **common)
    recalibrate_batchnorm(model, task.train_set(idx, task.eval_transform))
    metrics, correct = _score(model, task)
    row.update(lr_head=lr_scratch, lr_backbone=lr_scratch)
    return model, result, metrics, correct


def _pretrained_network(name: str, task: Task, idx: np.ndarray, seed: int, k: int, freeze_bn: bool,
                        row: dict) -> nn.Module:
    """A copy of the pretrained network with a new head (``lp_ft``: the probe fit on `idx`, whose accuracy goes to
    the row's ``accuracy_before``), the stages `name` trains unfrozen, the BatchNorm layers frozen if `freeze_bn`."""
    env.seed_everything(seed)  # the new head's initial weights: the same for a seed, whatever ran before
    model = task.fresh_model()
    if name == "lp_ft":
        probe = fit_probe(task, idx, seed)
        head_from_probe(probe.model, model.get_submodule(models.head_name(model)))
        # The network now computes exactly the probe (same features, same weights): no need to score it again.
        row["accuracy_before"] = probe.metrics.accuracy
    n_stages = len(models.stage_names(model))
    models.unfreeze_last(model, {"head": 0, "last_k": k, "full_ft": n_stages, "lp_ft": n_stages}[name])
    if freeze_bn:
        freeze_batchnorm(model)
    return model


def _fine_tune_pretrained(name: str, task: Task, idx: np.ndarray, seed: int, train_set, val_set, common: dict,
                          row: dict, *, k: int, lr_head: float, lr_backbone: float, freeze_bn: bool):
    """``head``, ``last_k``, ``full_ft``, ``lp_ft``: fine-tune :func:`_pretrained_network` (``lp_ft``'s head at
    `lr_backbone` too). Returns (model, training result, metrics, correct) and sets the row's learning rates and
    ``weight_change``."""
    model = _pretrained_network(name, task, idx, seed, k, freeze_bn, row)
    if name == "lp_ft":
        lr_head = lr_backbone
    result = train.fine_tune(model, train_set, val_set, unfreeze_stages=None, lr_head=lr_head,
                             lr_backbone=lr_backbone, seed=seed, **common)
    metrics, correct = _score(model, task)
    row.update(lr_head=lr_head, lr_backbone=lr_backbone if name != "head" else None,
               weight_change=weight_change(model, task.model))
    return model, result, metrics, correct


def _train_network(name: str, task: Task, idx: np.ndarray, seed: int, epochs: int, row: dict, *, k: int,
                   lr_head: float, lr_backbone: float, lr_scratch: float, batch_size: int, min_steps: int,
                   freeze_bn: bool, history: bool) -> _Trained:
    """Every strategy but the probe: ``schedule_epochs(n_train, epochs, batch_size, min_steps)`` epochs on the
    training rows `idx` (scored on the val set after each epoch if `history`); fills the row's training columns."""
    n_epochs = schedule_epochs(len(idx), epochs, batch_size, min_steps)
    train_set, val_set = task.train_set(idx), (task.val_set if history else None)
    common = dict(epochs=n_epochs, batch_size=batch_size, progress=False)
    if name == "scratch":
        model, result, metrics, correct = _train_scratch(task, idx, seed, lr_scratch, train_set, val_set, common, row)
    else:
        model, result, metrics, correct = _fine_tune_pretrained(
            name, task, idx, seed, train_set, val_set, common, row, k=k, lr_head=lr_head, lr_backbone=lr_backbone,
            freeze_bn=freeze_bn)
    row.update(k=k if name == "last_k" else None, epochs=n_epochs, seconds_per_epoch=result.seconds_per_epoch,
               steps=n_epochs * optimiser_steps_per_epoch(len(idx), batch_size))
    return _Trained(metrics, correct, result.trainable_params, result.history, model)


def _save_row(path, row: dict) -> None:
    """Keep a finished run's row at `path` (written atomically: an interrupted write leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        json.dump(row, f, default=float)


def run_strategy(name: str, task: Task, n_per_class: int | None = None, seed: int = 0, epochs: int = 3, *,
                 k: int = 2, lr_head: float = 1e-2, lr_backbone: float = 1e-4, lr_scratch: float = 1e-3,
                 batch_size: int = 32, min_steps: int = 10, freeze_bn: bool = True, history: bool = False,
                 keep_model: bool = False, cache: bool = True, score_train: bool = False) -> dict:
    """Train one strategy on `n_per_class` training images per class (None: all) and score it on the whole val set.

    ``probe``: logistic regression on the cached features (:func:`fit_probe`). ``head``, ``last_k``, ``full_ft``: a
    new random head (at `lr_head`) on the pretrained network, with 0, `k` or all stages unfrozen (at `lr_backbone`).
    ``lp_ft``: the head starts as the probe fit on the same images, then every layer trains at `lr_backbone` (the
    head is no longer random, so it needs no large steps). ``freeze_bn`` keeps the pretrained BatchNorm layers
    frozen (see :func:`freeze_batchnorm`). ``scratch``: random weights, everything at `lr_scratch`, BatchNorm
    statistics re-estimated on the training images before scoring (:func:`recalibrate_batchnorm`).
    Training runs ``schedule_epochs(n_train, epochs, batch_size, min_steps)`` epochs of light augmentation.

    Returns a flat row: data set, strategy, size, seed, accuracy, balanced accuracy, trainable parameters, seconds
    (the whole run), seconds per epoch, optimiser ``steps``, learning rates, how far the backbone moved
    (``weight_change``), and ``correct``: 1 or 0 per validation image, in the val set's order (for paired verdicts,
    :func:`claim_pairs`).
    ``history`` also scores after every epoch (one extra validation pass each); ``keep_model`` adds ``"model"``;
    ``score_train`` adds ``train_accuracy`` (:func:`train_accuracy`: the training images, without augmentation).
    With ``cache`` (and neither of those), a finished run's row is kept on disk (written atomically) and a later
    call with the same inputs returns it (``from_cache`` True; ``seconds`` stays the measured time): re-running a lab
    repeats no training, and an interrupted sweep resumes after its last finished run.
    """
    _check_strategy(name)
    settings = dict(k=k, lr_head=lr_head, lr_backbone=lr_backbone, lr_scratch=lr_scratch, batch_size=batch_size,
                    min_steps=min_steps, freeze_bn=freeze_bn)
    cached = None
    if cache and not history and not keep_model:
        cached = _run_cache_path(name, task, n_per_class, seed, epochs,
                                 {**settings, "score_train": True} if score_train else settings)
        if cached.exists():
            return {**json.loads(cached.read_text()), "from_cache": True}
    idx = task.subset(n_per_class, seed)
    row = _new_row(name, task, n_per_class, idx, seed)
    start = time.perf_counter()
    if name == "probe":
        done = _run_probe(task, idx, seed)
    else:
        done = _train_network(name, task, idx, seed, epochs, row, history=history, **settings)
    row.update(accuracy=done.metrics.accuracy, balanced_accuracy=done.metrics.balanced_accuracy,
               trainable_params=int(done.trainable), seconds=time.perf_counter() - start, correct=done.correct)
    if score_train:
        row["train_accuracy"] = train_accuracy(done.model, task, idx)
    if history:
        row["history"] = [h.get("val_acc") for h in done.history]
    if keep_model:
        row["model"] = done.model
    if cached is not None:
        _save_row(cached, row)
    row["from_cache"] = False
    return row
