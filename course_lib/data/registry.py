"""The data-set registry: what a data set is (DatasetSpec), where it lives here (dataset_root), its checksum form.

Kept apart from downloading and loading so both can look a data set up without importing each other. A spec can
carry its own table logic (``rows``), so ``register_dataset`` can add a grouped data set like the course's own
(registered in ``course.py``).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import env
from .._registry import Registry
from ..errors import DataError

_HASHES = ("sha256", "sha512", "sha1", "md5")


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its folder here, the official archive (``url``: None if there is no single one, see
    ``homepage``), its published ``checksum`` ("sha256:<hex>"/"md5:<hex>", None if none), license, citation.
    ``tasks[0]`` is the default task.

    ``rows``: the data set's own table logic, ``rows(root, task)`` -> a DataFrame with at least ``file`` (relative
    to `root`) and ``class_name`` for `task`, plus ``split``, ``group`` (the unit that must not straddle train and
    val) and metadata columns where it has them; ``read_rows(root)`` gives the labels.csv or folder tree to start
    from. None: those rows as they are, ``label`` as the class."""

    name: str
    folder: str
    description: str
    url: str | None
    checksum: str | None
    archive_root: str | None
    license: str
    citation: str
    tasks: tuple[str, ...]
    homepage: str = ""
    rows: Callable[[Path, str], pd.DataFrame] | None = None


DATASETS: Registry[DatasetSpec] = Registry("data set", "course_lib.data.list_datasets()", error=DataError)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a data set; a second one with the same name is refused, never silently replaced."""
    if not spec.tasks:
        raise DataError(f"data set {spec.name!r} needs at least one task (the first is the default).")
    if spec.checksum is not None:
        parse_checksum(spec.checksum)
    return DATASETS.register(spec)


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style `pattern`, in natural order."""
    return DATASETS.names(pattern, sort=True)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of `name`; an unknown name suggests the closest registered ones."""
    return DATASETS[name]


_ASKED: set[str] = set()   # every course data set this process looked for (see datasets_asked)


def datasets_asked() -> list[str]:
    """The course data sets this process has looked for so far, sorted: a lab records them, and a test checks that
    its first cell (``colab_setup(datasets=[...])``) fetches every one on a fresh Colab runtime."""
    return sorted(_ASKED)


def dataset_root(name: str) -> Path:
    """The folder of `name` under ``env.data_dir()``; if missing, say where we looked and how to get it."""
    spec = get_dataset_spec(name)
    _ASKED.add(spec.name)
    root = env.data_dir() / spec.folder
    if not root.is_dir():
        raise DataError(f"data set {name!r} not found: looked for the folder {root}. Set COURSE_DATA_DIR to the "
                        f"folder that holds {spec.folder}/ (CI uses ../shared/datasets), or download it with "
                        f"`python -m course_lib fetch-data {name}`.")
    return root


def parse_checksum(text: str) -> tuple[str, str]:
    """``"sha256:<hex>"`` or ``"md5:<hex>"`` -> (algorithm, digest); anything else raises DataError saying the form."""
    algo, sep, digest = (s.strip().lower() for s in text.partition(":"))
    if not sep or algo not in _HASHES or not re.fullmatch(r"[0-9a-f]+", digest) \
            or len(digest) != 2 * hashlib.new(algo).digest_size:
        raise DataError(f"checksum {text!r} is not of the form 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'.")
    return algo, digest
