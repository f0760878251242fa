"""The course's own data, downloadable and verified: one deterministic archive per data set, like d2l's ``DATA_HUB``.

The course uses small, fixed subsets (200 ants and bees, 120 X-rays, 1,500 EuroSAT tiles, ...), several of which have
no single official archive, and the official full archives are not the subsets the labs' numbers come from. So the
kit packs each course folder into a ``<name>.tar`` whose bytes depend only on the files (sorted members, zeroed
times and owners; not compressed: the images already are, and gzip's bytes would depend on the zlib build), and records the sha256 of each in :data:`PACKS`. Whoever publishes the
kit runs ``python -m tools.publish pack-data`` (from a checkout) and attaches the archives to the GitHub release :data:`RELEASE_TAG` of
the repository named in ``colab.COURSE_REPO``; ``fetch-data NAME`` and ``colab_setup()`` then download and verify
them (``data.fetch_dataset``). A classroom mirror (or a server on this machine) serving the same archives replaces the
release for everything that downloads them when ``COURSE_DATA_URL`` names the folder address that holds them
(:func:`mirror_url`); the recorded sha256 is checked either way. ``tests/test_datapacks.py`` packs the shared course folders and checks each recorded
sha256, and fetches them from a local HTTP server, so the table below stays true.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from . import env
from .errors import DataError

RELEASE_TAG = "course-data-v1"
MIRROR_SETTING = "COURSE_DATA_URL"   # e.g. http://10.0.0.5:8000/course-data-v1: a folder serving <name>.tar
SKIP = ("__pycache__", ".DS_Store", ".ipynb_checkpoints")   # never packed: caches a machine adds


@dataclass(frozen=True)
class Pack:
    """One course archive: its file name, sha256 and size in bytes."""

    name: str
    file: str
    sha256: str
    bytes: int


PACKS: dict[str, Pack] = {p.name: p for p in (   # `python -m tools.publish pack-data` prints these lines
    Pack("camera_traps", "camera_traps.tar", "84f160346d1fa25c1c48a3cdd49baa1aeda2c19c2e9ed19445191452e6a6a4f4", 1945600),
    Pack("chest_xray", "chest_xray.tar", "74ef215e469a8685215c46bb764ce6d751ff508a4e0eb02bdccc04f8fab8805d", 2222080),
    Pack("chest_xray_more", "chest_xray_more.tar", "b3f24a0a7f033d0a2292176c6047436d56de099f1ef21b626e712d7e46fc9c87", 19200000),
    Pack("eurosat", "eurosat.tar", "826de085bf0999a8769ea4a1d189d99964b3f2ad439eb84a655003a333a3fa4c", 2140160),
    Pack("eurosat_more", "eurosat_more.tar", "f9d50cef3a49767dc62985688010c8c5c2c81f78872eb21333f7e3167aa53c97", 6748160),
    Pack("hymenoptera", "hymenoptera.tar", "e299815d74dfde235374bd61385d985e7eb68a2779ee28194b9503b7e008de9b", 11284480),
)}


def mirror_url() -> str | None:
    """``$COURSE_DATA_URL`` without a trailing slash: the address of a folder serving the course archives (a
    classroom mirror; ``http(s)://`` or ``file://``), or None when unset (then the GitHub release is used)."""
    value = os.environ.get(MIRROR_SETTING, "").strip().rstrip("/")
    return value or None


def release_url(name: str, repo: str) -> str:
    """Where the published archive of `name` lives: ``<$COURSE_DATA_URL>/<name>.tar`` when that mirror is set, else
    the GitHub release :data:`RELEASE_TAG` of `repo` (the kit's repository, ``colab.COURSE_REPO``)."""
    if name not in PACKS:
        raise DataError(f"no course archive is recorded for {name!r}; recorded: {sorted(PACKS)}.")
    if mirror_url():
        return f"{mirror_url()}/{PACKS[name].file}"
    if not repo or repo == "OWNER/NAME":
        raise DataError("this copy of the kit does not name its GitHub repository yet, so its course data has no "
                        "address: whoever published it runs `python -m tools.publish badges --repo <owner>/<name>` "
                        "and attaches `python -m tools.publish pack-data`'s archives to the release "
                        f"{RELEASE_TAG!r}. Or set {MIRROR_SETTING} to a mirror serving them, or copy the data "
                        "folders into COURSE_DATA_DIR by hand.")
    return f"https://github.com/{repo}/releases/download/{RELEASE_TAG}/{PACKS[name].file}"


def fetch(name: str, repo: str, dest: str | os.PathLike | None = None, url: str | None = None) -> Path:
    """Download the course archive of `name` (from `url`, default :func:`release_url`), check its recorded sha256
    and unpack it into ``dest`` (default ``env.data_dir()``) with ``data.fetch_dataset``: a mismatch or a failed
    download leaves nothing behind. Already there: a no-op."""
    from . import data

    pack_ = PACKS.get(name)
    if pack_ is None:
        raise DataError(f"no course archive is recorded for {name!r}; recorded: {sorted(PACKS)}.")
    return data.fetch_dataset(name, dest, url=url or release_url(name, repo), checksum=f"sha256:{pack_.sha256}")


def _members(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and not any(s in p.parts for s in SKIP)]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _tar_bytes(folder: Path, arcname: str) -> bytes:
    """A tar of `folder` whose bytes depend only on the files' paths and contents."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path in _members(folder):
            info = tarfile.TarInfo(f"{arcname}/{path.relative_to(folder).as_posix()}")
            info.size, info.mtime, info.mode = path.stat().st_size, 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as f:
                tf.addfile(info, f)
    return buf.getvalue()


def pack(name: str, out: str | os.PathLike, root: str | os.PathLike | None = None) -> Pack:
    """Write ``<out>/<name>.tar`` from the course folder of `name` (under `root`, default ``env.data_dir()``),
    deterministically, and return its :class:`Pack` (sha256 and size). Written atomically."""
    from . import data
    from ._atomic import atomic_write

    spec = data.get_dataset_spec(name)
    folder = Path(root or env.data_dir()) / spec.folder
    if not folder.is_dir():
        raise DataError(f"cannot pack {name!r}: no folder {folder}. Point COURSE_DATA_DIR at the course data.")
    blob = _tar_bytes(folder, spec.folder)   # plain tar: gzip's bytes would depend on the zlib build
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / f"{name}.tar", "wb") as f:
        f.write(blob)
    return Pack(name, f"{name}.tar", hashlib.sha256(blob).hexdigest(), len(blob))


def pack_all(out: str | os.PathLike, names=None, root=None) -> list[Pack]:
    """:func:`pack` every registered data set whose folder is there (or `names`)."""
    from . import data

    base = Path(root or env.data_dir())
    names = names or [n for n in data.list_datasets() if (base / data.get_dataset_spec(n).folder).is_dir()]
    return [pack(n, out, base) for n in names]


def manifest_source(packs: list[Pack]) -> str:
    """The lines to paste into :data:`PACKS` after packing new course data."""
    return "\n".join(f'    Pack("{p.name}", "{p.file}", "{p.sha256}", {p.bytes}),' for p in packs)
