"""The course data as published archives: deterministic, their recorded sha256 true, fetched and verified over HTTP."""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest

from course_lib import colab, data, datapacks
from course_lib.errors import DataError


@pytest.fixture(scope="module")
def packs(tmp_path_factory, shared_datasets):
    out = tmp_path_factory.mktemp("packs")
    return out, {p.name: p for p in datapacks.pack_all(out, root=shared_datasets)}


def test_every_course_data_set_has_a_recorded_archive_and_packing_reproduces_it(packs, shared_datasets):
    """Packing the course folders gives, byte for byte, the archives whose sha256 the kit records."""
    out, made = packs
    assert set(made) == set(datapacks.PACKS) == set(data.list_datasets())
    for name, p in made.items():
        assert p == datapacks.PACKS[name], name
        assert hashlib.sha256((out / p.file).read_bytes()).hexdigest() == p.sha256
    again = datapacks.pack("eurosat", out / "again", root=shared_datasets)
    assert (out / "again" / "eurosat.tar").read_bytes() == (out / "eurosat.tar").read_bytes() and again == made["eurosat"]


@pytest.fixture()
def server(packs):
    """The archives served over HTTP from this machine, as a release would serve them."""
    out, _ = packs
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_fetch_downloads_verifies_and_unpacks_the_course_subset(server, tmp_path, shared_datasets):
    dest = tmp_path / "data"
    folder = datapacks.fetch("eurosat", "you/kit", dest, url=f"{server}/eurosat.tar")
    assert folder == dest / "eurosat"
    got = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    want = sorted(p.relative_to(shared_datasets / "eurosat").as_posix()
                  for p in (shared_datasets / "eurosat").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert got == want and len(got) > 500
    table = data.load_dataset("eurosat", root=folder)
    assert len(table) == 500
    assert datapacks.fetch("eurosat", "you/kit", dest, url=f"{server}/missing.tar") == folder   # there: a no-op


def test_a_corrupted_archive_is_refused_and_nothing_is_left(packs, server, tmp_path):
    out, _ = packs
    blob = bytearray((out / "chest_xray.tar").read_bytes())
    blob[len(blob) // 2] ^= 0xFF                                        # one byte flipped
    (out / "chest_xray_bad.tar").write_bytes(bytes(blob))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch"):
        datapacks.fetch("chest_xray", "you/kit", dest, url=f"{server}/chest_xray_bad.tar")
    assert not (dest / "chest_xray").exists() and not [p for p in dest.iterdir() if p.name.startswith(".fetch")]
    with pytest.raises(DataError, match="failed"):
        datapacks.fetch("chest_xray", "you/kit", dest, url=f"{server}/nothing_here.tar")


def test_release_addresses_come_from_the_one_repository_setting():
    assert datapacks.release_url("hymenoptera", "you/kit") == \
        f"https://github.com/you/kit/releases/download/{datapacks.RELEASE_TAG}/hymenoptera.tar"
    with pytest.raises(DataError, match="tools.publish badges --repo"):
        datapacks.release_url("hymenoptera", "OWNER/NAME")
    with pytest.raises(DataError, match="no course archive"):
        datapacks.release_url("imagenet", "you/kit")
    assert colab.COURSE_REPO == "OWNER/NAME"      # unpublished here: fetch-data says how to publish


def test_a_mirror_address_replaces_the_release_for_every_download(server, tmp_path, monkeypatch):
    """``COURSE_DATA_URL`` (a classroom mirror): the same archives and checks, no repository needed."""
    monkeypatch.setenv("COURSE_DATA_URL", f"{server}/")
    assert datapacks.mirror_url() == server
    assert datapacks.release_url("chest_xray", "OWNER/NAME") == f"{server}/chest_xray.tar"
    folder = datapacks.fetch("chest_xray", "OWNER/NAME", tmp_path / "data")
    assert folder == tmp_path / "data" / "chest_xray" and len(data.load_dataset("chest_xray", root=folder)) > 0
    monkeypatch.delenv("COURSE_DATA_URL")
    assert datapacks.mirror_url() is None
    with pytest.raises(DataError, match="COURSE_DATA_URL"):
        datapacks.release_url("chest_xray", "OWNER/NAME")
