"""Ways to adapt a pretrained network, measured on the same data and split, with what each one costs.

- ``probe``: the backbone stays frozen; a logistic regression is fit on its cached pooled features.
- ``last_k``: a new head and the last ``k`` stages train (the rest frozen).
- ``full_ft``: a new head and every stage train, the backbone at a much smaller learning rate than the head.
- ``lp_ft``: LP-FT: the head starts as the probe, then every stage trains at the small rate.
- ``scratch``: the same architecture, randomly initialised, every layer trained.

Fine-tuning keeps the pretrained BatchNorm layers frozen (:func:`freeze_batchnorm`): with batches of a few images
their statistics would drift. A :class:`Task` prepares one data set at one input size once (tables, images decoded
into memory, validation tensors, cached probe features), so a sweep over strategies, sizes and seeds decodes and
extracts only once. :func:`run_strategy` gives one row per run (with each validation image's right/wrong, for
paired verdicts: :func:`claim_pairs`); :func:`summarize`, :func:`crossing_points` and :func:`decision_table` turn
rows into curves with spread, the sizes where curves cross, and a decision table; :func:`cost_table` measures
parameters, seconds per epoch and memory per unfrozen depth. ``prepare_task(..., extra_train=...)`` adds more
training images (e.g. ``eurosat_more``) to a data set's own train split; :func:`inner_task` and
:func:`choose_on_inner_split` pick a setting on a split of the training images only, so the validation set that
gives a verdict never chose what it judges. :func:`capacity_study` fine-tunes networks of several sizes on one
task (:func:`task_for_model`: the same pixels for each) and measures train and validation accuracy and their gap.

The package's parts: :mod:`.names` (strategy keys, labels, colours, cost order), :mod:`.task` (:class:`Task`,
:func:`prepare_task`, :func:`inner_task`, in-memory data sets), :mod:`.run` (:func:`run_strategy` and its steps,
the probe, BatchNorm handling, the run cache), :mod:`.sweep` (sweeps, summaries, crossings, decision tables),
:mod:`.costs` (:func:`cost_table`), :mod:`.capacity` (network size and overfitting), :mod:`.plots` and
:mod:`.study` (the lab's bookkeeping: facts for the results JSON, printed lines, tables, the learning-rate
figure). Every public name is re-exported here: use ``strategies.<name>``. To replace :func:`run_strategy` for
the functions that call it (sweeps, the inner-split choice, the learning-rate runs), patch
``strategies.run.run_strategy``.
Used in: 02.
"""
from __future__ import annotations

from .capacity import capacity_study, gap_pairs, gap_summary, plot_capacity, task_for_model
from .costs import cost_table
from .names import ALL, COLORS, COST_ORDER, LABELS, STRATEGIES, label
from .plots import plot_costs, plot_sweep, show_depth
from .run import (fit_probe, freeze_batchnorm, head_from_probe, optimiser_steps_per_epoch, probe_parameters,
                  recalibrate_batchnorm, run_strategy, schedule_epochs, train_accuracy, weight_change)
from .sweep import (all_crossings, best_strategies, choose_on_inner_split, claim_pairs, crossing_points,
                    data_size_sweep, decision_dict, decision_table, leader, lr_experiment, mean_std, paired,
                    summarize, sweep_to_dict, usable_sizes)
from .study import (accuracy_table, capacity_table, cost_line, cost_ratios, dataset_facts, gap_line, lp_ft_facts,
                    lp_ft_line, lr_facts, lr_summary, more_data_facts, pick_line, plot_learning_rate, probe_at,
                    task_line)
from .task import Task, concat_tables, inner_task, prepare_task

__all__ = ["ALL", "COLORS", "COST_ORDER", "LABELS", "STRATEGIES", "Task", "all_crossings", "best_strategies",
           "capacity_study", "choose_on_inner_split", "claim_pairs", "concat_tables", "gap_pairs", "gap_summary",
           "plot_capacity", "task_for_model", "train_accuracy",
           "cost_table", "crossing_points", "data_size_sweep", "decision_dict", "decision_table", "fit_probe",
           "freeze_batchnorm", "head_from_probe", "inner_task", "label", "leader", "lr_experiment", "mean_std",
           "optimiser_steps_per_epoch", "paired", "plot_costs", "plot_sweep", "prepare_task", "probe_parameters",
           "recalibrate_batchnorm", "run_strategy", "schedule_epochs", "show_depth", "summarize", "sweep_to_dict",
           "usable_sizes", "weight_change",
           "accuracy_table", "capacity_table", "cost_line", "cost_ratios", "dataset_facts", "gap_line", "lp_ft_facts",
           "lp_ft_line", "lr_facts", "lr_summary", "more_data_facts", "pick_line", "plot_learning_rate", "probe_at",
           "task_line"]
