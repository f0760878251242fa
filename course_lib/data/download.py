"""Getting a data set onto this machine: stream a download with its digest, unpack an archive safely, and
``fetch_dataset``, which only puts the data in place once the checksum matched.

Apart from the registry (which it reads) and from loading (which never downloads); ``cct.py`` reuses
``download_file`` for its metadata and images.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from .. import env
from ..errors import DataError
from .registry import get_dataset_spec, parse_checksum


def download_file(url: str, out: Path, algo: str) -> str:
    """Stream `url` into `out` and return its hex digest under `algo` (the caller compares it with the expected one)."""
    digest = hashlib.new(algo)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(out, "wb") as f:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
    except (OSError, ValueError) as e:
        raise DataError(f"download of {url} failed ({e}); check the address and the connection.") from e
    return digest.hexdigest()


def _extract(archive: Path, out: Path, archive_root: str | None) -> Path:
    """Unpack a zip/tar into `out`, refusing members that would land outside it; return the data folder."""
    out.mkdir()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if not (out / member).resolve().is_relative_to(out.resolve()):
                    raise DataError(f"archive member {member!r} would be written outside the target; refused.")
            zf.extractall(out)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(out, filter="data")  # refuses absolute paths, '..' and links leaving `out`
    else:
        raise DataError("the download is neither a zip nor a tar archive; check the URL.")
    if archive_root and (out / archive_root).is_dir():
        return out / archive_root
    tops = [p for p in out.iterdir() if p.name != "__MACOSX" and not p.name.startswith(".")]
    if len(tops) == 1 and tops[0].is_dir():  # e.g. a mirror that names the top folder differently
        return tops[0]
    if archive_root:
        raise DataError(f"the archive has no folder {archive_root!r}; it holds {sorted(p.name for p in tops)[:10]}.")
    return out


def _local_address(url: str) -> bool:
    """A server on this machine (a classroom mirror, a test): reachable even when the kit is offline."""
    from urllib.parse import urlparse

    return (urlparse(url).hostname or "") in ("localhost", "127.0.0.1", "::1")


def fetch_dataset(name: str, dest: str | os.PathLike | None = None, url: str | None = None,
                  checksum: str | None = None, trust_unverified: bool = False) -> Path:
    """Download, verify and unpack `name` into ``dest/<folder>`` (default ``env.data_dir()``); return the folder.

    Already there: a no-op. Download and unpacking happen in a temporary folder under `dest`; one rename puts
    the data in place only after the checksum matched, so a failure never leaves a half data set behind.
    """
    spec = get_dataset_spec(name)
    dest = Path(dest).expanduser().resolve() if dest is not None else env.data_dir()
    target = dest / spec.folder
    if target.is_dir() and any(target.iterdir()):
        return target
    url = url or spec.url
    if not url:
        raise DataError(f"{name!r} has no single archive to download: get it from {spec.homepage} and unpack it "
                        f"into {target}.")
    checksum = checksum or spec.checksum
    if checksum is None and not trust_unverified:
        raise DataError(f"no published checksum is known for {url}, so the download cannot be verified. Pass "
                        "checksum='sha256:<hex>' (or 'md5:<hex>') if you have one, or trust_unverified=True.")
    expected = parse_checksum(checksum) if checksum else None
    if url.startswith(("http://", "https://")) and env.is_offline() and not _local_address(url):
        raise DataError(f"cannot download {url}: offline (COURSE_OFFLINE=1 or no network); copy the data into "
                        f"{target} instead.")
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".fetch-{spec.folder}-", dir=dest))
    try:
        got = download_file(url, work / "archive", expected[0] if expected else "sha256")
        if expected and got != expected[1]:
            raise DataError(f"checksum mismatch for {url}: expected {expected[0]}:{expected[1]}, got {got}. "
                            "The download was deleted and nothing was unpacked; retry, or check the URL and checksum.")
        root = _extract(work / "archive", work / "unpacked", spec.archive_root)
        try:
            os.replace(root, target)
        except OSError:
            if not (target.is_dir() and any(target.iterdir())):  # else another process finished first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
