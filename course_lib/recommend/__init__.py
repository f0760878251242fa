"""Choosing a pretrained model: quoted figures checked, speed measured here, constraints, and the five questions.

- :data:`QUOTED_FIGURES` holds figures as course texts quote them, each with the source it comes from and what that
  source itself states (:class:`SourceFigures`). :func:`source_check` answers "does the quote match its own source?"
  (a fact, with the source named); :func:`weights_difference` says how far each quote is from the torchvision
  weights this kit loads (a difference between two sets of weights, not an error in the quote).
- :func:`measure_zoo` times zoo models on this machine (random weights: speed does not depend on them) with
  interleaved repeats; :func:`record_realtime` turns the batch-1 repeats into per-model verdicts against a frame
  budget; :func:`pareto_front`, :func:`shortlist`, :func:`plot_pareto` and :func:`plot_fronts` turn the table into
  a choice, and :func:`constraint_panel` is the same as an ipywidget.
- :func:`recommend` answers the practitioner's five questions (problem type; closest pretrained model in task and
  data; data set size; compute and latency budget; real time) with a ranked, explained shortlist and the adaptation
  strategy to start with; :func:`recommend_form` is its widget. Its scoring is a stated heuristic, not a
  measurement: lab 03 measures the parts it can (speed here, "start small", transferability).

The parts, all re-exported here (use ``recommend.<name>``): :mod:`.figures` (quoted figures and their sources),
:mod:`.speed` (timing the zoo, real-time verdicts, "start small"), :mod:`.origins` (a quoted figure traced to the weights, version and crop it belongs to),
:mod:`.ensemble` (two small models'
probes averaged against one larger model's, at their measured latencies), :mod:`.pareto` (fronts, constraints, the panel)
and :mod:`.advice` (the five questions, the scoring weights, the form).

Used in: 03.
"""
from __future__ import annotations

from .figures import (FIGURES, UNITS, SourceFigures, KERAS_URL, KERAS_APPLICATIONS, VIT_PAPER, QuotedFigure,
                      QUOTED_FIGURES, counted_params_m, source_check, weights_difference, explain_differences)
from .speed import (measure_zoo, REALTIME_CONVNETS, REALTIME_TRANSFORMERS, machine_note, record_realtime,
                    realtime_sentence, macs_per_ms, start_small_table)
from .origins import (TEXT_QUOTES, TextQuote, TORCHVISION_DOCS_URL, INCEPTION_PAPER_URL, figure_origins,
                      quote_origins)
from .ensemble import ENSEMBLE, ensemble_cv, ensemble_latency, ensemble_table, ensemble_sentence
from .pareto import Constraints, constraint_panel, pareto_front, plot_fronts, plot_pareto, shortlist
from .advice import (TASKS, DOMAINS, COMPUTE, MS_PER_GMAC, OVERHEAD_MS, MOBILE_FAMILIES, REFERENCE_TOP1,
                     ACCURACY_WEIGHT, FAR_ACCURACY_FACTOR, LATENCY_WEIGHT, REALTIME_LATENCY_WEIGHT, MIN_LOG_MS,
                     MOBILE_SIZE_WEIGHT, MIN_LOG_MB, TINY_PARAMS_WEIGHT, MIN_LOG_PARAMS_M, WEIGHTS_HERE_BONUS,
                     TASK_COST_WEIGHT, MIN_LOG_GFLOPS, Recommendation, data_regime, strategy_for, estimate_ms,
                     recommend, recommendation_table, recommend_form)

__all__ = ["FIGURES", "UNITS", "SourceFigures", "KERAS_URL", "KERAS_APPLICATIONS", "VIT_PAPER", "QuotedFigure",
           "QUOTED_FIGURES", "counted_params_m", "source_check", "weights_difference", "explain_differences",
           "measure_zoo", "REALTIME_CONVNETS", "REALTIME_TRANSFORMERS", "machine_note", "record_realtime",
           "realtime_sentence", "macs_per_ms", "start_small_table", "ENSEMBLE", "ensemble_cv", "ensemble_latency",
           "ensemble_table", "ensemble_sentence", "TEXT_QUOTES", "TextQuote", "TORCHVISION_DOCS_URL",
           "INCEPTION_PAPER_URL", "figure_origins", "quote_origins", "pareto_front", "Constraints", "shortlist",
           "plot_pareto", "plot_fronts", "constraint_panel", "TASKS", "DOMAINS", "COMPUTE", "MS_PER_GMAC", "OVERHEAD_MS",
           "MOBILE_FAMILIES", "REFERENCE_TOP1", "ACCURACY_WEIGHT", "FAR_ACCURACY_FACTOR", "LATENCY_WEIGHT",
           "REALTIME_LATENCY_WEIGHT", "MIN_LOG_MS", "MOBILE_SIZE_WEIGHT", "MIN_LOG_MB", "TINY_PARAMS_WEIGHT",
           "MIN_LOG_PARAMS_M", "WEIGHTS_HERE_BONUS", "TASK_COST_WEIGHT", "MIN_LOG_GFLOPS", "Recommendation",
           "data_regime", "strategy_for", "estimate_ms", "recommend", "recommendation_table", "recommend_form"]
