"""Data sets, splits and images: one table per data set, leak-free splits, images that always load.

``load_dataset`` gives an ``ImageTable`` (paths, labels, classes, and the unit that must never straddle train
and val: a patient, a camera burst); splits are seeded scikit-learn; transforms are the model's own config.

The package re-exports its public names, so ``from course_lib import data; data.load_dataset(...)`` is the way
in. Its parts: ``registry`` (DatasetSpec, the registry, dataset_root), ``download`` (fetch_dataset), ``tables``
(ImageTable), ``splits``, ``loading`` (load_dataset, the kit's seeded split), ``course`` (the course's data sets
and their table logic, registered here), ``images`` (open_image, ImageDataset, transforms) and ``folder``
(image_folder). A test that replaces a module global patches the part that holds it, e.g.
``monkeypatch.setattr(data.registry, "DATASETS", data.registry.DATASETS.copy())``.
"""
from __future__ import annotations

from . import course  # noqa: F401 - registers the course's data sets
from .download import download_file, fetch_dataset
from .folder import ImageFolderWarning, image_folder, image_suffixes
from .images import ImageDataset, data_config, eval_transform, open_image, scan_images, train_transform
from .loading import IMAGE_SUFFIXES, KIT_SPLIT, load_dataset, read_labels, read_rows
from .registry import DATASETS, DatasetSpec, dataset_root, datasets_asked, get_dataset_spec, list_datasets, parse_checksum, \
    register_dataset
from .splits import assert_no_leak, group_split, stratified_split, subsample_per_class
from .tables import ImageTable
from .tensors import FastTransform, ImagesInMemory, TensorImages, TensorSet

__all__ = [
    "DATASETS", "DatasetSpec", "FastTransform", "IMAGE_SUFFIXES", "ImageDataset", "ImageFolderWarning", "ImageTable", "ImagesInMemory", "KIT_SPLIT",
    "assert_no_leak", "data_config", "dataset_root", "datasets_asked", "download_file", "eval_transform", "fetch_dataset",
    "get_dataset_spec", "group_split", "image_folder", "image_suffixes", "list_datasets", "load_dataset",
    "open_image", "parse_checksum", "read_labels", "read_rows", "register_dataset", "scan_images",
    "stratified_split", "subsample_per_class", "TensorImages", "TensorSet", "train_transform",
]
