"""The browser-side libraries under slides/vendor/: verified against MANIFEST.json, re-created from npm.

Only the files listed in :data:`VENDOR_PACKAGES` are kept; each package's license travels with it.
``python -m tools.slides --vendor update`` re-creates slides/vendor/ from these lines (``npm pack``, never a CDN at
run time) and records every file's sha256 in slides/vendor/MANIFEST.json.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .config import VENDOR_DIR, SlidesError

VENDOR_PACKAGES = {
    "reveal.js": ("5.2.1", "MIT", ["LICENSE", "dist/reveal.js", "dist/reveal.css", "plugin/notes/notes.js"]),
    "mathjax": ("3.2.2", "Apache-2.0", ["LICENSE", "es5/tex-svg-full.js"]),
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_vendor(vendor_dir: str | Path = VENDOR_DIR) -> list[str]:
    """Problems with slides/vendor (missing files, sha256 not as recorded in MANIFEST.json); empty = all good."""
    vendor_dir = Path(vendor_dir)
    manifest = vendor_dir / "MANIFEST.json"
    if not manifest.is_file():
        return [f"{manifest} is missing"]
    problems = []
    for pkg, info in json.loads(manifest.read_text())["packages"].items():
        for rel, digest in info["files"].items():
            path = vendor_dir / pkg / rel
            if not path.is_file():
                problems.append(f"{pkg}/{rel} is missing")
            elif _sha256(path) != digest:
                problems.append(f"{pkg}/{rel} differs from its recorded sha256")
    return problems


def update_vendor(vendor_dir: str | Path = VENDOR_DIR, npm: str = "npm") -> Path:
    """Re-create slides/vendor from the npm registry (``npm pack`` of the pinned versions): the kept files,
    their licenses and a MANIFEST.json with versions, tarball integrity and each file's sha256. Needs npm."""
    vendor_dir = Path(vendor_dir)
    if shutil.which(npm) is None:
        raise SlidesError("npm is not installed: install Node.js (Debian: apt-get install npm) to update the vendor files.")
    manifest = {"about": "Browser libraries for the slides, from the npm registry via `npm pack`; re-create with "
                         "`python -m tools.slides --vendor update`. Files are unmodified.", "packages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for pkg, (version, license_name, files) in VENDOR_PACKAGES.items():
            out = subprocess.run([npm, "pack", f"{pkg}@{version}", "--json"], cwd=tmp, check=True,
                                 capture_output=True, text=True).stdout
            info = json.loads(out[out.index("["):])[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tf:
                tf.extractall(Path(tmp) / pkg, filter="data")
            root = Path(tmp) / pkg / "package"
            dest = vendor_dir / pkg
            if dest.exists():
                shutil.rmtree(dest)
            recorded = {}
            for rel in files:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / rel, dest / rel)
                recorded[rel] = _sha256(dest / rel)
            manifest["packages"][pkg] = {"version": version, "license": license_name,
                                         "npm_integrity": info.get("integrity"), "files": recorded}
    (vendor_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return vendor_dir

