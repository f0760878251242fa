"""The candidates to transfer from (whole, truncated or randomly initialised networks), their features and scores.

The exact, fast image tensors that fine-tuning them reads live in :mod:`course_lib.data.tensors`.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import CourseLibError
from .duplicates import DuplicateFeaturesWarning, find_duplicates
from .scores import knn_cv_accuracy, leep, logme, nce, one_blas_thread, probe_cv_accuracy, softmax


# ============================================================================= candidates
@dataclass(frozen=True)
class Candidate:
    """A network to transfer from: a zoo model, optionally cut after a stage, with pretrained or random weights."""

    model: str                 # load_model name, e.g. "tf_efficientnet_lite0"
    stage: str | None = None   # keep the stages up to this one (e.g. "blocks.4"); None: the whole network
    pretrained: bool = True

    @property
    def name(self) -> str:
        short = self.model.replace("tf_efficientnet_", "").capitalize()
        cut = f"@{self.stage}" if self.stage else ""
        return f"{short}{cut}" + ("" if self.pretrained else " random")

    @property
    def layer(self) -> str:
        """The extract_features layer whose pooled output this candidate's head reads."""
        return self.stage or "pooled"


LITES = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")


def lite_candidates(models_: Sequence[str] = LITES, stages: Sequence[str] = ("blocks.4", "blocks.5"),
                    random_model: str | None = "tf_efficientnet_lite0") -> list[Candidate]:
    """Each model cut after each of `stages` and whole, plus `random_model` with random weights (the floor)."""
    out = [Candidate(m, s) for m in models_ for s in (*stages, None)]
    if random_model:
        out.append(Candidate(random_model, None, pretrained=False))
    return out


def load_candidate_base(c: Candidate, seed: int = 0) -> nn.Module:
    """The whole network a candidate comes from: pretrained, or random weights drawn with `seed`.

    Random weights get ``course_weights = "random(seed=N)"``, so feature caches and checkpoints of different seeds
    never answer for each other (load_model marks every random network just ``"random"``).
    """
    from .. import models

    if c.pretrained:
        return models.load_model(c.model)
    torch.manual_seed(seed)
    model = models.load_model(c.model, pretrained=False)
    model.course_weights = f"random(seed={seed})"
    return model


def truncate(model: nn.Module, stage: str) -> nn.Module:
    """A copy of a timm EfficientNet/MobileNet-family network that stops after `stage` (e.g. ``"blocks.4"``).

    Later blocks and the 1x1 head convolution are dropped; global pooling and a classifier (same number of
    classes) sit on the stage's channels, so its pooled features equal ``extract_features(layers=[stage])``.
    """

    children = dict(model.named_children())
    if not {"conv_stem", "blocks", "conv_head"} <= set(children):
        raise CourseLibError(f"truncate() knows timm's EfficientNet/MobileNet layout (conv_stem, blocks, conv_head); "
                             f"{type(model).__name__} has {list(children)}. Use "
                             "features.extract_features(layers=[...]) to score its stages instead.")
    names = [f"blocks.{i}" for i in range(len(model.blocks))]
    if stage not in names:
        raise CourseLibError(f"stage {stage!r} is not one of {names}.")
    k = names.index(stage)
    cut = copy.deepcopy(model)
    cut.blocks = cut.blocks[:k + 1]
    with torch.no_grad():
        probe = cut.blocks(cut.bn1(cut.conv_stem(torch.zeros(1, 3, 64, 64))))
    cut.conv_head, cut.bn2 = nn.Identity(), nn.Identity()
    cut.num_features = int(probe.shape[1])
    cut.reset_classifier(getattr(model, "num_classes", 1000))
    cut.course_name = f"{getattr(model, 'course_name', type(model).__name__)}@{stage}"
    cut.course_weights = getattr(model, "course_weights", None)
    return cut.eval()


def build_candidate(c: Candidate, num_classes: int, seed: int = 0) -> nn.Module:
    """The candidate as a trainable classifier with a new `num_classes` head (seeded, so runs repeat)."""
    from .. import models

    base = load_candidate_base(c, seed)
    net = truncate(base, c.stage) if c.stage else base
    torch.manual_seed(seed)
    models.replace_head(net, num_classes)
    return net


# ============================================================================= features and scores of candidates
@dataclass
class CandidateFeatures:
    """Training-set features of every candidate (and the source model's ImageNet probabilities of whole ones)."""

    X: dict[str, np.ndarray]
    source_probs: dict[str, np.ndarray]
    labels: np.ndarray
    seconds: dict[str, float]          # extraction seconds per base network (the cold time, kept by the cache)
    from_cache: bool
    groups: dict[str, str] = field(default_factory=dict)  # candidate -> base network it shares features with
    layers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)  # base -> every layer

    def subset(self, rows) -> "CandidateFeatures":
        """The same candidates on a subset of the images (a boolean mask or indices), e.g. the training split."""
        rows = np.asarray(rows)
        return CandidateFeatures({k: v[rows] for k, v in self.X.items()},
                                 {k: v[rows] for k, v in self.source_probs.items()}, self.labels[rows],
                                 dict(self.seconds), self.from_cache, dict(self.groups),
                                 {b: {l: v[rows] for l, v in ls.items()} for b, ls in self.layers.items()})


def _base_key(c: Candidate) -> tuple[str, bool]:
    return (c.model, c.pretrained)


def candidate_features(candidates: Sequence[Candidate], table, input_size: int | None = None, seed: int = 0,
                       layers: Sequence[str] | None = None, progress: bool = False) -> CandidateFeatures:
    """One cached extraction per base network gives every candidate cut from it (``layers=[stages..., "pooled"]``).

    Whole networks also get their own head's softmax over the 1000 ImageNet classes (for LEEP and NCE).
    ``layers`` extracts more stages in the same pass (kept in ``.layers[base]``); a lab that always asks for the
    same list reuses one cache entry per network and data set.
    """
    from .. import data, features

    by_base: dict[tuple[str, bool], list[Candidate]] = {}
    for c in candidates:
        by_base.setdefault(_base_key(c), []).append(c)
    X, probs, seconds, groups, cached, all_layers = {}, {}, {}, {}, True, {}
    for (model_name, pretrained), group in by_base.items():
        base = load_candidate_base(group[0], seed)
        wanted = {c.layer for c in group} | {"pooled"} | set(layers or ())
        names = sorted(wanted, key=lambda l: (l == "pooled", int(l.split(".")[1]) if l.startswith("blocks.") else -1,
                                              l))
        tf = data.FastTransform(data.eval_transform(base, input_size=input_size))
        feats = features.extract_features(base, table, layers=names, transform=tf, progress=progress)
        cached = cached and feats.from_cache
        label = group[0].name.split("@")[0]
        seconds[label] = float(feats.meta.get("seconds", feats.seconds))
        all_layers[label] = feats.layers
        for c in group:
            X[c.name] = feats.layers[c.layer]
            groups[c.name] = label
            if c.stage is None:
                with torch.no_grad():
                    logits = base.get_classifier()(torch.from_numpy(feats.layers["pooled"]).float())
                probs[c.name] = softmax(logits.numpy())
    return CandidateFeatures(X, probs, np.asarray(table.labels), seconds, cached, groups, all_layers)


def imagenet_top1(c: Candidate) -> float:
    """The published ImageNet top-1 of the candidate's network (a cut network inherits it; random weights: 0.1%)."""
    from ..models import get_entry

    return float(get_entry(c.model).top1) if c.pretrained else 0.1


def duplicate_rows(cf: CandidateFeatures, tol: float = 0.05) -> np.ndarray:
    """Boolean mask of the images that any candidate's features show as a copy of another image with the same label
    (:func:`find_duplicates`): the rows :func:`score_candidates` leaves out for every candidate alike."""
    drop = np.zeros(len(cf.labels), dtype=bool)
    for X in cf.X.values():
        drop |= ~find_duplicates(X, cf.labels, tol=tol).keep
    return drop


def score_candidates(candidates: Sequence[Candidate], cf: CandidateFeatures, n_splits: int = 5, seed: int = 0,
                     tol: float = 0.05):
    """Every score for every candidate (one row each), and the seconds each score took over all candidates.

    Scores use the training features only. LEEP and NCE exist only for whole networks (they need the source
    head); they are NaN for cut ones. Duplicate images (:func:`duplicate_rows` with ``tol``) are left out first, for
    every candidate and score alike, with one :class:`DuplicateFeaturesWarning`: they would make LogME infinite and
    put copies of a training image into the k-NN and probe folds that test it.
    """
    import pandas as pd

    drop = duplicate_rows(cf, tol=tol)
    if drop.any():
        warnings.warn(f"score_candidates: {int(drop.sum())} of {len(drop)} images repeat another image with the same "
                      f"label in some candidate's features (within {tol:g} x the RMS distance between rows); they are "
                      f"left out of every score (scored on {int((~drop).sum())}). transfer.duplicate_rows(features) "
                      "marks them: remove them from the data set, or pass a smaller tol if they are distinct images.",
                      DuplicateFeaturesWarning, stacklevel=2)
        cf = cf.subset(~drop)
    y = cf.labels
    rows = {c.name: {} for c in candidates}
    seconds: dict[str, float] = {}

    def timed(score: str, fn):
        start = time.perf_counter()
        for c in candidates:
            rows[c.name][score] = fn(c)
        seconds[score] = time.perf_counter() - start

    with one_blas_thread():
        timed("LogME", lambda c: logme(cf.X[c.name], y, tol=tol))
        timed("k-NN", lambda c: knn_cv_accuracy(cf.X[c.name], y, n_splits=n_splits, seed=seed))
        timed("linear probe", lambda c: probe_cv_accuracy(cf.X[c.name], y, n_splits=n_splits, seed=seed))
        timed("LEEP", lambda c: leep(cf.source_probs[c.name], y) if c.name in cf.source_probs else math.nan)
        timed("NCE", lambda c: nce(cf.source_probs[c.name], y) if c.name in cf.source_probs else math.nan)
        timed("ImageNet top-1", imagenet_top1)
    return pd.DataFrame.from_dict(rows, orient="index"), seconds
