"""Adapting a model to a new task: linear probe, k-NN, fine-tuning, training from scratch, and their metrics.

The cheap baselines (probe, k-NN) work on cached features, so a lab compares them in seconds; fine-tuning
trains chosen stages with their own learning rates, checkpoints every epoch atomically and resumes exactly
(same seed, same numbers on CPU), because a dying Colab kernel should not cost a learner an hour.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from . import env, models
from ._atomic import atomic_write
from ._digest import weights_digest
from .errors import CourseLibError

CHECKPOINT_FORMAT = "course_lib.train/1"


# ----------------------------------------------------------------------------- metrics
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


# ----------------------------------------------------------------------------- baselines on features
@dataclass
class ProbeResult:
    """A fitted linear probe: its validation metrics, the sklearn Pipeline, and how long fitting took."""

    metrics: Metrics
    model: Any
    seconds: float


def _check_xy(X, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise CourseLibError(f"{what}: expected an N x D feature matrix and N labels, got {X.shape} and {y.shape}.")
    return X, y


def _default_classes(*ys: np.ndarray) -> list[str]:
    return [str(i) for i in range(int(max(y.max() for y in ys)) + 1)]


def probe_pipeline(C: float, max_iter: int, seed: int):
    """The kit's one linear probe: standardise, then multinomial logistic regression (scikit-learn), unfitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardising first lets lbfgs converge in a few dozen steps on 1280-wide features.
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter, random_state=seed))


def fit_linear_probe(train_X, train_y, val_X, val_y, classes: Sequence[str] | None = None, C: float = 1.0,
                     max_iter: int = 2000, seed: int = 0) -> ProbeResult:
    """Logistic regression on frozen features: the cheapest honest measure of how well features transfer."""
    train_X, train_y = _check_xy(train_X, train_y, "train")
    val_X, val_y = _check_xy(val_X, val_y, "val")
    if len(np.unique(train_y)) < 2:
        raise CourseLibError("the training labels hold a single class; a probe needs at least two.")
    classes = list(classes) if classes is not None else _default_classes(train_y, val_y)
    pipe = probe_pipeline(C, max_iter, seed)
    start = time.perf_counter()
    pipe.fit(train_X, train_y)
    metrics = evaluate_predictions(val_y, pipe.predict(val_X), classes)
    return ProbeResult(metrics, pipe, time.perf_counter() - start)


def cross_val_probe(X, y, groups=None, n_splits: int = 5, seed: int = 0, C: float = 1.0) -> dict:
    """Probe accuracy over `n_splits` stratified folds; with `groups` (patient, camera) no group spans two sides."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    X, y = _check_xy(X, y, "cross-validation")
    units = len(np.unique(np.asarray(groups))) if groups is not None else len(y)
    if not 2 <= n_splits <= units:
        raise CourseLibError(f"n_splits must be between 2 and the number of {'groups' if groups is not None else 'samples'}"
                             f" ({units}), got {n_splits}.")
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(y):
            raise CourseLibError(f"need one group per sample: {len(groups)} groups for {len(y)} samples.")
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    scores = []
    for tr, va in splitter.split(X, y, groups):
        pipe = probe_pipeline(C, 2000, seed).fit(X[tr], y[tr])
        scores.append(float((pipe.predict(X[va]) == y[va]).mean()))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "scores": scores}


def knn_accuracy(train_X, train_y, val_X, val_y, k: int = 5) -> float:
    """Accuracy of k nearest neighbours by cosine similarity: do similar images get nearby features?"""
    from sklearn.neighbors import KNeighborsClassifier

    train_X, train_y = _check_xy(train_X, train_y, "train")
    val_X, val_y = _check_xy(val_X, val_y, "val")
    knn = KNeighborsClassifier(n_neighbors=min(k, len(train_y)), metric="cosine").fit(train_X, train_y)
    return float((knn.predict(val_X) == val_y).mean())


# ----------------------------------------------------------------------------- prediction
def _loader(data, batch_size: int) -> DataLoader:
    return data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _prepare(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    fmt = torch.channels_last if channels_last and x.ndim == 4 else torch.contiguous_format
    return x.to(device, memory_format=fmt)


def _logits(model: nn.Module, data, batch_size: int, device, channels_last: bool = False):
    """(labels, logits) over `data`, in eval mode; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    ys, outs = [], []
    try:
        with torch.inference_mode():
            for x, y in _loader(data, batch_size):
                outs.append(model(_prepare(x, device, channels_last)).float().cpu())
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
    y, logits = _logits(model, data, batch_size, device)
    probs = logits.softmax(dim=1)
    return y.numpy(), probs.argmax(dim=1).numpy(), probs.numpy()


def _classes_for(data, classes, n_outputs: int) -> list[str]:
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
    return evaluate_predictions(y, probs.argmax(1), _classes_for(data, classes, probs.shape[1]))


# ----------------------------------------------------------------------------- fine-tuning
@dataclass
class TrainResult:
    """What a training run did: per-epoch history, final validation metrics, and its cost."""

    history: list[dict]
    metrics: Metrics | None
    trainable_params: int
    total_params: int
    seconds_per_epoch: float
    epochs_run: int  # epochs trained by this call (after a resume: only the new ones)
    resumed_from: int | None = None  # the epoch a checkpoint had completed, when this call resumed from it
    checkpoint: str | None = field(default=None, repr=False)

    def history_frame(self):
        """The history as a pandas DataFrame indexed by epoch, ready to plot."""
        import pandas as pd

        return pd.DataFrame(self.history).set_index("epoch")


def make_optimizer(model: nn.Module, lr_head: float = 1e-3, lr_backbone: float = 1e-4,
                   weight_decay: float = 1e-4) -> torch.optim.AdamW:
    """AdamW with a "head" group at `lr_head` and a "backbone" group at `lr_backbone`; empty groups are left out.

    The new head starts random and needs a large step; pretrained stages only need nudging.
    """
    head = models.head_name(model)
    groups: dict[str, list] = {"head": [], "backbone": []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups["head" if name.startswith(head + ".") else "backbone"].append(p)
    lrs = {"head": lr_head, "backbone": lr_backbone}
    param_groups = [{"params": ps, "lr": lrs[g], "name": g} for g, ps in groups.items() if ps]
    if not param_groups:
        raise CourseLibError("nothing to train: every parameter is frozen. Pass unfreeze_stages=0 (head only), "
                             "an int k (the head and the last k stages) or 'all'.")
    return torch.optim.AdamW(param_groups, weight_decay=weight_decay)


def _cosine(total_steps: int):
    # A closed form of the step number (not a recursion), so a resumed run gets bit-identical learning rates.
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def _fingerprint(model: nn.Module, settings: dict) -> tuple[str, dict]:
    """What a checkpoint must agree on to be resumed: architecture, starting weights, trainable set, settings.

    The starting weights enter by their content (every parameter and buffer, ``_digest.weights_digest``), not
    by the label ``course_weights``: a second phase that starts from the first phase's weights (LP-FT by hand), or
    another random initialisation, is a different run and never resumes the first one's checkpoint.
    """
    shapes = [(n, list(p.shape), p.requires_grad) for n, p in model.named_parameters()]
    full = {**settings, "model": getattr(model, "course_name", type(model).__name__),
            "class": type(model).__qualname__, "weights": getattr(model, "course_weights", None),
            "start_weights": weights_digest(model)[:16],
            "parameters": hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16]}
    return hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest(), full


def _data_identity(data) -> str:
    """What the training data is, for the checkpoint fingerprint: two subsets of the same size must not collide."""
    h = hashlib.sha256()
    table = getattr(data, "table", None)
    if table is not None and hasattr(table, "paths"):  # an ImageDataset: files, labels and transform
        h.update(json.dumps([[str(p) for p in table.paths], [int(y) for y in table.labels]]).encode())
        h.update(repr(getattr(data, "transform", None)).encode())
    elif isinstance(data, torch.utils.data.TensorDataset):
        for t in data.tensors:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(data, torch.utils.data.Subset):
        h.update(_data_identity(data.dataset).encode())
        h.update(json.dumps([int(i) for i in data.indices]).encode())
    else:  # unknown kind: hash every label and the first sample (cheap, and different data almost surely differ)
        h.update(repr(type(data)).encode())
        h.update(repr([data[i][1] for i in range(len(data))]).encode())
        first = data[0][0]
        h.update(first.numpy().tobytes() if isinstance(first, torch.Tensor) else repr(first).encode())
    return h.hexdigest()[:16]


def _save_atomic(obj: dict, path: Path) -> None:
    """torch.save through a temporary file and a rename: a crash never leaves a half-written checkpoint."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint written by :func:`fine_tune`, or a CourseLibError that says what to do (never a pickle trace)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, foreign pickle
        raise CourseLibError(f"checkpoint {path} cannot be read ({type(e).__name__}): it is truncated or corrupt. "
                             "Delete the file, or pass resume=False to start over and overwrite it.") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CourseLibError(f"{path} is not a course_lib training checkpoint. Delete it or choose another path, "
                             "or pass resume=False to overwrite it.")
    return state


def _rng_states(generator: torch.Generator) -> dict:
    np_state = np.random.get_state(legacy=False)
    states = {"torch": torch.get_rng_state(), "generator": generator.get_state(), "python": random.getstate(),
              "numpy": {**np_state, "state": {"key": np_state["state"]["key"].tolist(), "pos": np_state["state"]["pos"]}}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng(states: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    generator.set_state(states["generator"])
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state = states["numpy"]
    np.random.set_state({**np_state, "state": {"key": np.asarray(np_state["state"]["key"], dtype=np.uint32),
                                               "pos": np_state["state"]["pos"]}})
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _apply_unfreeze(model: nn.Module, unfreeze_stages) -> None:
    if unfreeze_stages is None:
        return
    if unfreeze_stages == "all":
        models.unfreeze(model)
    elif isinstance(unfreeze_stages, int) and not isinstance(unfreeze_stages, bool):
        models.unfreeze_last(model, unfreeze_stages)
    else:
        raise CourseLibError(f"unfreeze_stages must be None, an int or 'all', got {unfreeze_stages!r}.")


def fine_tune(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, *, epochs: int = 5,
              unfreeze_stages: int | str | None = None, lr_head: float = 1e-3, lr_backbone: float = 1e-4,
              weight_decay: float = 1e-4, batch_size: int = 32, device=None, channels_last: bool = True,
              checkpoint: str | os.PathLike | bool | None = None, resume: bool = True, seed: int = 0,
              progress: bool = True, classes: Sequence[str] | None = None, label_smoothing: float = 0.0,
              stop_after_epochs: int | None = None) -> TrainResult:
    """Train `model` on `train_data`, evaluating on `val_data` after every epoch.

    - ``unfreeze_stages``: None keeps the caller's requires_grad; k trains the head and the last k stages; "all".
    - Learning rates follow a cosine from their start value to 0, stepped after every batch so they fall smoothly
      even over 2-3 epochs; history records the rates each epoch started with.
    - ``checkpoint``: a path (``True``: one under ``cache_dir()/checkpoints``), written atomically after every epoch.
      With ``resume`` an existing checkpoint of the same run is continued from its next epoch, exactly.
    - ``stop_after_epochs``: stop early once that many epochs are complete, e.g. to simulate an interrupted run.
    - ``label_smoothing`` applies to the training loss; val_loss is plain cross-entropy.
    The model stays on `device` and is left in eval mode.
    """
    from tqdm.auto import tqdm

    if epochs < 1 or batch_size < 1 or len(train_data) == 0:
        raise CourseLibError(f"need epochs >= 1, batch_size >= 1 and training data: got {epochs}, {batch_size}, "
                             f"{len(train_data)} samples.")
    _apply_unfreeze(model, unfreeze_stages)
    env.seed_everything(seed)
    device = torch.device(device) if device else env.pick_device()
    model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = make_optimizer(model, lr_head, lr_backbone, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    # A last batch of one breaks BatchNorm in train mode (one value per channel); drop it only then.
    loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, generator=generator, num_workers=0,
                        drop_last=len(train_data) % batch_size == 1 and len(train_data) > 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine(epochs * len(loader)))
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    settings = dict(epochs=epochs, lr_head=lr_head, lr_backbone=lr_backbone, weight_decay=weight_decay,
                    batch_size=batch_size, seed=seed, label_smoothing=label_smoothing, n_train=len(train_data),
                    train_data=_data_identity(train_data))
    fp, fp_settings = _fingerprint(model, settings)
    if checkpoint is True:
        checkpoint = env.cache_dir() / "checkpoints" / f"{fp_settings['model']}-{fp[:16]}.pt"
    path = Path(checkpoint) if checkpoint else None

    history: list[dict] = []
    resumed_from = None
    if path is not None and resume and path.exists():
        state = load_checkpoint(path)
        if state["fingerprint"] != fp:
            old = state.get("settings", {})
            diff = {k: (old.get(k), v) for k, v in fp_settings.items() if old.get(k) != v}
            raise CourseLibError(f"checkpoint {path} belongs to a different run (checkpoint vs now: {diff}). Delete the "
                                 "file, pass resume=False to start over, or choose another checkpoint path.")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _restore_rng(state["rng"], generator)
        history, resumed_from = list(state["history"]), int(state["epoch"])

    last_val = None
    start_epoch = len(history)
    for epoch in range(start_epoch + 1, epochs + 1):
        if stop_after_epochs is not None and epoch > stop_after_epochs:
            break
        t0 = time.perf_counter()
        lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
        model.train()
        models.set_frozen_batchnorm_eval(model)
        loss_sum, correct, seen = 0.0, 0, 0
        with tqdm(loader, desc=f"epoch {epoch}/{epochs}", disable=not progress, unit="batch", leave=False) as bar:
            for x, y in bar:
                x, y = _prepare(x, device, channels_last), torch.as_tensor(y).long().to(device)
                logits = model(x)
                if int(y.max()) >= logits.shape[1] or int(y.min()) < 0:
                    raise CourseLibError(f"label {int(y.max())} but the model has {logits.shape[1]} outputs: give it "
                                         "a head with one output per class (models.replace_head(model, num_classes)).")
                loss = criterion(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.item() * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "val_loss": None, "val_acc": None, "val_balanced_acc": None}
        if val_data is not None:
            y_val, logits = _logits(model, val_data, batch_size, device, channels_last)
            last_val = evaluate_predictions(y_val.numpy(), logits.argmax(1).numpy(),
                                            _classes_for(val_data, classes, logits.shape[1]))
            row.update(val_loss=float(F.cross_entropy(logits, y_val)), val_acc=last_val.accuracy,
                       val_balanced_acc=last_val.balanced_accuracy)
        row.update(seconds=time.perf_counter() - t0, lr_head=lrs.get("head"), lr_backbone=lrs.get("backbone"))
        history.append(row)
        if path is not None:
            _save_atomic({"format": CHECKPOINT_FORMAT, "fingerprint": fp, "settings": fp_settings, "epoch": epoch,
                          "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "history": history,
                          "rng": _rng_states(generator)}, path)

    epochs_run = len(history) - start_epoch
    if last_val is None and val_data is not None:  # nothing trained here: report the checkpoint's model
        y_val, logits = _logits(model, val_data, batch_size, device, channels_last)
        last_val = evaluate_predictions(y_val.numpy(), logits.argmax(1).numpy(),
                                        _classes_for(val_data, classes, logits.shape[1]))
    model.eval()
    seconds = [h["seconds"] for h in history]
    return TrainResult(history=history, metrics=last_val,
                       trainable_params=models.count_parameters(model, trainable_only=True),
                       total_params=models.count_parameters(model),
                       seconds_per_epoch=float(np.mean(seconds)) if seconds else 0.0,
                       epochs_run=epochs_run, resumed_from=resumed_from, checkpoint=str(path) if path else None)


def train_from_scratch(arch: str, train_data: Dataset, val_data: Dataset | None, num_classes: int, *,
                       lr: float = 1e-3, seed: int = 0, **fine_tune_kwargs) -> tuple[nn.Module, TrainResult]:
    """The baseline transfer must beat: the same architecture, randomly initialised, every layer trained at `lr`."""
    for key in ("lr_head", "lr_backbone", "unfreeze_stages"):
        if key in fine_tune_kwargs:
            raise CourseLibError(f"train_from_scratch trains every layer at one rate: pass lr=..., not {key}.")
    env.seed_everything(seed)  # the random initial weights depend on the seed too
    model = models.load_model(arch, pretrained=False, num_classes=num_classes)
    result = fine_tune(model, train_data, val_data, unfreeze_stages="all", lr_head=lr, lr_backbone=lr, seed=seed,
                       **fine_tune_kwargs)
    return model, result
