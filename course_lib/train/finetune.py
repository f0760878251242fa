"""Fine-tuning and training from scratch, in the shape of d2l's ``Trainer.fit -> fit_epoch``.

:func:`fine_tune` trains chosen stages with their own learning rates, checkpoints every epoch atomically and
resumes exactly (same seed, same numbers on CPU), because a dying Colab kernel should not cost a learner an hour.
The run itself is a :class:`Trainer`: set-up (and resume), one epoch, evaluation, checkpoint.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from .. import accel, env, models
from ..errors import CourseLibError
from .checkpoint import CHECKPOINT_FORMAT, data_identity, fingerprint, load_checkpoint, restore_rng, rng_states, \
    save_atomic
from .metrics import Metrics, classes_for, evaluate_predictions, labels_and_logits, prepare_inputs


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


def _apply_unfreeze(model: nn.Module, unfreeze_stages) -> None:
    if unfreeze_stages is None:
        return
    if unfreeze_stages == "all":
        models.unfreeze(model)
    elif isinstance(unfreeze_stages, int) and not isinstance(unfreeze_stages, bool):
        models.unfreeze_last(model, unfreeze_stages)
    else:
        raise CourseLibError(f"unfreeze_stages must be None, an int or 'all', got {unfreeze_stages!r}.")


class Trainer:
    """One fine-tuning run: the set-up in ``__init__``, then :meth:`resume`, :meth:`fit` and :meth:`result`.

    The set-up draws nothing at random after ``env.seed_everything(seed)`` except through the loader's own
    generator, so a seed gives the same numbers, and a resumed run continues the same random streams.
    """

    def __init__(self, model: nn.Module, train_data: Dataset, val_data: Dataset | None, *, epochs: int,
                 unfreeze_stages, lr_head: float, lr_backbone: float, weight_decay: float, batch_size: int,
                 device, channels_last: bool, seed: int, progress: bool, classes: Sequence[str] | None,
                 label_smoothing: float):
        if epochs < 1 or batch_size < 1 or len(train_data) == 0:
            raise CourseLibError(f"need epochs >= 1, batch_size >= 1 and training data: got {epochs}, {batch_size}, "
                                 f"{len(train_data)} samples.")
        _apply_unfreeze(model, unfreeze_stages)
        env.seed_everything(seed)
        self.model, self.val_data, self.epochs, self.batch_size = model, val_data, epochs, batch_size
        self.channels_last, self.progress, self.classes = channels_last, progress, classes
        self.device = torch.device(device) if device else env.pick_device()
        model.to(self.device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        self.optimizer = make_optimizer(model, lr_head, lr_backbone, weight_decay)
        self.generator = torch.Generator().manual_seed(seed)
        # A last batch of one breaks BatchNorm in train mode (one value per channel); drop it only then.
        # Workers, pinned memory and precision follow accel.policy (CPU: no workers, float32, as always).
        self.loader = accel.loader(train_data, batch_size, self.device, shuffle=True, generator=self.generator,
                                   drop_last=len(train_data) % batch_size == 1 and len(train_data) > 1, persistent=True)
        self.val_loader = None if val_data is None else accel.loader(val_data, batch_size, self.device, persistent=True)
        self.scaler = accel.grad_scaler(self.device)  # float16 only
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _cosine(epochs * len(self.loader)))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        settings = dict(epochs=epochs, lr_head=lr_head, lr_backbone=lr_backbone, weight_decay=weight_decay,
                        batch_size=batch_size, seed=seed, label_smoothing=label_smoothing, n_train=len(train_data),
                        train_data=data_identity(train_data), **accel.precision_key(self.device))
        self.fingerprint, self.settings = fingerprint(model, settings)
        self.history: list[dict] = []
        self.resumed_from: int | None = None
        self.start_epoch = 0
        self.metrics: Metrics | None = None  # of the last evaluation on val_data

    def checkpoint_path(self, checkpoint: str | os.PathLike | bool | None) -> Path | None:
        """Where to checkpoint: `checkpoint` as a path, ``True``: named by the run's fingerprint, else nowhere."""
        if checkpoint is True:
            checkpoint = env.cache_dir() / "checkpoints" / f"{self.settings['model']}-{self.fingerprint[:16]}.pt"
        return Path(checkpoint) if checkpoint else None

    def resume(self, path: Path) -> None:
        """Continue the run saved at `path`: weights, optimizer, schedule, random states and history."""
        state = load_checkpoint(path)
        if state["fingerprint"] != self.fingerprint:
            old = state.get("settings", {})
            diff = {k: (old.get(k), v) for k, v in self.settings.items() if old.get(k) != v}
            raise CourseLibError(f"checkpoint {path} belongs to a different run (checkpoint vs now: {diff}). Delete the "
                                 "file, pass resume=False to start over, or choose another checkpoint path.")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], self.generator)
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.history, self.resumed_from = list(state["history"]), int(state["epoch"])
        self.start_epoch = len(self.history)

    def fit(self, path: Path | None, stop_after_epochs: int | None = None) -> None:
        """Train the remaining epochs (up to `stop_after_epochs`), evaluating and checkpointing after each."""
        for epoch in range(self.start_epoch + 1, self.epochs + 1):
            if stop_after_epochs is not None and epoch > stop_after_epochs:
                break
            t0 = time.perf_counter()
            lrs = {g["name"]: g["lr"] for g in self.optimizer.param_groups}
            row = {"epoch": epoch, **self.fit_epoch(epoch), "val_loss": None, "val_acc": None, "val_balanced_acc": None}
            if self.val_data is not None:
                row.update(self.evaluate())
            row.update(seconds=time.perf_counter() - t0, lr_head=lrs.get("head"), lr_backbone=lrs.get("backbone"))
            self.history.append(row)
            if path is not None:
                self.save(path, epoch)

    def fit_epoch(self, epoch: int) -> dict:
        """One pass over the training data, the learning rate stepped after every batch: train loss and accuracy."""
        from tqdm.auto import tqdm

        model = self.model
        model.train()
        models.set_frozen_batchnorm_eval(model)
        loss_sum, correct, seen = 0.0, 0, 0
        with tqdm(self.loader, desc=f"epoch {epoch}/{self.epochs}", disable=not self.progress, unit="batch",
                  leave=False) as bar:
            for x, y in bar:
                x, y = prepare_inputs(x, self.device, self.channels_last), accel.to_device(torch.as_tensor(y).long(),
                                                                                            self.device)
                with accel.autocast(self.device):
                    logits = model(x)
                    if int(y.max()) >= logits.shape[1] or int(y.min()) < 0:
                        raise CourseLibError(f"label {int(y.max())} but the model has {logits.shape[1]} outputs: give "
                                             "it a head with one output per class (models.replace_head(model, n)).")
                    loss = self.criterion(logits, y)
                self.step(loss)
                loss_sum += loss.item() * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        return {"train_loss": loss_sum / seen, "train_acc": correct / seen}

    def step(self, loss: torch.Tensor) -> None:
        """One optimiser step on `loss` (through the GradScaler in float16), then the learning-rate schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.scheduler.step()

    def evaluate(self) -> dict:
        """Metrics on the validation data (kept in ``self.metrics``); val_loss is plain cross-entropy."""
        y_val, logits = labels_and_logits(self.model, self.val_loader, self.batch_size, self.device, self.channels_last)
        self.metrics = evaluate_predictions(y_val.numpy(), logits.argmax(1).numpy(),
                                            classes_for(self.val_data, self.classes, logits.shape[1]))
        return {"val_loss": float(F.cross_entropy(logits, y_val)), "val_acc": self.metrics.accuracy,
                "val_balanced_acc": self.metrics.balanced_accuracy}

    def save(self, path: Path, epoch: int) -> None:
        """Checkpoint the run after `epoch`, atomically."""
        save_atomic({"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, "settings": self.settings,
                     "epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(), "history": self.history,
                     "rng": rng_states(self.generator),
                     **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {})}, path)

    def result(self, path: Path | None) -> TrainResult:
        """The run's TrainResult; with nothing trained by this call, the checkpoint's model is evaluated."""
        epochs_run = len(self.history) - self.start_epoch
        if self.metrics is None and self.val_data is not None:  # nothing trained here: report the checkpoint's model
            self.evaluate()
        self.model.eval()
        seconds = [h["seconds"] for h in self.history]
        return TrainResult(history=self.history, metrics=self.metrics,
                           trainable_params=models.count_parameters(self.model, trainable_only=True),
                           total_params=models.count_parameters(self.model),
                           seconds_per_epoch=float(np.mean(seconds)) if seconds else 0.0, epochs_run=epochs_run,
                           resumed_from=self.resumed_from, checkpoint=str(path) if path else None)


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
    trainer = Trainer(model, train_data, val_data, epochs=epochs, unfreeze_stages=unfreeze_stages, lr_head=lr_head,
                      lr_backbone=lr_backbone, weight_decay=weight_decay, batch_size=batch_size, device=device,
                      channels_last=channels_last, seed=seed, progress=progress, classes=classes,
                      label_smoothing=label_smoothing)
    path = trainer.checkpoint_path(checkpoint)
    if path is not None and resume and path.exists():
        trainer.resume(path)
    trainer.fit(path, stop_after_epochs)
    return trainer.result(path)


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
