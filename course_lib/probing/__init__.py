"""Layer by layer: what each stage of a pretrained network computes, and how well a linear probe reads it.

A *layer-wise probe* fits the same linear classifier on the features after every stage (each map averaged over
space) and cross-validates it, for pretrained weights and for the same architecture with random weights, next
to a model that sees only raw pixels. The tidy table it returns (one row per stage, seed and fold) goes through
:func:`summarize` into mean ± std per stage, then into a plot and the lab's results JSON.

Choosing and confirming: :func:`choose_stage` picks a stage on an exploration set; :func:`confirm_stages` and
:func:`transfer_vs_references` measure fixed settings on a disjoint set by repeated (grouped) cross-validation;
:func:`record_comparison` writes a claim's entry with ``design="splits"`` and the test / training images per split
(:func:`split_sizes`), :func:`paired_comparison` gives the same verdict without recording, :func:`verdict_line` says it.

Also here: first-layer filters as colour tiles, one stage's feature maps for an image (plus an ipywidgets panel
that builds without a browser), the image patches that most activate a few units of each stage (cropped under
each position's measured receptive field), and ImageNet top-5 tables for sample images.
Used in: 01.

The package: ``layers`` (features, probes, summaries, comparisons), ``filters`` (first-layer filters), ``maps``
(feature maps, top-5), ``patches`` (receptive fields, top-activating patches), ``plots`` (the layer-wise
curve) and ``study`` (lab 01's sample images, every probe it fits, each curve's facts); every name is re-exported
here as ``probing.<name>``.
"""
from __future__ import annotations

from .filters import filter_stats, filter_tiles, first_conv, plot_filters
from .layers import (COLUMNS, PRETRAINED, RANDOM, aspect_ratio_feature, best_stage, choose_stage, confirm_stages,
                     curve, entry_numbers, layerwise_probe, majority_fraction, one_blas_thread, paired_comparison,
                     paired_folds, probe_scores, random_init_model, raw_pixel_features, record_comparison, reference,
                     reference_probe, results_dict, split_sizes, stage_depths,
                     stage_feature_matrices, stage_shapes, stage_widths, summarize, summary_table,
                     transfer_vs_references, verdict_line)
from .maps import (feature_map_panel, feature_maps, input_image, plot_feature_map, plot_predictions,
                   plot_stage_overview, top5_table)
from .patches import (PATCH_COLUMNS, choose_units, field_box, patch_record, patch_summary, plot_top_patches,
                      receptive_field, receptive_fields, top_patches)
from .plots import COLORS, plot_layerwise
from .study import SAMPLES, SHAPE_SETS, curve_facts, facts_line, first_of, probe_all, sample_images

__all__ = [
    "COLORS", "COLUMNS", "PATCH_COLUMNS", "PRETRAINED", "RANDOM", "SAMPLES", "SHAPE_SETS", "aspect_ratio_feature",
    "best_stage", "choose_stage", "choose_units", "confirm_stages", "curve", "curve_facts", "facts_line", "first_of",
    "entry_numbers", "feature_map_panel", "feature_maps",
    "field_box", "filter_stats", "filter_tiles", "first_conv", "input_image", "layerwise_probe", "majority_fraction",
    "one_blas_thread", "paired_comparison", "paired_folds", "patch_record", "patch_summary", "plot_feature_map",
    "plot_filters", "plot_layerwise", "plot_predictions", "plot_stage_overview", "plot_top_patches", "probe_all",
    "probe_scores", "sample_images",
    "random_init_model", "raw_pixel_features", "receptive_field", "receptive_fields", "record_comparison",
    "reference", "reference_probe", "results_dict", "split_sizes", "stage_depths", "stage_feature_matrices",
    "stage_shapes", "stage_widths", "summarize", "summary_table", "top5_table", "top_patches",
    "transfer_vs_references", "verdict_line",
]
