"""The ground truth: every candidate fine-tuned (all layers, a new head) with one recipe, for each seed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..data import TensorImages
from .candidates import Candidate, build_candidate


# ============================================================================= ground truth: fine-tune them all
@dataclass(frozen=True)
class FineTuneRecipe:
    """How every candidate is fine-tuned for the ground truth (the same recipe for all, or the ranking is unfair)."""

    epochs: int = 3
    input_size: int = 128
    lr_head: float = 1e-3
    lr_backbone: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 1e-4


def fine_tune_candidates(candidates: Sequence[Candidate], train_table, val_table, recipe: FineTuneRecipe,
                         seeds: Iterable[int] = (0,), checkpoint: bool = True, progress: bool = False,
                         on_result=None):
    """Fine-tune every candidate (all layers, new head) for each seed; one row per (candidate, seed).

    Rows: val accuracy after the last epoch, training seconds (kept in the checkpoint, so a resumed run still
    reports what training cost; validation not included), and whether this call resumed. ``checkpoint=True``
    writes one checkpoint per run under ``cache_dir()/checkpoints``: a second execution evaluates the finished
    checkpoints instead of retraining.
    """
    import pandas as pd

    from .. import data, env, train

    share: dict = {}
    rows = []
    for seed in seeds:
        for c in candidates:
            net = build_candidate(c, len(train_table.classes), seed)
            tf = data.eval_transform(net, input_size=recipe.input_size)
            tr = TensorImages(train_table, tf, flip=True, share=share)
            va = TensorImages(val_table, tf, flip=False, share=share)
            # No per-epoch validation (it would cost a sixth of each epoch): the ground truth is the final model's.
            result = train.fine_tune(net, tr, None, epochs=recipe.epochs, unfreeze_stages="all",
                                     lr_head=recipe.lr_head, lr_backbone=recipe.lr_backbone,
                                     weight_decay=recipe.weight_decay, batch_size=recipe.batch_size,
                                     checkpoint=checkpoint, seed=seed, progress=progress)
            metrics = train.evaluate_model(net, va, classes=val_table.classes, batch_size=recipe.batch_size)
            row = {"candidate": c.name, "seed": seed, "val_acc": metrics.accuracy,
                   "train_seconds": float(sum(h["seconds"] for h in result.history)),
                   "resumed": result.resumed_from is not None, "epochs": len(result.history)}
            rows.append(row)
            if on_result is not None:
                on_result(row)
            del net, result
            env.release_memory()   # each run's activations and optimiser state, kept by the tuned allocator
    return pd.DataFrame(rows)
