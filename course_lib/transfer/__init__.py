"""Transferability: which pretrained candidate will fine-tune best on my data, guessed from frozen features.

Fine-tuning every candidate is the ground truth, and the expensive way to choose. The scores here read only the
features (or the source model's ImageNet predictions) of the *training* images, in seconds:

- :func:`logme`: LogME (You et al. 2021), the evidence of a Bayesian linear model from features to each one-hot
  label column, maximised over the prior precision alpha and the noise precision beta, averaged per sample and class.
- :func:`leep`: LEEP (Nguyen et al. 2020), the log-likelihood of the target labels under the source model's soft
  ImageNet predictions, re-mapped through the empirical joint P(target | source class).
- :func:`nce`: NCE (Tran et al. 2019), minus the conditional entropy H(target | hard source label).
- :func:`knn_cv_accuracy` and :func:`probe_cv_accuracy`: k-NN and linear-probe accuracy, cross-validated on the
  training features only (train.knn_accuracy, train.cross_val_probe).

:func:`kendall_tau` and :func:`weighted_tau` say how well a score's ranking of candidates agrees with the
ranking after fine-tuning; :func:`rank_agreement` does it for every score at once, each tau with an interval and
next to :func:`perfect_tau_reference`, the tau a *perfect* score would reach against this noisy ground truth (the
mean of a few fine-tuning seeds). A rank correlation means little without it. (The agreement of two seeds with each
other, :func:`seed_to_seed_tau`, is not that reference: a perfect score beats it.)

Duplicate images: two identical feature rows with the same label make LogME +inf, and near-identical ones (a camera
burst) inflate it. :func:`find_duplicates` finds them; :func:`logme` and :func:`score_candidates` drop them with a
:class:`DuplicateFeaturesWarning` that says how many, so a score never comes back infinite.

Candidates are networks (EfficientNet-Lite0/1/2), truncated networks (:func:`truncate`: the stages up to
``blocks.4``, a new head on their pooled output) and a randomly initialised network. Used in: 03.

The parts: :mod:`.scores` (LogME, LEEP, NCE, the cross-validated baselines), :mod:`.duplicates`,
:mod:`.ranking` (rank agreement and the perfect-score reference), :mod:`.candidates` (the networks, their features
and scores), :mod:`.finetune` (the ground truth) and :mod:`.study` (lab 03's bookkeeping: ground truth per seed,
costs, the random-init facts, the compatibility table, two figures). Every public name is re-exported here: use ``transfer.<name>``.
"""
from __future__ import annotations

from .candidates import (LITES, Candidate, CandidateFeatures, build_candidate,
                         candidate_features, duplicate_rows, imagenet_top1, lite_candidates, load_candidate_base,
                         score_candidates, truncate)
from ..features import raw_pixels   # the kit's one raw-pixel reference, under lab 03's name
from .duplicates import DuplicateFeaturesWarning, Duplicates, find_duplicates, warn_duplicates
from .finetune import FineTuneRecipe, fine_tune_candidates
from .negative import SourceStudy, plot_source_study, record_source_study, source_study
from .ranking import (PerfectReference, bootstrap_tau, expected_tau, kendall_tau, perfect_tau_reference,
                      rank_agreement, ranks_last, seed_to_seed_tau, tau_b_rows, weighted_tau)
from .study import (compatibility_summary, compatibility_table, plot_compatibility, plot_transferability, probe_val,
                    random_init_facts, study_costs, truth_by_seed)
from .scores import (LOG_2PI, ClassEvidence, LogMEResult, Spectrum, class_evidence, knn_cv_accuracy, leep,
                     log_evidence, logme, nce, one_blas_thread, probe_cv_accuracy, softmax, spectrum)

__all__ = [
    "SourceStudy", "plot_source_study", "record_source_study", "source_study",
    # scores
    "LOG_2PI", "Spectrum", "one_blas_thread", "spectrum", "log_evidence", "ClassEvidence", "class_evidence",
    "LogMEResult", "logme", "softmax", "leep", "nce", "knn_cv_accuracy", "probe_cv_accuracy",
    # duplicates
    "DuplicateFeaturesWarning", "Duplicates", "find_duplicates", "warn_duplicates",
    # ranking
    "kendall_tau", "weighted_tau", "tau_b_rows", "expected_tau", "seed_to_seed_tau", "PerfectReference",
    "perfect_tau_reference", "bootstrap_tau", "rank_agreement", "ranks_last",
    # candidates
    "Candidate", "LITES", "lite_candidates", "load_candidate_base", "truncate", "build_candidate",
    "CandidateFeatures", "candidate_features", "raw_pixels", "imagenet_top1", "duplicate_rows",
    "score_candidates",
    # fine-tuning
    "FineTuneRecipe", "fine_tune_candidates",
    # the lab's study
    "truth_by_seed", "study_costs", "random_init_facts", "probe_val", "compatibility_table", "compatibility_summary",
    "plot_transferability", "plot_compatibility",
]
