"""Choosing a pretrained model for *your* images, with evidence: the capstone (lab 05) and ``python -m course_lib choose``.

The five questions (problem type, closest pretrained model, data size, compute, real time) are answered from
measurements on these images and this machine, in this order:

1. :func:`risk_checks` before any number is trusted: class balance, duplicate files, group leakage, tiny or
   extreme images;
2. ``recommend.recommend`` turns the answers into a shortlist with reasons;
3. :func:`measure_costs`: latency, throughput and peak memory of each candidate network, here;
4. a cheap ranking (LogME, k-NN, a cross-validated probe on frozen features, ``transfer.score_candidates``) of the
   candidates and their cut variants;
5. :func:`cross_validate`: the finalists and the shortcut baselines (the image's size and shape, 16x16 raw
   pixels, the same network with random weights) on the same repeated, stratified (grouped, where groups exist)
   folds, so every comparison is paired and gets a verdict with ``design="splits"``;
6. the rule in :func:`pick`: the cheapest finalist that no costlier one beats with a supported verdict.

:func:`choose` runs all of it and returns a :class:`Choice`; :func:`write_report` writes ``REPORT.md`` with its
figure. Fine-tuning is advised, not run: lab 02 measured when it pays (see :func:`adaptation_advice`).

The package: ``pipeline`` (the question, the measurements and the decision) and ``report`` (the evidence table,
its figure and ``REPORT.md``); every name is re-exported here as ``choose.<name>``.
"""
from __future__ import annotations

from .pipeline import (SHORTCUTS, Choice, Question, adaptation_advice, choose, cross_validate, fine_tune_chosen,
                       half_the_data, measure_costs, pick, risk_checks, shortcut_features, should_fine_tune)
from .interview import FACTORS, interview_answer
from .report import accuracy_table, findings, plot_choice, report_markdown, write_report

__all__ = ["FACTORS", "SHORTCUTS", "interview_answer", "Choice", "Question", "accuracy_table", "adaptation_advice", "choose", "cross_validate",
           "findings", "fine_tune_chosen", "half_the_data", "measure_costs", "pick", "plot_choice", "report_markdown",
           "risk_checks", "shortcut_features", "should_fine_tune", "write_report"]
