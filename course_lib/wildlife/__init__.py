"""The wildlife case study: camera-trap frames with boxes and counts, leak-free groups, three pipelines, their cost.

What lab 04 needs beyond the general modules:

- boxes and frames: :func:`parse_boxes`, :func:`crop_box`, :func:`show_frames`, :func:`frame_kinds`, :func:`long_tail`;
- groups that keep near-duplicates together: :func:`stations`, :func:`capture_times`, :func:`event_groups`,
  :func:`with_groups`, :func:`random_vs_grouped_cv`, :func:`station_baseline`;
- metrics the field reports: :func:`top_k_accuracy`, :func:`macro_f1`, :func:`report`, :func:`coverage_curve`
  (accuracy against the share of images handled automatically, as in Norouzzadeh et al. 2018),
  :func:`multilabel_metrics`, :func:`count_metrics`;
- detect, crop, classify: torchvision's COCO detectors (:func:`detector_status`, :func:`load_detector`,
  :func:`detect`), the labels' boxes standing in for a detector offline (:func:`standin_detections`), crops
  written once (:func:`write_crops`);
- pretrained against scratch on equal terms (the same optimiser steps, the same BatchNorm treatment):
  :func:`train_arm`, :func:`compare_on_splits` over event splits, with the :func:`majority_accuracy` floor;
- the little-compute answer: :func:`pipeline_latency`, :func:`hours_per_million`, :func:`pick_pipeline`;
- a browser of predictions and errors: :func:`browse_predictions`;
- the compute budget as a control (:mod:`.budget`): :class:`MeasuredCosts`, :func:`route_costs`,
  :func:`route_for_budget`, :func:`budget_panel`, with the published figures it uses as estimates in
  :data:`PUBLISHED`;
- when the detector route wins (:mod:`.scenes`): real frames made small or paired in one picture,
  :func:`small_animal_test`, :func:`two_animal_test`;
- the lab's bookkeeping between measurements (:mod:`.study`): :func:`frames_from_crops`, :func:`whole_image_sets`,
  :func:`set_and_count_table`, :func:`standin_pipeline_oof`, :func:`cost_table`, :func:`round_trip`; and its
  figures (:mod:`.views`): :func:`plot_class_counts`, :func:`plot_random_vs_grouped`, :func:`plot_confusion`,
  :func:`plot_coverage`, :func:`plot_cost_accuracy`.

The COCO Camera Traps loader for the full data sets is in :mod:`course_lib.cct`. Used in: 04.

The parts, all re-exported here (use ``wildlife.<name>``): :mod:`.frames` (boxes, crops, drawing, frame kinds, the
long tail), :mod:`.splits` (stations, times, events, event splits, grouped CV, baselines), :mod:`.arms` (the trained
arms and their comparison), :mod:`.metrics`, :mod:`.detectors` (COCO detectors, stand-ins, crops) and
:mod:`.pipeline` (latency, cost, the pipeline to pick, the prediction browser), :mod:`.budget`, :mod:`.scenes`,
:mod:`.study` and :mod:`.views`.
"""
from __future__ import annotations

from .frames import (EMPTY, parse_boxes, format_boxes, table_boxes, to_pixels, crop_box, draw_boxes, show_frames,
                     frame_kinds, long_tail)
from .splits import (stations, capture_times, event_groups, with_groups, shared_events, event_split,
                     random_vs_grouped_cv, station_baseline, out_of_fold_proba, probe_proba)
from .arms import TRAINED_ARMS, compare_on_splits, majority_accuracy, optimizer_steps, split_row, train_arm
from .metrics import (top_k_accuracy, macro_f1, report, share_handled, coverage_curve, threshold_for,
                      multilabel_metrics, count_metrics, clopper_pearson)
from .detectors import (DetectorSpec, DETECTORS, COCO_ANIMALS, COCO_VEHICLES, detector_status, load_detector, coco_kind,
                        detect, standin_detections, write_crops, imagenet_probability)
from .pipeline import (GPU_ASSUMPTIONS, unlabeled_paths, hours_per_million, pipeline_latency,
                       pick_pipeline, browse_predictions)
from .budget import (DEVICES, PUBLISHED, MeasuredCosts, gpu_speedups, route_costs, route_for_budget, winner,
                     draw_budget, budget_panel)
from .scenes import save_images, paste, small_animal_test, summarise_small, animal_pairs, two_animal_test
from .study import (SET_COLUMNS, cost_table, frames_from_crops, round_trip, set_and_count_table, standin_pipeline_oof,
                    whole_image_sets)
from .views import (SHORT_NAMES, plot_class_counts, plot_confusion, plot_cost_accuracy, plot_coverage,
                    plot_random_vs_grouped)

__all__ = ["EMPTY", "parse_boxes", "format_boxes", "table_boxes", "to_pixels", "crop_box", "draw_boxes", "show_frames",
           "frame_kinds", "long_tail", "stations", "capture_times", "event_groups", "with_groups", "shared_events",
           "event_split", "random_vs_grouped_cv", "station_baseline", "out_of_fold_proba", "probe_proba",
           "TRAINED_ARMS", "optimizer_steps", "majority_accuracy", "train_arm", "compare_on_splits", "split_row",
           "top_k_accuracy", "macro_f1", "report", "share_handled", "coverage_curve", "threshold_for",
           "multilabel_metrics", "count_metrics", "clopper_pearson", "DetectorSpec", "DETECTORS", "COCO_ANIMALS",
           "COCO_VEHICLES", "detector_status", "load_detector", "coco_kind", "detect", "standin_detections",
           "write_crops", "imagenet_probability", "GPU_ASSUMPTIONS", "unlabeled_paths", "hours_per_million",
           "pipeline_latency", "pick_pipeline", "browse_predictions", "DEVICES", "PUBLISHED", "MeasuredCosts",
           "gpu_speedups", "route_costs", "route_for_budget", "winner", "draw_budget", "budget_panel", "save_images",
           "paste", "small_animal_test", "summarise_small", "animal_pairs", "two_animal_test", "SET_COLUMNS",
           "cost_table", "frames_from_crops", "round_trip", "set_and_count_table", "standin_pipeline_oof",
           "whole_image_sets", "SHORT_NAMES", "plot_class_counts", "plot_confusion", "plot_cost_accuracy",
           "plot_coverage", "plot_random_vs_grouped"]
